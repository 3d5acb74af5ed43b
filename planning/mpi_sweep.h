// Distributed sweeps over MPI (Open MPI from Debian): `mpirun -n K clustersim sweep SWEEP --out DIR`.
//
// Every rank parses the sweep file itself (it, and the base scenario, must be readable on every node). Rank 0 finds
// the pending points in its out_dir and broadcasts them; rank k simulates pending points j with j % K == k (a static
// round-robin split of the pending list, so cached points cost nothing and the load stays balanced when point costs
// vary smoothly along the sweep). Each finished point travels to rank 0 as serialized SweepPointResult bytes (no
// shared filesystem needed), where it is saved to out_dir/points/ as it arrives; rank 0 then writes the table, so
// the files are byte-identical to a single-process run. Simulations still run in a forked child per point: the
// child never calls MPI. Only rank 0 prints progress.
#pragma once

#include "planning/sweep.h"

namespace clustersim::planning {

// True when this build links MPI (CMake found it: CLUSTERSIM_HAVE_MPI).
bool MpiBuilt();

// True when an MPI launcher started this process as one of several ranks (OMPI_COMM_WORLD_SIZE or PMI_SIZE > 1).
bool LaunchedByMpi();

// Initializes MPI, runs the sweep over every rank and finalizes MPI. Returns rank 0's statistics (simulated counts
// the points of all ranks); `is_root` tells the caller whether to print. Throws InputError if the build has no MPI,
// and SimulationError (on rank 0) if a point's simulation crashed on any rank.
SweepStats RunSweepMpi(const SweepPlan& plan, const SweepOptions& o, bool& is_root);

}  // namespace clustersim::planning
