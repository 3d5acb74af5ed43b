// PhaseSolver: runs one phase of concurrent flows on the SimGrid platform and reports how long it took.
//
// Each GPU that sends or receives gets one actor that posts all its sends (Mailbox::put_async) and receives
// (get_async) and waits for them; SimGrid's max-min fairness shares every link among the flows crossing it. One
// actor per host is used because SimGrid 3.32's host-to-host Comm::sendto_async is quadratic in the number of
// flows (detached comms are removed from a global list by linear scan).
//
// Only usable inside the SimGrid process (sim/child_process.h), between engine runs.
#pragma once

#include <cstdint>
#include <vector>

#include "sim/collectives.h"
#include "sim/platform.h"

namespace clustersim::sim {

class PhaseSolver {
 public:
  PhaseSolver(simgrid::s4u::Engine& engine, Platform& platform);
  // Starts every flow at once and returns the simulated seconds until the last one completes (0 for no flows).
  // Flows with src == dst are ignored.
  double Solve(const std::vector<Flow>& flows);

  uint64_t flows_solved() const { return flows_solved_; }
  uint64_t solves() const { return solves_; }
  uint64_t actors_created() const { return actors_created_; }

 private:
  simgrid::s4u::Mailbox* MailboxOf(uint32_t gpu);

  simgrid::s4u::Engine& engine_;
  Platform& platform_;
  std::vector<simgrid::s4u::Mailbox*> mailboxes_;
  uint64_t flows_solved_ = 0;
  uint64_t solves_ = 0;
  uint64_t actors_created_ = 0;
  int token_ = 0;  // payload address handed to SimGrid; simulated comms never copy it
};

}  // namespace clustersim::sim
