// Distributed sweeps; see mpi_sweep.h.
#include "planning/mpi_sweep.h"

#include <fmt/format.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <iostream>
#include <string>
#include <vector>

#include "common/error.h"

#ifdef CLUSTERSIM_HAVE_MPI
#include <mpi.h>
#endif

namespace clustersim::planning {

bool MpiBuilt() {
#ifdef CLUSTERSIM_HAVE_MPI
  return true;
#else
  return false;
#endif
}

bool LaunchedByMpi() {
  for (const char* var : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE"}) {
    const char* v = std::getenv(var);
    if (v != nullptr && std::atoi(v) > 1) return true;
  }
  return false;
}

#ifndef CLUSTERSIM_HAVE_MPI

SweepStats RunSweepMpi(const SweepPlan&, const SweepOptions&, bool& is_root) {
  is_root = true;
  throw InputError(
      "this clustersim was built without MPI (install libopenmpi-dev and reconfigure), so it cannot run as "
      "several MPI ranks: run one process, or shards with --shard I/N and then --gather");
}

#else

namespace {

constexpr int kTagResult = 1;  // payload: wall seconds (double) + serialized SweepPointResult
constexpr int kTagCrash = 2;   // payload: point index (uint32) + error text

struct Received {
  int tag = 0;
  std::string bytes;
};

Received ReceiveOne(bool blocking) {
  MPI_Status st;
  int flag = 1;
  if (blocking) {
    MPI_Probe(MPI_ANY_SOURCE, MPI_ANY_TAG, MPI_COMM_WORLD, &st);
  } else {
    MPI_Iprobe(MPI_ANY_SOURCE, MPI_ANY_TAG, MPI_COMM_WORLD, &flag, &st);
  }
  if (!flag) return {};
  int count = 0;
  MPI_Get_count(&st, MPI_BYTE, &count);
  Received r;
  r.tag = st.MPI_TAG;
  r.bytes.resize(static_cast<size_t>(count));
  MPI_Recv(r.bytes.data(), count, MPI_BYTE, st.MPI_SOURCE, st.MPI_TAG, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
  return r;
}

class Root {
 public:
  Root(const SweepPlan& plan, const SweepOptions& o, SweepStats& st) : plan_(plan), o_(o), st_(st) {}

  void Finished(const v1::SweepPointResult& r, double wall_s) {
    SavePoint(o_.out_dir, plan_, r);
    ++st_.simulated;
    if (!r.error().empty()) ++st_.failed;
    if (o_.progress) *o_.progress << ProgressLine(plan_, r, ++done_, wall_s, false) << std::endl;
  }
  void Crashed(uint32_t index, const std::string& error) {
    ++st_.simulated;
    crashed_.push_back(fmt::format("point {}: {}", index + 1, error));
    if (o_.progress)
      *o_.progress << fmt::format("[{}/{}] point {}: SIMULATION FAILED (not saved): {}", ++done_,
                                  plan_.points.size(), index + 1, error)
                   << std::endl;
  }
  void Cached(const v1::SweepPointResult& r) {
    ++st_.cached;
    if (!r.error().empty()) ++st_.failed;
    if (o_.progress) *o_.progress << ProgressLine(plan_, r, ++done_, 0, true) << std::endl;
  }
  // Handles one message from a worker; false when nothing was waiting (non-blocking).
  bool Drain(bool blocking) {
    const Received m = ReceiveOne(blocking);
    if (m.tag == kTagResult) {
      double wall = 0;
      std::memcpy(&wall, m.bytes.data(), sizeof wall);
      v1::SweepPointResult r;
      if (!r.ParseFromArray(m.bytes.data() + sizeof wall, static_cast<int>(m.bytes.size() - sizeof wall)))
        throw SimulationError("a sweep result sent by an MPI rank does not parse");
      Finished(r, wall);
      return true;
    }
    if (m.tag == kTagCrash) {
      uint32_t index = 0;
      std::memcpy(&index, m.bytes.data(), sizeof index);
      Crashed(index, m.bytes.substr(sizeof index));
      return true;
    }
    return false;
  }
  const std::vector<std::string>& crashed() const { return crashed_; }

 private:
  const SweepPlan& plan_;
  const SweepOptions& o_;
  SweepStats& st_;
  size_t done_ = 0;
  std::vector<std::string> crashed_;
};

// Runs this rank's share; on rank 0 also gathers and writes the table. Crashed points are listed in crash_report.
SweepStats RunRanks(const SweepPlan& plan, const SweepOptions& o, int rank, int size, std::string& crash_report) {
  // Rank 0 decides what is pending (its out_dir is the one that counts) and tells everyone.
  std::vector<uint32_t> pending;
  if (rank == 0) {
    pending = PendingPoints(plan, o.out_dir);
    if (o.max_points > 0 && pending.size() > o.max_points) pending.resize(o.max_points);
  }
  uint64_t n = pending.size();
  MPI_Bcast(&n, 1, MPI_UINT64_T, 0, MPI_COMM_WORLD);
  pending.resize(n);
  if (n > 0) MPI_Bcast(pending.data(), static_cast<int>(n), MPI_UINT32_T, 0, MPI_COMM_WORLD);

  SweepStats st;
  if (rank != 0) {
    std::deque<std::string> buffers;  // kept alive until their sends complete
    std::vector<MPI_Request> requests;
    for (size_t j = static_cast<size_t>(rank); j < n; j += static_cast<size_t>(size)) {
      const auto t0 = std::chrono::steady_clock::now();
      std::string msg;
      int tag = kTagResult;
      try {
        const v1::SweepPointResult r = RunPoint(plan, pending[j]);
        const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        msg.assign(reinterpret_cast<const char*>(&wall), sizeof wall);
        msg += r.SerializeAsString();
      } catch (const SimulationError& e) {
        tag = kTagCrash;
        msg.assign(reinterpret_cast<const char*>(&pending[j]), sizeof(uint32_t));
        msg += e.what();
      }
      buffers.push_back(std::move(msg));
      requests.emplace_back();
      MPI_Isend(buffers.back().data(), static_cast<int>(buffers.back().size()), MPI_BYTE, 0, tag, MPI_COMM_WORLD,
                &requests.back());
      int all_done = 0;
      MPI_Testall(static_cast<int>(requests.size()), requests.data(), &all_done, MPI_STATUSES_IGNORE);
      ++st.simulated;
    }
    MPI_Waitall(static_cast<int>(requests.size()), requests.data(), MPI_STATUSES_IGNORE);
    return st;
  }

  Root root(plan, o, st);
  std::vector<bool> is_pending(plan.points.size(), false);
  for (uint32_t i : pending) is_pending[i] = true;
  for (const SweepPointSpec& p : plan.points) {
    if (is_pending[p.index]) continue;
    if (auto r = ReadPointFile(o.out_dir, p)) root.Cached(*r);
  }
  size_t expected = 0;
  for (size_t j = 0; j < n; ++j) {
    if (j % static_cast<size_t>(size) != 0) {
      ++expected;
      continue;
    }
    const auto t0 = std::chrono::steady_clock::now();
    try {
      const v1::SweepPointResult r = RunPoint(plan, pending[j]);
      root.Finished(r, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    } catch (const SimulationError& e) {
      root.Crashed(pending[j], e.what());
    }
    while (expected > 0 && root.Drain(false)) --expected;
  }
  while (expected > 0) {
    root.Drain(true);
    --expected;
  }
  // The table, from the files as a single process would write it.
  std::vector<v1::SweepPointResult> all;
  for (const SweepPointSpec& p : plan.points) {
    if (auto r = ReadPointFile(o.out_dir, p)) {
      all.push_back(std::move(*r));
    } else {
      ++st.remaining;
    }
  }
  if (st.remaining == 0) {
    WriteSweepTable(plan, all, o.out_dir);
    st.table_written = true;
  }
  if (!root.crashed().empty()) {
    crash_report = fmt::format("{} point(s) failed in the simulation and were not saved (rerun to retry):",
                               root.crashed().size());
    for (const std::string& c : root.crashed()) crash_report += "\n  " + c;
  }
  return st;
}

}  // namespace

SweepStats RunSweepMpi(const SweepPlan& plan, const SweepOptions& o, bool& is_root) {
  int initialized = 0;
  MPI_Initialized(&initialized);
  if (!initialized) MPI_Init(nullptr, nullptr);
  int rank = 0, size = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  is_root = rank == 0;
  SweepOptions mine = o;
  if (rank != 0) mine.progress = nullptr;
  SweepStats st;
  std::string crash_report;
  try {
    st = RunRanks(plan, mine, rank, size, crash_report);
  } catch (const std::exception& e) {
    // One rank failing (say, rank 0 cannot write its out_dir) must not leave the others waiting: report and take
    // the whole job down.
    const bool input = dynamic_cast<const InputError*>(&e) != nullptr;
    if (size > 1) {
      std::cerr << fmt::format("clustersim: rank {}: {}: {}\n", rank, input ? "error" : "simulation failed",
                               e.what());
      MPI_Abort(MPI_COMM_WORLD, input ? 2 : 1);
    }
    MPI_Finalize();
    throw;
  }
  MPI_Finalize();
  if (!crash_report.empty()) throw SimulationError(crash_report);
  return st;
}

#endif

}  // namespace clustersim::planning
