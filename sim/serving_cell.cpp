// The serving cell's discrete-event model; see serving_cell.h.
#include "sim/serving_cell.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <deque>
#include <queue>
#include <tuple>

#include "common/error.h"

namespace clustersim::sim {
namespace {

enum class State : uint8_t { kWaiting, kPrefilling, kDecoding, kTransfer, kDone };

struct Req {
  double arrival_s = 0, admitted_s = -1, first_token_s = -1, done_s = -1, transfer_s = 0;
  uint32_t input = 0, output = 0, cached = 0;
  uint32_t prompt = 0;     // tokens the KV holds before decoding (input, + generated ones after a preemption)
  uint32_t prefilled = 0;  // of them in the KV
  double generated = 0;    // output tokens so far (at decode_start while decoding)
  uint64_t decode_start = 0;
  uint32_t gen = 0;        // bumped by preemption: stale decode-heap entries are skipped
  double reserved = 0;     // KV tokens held for it by admission control (CellConfig::reserve_output)
  uint32_t entry = 0;      // the instance it entered (closed loop)
  uint32_t engine = 0;     // the instance holding it
  State state = State::kWaiting;
  bool measured = false;
};

struct Chunk {
  uint32_t req = 0, tokens = 0;
};

using HeapItem = std::tuple<uint64_t, uint32_t, uint32_t>;  // finish iteration, request, gen

struct Engine {
  const IterationModel* model = nullptr;
  double capacity = 0;  // KV tokens
  uint32_t pool = 0;
  bool first_of_pool = false;
  double scale = 1;
  std::deque<uint32_t> waiting;
  std::vector<uint32_t> prefilling;                  // admission order
  std::vector<std::pair<uint32_t, uint32_t>> admitted;  // (request, gen), admission order (LIFO preemption)
  std::priority_queue<HeapItem, std::vector<HeapItem>, std::greater<>> decoding;
  uint32_t n_decode = 0;
  double sum_kv = 0, kv_used = 0;  // decoding sequences' KV; all KV in use (tokens, half a page each)
  double kv_reserved = 0;           // admission control's holdings (reserve_output: prompt + answer)
  uint64_t iter = 0;
  bool busy = false;
  double start_s = 0;
  IterationTime it;
  BatchShape shape;
  std::vector<Chunk> chunks;
  std::vector<double> link_free;  // prefill pools: a KV-transfer queue per attention rank
  uint32_t next_link = 0;
  uint32_t in_transfer = 0;
  InstanceStats stats;
  std::vector<std::array<double, 3>> power_bins;  // compute-bound, memory-bound, communicating seconds per bin
  uint32_t running() const { return static_cast<uint32_t>(prefilling.size()) + n_decode; }
  const std::string& role() const { return model->spec().role; }
};

enum class Kind : uint8_t { kArrival, kClosedArrival, kIterEnd, kKvDone };
struct Event {
  double t;
  uint64_t seq;
  Kind kind;
  uint32_t id;
  bool operator>(const Event& o) const { return std::tie(t, seq) > std::tie(o.t, o.seq); }
};

class Cell {
 public:
  explicit Cell(const CellConfig& c);
  CellResult Run();

