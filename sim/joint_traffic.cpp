// JointTraffic; see joint_traffic.h.
#include "sim/joint_traffic.h"

#include <algorithm>
#include <cmath>

namespace clustersim::sim {

JointTraffic::JointTraffic(SimWorld& world, const wl::StepProgram& program, CommCostModel& costs, PhaseSolver& solver)
    : world_(world), program_(program), costs_(costs), solver_(solver) {
  std::map<CommCostModel::Key, uint32_t> index;
  const auto pp = static_cast<uint32_t>(program.stages.size());
  entry_.resize(pp);
  extra_.resize(pp);
  for (uint32_t s = 0; s < pp; ++s) {
    const std::vector<wl::Op>& ops = program.stages[s];
    entry_[s].assign(ops.size(), -1);
    extra_[s].assign(ops.size(), 0);
    for (size_t i = 0; i < ops.size(); ++i) {
      const wl::Op& op = ops[i];
      CommCostModel::Key key;
      if (op.type == wl::OpType::kCollective)
        key = CommCostModel::CollectiveKey(ToCollectiveKind(op.coll), op.dim, static_cast<double>(op.comm_bytes),
                                           op.internode_scale);
      else if (op.type == wl::OpType::kSend)
        key = CommCostModel::PipelineKey(s, op.peer_delta, static_cast<double>(op.comm_bytes));
      else
        continue;
      const auto cached = costs.entries().find(key);
      if (cached == costs.entries().end() || !(cached->second.time_s > 0)) continue;
      const auto [it, added] = index.emplace(key, static_cast<uint32_t>(keys_.size()));
      if (added) {
        keys_.push_back(key);
        alone_s_.push_back(cached->second.time_s);
        const CommCostModel::JointPhase* p = costs.joint_phase(key);
        share_.push_back(p == nullptr ? 0 : p->transfer_share);
      }
      entry_[s][i] = static_cast<int32_t>(it->second);
    }
  }
}

// The overlaps of every recorded span with spans of other communications of the stage (seconds), in span order.
void JointTraffic::CollectOverlaps(const StageTimeline& tl, uint32_t stage, std::vector<Overlap>& out) const {
  std::vector<CommSpan> spans(tl.comm);
  std::sort(spans.begin(), spans.end(), [](const CommSpan& x, const CommSpan& y) {
    return x.start_s != y.start_s ? x.start_s < y.start_s : x.op < y.op;
  });
  out.clear();
  std::vector<size_t> active;  // spans that may still overlap the next ones
  for (size_t i = 0; i < spans.size(); ++i) {
    const CommSpan& x = spans[i];
    const int32_t ex = entry_[stage][x.op];
    size_t kept = 0;
    for (size_t j : active) {
      const CommSpan& y = spans[j];
      if (y.end_s <= x.start_s) continue;
      active[kept++] = j;
      const int32_t ey = entry_[stage][y.op];
      const double o = std::min(x.end_s, y.end_s) - x.start_s;
      if (ex < 0 || ey < 0 || !(o > 0)) continue;  // two instances of one communication pair too
      out.push_back({x.op, static_cast<uint32_t>(ey), o});
      out.push_back({y.op, static_cast<uint32_t>(ex), o});
    }
    active.resize(kept);
    active.push_back(i);
  }
}

double JointTraffic::Slowdown(uint32_t a, uint32_t b) const {
  const double s = slowdown_.at({a, b});
  return 1 + share_[a] * std::max(0.0, s - 1);
}

void JointTraffic::Update(const StepTimeline& timeline) {
  const auto pp = static_cast<uint32_t>(program_.stages.size());
  std::vector<std::vector<Overlap>> overlaps(pp);
  std::vector<std::pair<uint32_t, uint32_t>> missing;
  for (uint32_t s = 0; s < pp; ++s) {
    CollectOverlaps(timeline.stages[s], s, overlaps[s]);
    for (const Overlap& o : overlaps[s]) {
      const auto pair = std::make_pair(static_cast<uint32_t>(entry_[s][o.op]), o.other_entry);
      if (slowdown_.emplace(pair, 0.0).second) missing.push_back(pair);
    }
  }
  if (!missing.empty()) {
    world_.RunController([this, &missing]() {
      for (const auto& [a, b] : missing) slowdown_[{a, b}] = costs_.JointSlowdown(keys_[a], keys_[b]);
    });
    solver_.WorkersGone();
  }
  std::vector<double> length;
  for (uint32_t s = 0; s < pp; ++s) {
    length.assign(extra_[s].size(), 0);  // span lengths of the last run
    for (const CommSpan& c : timeline.stages[s].comm) length[c.op] = c.end_s - c.start_s;
    std::fill(extra_[s].begin(), extra_[s].end(), 0.0);
    // Per op and partner: the fraction of the op's span the partner overlapped.
    std::vector<Overlap>& ov = overlaps[s];
    std::sort(ov.begin(), ov.end(), [](const Overlap& x, const Overlap& y) {
      return x.op != y.op ? x.op < y.op : x.other_entry < y.other_entry;
    });
    for (size_t i = 0; i < ov.size();) {
      const uint32_t op = ov[i].op;
      const auto a = static_cast<uint32_t>(entry_[s][op]);
      double lost = 0, bound = 0;  // sum f_b (1 - 1/s_b), sum (s_b - 1)
      while (i < ov.size() && ov[i].op == op) {
        const uint32_t b = ov[i].other_entry;
        double seconds = 0;
        for (; i < ov.size() && ov[i].op == op && ov[i].other_entry == b; ++i) seconds += ov[i].seconds;
        const double slow = Slowdown(a, b);
        lost += std::min(1.0, seconds / std::max(length[op], 1e-300)) * (1 - 1 / slow);
        bound += slow - 1;
      }
      // Several partners at once add up; never slower than every partner overlapping it throughout.
      const double factor = lost < 1 ? std::min(1 / (1 - lost), 1 + bound) : 1 + bound;
      extra_[s][op] = alone_s_[a] * (factor - 1);
    }
  }
}

StepTimeline JointTraffic::Iterate(StepExecutor& executor, StepTimeline first) {
  StepTimeline last = std::move(first);
  for (runs_ = 0; runs_ < kMaxJointRuns;) {
    Update(last);
    StepTimeline next = executor.Run();
    ++runs_;
    const bool converged = std::abs(next.step_time_s - last.step_time_s) <= 1e-4 * last.step_time_s;
    last = std::move(next);
    if (converged) break;
  }
  return last;
}

}  // namespace clustersim::sim
