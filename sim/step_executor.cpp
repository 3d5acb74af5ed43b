// StepExecutor; see step_executor.h.
#include "sim/step_executor.h"

#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <deque>
#include <map>
#include <memory>
#include <simgrid/s4u.hpp>
#include <tuple>

#include "common/error.h"

namespace clustersim::sim {

namespace sg4 = simgrid::s4u;

CollectiveKind ToCollectiveKind(wl::Coll c) {
  switch (c) {
    case wl::Coll::kAllReduce:
      return CollectiveKind::kAllReduce;
    case wl::Coll::kReduceScatter:
      return CollectiveKind::kReduceScatter;
    case wl::Coll::kAllGather:
      return CollectiveKind::kAllGather;
    case wl::Coll::kAllToAll:
      return CollectiveKind::kAllToAll;
    case wl::Coll::kBroadcast:
      return CollectiveKind::kBroadcast;
  }
  return CollectiveKind::kAllReduce;
}

namespace {

bool IsMemoryBound(wl::ComputeKind k) {
  return k == wl::ComputeKind::kElementwise || k == wl::ComputeKind::kOptimizer || k == wl::ComputeKind::kQuantize ||
         k == wl::ComputeKind::kPermute;
}

Activity ComputeActivity(wl::ComputeKind k) {
  if (k == wl::ComputeKind::kHostSync) return Activity::kHost;
  return IsMemoryBound(k) ? Activity::kMemoryBound : Activity::kComputeBound;
}

// Pipeline messages a stage has been sent, matched on (phase, micro-batch, receiver's chunk, direction) as the
// workloads layer specifies (FIFO order per neighbour is not enough for DualPipe, where activations of one chunk and
// gradients of another travel the same way).
struct Inbox {
  std::map<std::tuple<int, uint32_t, uint32_t, int>, std::deque<double>> arrivals;  // -> arrival times
  sg4::MutexPtr mutex = sg4::Mutex::create();
  sg4::ConditionVariablePtr posted = sg4::ConditionVariable::create();
};

std::tuple<int, uint32_t, uint32_t, int> MessageKey(const wl::Op& op, int from_direction) {
  return {static_cast<int>(op.phase), op.microbatch, op.chunk, from_direction};
}

struct AsyncItem {
  double seconds = 0;
  uint32_t tag = 0;
  uint32_t op = 0;  // index in the stage's op list
  wl::Dim dim = wl::Dim::kDp;
  wl::Phase phase = wl::Phase::kGradSync;
};

// Communication streams of a stage, one per class of communicator (CUDA streams of different NCCL communicators run
// concurrently): tensor parallel, context parallel, data parallel (dp, dp x cp, expert-data-parallel), expert parallel.
constexpr size_t kStreams = 4;
size_t StreamOf(wl::Dim d) {
  switch (d) {
    case wl::Dim::kTp:
      return 0;
    case wl::Dim::kCp:
    case wl::Dim::kTpCp:
      return 1;
    case wl::Dim::kEp:
      return 3;
    default:
      return 2;
  }
}

struct StreamQueue {
  std::deque<AsyncItem> work;
  sg4::SemaphorePtr available = sg4::Semaphore::create(0);
};

struct StageState {
  Inbox inbox;
  std::array<StreamQueue, kStreams> streams;
  std::map<uint32_t, int> outstanding;  // tag -> async collectives not finished
  std::map<uint32_t, wl::Dim> tag_dim;  // tag -> dimension of the last async collective issued with it
  sg4::MutexPtr mutex = sg4::Mutex::create();
  sg4::ConditionVariablePtr done = sg4::ConditionVariable::create();
};

}  // namespace

StepExecutor::StepExecutor(sg4::Engine& engine, Platform& platform, const wl::StepProgram& program,
                           const ComputeModel& compute, CommCostModel& costs)
    : engine_(engine), platform_(platform), program_(program), compute_(compute), costs_(costs) {}

void StepExecutor::PrecomputeCosts(PhaseSolver& solver, const ProgressFn& progress) {
  // Occurrences per step, for the cost model's observer: a collective's phase covers every group of the cluster
  // (all stages), so its weight is its average count per stage; a pipeline transfer covers one stage pair.
  const wl::RankLayout& layout = program_.layout;
  const uint32_t pp = static_cast<uint32_t>(program_.stages.size());
  std::map<std::tuple<int, int, uint64_t, double>, double> coll_count;
  std::map<std::tuple<uint32_t, int, uint64_t>, double> send_count;
  for (uint32_t s = 0; s < pp; ++s)
    for (const wl::Op& op : program_.stages[s]) {
      if (op.type == wl::OpType::kCollective)
        coll_count[{static_cast<int>(op.coll), static_cast<int>(op.dim), op.comm_bytes, op.internode_scale}] += 1.0 / pp;
      else if (op.type == wl::OpType::kSend)
        send_count[{s, op.peer_delta, op.comm_bytes}] += 1;
    }
  // A configured algorithm that cannot run on a group (halving-doubling on 3 ranks, NVLS across nodes) is bad
  // input: plan each kind once here, on the process's own stack, since an exception must not cross a SimGrid actor.
  for (const auto& [key, count] : coll_count) {
    const std::vector<uint32_t> group =
        layout.Group(layout.StageRepresentative(0), static_cast<wl::Dim>(std::get<1>(key)));
    if (group.size() < 2) continue;
    const CollectiveKind kind = ToCollectiveKind(static_cast<wl::Coll>(std::get<0>(key)));
    try {
      (void)PlanCollective(kind, "auto", group, 1.0, costs_.shape(), costs_.params());
    } catch (const InputError& e) {
      throw InputError(std::string("collectives (") + ToString(kind) + " over the " +
                       wl::ToString(static_cast<wl::Dim>(std::get<1>(key))) + " group of " +
                       std::to_string(group.size()) + " ranks): " + e.what());
    }
  }
  const size_t total = coll_count.size() + send_count.size();
  ProgressTask solves(progress, "phase solves", total);
  sg4::Actor::create("controller", platform_.host(0), [this, &layout, &coll_count, &send_count, &solves, total]() {
    for (uint32_t s = 0; s < program_.stages.size(); ++s) {
      const uint32_t rep = layout.StageRepresentative(s);
      for (const wl::Op& op : program_.stages[s]) {
        if (costs_.entries().size() != solves.done()) solves.Set(std::min(costs_.entries().size(), total), total);
        if (op.type == wl::OpType::kCollective)
          costs_.Collective(
              ToCollectiveKind(op.coll), op.dim, rep, static_cast<double>(op.comm_bytes),
              coll_count[{static_cast<int>(op.coll), static_cast<int>(op.dim), op.comm_bytes, op.internode_scale}],
              op.internode_scale);
        else if (op.type == wl::OpType::kSend)
          costs_.PipelineTransfer(s, op.peer_delta, static_cast<double>(op.comm_bytes),
                                  send_count[{s, op.peer_delta, op.comm_bytes}]);
      }
    }
  });
  engine_.run();
  solves.Set(total, total);
  solver.WorkersGone();
  costs_.Freeze();
}

namespace {

// Holds `share` of the host's speed for `seconds` (a SimGrid execution bounded at that rate, which max-min sharing
// grants in full while at most half the host is asked for), or sleeps when share is 0.
void HoldShare(double seconds, double share) {
  if (seconds <= 0) return;
  if (share <= 0) {
    sg4::this_actor::sleep_for(seconds);
    return;
  }
  const double rate = share * sg4::this_actor::get_host()->get_speed();
  sg4::this_actor::exec_init(rate * seconds)->set_bound(rate)->wait();
}

// Communication stream `k` of a stage: runs its async collectives one after the other, each holding `interference`
// of the GPU's compute rate while it runs.
void RunStream(StageState* st, size_t k, StageTimeline* tl, double interference, bool record) {
  StreamQueue& q = st->streams[k];
  for (;;) {
    q.available->acquire();
    const AsyncItem item = q.work.front();
    q.work.pop_front();
    const double t0 = sg4::Engine::get_clock();
    HoldShare(item.seconds, interference);
    tl->stream.push_back({t0, sg4::Engine::get_clock(), Activity::kAsyncComm, item.dim, item.phase});
    if (record) tl->comm.push_back({t0, sg4::Engine::get_clock(), item.op});
    const std::unique_lock lock(*st->mutex);
    if (--st->outstanding[item.tag] == 0) st->done->notify_all();
  }
}

}  // namespace

// Asynchronous collectives of a stage's program that no later wait of the program awaits: issued at the end of a step
// for the next one (the ZeRO-1/2 parameter all-gather that the next step's forward awaits).
static std::vector<bool> CarriedOver(const std::vector<wl::Op>& ops) {
  std::vector<bool> carried(ops.size(), false);
  std::map<uint32_t, bool> awaited_later;  // tag -> a wait for it follows
  for (size_t i = ops.size(); i-- > 0;) {
    const wl::Op& op = ops[i];
    if (op.type == wl::OpType::kWait) awaited_later[op.tag] = true;
    if (op.type == wl::OpType::kCollective && op.async && !awaited_later[op.tag]) carried[i] = true;
  }
  return carried;
}

// The compute stream of one pipeline stage's representative: its ops in order, each recorded on the timeline.
class StepExecutor::StageRun {
 public:
  StageRun(const StepExecutor& ex, uint32_t stage, std::vector<std::unique_ptr<StageState>>& state, StageTimeline& tl,
           double slowdown)
      : ex_(ex),
        s_(stage),
        pp_(static_cast<uint32_t>(ex.program_.stages.size())),
        state_(state),
        st_(*state[stage]),
        tl_(tl),
        speed_(sg4::this_actor::get_host()->get_speed()),
        slowdown_(slowdown) {}