 private:
  void Push(double t, Kind k, uint32_t id) { events_.push({t, seq_++, k, id}); }
  uint32_t NewRequest(const wl::Request& w);
  uint32_t Route(const std::vector<uint32_t>& group, uint32_t& rr) const;
  void Submit(uint32_t r, uint32_t engine, double now);
  void OnArrival(double now);
  void TryStart(uint32_t e, double now);
  double Reserve(const Req& r) const { return r.prompt + 0.5 * cfg_.kv_block_tokens; }
  // What admission control holds for `r`: its prompt, and with reserve_output the rest of its answer.
  double Holding(const Engine& e, const Req& r) const {
    const bool answer = cfg_.reserve_output && e.role() != "prefill";
    return Reserve(r) + (answer ? std::max(0.0, r.output - r.generated) : 0.0);
  }
  void Release(Engine& e, Req& r) {
    e.kv_reserved -= r.reserved;
    r.reserved = 0;
  }
  double KvOf(const Engine& e, const Req& r) const;
  void Admit(Engine& e, double now);
  bool PreemptOne(Engine& e);
  void BuildBatch(Engine& e);
  void Finish(uint32_t e, double now);
  double FinishDecodes(Engine& e, double now);
  double FinishChunks(Engine& e, double now, double& input_tokens);
  void PromptDone(Engine& e, uint32_t r, double now);
  void Complete(uint32_t r, double now);
  void OnKvDone(uint32_t r, double now);
  void Account(Engine& e, double end, double input_tokens, double output_tokens);
  void Trace(const Engine& e, uint32_t index);
  size_t Bin(double t) const;

