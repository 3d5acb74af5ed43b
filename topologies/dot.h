// Graphviz export of a small fabric, for documentation and debugging.
#pragma once

#include <cstdint>
#include <ostream>

#include "topologies/fabric.h"

namespace clustersim::topo {

// Largest fabric (in vertices) WriteDot accepts; beyond it Graphviz output is unreadable.
inline constexpr uint32_t kMaxDotVertices = 4096;

// Writes the fabric as an undirected Graphviz graph: one node per vertex (named v<vertex>, labelled with its kind,
// index and plane), one edge per link (labelled with its kind and per-direction bandwidth). Output is deterministic.
// Throws clustersim::InputError when the fabric has more than kMaxDotVertices vertices.
void WriteDot(const Fabric& fabric, std::ostream& out);

}  // namespace clustersim::topo