  void operator()() {
    const std::vector<wl::Op>& ops = ex_.program_.stages[s_];
    const std::vector<bool> carried = CarriedOver(ops);
    // Steady state: what the previous step left on the communication stream is queued first.
    for (size_t i = 0; i < ops.size(); ++i)
      if (carried[i]) Collective(ops[i], i, sg4::Engine::get_clock());
    for (size_t i = 0; i < ops.size(); ++i) {
      if (carried[i]) continue;
      const wl::Op& op = ops[i];
      const double t0 = sg4::Engine::get_clock();
      switch (op.type) {
        case wl::OpType::kCompute:
          Compute(op, t0);
          break;
        case wl::OpType::kCollective:
          Collective(op, i, t0);
          break;
        case wl::OpType::kSend:
          Send(op, i, t0);
          break;
        case wl::OpType::kRecv:
          Recv(op, t0);
          break;
        case wl::OpType::kWait:
          Wait(op, t0);
          break;
      }
    }
    // Per-step framework and host work outside the program (optimizer launch, gradient-norm and loss
    // synchronisation, logging, data loading): every stage, once per step.
    const double t0 = sg4::Engine::get_clock();
    if (ex_.compute_.step_overhead_s() > 0) sg4::this_actor::sleep_for(ex_.compute_.step_overhead_s());
    Record(t0, Activity::kHost, wl::Dim::kTp, wl::Phase::kOptimizer);
    tl_.end_s = sg4::Engine::get_clock();
  }