  const CellConfig& cfg_;
  std::vector<Engine> engines_;
  std::vector<uint32_t> entry_, decode_;  // instances requests enter; decode instances (disaggregated)
  uint32_t rr_entry_ = 0, rr_decode_ = 0;
  std::vector<Req> reqs_;
  std::priority_queue<Event, std::vector<Event>, std::greater<>> events_;
  uint64_t seq_ = 0;
  wl::RequestSource source_;
  wl::Request pending_;  // the next open-loop arrival
  double w0_ = 0, w1_ = 0;
  uint64_t open_measured_ = 0;
  CellResult out_;
};

Cell::Cell(const CellConfig& c)
    : cfg_(c),
      source_(c.traffic, c.cell_rate_per_s, c.seed, c.trace, c.trace_part, c.trace_parts),
      w0_(c.warmup_s),
      w1_(c.warmup_s + c.window_s) {
  if (c.instances.empty() || !(c.window_s > 0) || c.bins == 0 || !(c.accepted_tokens >= 1))
    throw SimulationError("serving cell: needs instances, a window, bins and accepted tokens >= 1");
  bool disaggregated = false;
  for (const CellInstance& ci : c.instances) disaggregated |= ci.model->spec().role == "prefill";
  for (uint32_t i = 0; i < c.instances.size(); ++i) {
    Engine e;
    e.model = c.instances[i].model;
    e.capacity = double(c.instances[i].kv_capacity_tokens);
    e.pool = c.instances[i].pool;
    e.scale = c.instances[i].scale;
    e.first_of_pool = i == 0 || c.instances[i - 1].pool != e.pool;
    e.link_free.assign(e.model->spec().dpa, 0.0);
    e.power_bins.assign(c.bins, {0, 0, 0});
    const std::string& role = e.role();
    if (role == "mixed" || role == "prefill") entry_.push_back(i);
    if (disaggregated && role == "decode") decode_.push_back(i);
    engines_.push_back(std::move(e));
  }
  if (entry_.empty() || (disaggregated && decode_.empty()))
    throw SimulationError("serving cell: a disaggregated cell needs prefill and decode instances");
  out_.bins.assign(c.bins, CellBin{});
}

size_t Cell::Bin(double t) const {
  const double f = (t - w0_) / (w1_ - w0_) * cfg_.bins;
  return static_cast<size_t>(std::clamp(f, 0.0, double(cfg_.bins - 1)));
}

uint32_t Cell::NewRequest(const wl::Request& w) {
  Req r;
  r.arrival_s = w.arrival_s;
  r.input = w.input_tokens;
  r.output = w.output_tokens;
  const double hit = cfg_.traffic.prefix_cache_hit_rate();
  r.cached = std::min<uint32_t>(r.input - 1, static_cast<uint32_t>(std::floor(hit * r.input)));
  r.prompt = r.input;
  r.measured = w.arrival_s >= w0_ && w.arrival_s < w1_;
  if (r.measured) ++open_measured_;
  reqs_.push_back(r);
  ++out_.requests;
  return static_cast<uint32_t>(reqs_.size() - 1);
}

uint32_t Cell::Route(const std::vector<uint32_t>& group, uint32_t& rr) const {
  if (cfg_.router != "least_loaded") return group[rr++ % group.size()];
  uint32_t best = group[0];
  size_t best_load = SIZE_MAX;
  for (uint32_t i : group) {
    const Engine& e = engines_[i];
    const size_t load = e.waiting.size() + e.running() + e.in_transfer;
    if (load < best_load) best = i, best_load = load;
  }
  return best;
}

void Cell::Submit(uint32_t r, uint32_t engine, double now) {
  reqs_[r].engine = engine;
  engines_[engine].waiting.push_back(r);
  TryStart(engine, now);
}

void Cell::OnArrival(double now) {
  const uint32_t r = NewRequest(pending_);
  const uint32_t e = Route(entry_, rr_entry_);
  reqs_[r].entry = e;
  Submit(r, e, now);
  if (source_.Next(pending_) && pending_.arrival_s < w1_) Push(pending_.arrival_s, Kind::kArrival, 0);
}

double Cell::KvOf(const Engine& e, const Req& r) const {
  return r.prompt + cfg_.accepted_tokens * double(e.iter - r.decode_start);
}

void Cell::Admit(Engine& e, double now) {
  const uint32_t max_batch = e.model->spec().max_batch;
  while (!e.waiting.empty() && (max_batch == 0 || e.running() < max_batch)) {
    const uint32_t id = e.waiting.front();
    Req& r = reqs_[id];
    const double need = Reserve(r), hold = Holding(e, r);
    if ((cfg_.reserve_output ? e.kv_reserved + hold : e.kv_used + need) > e.capacity) {
      if (e.running() > 0 || e.in_transfer > 0) break;
      e.waiting.pop_front();  // can never fit: dropped, counted as unfinished
      r.state = State::kDone;
      continue;
    }
    e.waiting.pop_front();
    e.kv_used += need;
    e.kv_reserved += hold;
    r.reserved = hold;
    if (r.admitted_s < 0) r.admitted_s = now;
    e.admitted.emplace_back(id, r.gen);
    if (r.prefilled >= r.prompt) {  // KV arrived from a prefill instance
      r.state = State::kDecoding;
      r.decode_start = e.iter;
      e.sum_kv += r.prompt;
      ++e.n_decode;
      const double left = std::max(0.0, r.output - r.generated);
      e.decoding.emplace(e.iter + std::max<uint64_t>(1, uint64_t(std::ceil(left / cfg_.accepted_tokens))), id, r.gen);
    } else {
      r.state = State::kPrefilling;
      e.prefilling.push_back(id);
    }
  }
}

bool Cell::PreemptOne(Engine& e) {
  const uint32_t self = static_cast<uint32_t>(&e - engines_.data());
  while (!e.admitted.empty()) {
    const auto [id, gen] = e.admitted.back();
    e.admitted.pop_back();
    Req& r = reqs_[id];
    if (r.gen != gen || r.engine != self) continue;
    if (r.state == State::kPrefilling) {
      e.prefilling.erase(std::find(e.prefilling.begin(), e.prefilling.end(), id));
      e.kv_used -= Reserve(r);
    } else if (r.state == State::kDecoding) {
      const double kv = KvOf(e, r);
      e.sum_kv -= kv;
      e.kv_used -= kv + 0.5 * cfg_.kv_block_tokens;
      --e.n_decode;
      r.generated += cfg_.accepted_tokens * double(e.iter - r.decode_start);
      r.prompt = r.input + static_cast<uint32_t>(std::floor(r.generated));
    } else {
      continue;
    }
    Release(e, r);
    ++r.gen;
    r.prefilled = 0;
    r.state = State::kWaiting;
    e.waiting.push_front(id);
    ++e.stats.preemptions;
    return true;
  }
  return false;
}

void Cell::BuildBatch(Engine& e) {
  const InstanceSpec& s = e.model->spec();
  const double q = 1.0 + e.model->draft_tokens();
  e.shape = BatchShape{};
  e.chunks.clear();
  e.shape.decode_seqs = e.n_decode;
  e.shape.decode_kv = e.sum_kv;
  double budget = std::max(0.0, double(s.max_num_tokens) - e.n_decode * q);
  for (uint32_t id : e.prefilling) {
    if (budget < 1) break;
    const Req& r = reqs_[id];
    const uint32_t c = static_cast<uint32_t>(std::min<double>(r.prompt - r.prefilled, budget));
    e.chunks.push_back({id, c});
    e.shape.prefill_tokens += c;
    e.shape.prefill_max_chunk = std::max<double>(e.shape.prefill_max_chunk, c);
    e.shape.prefill_pairs += double(c) * (r.prefilled + (c + 1) / 2.0);
    e.shape.prefill_kv += r.prefilled + c;
    if (r.prefilled + c >= r.prompt) e.shape.logit_tokens += 1;
    budget -= c;
  }
}

void Cell::TryStart(uint32_t index, double now) {
  Engine& e = engines_[index];
  if (e.busy) return;
  bool preempted = false;
  while (e.n_decode > 0 && e.running() > 1 && e.kv_used + cfg_.accepted_tokens * e.n_decode > e.capacity)
    preempted |= PreemptOne(e);
  if (!preempted) Admit(e, now);
  BuildBatch(e);
  if (e.shape.decode_seqs == 0 && e.chunks.empty()) return;
  e.busy = true;
  e.start_s = now;
  e.it = e.model->Time(e.shape);
  Push(now + e.it.seconds, Kind::kIterEnd, index);
}

double Cell::FinishDecodes(Engine& e, double now) {
  const double a = cfg_.accepted_tokens;
  double produced = a * e.n_decode;
  e.sum_kv += produced;
  e.kv_used += produced;
  ++e.iter;
  while (!e.decoding.empty() && std::get<0>(e.decoding.top()) <= e.iter) {
    const auto [finish, id, gen] = e.decoding.top();
    e.decoding.pop();
    Req& r = reqs_[id];
    if (r.gen != gen || r.state != State::kDecoding) continue;
    const double kv = KvOf(e, r);
    e.sum_kv -= kv;
    e.kv_used -= kv + 0.5 * cfg_.kv_block_tokens;
    Release(e, r);
    --e.n_decode;
    produced -= a * double(e.iter - r.decode_start) - (r.output - r.generated);  // the last step's overshoot
    Complete(id, now);
  }
  return produced;
}

double Cell::FinishChunks(Engine& e, double now, double& input_tokens) {
  double first_tokens = 0;
  for (const Chunk& c : e.chunks) {
    Req& r = reqs_[c.req];
    if (r.state != State::kPrefilling) continue;
    if (r.generated == 0) input_tokens += c.tokens;  // a recomputed prompt (after a preemption) is not input
    r.prefilled += c.tokens;
    if (r.prefilled < r.prompt) continue;
    if (r.generated == 0) input_tokens += r.cached;
    e.prefilling.erase(std::find(e.prefilling.begin(), e.prefilling.end(), c.req));
    first_tokens += 1;
    PromptDone(e, c.req, now);
  }
  return first_tokens;
}

void Cell::PromptDone(Engine& e, uint32_t id, double now) {
  Req& r = reqs_[id];
  r.generated += 1;
  if (e.role() == "prefill") {
    r.state = State::kTransfer;
    ++e.in_transfer;
    double& link = e.link_free[e.next_link++ % e.link_free.size()];
    const double start = std::max(now, link);
    link = start + e.model->comm().kv_transfer.At(r.prompt);
    r.transfer_s = link - now;
    Push(link, Kind::kKvDone, id);
    return;
  }
  if (r.first_token_s < 0) r.first_token_s = now;
  if (r.generated >= r.output) {
    e.kv_used -= Reserve(r);
    Release(e, r);
    r.state = State::kDone;
    Complete(id, now);
    return;
  }
  r.state = State::kDecoding;
  r.decode_start = e.iter;
  e.sum_kv += r.prompt;
  ++e.n_decode;
  const double left = r.output - r.generated;
  e.decoding.emplace(e.iter + std::max<uint64_t>(1, uint64_t(std::ceil(left / cfg_.accepted_tokens))), id, r.gen);
}

void Cell::OnKvDone(uint32_t id, double now) {
  Req& r = reqs_[id];
  Engine& from = engines_[r.engine];
  from.kv_used -= Reserve(r);
  Release(from, r);
  --from.in_transfer;
  r.first_token_s = now;
  if (r.measured) out_.kv_transfer_s += r.transfer_s;
  TryStart(r.engine, now);
  if (r.generated >= r.output) {
    r.state = State::kDone;
    Complete(id, now);
    return;
  }
  r.state = State::kWaiting;
  r.prefilled = r.prompt;
  Submit(id, Route(decode_, rr_decode_), now);
}

void Cell::Complete(uint32_t id, double now) {
  Req& r = reqs_[id];
  r.state = State::kDone;
  r.done_s = now;
  if (r.measured) {
    --open_measured_;
    RequestLatency l;
    l.ttft = r.first_token_s - r.arrival_s;
    l.tpot = r.output > 1 ? (now - r.first_token_s) / (r.output - 1) : 0;
    l.e2e = now - r.arrival_s;
    l.queue = r.admitted_s - r.arrival_s;
    l.output = r.output;
    l.good = (cfg_.slo_ttft_s <= 0 || l.ttft <= cfg_.slo_ttft_s) && (cfg_.slo_tpot_s <= 0 || l.tpot <= cfg_.slo_tpot_s);
    out_.measured.push_back(l);
  }
  if (cfg_.traffic.arrival() == "closed" && now < w1_) Push(now, Kind::kClosedArrival, r.entry);
}

void Cell::Account(Engine& e, double end, double input_tokens, double output_tokens) {
  const double start = e.start_s;
  const double lo = std::max(start, w0_), hi = std::min(end, w1_);
  if (end >= w0_ && end < w1_) {
    e.stats.input_tokens += input_tokens;
    e.stats.output_tokens += output_tokens;
    ++e.stats.iterations;
    e.stats.iteration_s += end - start;
    IterationTime& t = e.stats.parts;
    t.dense_s += e.it.dense_s;
    t.experts_s += e.it.experts_s;
    t.attention_s += e.it.attention_s;
    t.other_s += e.it.other_s;
    t.comm_s += e.it.comm_s;
    t.host_s += e.it.host_s;
    CellBin& b = out_.bins[Bin(end)];
    b.input_tokens += input_tokens * e.scale;
    b.output_tokens += output_tokens * e.scale;
  }
  if (!(hi > lo)) return;
  const double dt = hi - lo;
  const double running = e.shape.decode_seqs + double(e.chunks.size());
  const double kv = e.capacity > 0 ? std::min(1.0, e.kv_used / e.capacity) : 0;
  e.stats.busy_s += dt;
  e.stats.batch_s += running * dt;
  e.stats.kv_s += kv * dt;
  e.stats.kv_max = std::max(e.stats.kv_max, kv);
  e.stats.prefill_share_s += dt * e.model->PrefillShare(e.shape);
  // The part of the iteration inside the window, spread over the bins it overlaps (an iteration can be longer than
  // a bin: attributing it to one bin would put more than a bin's worth of time there).
  const double bin_s = (w1_ - w0_) / cfg_.bins;
  for (size_t bin = Bin(lo); bin < cfg_.bins; ++bin) {
    const double b0 = w0_ + double(bin) * bin_s, b1 = b0 + bin_s;
    const double part = std::min(hi, b1) - std::max(lo, b0);
    if (part > 0) {
      CellBin& b = out_.bins[bin];
      b.running += running * part;
      b.waiting += double(e.waiting.size()) * part;
      b.kv += kv * part;
      std::array<double, 3>& p = e.power_bins[bin];
      const double share = part / (end - start);  // of the iteration
      p[e.it.compute_bound ? 0 : 1] += e.it.gpu_s * share;
      p[2] += e.it.comm_s * share;
    }
    if (b1 >= hi) break;
  }
}

void Cell::Trace(const Engine& e, uint32_t index) {
  if (!e.first_of_pool || e.start_s < w0_ || e.start_s - w0_ > cfg_.timeline_s) return;
  const std::string& role = e.role();
  const std::string name = e.chunks.empty() ? fmt::format("decode {:.0f} seq", e.shape.decode_seqs)
                           : e.shape.decode_seqs == 0
                               ? fmt::format("prefill {:.0f} tok", e.shape.prefill_tokens)
                               : fmt::format("{:.0f} seq + {:.0f} prompt tok", e.shape.decode_seqs, e.shape.prefill_tokens);
  const std::string cat = role == "mixed" ? (e.chunks.empty() ? "decode" : "mixed") : role;
  out_.timeline.push_back({index, name, cat, e.start_s - w0_, e.it.gpu_s, 0});
  if (e.it.comm_s > 0)
    out_.timeline.push_back({index, "exposed communication", "comm", e.start_s - w0_ + e.it.gpu_s, e.it.comm_s, 1});
}

void Cell::Finish(uint32_t index, double now) {
  Engine& e = engines_[index];
  double input_tokens = 0;
  const double decoded = FinishDecodes(e, now);
  const double first = FinishChunks(e, now, input_tokens);
  Account(e, now, input_tokens, decoded + first);
  Trace(e, index);
  ++out_.iterations;
  e.busy = false;
  TryStart(index, now);
}

CellResult Cell::Run() {
  const bool closed = cfg_.traffic.arrival() == "closed";
  if (closed) {
    const uint32_t c = std::max(1u, cfg_.traffic.concurrency());
    for (uint32_t e : entry_)
      for (uint32_t k = 0; k < c; ++k) Push(0.5 * w0_ * k / c, Kind::kClosedArrival, e);
  } else if (source_.Next(pending_) && pending_.arrival_s < w1_) {
    Push(pending_.arrival_s, Kind::kArrival, 0);
  }
  const double stop = w1_ + (w1_ - w0_);
  while (!events_.empty()) {
    const Event ev = events_.top();
    events_.pop();
    if (ev.t > stop || (ev.t >= w1_ && open_measured_ == 0)) break;
    switch (ev.kind) {
      case Kind::kArrival: OnArrival(ev.t); break;
      case Kind::kClosedArrival: {
        const uint32_t r = NewRequest(source_.Draw(ev.t));
        reqs_[r].entry = ev.id;
        Submit(r, ev.id, ev.t);
        break;
      }
      case Kind::kIterEnd: Finish(ev.id, ev.t); break;
      case Kind::kKvDone: OnKvDone(ev.id, ev.t); break;
    }
  }
  out_.unfinished = open_measured_;
  for (Engine& e : engines_) {
    const double bin_s = (w1_ - w0_) / cfg_.bins;
    for (uint32_t b = 0; b < cfg_.bins; ++b) {
      double t = b * bin_s;
      const PowerState states[3] = {PowerState::kComputeBound, PowerState::kMemoryBound, PowerState::kCommunicating};
      for (int k = 0; k < 3; ++k) {
        const double d = std::min(e.power_bins[b][k], b * bin_s + bin_s - t);
        if (d > 0) e.stats.power.push_back({states[k], t, t + d});
        t += std::max(0.0, d);
      }
    }
    out_.instances.push_back(std::move(e.stats));
  }
  return std::move(out_);
}

}  // namespace

CellResult RunCell(const CellConfig& config) { return Cell(config).Run(); }

}  // namespace clustersim::sim
