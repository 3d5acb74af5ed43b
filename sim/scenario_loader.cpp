// Scenario loading and validation; see scenario_loader.h.
#include "sim/scenario_loader.h"

#include <fmt/format.h>
#include <google/protobuf/io/tokenizer.h>
#include <google/protobuf/text_format.h>
#include <google/protobuf/util/json_util.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <set>
#include <sstream>

#include "common/checked.h"
#include "common/error.h"
#include "common/input_file.h"
#include "sim/hardware/accelerator.h"
#include "sim/hardware/power_model.h"
#include "sim/network/collectives.h"
#include "sim/network_cost.h"
#include "sim/placement.h"
#include "sim/plausible.h"
#include "sim/serving_loader.h"
#include "sim/simulation.h"
#include "topologies/fabric.h"
#include "topologies/routing.h"
#include "workloads/model.h"
#include "workloads/plan.h"

namespace clustersim::sim {
namespace {

// Most consecutive steps one run simulates (workload.steps): each re-runs the step program on the engine.
constexpr uint32_t kMaxSteps = 10000;

namespace pb = google::protobuf;

class FirstErrorCollector : public pb::io::ErrorCollector {
 public:
  void AddError(int line, pb::io::ColumnNumber column, const std::string& message) override {
    if (line_ >= 0) return;
    line_ = line + 1;  // protobuf lines are 0-based
    column_ = column + 1;
    message_ = message;
  }
  void AddWarning(int, pb::io::ColumnNumber, const std::string&) override {}
  int line_ = -1;
  int column_ = 0;
  std::string message_;
};

// Records the line of every field written in the text, keyed by its dotted path ("a.b[2].c" for repeated messages,
// "a.b" for the first element and for scalars).
void CollectLines(const pb::Message& msg, const pb::TextFormat::ParseInfoTree* tree, const std::string& prefix,
                  FieldLines& out) {
  const pb::Reflection* refl = msg.GetReflection();
  std::vector<const pb::FieldDescriptor*> fields;
  refl->ListFields(msg, &fields);
  for (const pb::FieldDescriptor* f : fields) {
    const std::string path = prefix.empty() ? f->name() : prefix + "." + f->name();
    const int n = f->is_repeated() ? refl->FieldSize(msg, f) : 1;
    for (int i = 0; i < n; ++i) {
      const int index = f->is_repeated() ? i : -1;
      pb::TextFormat::ParseLocation loc = tree->GetLocation(f, index);
      const std::string key = (f->is_repeated() && i > 0) ? path + "[" + std::to_string(i) + "]" : path;
      if (loc.line >= 0) out.emplace(key, loc.line + 1);
      if (f->cpp_type() == pb::FieldDescriptor::CPPTYPE_MESSAGE) {
        const pb::TextFormat::ParseInfoTree* sub = tree->GetTreeForNested(f, index);
        if (sub == nullptr) continue;
        const pb::Message& child = f->is_repeated() ? refl->GetRepeatedMessage(msg, f, i) : refl->GetMessage(msg, f);
        CollectLines(child, sub, key, out);
      }
    }
  }
}

// The field whose value a text-format error at (line, column) is in: the last "name:" or "name {" on that line
// before the column, or "" (protobuf's messages about values, e.g. "Integer out of range", name none).
std::string FieldNameAt(const std::string& text, int line, int column) {
  size_t start = 0;
  for (int l = 1; l < line && start != std::string::npos; ++l) {
    start = text.find('\n', start);
    if (start != std::string::npos) ++start;
  }
  if (start == std::string::npos || column < 1) return "";
  const std::string before = text.substr(start, std::min<size_t>(static_cast<size_t>(column - 1), 4096));
  std::string name;
  for (size_t i = 0; i < before.size();) {
    if (!std::isalpha(static_cast<unsigned char>(before[i])) && before[i] != '_') {
      ++i;
      continue;
    }
    size_t j = i;
    while (j < before.size() && (std::isalnum(static_cast<unsigned char>(before[j])) || before[j] == '_')) ++j;
    size_t k = j;
    while (k < before.size() && before[k] == ' ') ++k;
    if (k < before.size() && (before[k] == ':' || before[k] == '{') && j - i <= 64) name = before.substr(i, j - i);
    i = j;
  }
  return name;
}

// Whether `name` is the name of a field of `d` or of a message under it.
bool NamesAField(const pb::Descriptor& d, const std::string& name, std::set<const pb::Descriptor*>& seen) {
  if (!seen.insert(&d).second) return false;
  for (int i = 0; i < d.field_count(); ++i) {
    const pb::FieldDescriptor& f = *d.field(i);
    if (f.name() == name) return true;
    if (f.message_type() != nullptr && NamesAField(*f.message_type(), name, seen)) return true;
  }
  return false;
}

std::string FormatOf(const std::string& path) {
  auto ends = [&](const char* ext) {
    const std::string e(ext);
    return path.size() >= e.size() && path.compare(path.size() - e.size(), e.size(), e) == 0;
  };
  if (ends(".json")) return "json";
  return "textproto";
}

std::string Num(double v) {
  std::ostringstream os;
  os << v;
  return os.str();
}

// Rules are checked in the order fields appear in the schema so the first message is predictable.
using Validator = FieldRules;

// Re-throws an InputError raised by a lower layer with the line of the field it names, when known. Lower layers use
// the format "file: field = value: rule".
[[noreturn]] void RethrowWithLine(const InputError& e, const LoadedScenario& l) {
  const std::string msg = e.what();
  const std::string prefix = l.file + ": ";
  if (!l.lines.empty() && msg.rfind(prefix, 0) == 0) {
    const size_t eq = msg.find(" = ", prefix.size());
    if (eq != std::string::npos) {
      const std::string field = msg.substr(prefix.size(), eq - prefix.size());
      const int line = LineOf(l, field);
      if (line > 0) throw InputError(l.file + ":" + std::to_string(line) + ": " + msg.substr(prefix.size()));
    }
  }
  throw e;
}

}  // namespace

int LineOf(const LoadedScenario& loaded, const std::string& field_path) {
  // Fall back to the closest enclosing message that has a line.
  std::string p = field_path;
  while (!p.empty()) {
    auto it = loaded.lines.find(p);
    if (it != loaded.lines.end()) return it->second;
    const size_t dot = p.rfind('.');
    if (dot == std::string::npos) break;
    p.resize(dot);
  }
  return 0;
}

void FieldRules::Fail(const std::string& field, const std::string& value, const std::string& rule) const {
  throw InputError::Field(l_.file, LineOf(l_, field), field, value, rule);
}

void FieldRules::OneOf(const std::string& field, const std::string& v, const std::vector<std::string>& allowed) const {
  if (v.empty()) return;
  for (const auto& a : allowed)
    if (a == v) return;
  std::string list;
  for (const auto& a : allowed) list += (list.empty() ? "" : ", ") + a;
  Fail(field, "\"" + v + "\"", "must be one of: " + list);
}

void FieldRules::Range(const std::string& field, double v, double lo, double hi, const std::string& rule) const {
  if (!(v >= lo && v <= hi) || !std::isfinite(v)) Fail(field, Num(v), rule);
}

LoadedScenario ParseScenario(const std::string& text, const std::string& format, const std::string& name) {
  LoadedScenario out;
  out.file = name;
  CheckUtf8Text(text, name, "scenario");
  if (format == "json") {
    ParseJsonMessage(text, &out.scenario, name);
    return out;
  }
  out.lines = ParseTextMessage(text, &out.scenario, name);
  return out;
}

void ParseJsonMessage(const std::string& text, pb::Message* msg, const std::string& name) {
  const std::string type = msg->GetDescriptor()->name();
  const size_t first = text.find_first_not_of(" \t\r\n");
  if (first == std::string::npos || text[first] != '{')
    throw InputError(name + ": not a " + type +
                     " in JSON: a JSON object {...} was expected (the content is not shown)");
  pb::util::JsonParseOptions opts;
  opts.ignore_unknown_fields = false;
  const auto status = pb::util::JsonStringToMessage(text, msg, opts);
  if (!status.ok())
    throw InputError(name + ": invalid " + type + " JSON: " + ParserMessageShown(std::string(status.message())));
}

FieldLines ParseTextMessage(const std::string& text, pb::Message* msg, const std::string& name) {
  pb::TextFormat::Parser parser;
  FirstErrorCollector errors;
  pb::TextFormat::ParseInfoTree tree;
  parser.RecordErrorsTo(&errors);
  parser.WriteLocationsTo(&tree);
  if (!parser.ParseFromString(text, msg)) {
    const std::string where = name + ":" + std::to_string(errors.line_) + ":" + std::to_string(errors.column_) + ": ";
    const std::string type = msg->GetDescriptor()->name();
    // Nothing read before the error: the file is not this format at all, and its content is not echoed.
    std::vector<const pb::FieldDescriptor*> read;
    msg->GetReflection()->ListFields(*msg, &read);
    const std::string field = FieldNameAt(text, errors.line_, errors.column_);
    const std::string in_field = field.empty() ? "" : " (field " + field + ")";
    if (read.empty()) {
      // Only a name of the schema may be shown (it is not the file's content).
      std::set<const pb::Descriptor*> seen;
      const bool known = !field.empty() && NamesAField(*msg->GetDescriptor(), field, seen);
      throw InputError(where + "not a " + type + " in protobuf text format: no field could be read" +
                       (known ? in_field : "") + " (the content is not shown; see docs/scenario-format.md)");
    }
    throw InputError(where + "invalid " + type + ": " + ParserMessageShown(errors.message_) + in_field);
  }
  FieldLines lines;
  CollectLines(*msg, &tree, "", lines);
  return lines;
}

LoadedScenario LoadScenarioFile(const std::string& path) {
  return ParseScenario(ReadTextInputFile(path, "scenario file"), FormatOf(path), path);
}

namespace {

// ResolveScenario's steps, one per section of the scenario: each validates its fields (InputError through `v`) and
// fills the defaults.

void ResolveAccelerator(const Validator& v, const LoadedScenario& loaded, v1::Scenario& s) {
  // Accelerator: built-in chip with overrides, or custom silicon.
  if (s.accelerator().name().empty())
    v.Fail("accelerator.name", "\"\"", "required: a built-in chip (see `clustersim list`) or a custom name");
  AcceleratorCatalog catalog;
  *s.mutable_accelerator() = catalog.Resolve(s.accelerator(), loaded.file);
}

void ResolveScaleUp(const Validator& v, const v1::Accelerator& acc, v1::Cluster& c) {
  if (c.num_gpus() == 0) v.Fail("cluster.num_gpus", "0", "must be > 0");
  v1::ScaleUp& su = *c.mutable_scale_up();
  v.OneOf("cluster.scale_up.kind", su.kind(), {"nvswitch", "nvl72", "hccs", "cloudmatrix384", "ici", "none"});
  // A chip without scale-up runs one GPU per scale-up domain, so tensor and expert parallelism cross the NIC: only
  // when the scenario says so.
  const bool chip_has_none = acc.scale_up_domain_size() <= 1 || !(acc.scale_up_bandwidth_gbyte_per_s() > 0);
  if (chip_has_none && su.kind().empty() && su.domain_size() == 0 && su.bandwidth_gbyte_per_s() == 0)
    v.Fail("accelerator.scale_up_bandwidth_gbyte_per_s", Num(acc.scale_up_bandwidth_gbyte_per_s()),
           "\"" + acc.name() +
               "\" has no scale-up fabric: give its scale_up_bandwidth_gbyte_per_s and scale_up_domain_size, or set "
               "cluster.scale_up { kind: \"none\" } to run one GPU per scale-up domain (tensor and expert "
               "parallelism then cross the NIC)");
  if (su.kind() == "none") {
    if (su.domain_size() > 1)
      v.Fail("cluster.scale_up.domain_size", std::to_string(su.domain_size()), "contradicts kind \"none\"");
    su.set_domain_size(1);
  }
  if (su.kind().empty()) su.set_kind(acc.scale_up_kind().empty() ? "nvswitch" : acc.scale_up_kind());
  if (su.domain_size() == 0) su.set_domain_size(std::max(1u, acc.scale_up_domain_size()));
  if (su.bandwidth_gbyte_per_s() == 0) su.set_bandwidth_gbyte_per_s(acc.scale_up_bandwidth_gbyte_per_s());
  if (su.latency_ns() == 0) su.set_latency_ns(500);
  if (su.gpus_per_node() == 0) su.set_gpus_per_node(std::min(8u, su.domain_size()));
  if (c.num_gpus() % su.gpus_per_node() != 0)
    v.Fail("cluster.num_gpus", std::to_string(c.num_gpus()),
           "must be a multiple of cluster.scale_up.gpus_per_node (" + std::to_string(su.gpus_per_node()) + ")");
  if (su.domain_size() % su.gpus_per_node() != 0 && su.gpus_per_node() % su.domain_size() != 0)
    v.Fail("cluster.scale_up.domain_size", std::to_string(su.domain_size()),
           "must be a multiple or a divisor of gpus_per_node (" + std::to_string(su.gpus_per_node()) + ")");
  if (c.num_gpus() > su.domain_size() && c.num_gpus() % su.domain_size() != 0 && !su.allow_partial_domain()) {
    const uint32_t d = su.domain_size(), n = c.num_gpus();
    v.Fail("cluster.num_gpus", std::to_string(n),
           fmt::format("is not a multiple of the scale-up domain ({} GPUs, {}): the last domain would hold {} GPUs; "
                       "use {} or {} GPUs, set cluster.scale_up.domain_size, or set "
                       "cluster.scale_up.allow_partial_domain: true",
                       d, su.kind(), n % d, n / d * d, (n / d + 1) * d));
  }
  if (su.domain_size() > FabricGpus(c)) su.set_domain_size(FabricGpus(c));
}

// Field rules of cluster.faults that need no fabric (indices are checked against the built fabric at the end).
void ResolveFaults(const Validator& v, v1::Cluster& c) {
  const v1::FabricFaults& f = c.faults();
  std::vector<std::string> kinds;
  for (auto k : {topo::LinkKind::kNicToLeaf, topo::LinkKind::kLeafToSpine, topo::LinkKind::kSpineToCore,
                 topo::LinkKind::kLocal, topo::LinkKind::kGlobal, topo::LinkKind::kTorus})
    kinds.emplace_back(topo::ToString(k));
  for (int i = 0; i < f.links_size(); ++i) {
    const std::string field = "cluster.faults.links[" + std::to_string(i) + "].kind";
    if (f.links(i).kind().empty()) v.Fail(field, "\"\"", "must name the link kind");
    v.OneOf(field, f.links(i).kind(), kinds);
  }
  for (int i = 0; i < f.switches_size(); ++i) {
    if (f.switches(i).tier() == 0) {
      v.Fail("cluster.faults.switches[" + std::to_string(i) + "].tier", "0", "must be 1 (leaf), 2 (spine) or 3 (core)");
    }
  }
  const v1::RandomLinkFaults& r = f.random();
  if (r.speed() > 0 && r.fraction() == 0) {
    v.Fail("cluster.faults.random.fraction", "0", "must be > 0 when random.speed is set");
  }
  if (f.has_random() && r.fraction() > 0 && c.scale_out().topology() == "torus" && r.speed() == 0) {
    v.Fail("cluster.faults.random.speed", "0",
           "torus routing (dimension order) does not route around down links: set a speed between 0 and 1");
  }
}

void ResolveScaleOut(const Validator& v, const v1::Accelerator& acc, v1::Cluster& c) {
  v1::ScaleOut& so = *c.mutable_scale_out();
  std::vector<std::string> kinds;
  for (const auto& k : topo::ListFabricKinds()) kinds.push_back(k.name);
  if (so.topology().empty()) so.set_topology("fat_tree");
  v.OneOf("cluster.scale_out.topology", so.topology(), kinds);
  for (int i = 0; i < so.oversubscription_size(); ++i) {
    const double r = so.oversubscription(i);
    if (!(r >= 1) || !std::isfinite(r))
      v.Fail("cluster.scale_out.oversubscription", Num(r),
             "each tier's ratio must be >= 1 (1 = non-blocking; down:up bandwidth)");
  }
  if (!topo::RoutingApplies(so.topology(), so.routing())) {
    v.Fail("cluster.scale_out.routing", "\"" + so.routing() + "\"",
           "the " + so.topology() + " fabric routes by one of " + topo::RoutingNames(so.topology()));
  }
  if (so.routing().empty()) so.set_routing(topo::DefaultRouting(so.topology()));
  ResolveFaults(v, c);
  if (so.nic_bandwidth_gbps() == 0) so.set_nic_bandwidth_gbps(acc.nic_bandwidth_gbps());
  if (so.nics_per_gpu() == 0) so.set_nics_per_gpu(std::max(1u, acc.nics_per_gpu()));
  if (so.link_latency_ns() == 0) so.set_link_latency_ns(100);
  if (so.switch_latency_ns() == 0) so.set_switch_latency_ns(300);
  if (so.switch_radix() == 0) so.set_switch_radix(64);
  if (so.topology() != "none" && so.nic_bandwidth_gbps() <= 0)
    v.Fail("cluster.scale_out.nic_bandwidth_gbps", Num(so.nic_bandwidth_gbps()),
           "must be > 0 (the accelerator gives none)");
}

void ResolveNetworkParts(v1::Cluster& c) {
  const v1::NetworkParts& parts = c.parts();
  v1::NetworkParts& mparts = *c.mutable_parts();
  // Prices and embodied carbon: 64-port 400G switch class (QM9700 / SN5600 class) and 400G optics, estimates
  // (docs/energy-carbon.md). Power defaults live with the power model (NetworkPowerDefaults) and are filled here
  // from it so that the resolved scenario shows them.
  if (parts.switch_power_w() == 0) mparts.set_switch_power_w(NetworkPowerDefaults::kSwitchW);
  if (parts.transceiver_power_w() == 0) mparts.set_transceiver_power_w(NetworkPowerDefaults::kTransceiverW);
  if (parts.nic_power_w() == 0) mparts.set_nic_power_w(NetworkPowerDefaults::kNicW);
  if (parts.switch_price_usd() == 0) mparts.set_switch_price_usd(40000);
  if (parts.transceiver_price_usd() == 0) mparts.set_transceiver_price_usd(800);
  if (parts.nic_price_usd() == 0) mparts.set_nic_price_usd(2000);
  if (parts.cable_price_usd() == 0) mparts.set_cable_price_usd(100);
  if (parts.switch_embodied_kgco2e() == 0) mparts.set_switch_embodied_kgco2e(1000);
  ResolveScaleUpParts(c.scale_up().kind(), c.scale_up().domain_size(),
                      mparts);  // scale-up, torus and OCS parts by scale-up kind
}

// cluster.placement.torus_tile: one divisor per torus dimension, on a torus the job owns.
void ValidateTorusTile(const Validator& v, const v1::Cluster& c) {
  const v1::Placement& p = c.placement();
  const std::string shown = TorusTileText(p.torus_tile());
  const char* field = "cluster.placement.torus_tile";
  if (c.scale_out().topology() != "torus")
    v.Fail(field, shown, "needs cluster.scale_out.topology \"torus\" (got \"" + c.scale_out().topology() + "\")");
  const auto& dims = c.scale_out().torus_dims();
  if (p.torus_tile_size() != dims.size())
    v.Fail(field, shown,
           "needs one entry per cluster.scale_out.torus_dims (" + std::to_string(dims.size()) + " dimensions)");
  for (int d = 0; d < dims.size(); ++d)
    if (p.torus_tile(d) == 0 || dims[d] % p.torus_tile(d) != 0)
      v.Fail(field, shown, "each entry must divide its torus dimension (" + std::to_string(dims[d]) + ")");
  if (!JobOwnsFabric(c))
    v.Fail(field, shown,
           "needs the job to own the torus: no cluster.placement.fabric_gpus beyond cluster.num_gpus, no "
           "cluster.background, policy \"contiguous\"");
}

// cluster.placement and cluster.background (sim/placement.h); the fit itself is checked by PlaceJobs.
void ResolvePlacement(const Validator& v, const v1::Cluster& c) {
  const v1::Placement& p = c.placement();
  const uint32_t gpn = c.scale_up().gpus_per_node(), fabric = FabricGpus(c);
  v.OneOf("cluster.placement.policy", p.policy(), {"contiguous", "spread", "fragmented"});
  if (p.fabric_gpus() != 0 && p.fabric_gpus() < c.num_gpus())
    v.Fail("cluster.placement.fabric_gpus", std::to_string(p.fabric_gpus()),
           "must hold the job's cluster.num_gpus (" + std::to_string(c.num_gpus()) + ")");
  if (fabric % gpn != 0)
    v.Fail("cluster.placement.fabric_gpus", std::to_string(fabric),
           "must be a multiple of cluster.scale_up.gpus_per_node (" + std::to_string(gpn) + ")");
  uint64_t background = 0;
  for (const v1::BackgroundJob& b : c.background()) {
    v.OneOf("cluster.background.pattern", b.pattern(), {"all_to_all", "all_reduce", "uniform_random"});
    if (b.pattern().empty())
      v.Fail("cluster.background.pattern", "\"\"", "required: \"all_to_all\", \"all_reduce\" or \"uniform_random\"");
    v.OneOf("cluster.background.policy", b.policy(), {"contiguous", "spread", "fragmented"});
    if ((b.load_fraction() > 0) == (b.load_bytes_per_s() > 0))
      v.Fail("cluster.background.load_fraction", Num(b.load_fraction()),
             "give exactly one of load_fraction (of the NIC bandwidth) and load_bytes_per_s (" +
                 Num(b.load_bytes_per_s()) + ")");
    const uint32_t n = b.gpu_ids_size() > 0 ? static_cast<uint32_t>(b.gpu_ids_size()) : b.gpus();
    if (b.gpu_ids_size() > 0 && b.gpus() != 0 && b.gpus() != n)
      v.Fail("cluster.background.gpus", std::to_string(b.gpus()),
             "contradicts the " + std::to_string(n) + " GPUs of gpu_ids");
    if (n < 2)
      v.Fail("cluster.background.gpus", std::to_string(n), "a background job needs at least 2 GPUs (gpus or gpu_ids)");
    background += n;
  }
  if (c.num_gpus() + background > fabric)
    v.Fail("cluster.placement.fabric_gpus", std::to_string(fabric),
           "cannot hold the job (cluster.num_gpus = " + std::to_string(c.num_gpus()) + ") and the background jobs (" +
               std::to_string(background) + " GPUs in cluster.background)");
  if (p.torus_tile_size() > 0) ValidateTorusTile(v, c);
}

void ResolveWorkload(const Validator& v, const LoadedScenario& loaded, v1::Scenario& s) {
  const v1::Cluster& c = s.cluster();
  v1::Workload& w = *s.mutable_workload();
  *w.mutable_model() = wl::ResolveModel(w.model(), loaded.file);
  if (w.precision().empty()) w.set_precision("bf16");
  v1::Parallelism& p = *w.mutable_parallelism();
  if (p.tp() == 0) p.set_tp(1);
  if (p.cp() == 0) p.set_cp(1);
  if (p.pp() == 0) p.set_pp(1);
  if (p.ep() == 0) p.set_ep(1);
  if (p.vpp() == 0) p.set_vpp(1);
  if (p.expert_tp() == 0) p.set_expert_tp(1);
  if (p.micro_batch_size() == 0) p.set_micro_batch_size(1);
  if (p.recompute().empty()) p.set_recompute("none");
  if (p.schedule().empty()) p.set_schedule(p.vpp() > 1 ? "interleaved" : "1f1b");
  if (w.steps() == 0) w.set_steps(1);
  if (w.steps() > kMaxSteps)
    v.Fail("workload.steps", std::to_string(w.steps()),
           "at most " + std::to_string(kMaxSteps) + " consecutive steps are simulated (each re-runs the step)");
  wl::ValidatePlan(w, c.num_gpus(), loaded.file);
  if (p.dp() == 0) p.set_dp(c.num_gpus() / (p.tp() * p.cp() * p.pp()));
  const uint64_t microbatches = p.global_batch_size() / (uint64_t{p.dp()} * p.micro_batch_size());
  const uint64_t layers = uint64_t{w.model().layers()} + w.model().mtp_depth();
  if (microbatches * layers > kMaxLayerPasses)
    v.Fail("workload.parallelism.global_batch_size", std::to_string(p.global_batch_size()),
           "gives " + std::to_string(microbatches) + " micro-batches x " + std::to_string(layers) +
               " layers per pipeline; at most " + std::to_string(kMaxLayerPasses) +
               " layer passes are simulated (each is an operation of the step): raise micro_batch_size or dp");
  if (p.zero_stage() == 3 && p.zero3_implementation().empty())
    p.set_zero3_implementation(std::string(wl::FindZero3Implementation("")->name));
  if (w.moe_routing().distribution().empty()) w.mutable_moe_routing()->set_distribution("balanced");
  if (w.moe_routing().dispatcher().empty()) w.mutable_moe_routing()->set_dispatcher("alltoall");
}

void ResolveCollectives(const Validator& v, v1::Scenario& s) {
  v1::Collectives& co = *s.mutable_collectives();
  const auto algo_names = [](CollectiveKind k) {
    std::vector<std::string> names{"auto"};
    for (const auto& a : ListAlgorithms(k)) names.push_back(a.name);
    return names;
  };
  v.OneOf("collectives.all_reduce", co.all_reduce(), algo_names(CollectiveKind::kAllReduce));
  v.OneOf("collectives.all_gather", co.all_gather(), algo_names(CollectiveKind::kAllGather));
  v.OneOf("collectives.reduce_scatter", co.reduce_scatter(), algo_names(CollectiveKind::kReduceScatter));
  v.OneOf("collectives.all_to_all", co.all_to_all(), algo_names(CollectiveKind::kAllToAll));
  // The flex dispatcher is DeepEP's: its exchange runs DeepEP's kernels unless an algorithm is named. DeepEP needs an
  // NVLink domain and RDMA NICs; on a torus, which has neither, `auto` runs the direct exchange (collectives.cpp).
  const bool auto_a2a = co.all_to_all().empty() || co.all_to_all() == "auto";
  const bool torus = s.cluster().scale_out().topology() == "torus";
  if (!s.has_serving() && s.workload().moe_routing().dispatcher() == "flex" && auto_a2a && !torus)
    co.set_all_to_all("deepep");
  FillCollectiveDefaults(co);
}

void ResolveFacilityFields(const Validator& v, v1::Scenario& s) {
  v1::Facility& f = *s.mutable_facility();
  if (f.pue() != 0 && !(f.pue() >= 1 && f.pue() < 5)) v.Fail("facility.pue", Num(f.pue()), "must be in [1, 5)");
  // Region presets and the remaining defaults belong to the results layer (results/projection.h,
  // ResolveFacility), which the CLI applies right after this; the power model only needs the PUE.
  if (f.pue() == 0) f.set_pue(1.2);
}

void ResolveReliabilityFields(const Validator& v, const v1::Scenario& s) {
  // Reliability (defaults filled by planning::ResolveReliability, planning/goodput.h).
  const v1::Reliability& rel = s.reliability();
  v.OneOf("reliability.preset", rel.preset(), {"llama3", "none"});
}

void ResolveVariability(const Validator& v, v1::Cluster& c) {
  v1::Variability& var = *c.mutable_variability();
  v.OneOf("cluster.variability.model", var.model(), {"calibrated", "none"});
  if (var.model().empty()) var.set_model("calibrated");
  auto in = [&v](const std::string& field, double x, double lo, double hi, const std::string& rule) {
    v.Range(field, x, lo, hi, rule);
  };
  in("cluster.variability.gpu_speed_cv", var.gpu_speed_cv(), 0, 0.5, "must be in [0, 0.5] (relative std, e.g. 0.012)");
  in("cluster.variability.step_jitter_cv", var.step_jitter_cv(), 0, 0.5, "must be in [0, 0.5] (relative std)");
  in("cluster.variability.slow_node_fraction", var.slow_node_fraction(), 0, 0.5, "must be in [0, 0.5]");
  in("cluster.variability.slow_node_speed", var.slow_node_speed(), 0, 1, "must be in (0, 1] (0 = 0.9)");
  const uint32_t per_node = std::max(1u, c.scale_up().gpus_per_node());
  for (int i = 0; i < var.slow_size(); ++i) {
    const v1::SlowComponent& sc = var.slow(i);
    const std::string f = "cluster.variability.slow[" + std::to_string(i) + "]";
    v.OneOf(f + ".kind", sc.kind(), {"gpu", "node"});
    if (sc.kind().empty()) v.Fail(f + ".kind", "\"\"", "must be \"gpu\" or \"node\"");
    const uint32_t limit = sc.kind() == "node" ? c.num_gpus() / per_node : c.num_gpus();
    if (sc.index() >= limit)
      v.Fail(f + ".index", std::to_string(sc.index()),
             "must be below the cluster's " + std::to_string(limit) + " " + sc.kind() + "s");
    in(f + ".speed", sc.speed(), 1e-3, 1, "must be in (0, 1] (relative speed, 0.5 = half speed)");
  }
}

// options.scale_terms_off applied to the fields the terms read.
void ApplyScaleTermsOff(const Validator& v, v1::Scenario& s) {
  for (int i = 0; i < s.options().scale_terms_off_size(); ++i) {
    const std::string& t = s.options().scale_terms_off(i);
    v.OneOf("options.scale_terms_off", t, {"variability", "interference", "net_latency", "amax_reduction"});
    if (t.empty())
      v.Fail("options.scale_terms_off", "\"\"", "must be variability, interference, net_latency or amax_reduction");
    if (t == "variability") s.mutable_cluster()->mutable_variability()->set_model("none");
    if (t == "interference") s.mutable_accelerator()->set_comm_compute_interference(0);
    if (t == "net_latency") s.mutable_collectives()->set_net_step_latency_ns(0);
    if (t == "amax_reduction" && s.workload().fp8_recipe() == "delayed")
      s.mutable_workload()->set_fp8_reduce_amax(false);
  }
}

void ResolveOptions(const Validator& v, v1::Scenario& s) {
  const v1::Cluster& c = s.cluster();
  v1::SimOptions& o = *s.mutable_options();
  v.OneOf("options.fidelity", o.fidelity(), {"symmetric", "full"});
  if (o.fidelity().empty()) o.set_fidelity("symmetric");
  v.OneOf("options.traffic", o.traffic(), {"separate", "joint"});
  if (o.traffic().empty()) o.set_traffic("separate");
  // A serving fleet on a non-blocking fabric prices its curves on a prefix of 100k flows (a few EP groups): at 10k
  // GPUs within 12% of every group, at 100k GPUs in 35 s instead of 550 s. Other fabrics keep 2M: a prefix does not
  // load their tapered tiers (docs/serving.md "Scale").
  const v1::ScaleOut& so = c.scale_out();
  const bool clos = so.topology() == "fat_tree" || so.topology() == "rail_optimized" || so.topology() == "multi_plane";
  const bool non_blocking = clos && std::all_of(so.oversubscription().begin(), so.oversubscription().end(),
                                                [](double x) { return x <= 1; });
  if (o.max_flows_per_phase() == 0)
    o.set_max_flows_per_phase(s.has_serving() && non_blocking ? 100'000 : 2'000'000);
  for (int i = 0; i < o.trace_ranks_size(); ++i)
    if (o.trace_ranks(i) >= c.num_gpus())
      v.Fail("options.trace_ranks", std::to_string(o.trace_ranks(i)),
             "must be a rank below cluster.num_gpus (" + std::to_string(c.num_gpus()) + ")");
}

}  // namespace

v1::Scenario ResolveScenario(const LoadedScenario& loaded) {
  const Validator v(loaded);
  v1::Scenario s = loaded.scenario;
  try {
    // Every number finite and within its range (sim/plausible.h), every string and list bounded, before any rule
    // below computes with them.
    CheckFieldRanges(loaded.scenario, "",
                     [&v](const std::string& path, const std::string& value, const std::string& rule) {
                       v.Fail(path, value, rule);
                     });
    ResolveAccelerator(v, loaded, s);
    ResolveScaleUp(v, s.accelerator(), *s.mutable_cluster());
    ResolveScaleOut(v, s.accelerator(), *s.mutable_cluster());
    ResolvePlacement(v, s.cluster());
    ResolveNetworkParts(*s.mutable_cluster());
    if (s.has_serving()) ResolveServingScenario(loaded, s);  // a serving fleet (sim/serving_loader.h)
    else ResolveWorkload(v, loaded, s);
    ResolveCollectives(v, s);
    ResolveFacilityFields(v, s);
    ResolveReliabilityFields(v, s);
    ResolveOptions(v, s);
    ResolveVariability(v, *s.mutable_cluster());
    ApplyScaleTermsOff(v, s);
    // The fabric must hold the cluster: BuildFabric's rules, checked from closed forms (cheap at any size).
    try {
      (void)topo::PlanInventory(FabricParamsOf(s));
      if (SharesCluster(s)) (void)PlaceJobs(s);  // the job and the background jobs fit on whole nodes
      // Faults name links and switches of the built fabric: build it to check them (only when there are faults).
      if (s.cluster().has_faults()) (void)topo::BuildFabric(FabricParamsOf(s));
    } catch (const InputError& e) {
      throw InputError(loaded.file + ": " + e.what());
    }
  } catch (const InputError& e) {
    RethrowWithLine(e, loaded);
  }
  return s;
}

}  // namespace clustersim::sim