 private:
  void Record(double t0, Activity a, wl::Dim d, wl::Phase ph, wl::ComputeKind kind = wl::ComputeKind::kGemm) {
    const double t1 = sg4::Engine::get_clock();
    if (t1 > t0) tl_.main.push_back({t0, t1, a, d, ph, kind});
  }

  void Compute(const wl::Op& op, double t0) {
    const double secs = ex_.compute_.Seconds(op) * slowdown_;
    if (secs > 0) sg4::this_actor::execute(secs * speed_);
    Record(t0, ComputeActivity(op.compute), wl::Dim::kTp, op.phase, op.compute);
  }

  // Joint traffic: the extra seconds of op `i` (0 without).
  double Extra(size_t i) const { return ex_.extra_s_ == nullptr || ex_.extra_s_->empty() ? 0 : (*ex_.extra_s_)[s_][i]; }

  void Collective(const wl::Op& op, size_t i, double t0) {
    const CommCost& c =
        ex_.costs_.Collective(ToCollectiveKind(op.coll), op.dim, ex_.program_.layout.StageRepresentative(s_),
                              static_cast<double>(op.comm_bytes), 1, op.internode_scale);
    const double seconds = c.time_s + Extra(i);
    if (op.async) {
      const std::unique_lock lock(*st_.mutex);
      st_.outstanding[op.tag]++;
      st_.tag_dim[op.tag] = op.dim;
      StreamQueue& q = st_.streams[StreamOf(op.dim)];
      q.work.push_back({seconds, op.tag, static_cast<uint32_t>(i), op.dim, op.phase});
      q.available->release();
      return;
    }
    if (seconds > 0) sg4::this_actor::sleep_for(seconds);
    Record(t0, Activity::kComm, op.dim, op.phase);
    if (ex_.record_spans_) tl_.comm.push_back({t0, sg4::Engine::get_clock(), static_cast<uint32_t>(i)});
  }

