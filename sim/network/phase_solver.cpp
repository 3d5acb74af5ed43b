// PhaseSolver; see phase_solver.h.
#include "sim/network/phase_solver.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>

namespace clustersim::sim {

namespace sg4 = simgrid::s4u;

namespace {

// Resident set size of this process, bytes (/proc/self/statm; 0 where it cannot be read).
double ResidentBytes() {
  std::FILE* f = std::fopen("/proc/self/statm", "r");
  if (f == nullptr) return 0;
  unsigned long size = 0, resident = 0;
  const int n = std::fscanf(f, "%lu %lu", &size, &resident);
  std::fclose(f);
  return n == 2 ? static_cast<double>(resident) * static_cast<double>(sysconf(_SC_PAGE_SIZE)) : 0;
}

}  // namespace

struct PhaseSolver::Worker {
  struct Send {
    sg4::Mailbox* box;  // destination
    uint64_t bytes;
    uint32_t part;  // SolveParts: the flow's part
  };
  std::vector<Send> sends;
  uint32_t receives = 0;
  sg4::Mailbox* mailbox = nullptr;
  sg4::SemaphorePtr go = sg4::Semaphore::create(0);
  bool running = false;  // an actor serves this worker in the current engine run
  std::vector<sg4::CommPtr> comms;
  std::vector<int*> sink;
};

PhaseSolver::PhaseSolver(Platform& platform)
    : platform_(platform), workers_(platform.num_hosts()), phase_done_(sg4::Semaphore::create(0)) {}

PhaseSolver::~PhaseSolver() = default;

void PhaseSolver::WorkersGone() {
  for (auto& w : workers_)
    if (w) w->running = false;
}

PhaseSolver::Worker& PhaseSolver::WorkerOf(uint32_t gpu) {
  if (!workers_[gpu]) {
    workers_[gpu] = std::make_unique<Worker>();
    workers_[gpu]->mailbox = sg4::Mailbox::by_name("phase" + std::to_string(gpu));
  }
  return *workers_[gpu];
}

size_t PhaseSolver::MergeRange(size_t first) {
  // Flows between the same pair of GPUs follow the same route; they are merged into one flow of their summed size
  // (ring channels that cross a node the same way, for instance). Every link then carries the same bytes, and the
  // phase's completion time is unchanged when the merged flows share their links only with each other; when other
  // flows also cross those links, the merged flow gets one max-min share instead of several, which can only shift
  // bandwidth between flows that all must finish before the phase ends (docs/collectives.md).
  const auto begin = merged_.begin() + static_cast<std::ptrdiff_t>(first);
  const auto before = [](const Flow& a, const Flow& b) { return a.src != b.src ? a.src < b.src : a.dst < b.dst; };
  if (!std::is_sorted(begin, merged_.end(), before)) std::sort(begin, merged_.end(), before);
  size_t out = first;
  for (size_t i = first; i < merged_.size(); ++i) {
    if (merged_[i].src == merged_[i].dst) continue;
    if (out > first && merged_[out - 1].src == merged_[i].src && merged_[out - 1].dst == merged_[i].dst)
      merged_[out - 1].bytes += merged_[i].bytes;
    else
      merged_[out++] = merged_[i];
  }
  // Sizes as SimGrid receives them (whole bytes, at least 1, per part of a spread route: Platform::RouteParts), so
  // that the classes see what is solved.
  size_t kept = first;
  for (size_t i = first; i < out; ++i)
    if (merged_[i].bytes > 0) {
      const Flow& f = merged_[i];
      const double parts = platform_.RouteParts(f.src, f.dst);
      merged_[kept++] = {f.src, f.dst, parts * std::max(1.0, std::round(f.bytes / parts))};
    }
  merged_.resize(kept);
  return kept;
}

const std::vector<Flow>& PhaseSolver::Prepare(const std::vector<Flow>& input) {
  merged_.assign(input.begin(), input.end());
  MergeRange(0);
  // Load-aware routing chooses each flow's path given the flows placed before it (no-op for other routings).
  if (platform_.load_aware()) platform_.PlaceFlows(merged_);
  if (!reduce_classes_ || !classes_.Reduce(merged_, platform_, 0.5, reps_, routes_)) return merged_;
  ++phases_class_reduced_;
  flows_represented_ += merged_.size();
  return reps_;
}

double PhaseSolver::Solve(const std::vector<Flow>& input) {
  const std::vector<Flow>& flows = Prepare(input);
  return Run(flows, &flows == &reps_, nullptr);
}

std::vector<double> PhaseSolver::SolveParts(const std::vector<const std::vector<Flow>*>& parts, uint64_t max_solved) {
  merged_.clear();
  part_.clear();
  for (uint32_t p = 0; p < parts.size(); ++p) {
    const size_t first = merged_.size();
    merged_.insert(merged_.end(), parts[p]->begin(), parts[p]->end());
    part_.resize(MergeRange(first), p);
  }
  part_end_.assign(parts.size(), 0);
  if (platform_.load_aware()) platform_.PlaceFlows(merged_);
  const bool reduced = reduce_classes_ && classes_.Reduce(merged_, platform_, 0.5, reps_, routes_, &part_, &rep_ids_);
  if (reduced) {
    ++phases_class_reduced_;
    flows_represented_ += merged_.size();
    rep_part_.clear();
    for (uint32_t id : rep_ids_) rep_part_.push_back(part_[id]);
  }
  if (max_solved > 0 && (reduced ? reps_ : merged_).size() > max_solved) {
    if (platform_.load_aware()) platform_.ClearPlacement();
    return {};
  }
  Run(reduced ? reps_ : merged_, reduced, reduced ? &rep_part_ : &part_);
  return part_end_;
}

double PhaseSolver::Run(const std::vector<Flow>& flows, bool reduced, const std::vector<uint32_t>* part_of) {
  if (max_flows_ > 0 && flows.size() > max_flows_) on_flows_exceed_(flows.size());
  touched_.clear();
  for (size_t i = 0; i < flows.size(); ++i) {
    const Flow& f = flows[i];
    Worker& s = WorkerOf(f.src);
    Worker& d = WorkerOf(f.dst);
    if (s.sends.empty() && s.receives == 0) touched_.push_back(f.src);
    if (d.sends.empty() && d.receives == 0) touched_.push_back(f.dst);
    // A spread route is one comm of bytes / parts at each part's rate (Platform::RouteParts).
    const uint64_t bytes = static_cast<uint64_t>(std::llround(f.bytes)) / platform_.RouteParts(f.src, f.dst);
    s.sends.push_back({d.mailbox, bytes, part_of ? (*part_of)[i] : 0});
    d.receives++;
    ++flows_solved_;
  }
  if (touched_.empty()) {
    if (platform_.load_aware()) platform_.ClearPlacement();
    return 0;
  }
  if (limit_bytes_ > 0) {
    uint64_t created = 0;
    for (uint32_t gpu : touched_) created += workers_[gpu]->running ? 0 : 1;
    const double need = ResidentBytes() + 2048.0 * static_cast<double>(flows.size()) + 16384.0 * created;
    if (need > limit_bytes_) on_exceed_(need, flows.size());
  }
  // Deterministic order of wake-ups (and so of comm creation): by GPU id.
  std::sort(touched_.begin(), touched_.end());
  if (reduced) platform_.SetRouteOverride(&routes_);  // read by SimGrid as the workers' comms start
  t0_ = sg4::Engine::get_clock();
  timed_parts_ = part_of != nullptr;
  pending_ = static_cast<uint32_t>(touched_.size());
  for (uint32_t gpu : touched_) {
    Worker* w = workers_[gpu].get();
    if (!w->running) {
      w->running = true;
      ++actors_created_;
      sg4::Actor::create("w", platform_.host(gpu), [this, w]() { Serve(*w); })->daemonize();
    }
    w->go->release();
  }
  phase_done_->acquire();
  if (reduced) platform_.SetRouteOverride(nullptr);
  if (platform_.load_aware()) platform_.ClearPlacement();
  ++solves_;
  return sg4::Engine::get_clock() - t0_;
}

void PhaseSolver::Serve(Worker& w) {
  for (;;) {
    w.go->acquire();
    w.comms.clear();
    for (const Worker::Send& send : w.sends) w.comms.push_back(send.box->put_async(&token_, send.bytes));
    w.sink.assign(w.receives, nullptr);
    for (uint32_t k = 0; k < w.receives; ++k) w.comms.push_back(w.mailbox->get_async<int>(&w.sink[k]));
    if (timed_parts_) {
      // Each send's completion is its flow's: wait for them one by one and record the part's latest end.
      std::vector<sg4::CommPtr> open(w.comms.begin(), w.comms.begin() + static_cast<std::ptrdiff_t>(w.sends.size()));
      std::vector<uint32_t> part;
      for (const Worker::Send& send : w.sends) part.push_back(send.part);
      while (!open.empty()) {
        const auto k = static_cast<size_t>(sg4::Comm::wait_any(open));
        double& end = part_end_[part[k]];
        end = std::max(end, sg4::Engine::get_clock() - t0_);
        open[k] = open.back();
        open.pop_back();
        part[k] = part.back();
        part.pop_back();
      }
      w.comms.erase(w.comms.begin(), w.comms.begin() + static_cast<std::ptrdiff_t>(w.sends.size()));
    }
    sg4::Comm::wait_all(w.comms);
    w.comms.clear();
    w.sends.clear();
    w.receives = 0;
    if (--pending_ == 0) phase_done_->release();
  }
}

}  // namespace clustersim::sim
