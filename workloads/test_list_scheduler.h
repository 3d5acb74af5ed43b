// Test-only: a tiny list scheduler that runs the stage programs of a StepProgram against each other with given
// op durations, to check pipeline bubbles and that every schedule completes (no deadlock, every receive matched).
// One compute stream per stage; async collectives finish `duration` after issue; sends are instantaneous.
#pragma once

#include <algorithm>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <tuple>
#include <vector>

#include "workloads/step_program.h"

namespace clustersim::wl::testing {

struct ScheduleResult {
  bool deadlock = false;
  double makespan = 0;
  std::vector<double> busy;    // compute time per stage
  std::vector<double> finish;  // finish time per stage
  size_t unmatched_sends = 0;  // sends never received
  // Receives whose message is not the oldest one sent on their channel (sender, receiver, direction): zero means
  // a first-in-first-out inbox per neighbour and direction matches like the (phase, microbatch, chunk) rule.
  size_t fifo_mismatches = 0;
  double bubble(uint32_t stage) const { return makespan > 0 ? 1 - busy[stage] / makespan : 0; }
};

inline ScheduleResult RunListSchedule(const StepProgram& p, const std::function<double(const Op&)>& duration) {
  const uint32_t n = static_cast<uint32_t>(p.stages.size());
  ScheduleResult r;
  r.busy.assign(n, 0);
  r.finish.assign(n, 0);
  std::vector<size_t> pc(n, 0);
  std::vector<double> now(n, 0);
  std::vector<std::map<uint32_t, double>> tag_done(n);
  // (receiver stage, sender stage, phase, microbatch, chunk) -> arrival time
  using Key = std::tuple<uint32_t, uint32_t, int, uint32_t, uint32_t>;
  std::map<Key, double> in_flight;
  // (receiver, sender, sender's delta) -> messages in send order, as (phase, microbatch, chunk)
  using Channel = std::tuple<uint32_t, uint32_t, int32_t>;
  std::map<Channel, std::deque<std::tuple<int, uint32_t, uint32_t>>> fifo;
  auto wrap = [n](int64_t s) { return static_cast<uint32_t>(((s % n) + n) % n); };
  bool progress = true;
  while (progress) {
    progress = false;
    for (uint32_t s = 0; s < n; ++s) {
      const std::vector<Op>& ops = p.stages[s];
      while (pc[s] < ops.size()) {
        const Op& op = ops[pc[s]];
        if (op.type == OpType::kRecv) {
          const Key k{s, wrap(int64_t{s} + op.peer_delta), int(op.phase), op.microbatch, op.chunk};
          auto it = in_flight.find(k);
          if (it == in_flight.end()) break;
          now[s] = std::max(now[s], it->second);
          in_flight.erase(it);
          auto& q = fifo[Channel{s, std::get<1>(k), -op.peer_delta}];
          if (q.empty() || q.front() != std::make_tuple(int(op.phase), op.microbatch, op.chunk)) ++r.fifo_mismatches;
          auto pos = std::find(q.begin(), q.end(), std::make_tuple(int(op.phase), op.microbatch, op.chunk));
          if (pos != q.end()) q.erase(pos);
        } else if (op.type == OpType::kSend) {
          const uint32_t to = wrap(int64_t{s} + op.peer_delta);
          in_flight[Key{to, s, int(op.phase), op.microbatch, op.chunk}] = now[s];
          fifo[Channel{to, s, op.peer_delta}].emplace_back(int(op.phase), op.microbatch, op.chunk);
        } else if (op.type == OpType::kCompute) {
          const double d = duration(op);
          now[s] += d;
          r.busy[s] += d;
        } else if (op.type == OpType::kCollective) {
          const double d = duration(op);
          if (op.async) {
            double& done = tag_done[s][op.tag];
            done = std::max(done, now[s] + d);
          } else {
            now[s] += d;
          }
        } else if (op.type == OpType::kWait) {
          auto it = tag_done[s].find(op.tag);
          if (it != tag_done[s].end()) {
            now[s] = std::max(now[s], it->second);
            tag_done[s].erase(it);
          }
        }
        ++pc[s];
        progress = true;
      }
    }
  }
  for (uint32_t s = 0; s < n; ++s) {
    if (pc[s] < p.stages[s].size()) r.deadlock = true;
    r.finish[s] = now[s];
    r.makespan = std::max(r.makespan, now[s]);
  }
  r.unmatched_sends = in_flight.size();
  return r;
}

}  // namespace clustersim::wl::testing