  void Send(const wl::Op& op, size_t i, double t0) {
    const CommCost& c = ex_.costs_.PipelineTransfer(s_, op.peer_delta, static_cast<double>(op.comm_bytes));
    const double seconds = c.time_s + Extra(i);
    if (ex_.record_spans_) tl_.comm.push_back({t0, t0 + seconds, static_cast<uint32_t>(i)});
    const uint32_t to = static_cast<uint32_t>((static_cast<int64_t>(s_) + op.peer_delta + pp_) % pp_);
    Inbox& box = state_[to]->inbox;
    const std::unique_lock lock(*box.mutex);
    box.arrivals[MessageKey(op, -op.peer_delta)].push_back(t0 + seconds);
    box.posted->notify_all();
  }

  void Recv(const wl::Op& op, double t0) {
    Inbox& box = st_.inbox;
    const auto key = MessageKey(op, op.peer_delta);
    std::unique_lock lock(*box.mutex);
    auto it = box.arrivals.find(key);
    while (it == box.arrivals.end() || it->second.empty()) {
      box.posted->wait(lock);
      it = box.arrivals.find(key);
    }
    const double arrival = it->second.front();
    it->second.pop_front();
    if (it->second.empty()) box.arrivals.erase(it);
    lock.unlock();
    const double now = sg4::Engine::get_clock();
    if (arrival > now) sg4::this_actor::sleep_for(arrival - now);
    Record(t0, Activity::kWaitRecv, wl::Dim::kPp, op.phase);
  }

  void Wait(const wl::Op& op, double t0) {
    std::unique_lock lock(*st_.mutex);
    while (st_.outstanding[op.tag] > 0) st_.done->wait(lock);
    const auto awaited = st_.tag_dim.find(op.tag);
    const wl::Dim dim = awaited == st_.tag_dim.end() ? wl::Dim::kDp : awaited->second;
    lock.unlock();
    // Exposed time is charged to what was awaited (an overlapped EP exchange, a DP reduction, a ZeRO-3 gather).
    Record(t0, Activity::kWaitAsync, dim, op.phase);
  }

  const StepExecutor& ex_;
  const uint32_t s_;
  const uint32_t pp_;
  std::vector<std::unique_ptr<StageState>>& state_;
  StageState& st_;
  StageTimeline& tl_;
  const double speed_;
  const double slowdown_;
};

StepTimeline StepExecutor::Run(const std::vector<double>& stage_slowdown) {
  const uint32_t pp = static_cast<uint32_t>(program_.stages.size());
  StepTimeline out;
  out.stages.resize(pp);
  out.start_s = sg4::Engine::get_clock();
  std::vector<std::unique_ptr<StageState>> state;
  for (uint32_t s = 0; s < pp; ++s) state.push_back(std::make_unique<StageState>());
  for (uint32_t s = 0; s < pp; ++s) {
    sg4::Host* host = platform_.host(program_.layout.StageRepresentative(s));
    StageState* st = state[s].get();
    StageTimeline* tl = &out.stages[s];
    const double interference = compute_.comm_compute_interference();
    const double slowdown = stage_slowdown.empty() ? 1.0 : stage_slowdown.at(s);
    const bool record = record_spans_;
    for (size_t k = 0; k < kStreams; ++k)
      sg4::Actor::create("stream" + std::to_string(s) + "." + std::to_string(k), host,
                         [st, k, tl, interference, record]() { RunStream(st, k, tl, interference, record); })
          ->daemonize();
    sg4::Actor::create("stage" + std::to_string(s), host,
                       [this, s, &state, tl, slowdown]() { StageRun(*this, s, state, *tl, slowdown)(); });
  }
  engine_.run();
  double end = out.start_s;
  for (const StageTimeline& tl : out.stages) end = std::max(end, tl.end_s);
  out.step_time_s = end - out.start_s;
  return out;
}

}  // namespace clustersim::sim
