// PhaseSolver; see phase_solver.h.
#include "sim/phase_solver.h"

#include <algorithm>
#include <cmath>
#include <string>

namespace clustersim::sim {

namespace sg4 = simgrid::s4u;

PhaseSolver::PhaseSolver(sg4::Engine& engine, Platform& platform)
    : engine_(engine), platform_(platform), mailboxes_(platform.num_hosts(), nullptr) {}

sg4::Mailbox* PhaseSolver::MailboxOf(uint32_t gpu) {
  if (mailboxes_[gpu] == nullptr) mailboxes_[gpu] = sg4::Mailbox::by_name("phase" + std::to_string(gpu));
  return mailboxes_[gpu];
}

double PhaseSolver::Solve(const std::vector<Flow>& flows) {
  struct Endpoint {
    uint32_t gpu = 0;
    std::vector<std::pair<uint32_t, uint64_t>> sends;  // destination, bytes
    uint32_t receives = 0;
  };
  // Index flows by GPU; endpoints are kept sorted by GPU id so actor creation order is deterministic.
  std::vector<uint32_t> touched;
  touched.reserve(flows.size() * 2);
  for (const Flow& f : flows) {
    if (f.src == f.dst || f.bytes <= 0) continue;
    touched.push_back(f.src);
    touched.push_back(f.dst);
  }
  if (touched.empty()) return 0;
  std::sort(touched.begin(), touched.end());
  touched.erase(std::unique(touched.begin(), touched.end()), touched.end());
  std::vector<Endpoint> eps(touched.size());
  auto index_of = [&](uint32_t gpu) {
    return static_cast<size_t>(std::lower_bound(touched.begin(), touched.end(), gpu) - touched.begin());
  };
  for (size_t i = 0; i < touched.size(); ++i) eps[i].gpu = touched[i];
  for (const Flow& f : flows) {
    if (f.src == f.dst || f.bytes <= 0) continue;
    eps[index_of(f.src)].sends.emplace_back(f.dst, static_cast<uint64_t>(std::llround(std::max(1.0, f.bytes))));
    eps[index_of(f.dst)].receives++;
    ++flows_solved_;
  }
  for (Endpoint& ep : eps) {
    MailboxOf(ep.gpu);
    for (const auto& s : ep.sends) MailboxOf(s.first);
  }
  const double t0 = sg4::Engine::get_clock();
  for (Endpoint& ep : eps) {
    Endpoint* e = &ep;
    sg4::Mailbox* me = mailboxes_[ep.gpu];
    std::vector<sg4::Mailbox*> dst_boxes;
    dst_boxes.reserve(ep.sends.size());
    for (const auto& s : ep.sends) dst_boxes.push_back(mailboxes_[s.first]);
    sg4::Actor::create("p", platform_.host(ep.gpu), [e, me, boxes = std::move(dst_boxes), token = &token_]() {
      std::vector<sg4::CommPtr> comms;
      comms.reserve(e->sends.size() + e->receives);
      for (size_t k = 0; k < e->sends.size(); ++k) comms.push_back(boxes[k]->put_async(token, e->sends[k].second));
      std::vector<int*> sink(e->receives, nullptr);
      for (uint32_t k = 0; k < e->receives; ++k) comms.push_back(me->get_async<int>(&sink[k]));
      sg4::Comm::wait_all(comms);
    });
    ++actors_created_;
  }
  engine_.run();
  ++solves_;
  return sg4::Engine::get_clock() - t0;
}

}  // namespace clustersim::sim
