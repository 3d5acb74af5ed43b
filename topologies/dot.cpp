// Graphviz export; see dot.h.
#include "topologies/dot.h"

#include <string>

#include "common/error.h"

namespace clustersim::topo {
namespace {

const char* Shape(VertexKind k) {
  switch (k) {
    case VertexKind::kGpu:
      return "box";
    case VertexKind::kNic:
      return "ellipse";
    case VertexKind::kScaleUpSwitch:
      return "octagon";
    default:
      return "diamond";
  }
}

const char* Color(VertexKind k) {
  switch (k) {
    case VertexKind::kGpu:
      return "palegreen";
    case VertexKind::kNic:
      return "lightyellow";
    case VertexKind::kScaleUpSwitch:
      return "plum";
    case VertexKind::kLeaf:
      return "lightblue";
    case VertexKind::kSpine:
      return "skyblue";
    case VertexKind::kCore:
      return "steelblue";
    case VertexKind::kRouter:
      return "lightsalmon";
  }
  return "white";
}

}  // namespace

void WriteDot(const Fabric& fabric, std::ostream& out) {
  const Graph& g = fabric.graph();
  const auto vertices = static_cast<uint64_t>(boost::num_vertices(g));
  if (vertices > kMaxDotVertices) {
    throw InputError::Field(
        "", 0, "fabric vertices", std::to_string(vertices),
        "Graphviz export is limited to " + std::to_string(kMaxDotVertices) + " vertices; use a smaller cluster");
  }
  out << "graph fabric {\n"
      << "  graph [overlap=false, splines=true];\n"
      << "  node [style=filled, fontsize=10];\n";
  for (uint64_t v = 0; v < vertices; ++v) {
    const VertexProps& p = g[v];
    out << "  v" << v << " [label=\"" << ToString(p.kind) << ' ' << p.index;
    if (p.plane != 0) out << "\\nplane " << p.plane;
    out << "\", shape=" << Shape(p.kind) << ", fillcolor=" << Color(p.kind) << "];\n";
  }
  for (uint32_t id = 0; id < fabric.num_links(); ++id) {
    const EdgeProps& e = fabric.link(id);
    out << "  v" << fabric.link_source(id) << " -- v" << fabric.link_target(id) << " [label=\"" << ToString(e.kind)
        << ' ' << e.bandwidth_gbps << "G\", fontsize=8];\n";
  }
  out << "}\n";
}

}  // namespace clustersim::topo
