// PyTorch conventions in Chakra traces; see chakra_trace_pytorch.h.
#include "workloads/chakra_trace_pytorch.h"

#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>

#include <cctype>
#include <cmath>
#include <regex>

namespace clustersim::wl::chakra {

namespace {

namespace gp = google::protobuf;

std::optional<gp::ListValue> ParseJsonList(const std::string& json) {
  gp::ListValue list;
  if (!gp::util::JsonStringToMessage(json, &list).ok()) return std::nullopt;
  return list;
}

// A non-negative integer held by a JSON number (exact below 2^53), else nullopt.
std::optional<uint64_t> Count(const gp::Value& v) {
  if (v.kind_case() != gp::Value::kNumberValue) return std::nullopt;
  const double d = v.number_value();
  if (!(d >= 0) || d > 9007199254740992.0 || d != std::floor(d)) return std::nullopt;
  return static_cast<uint64_t>(d);
}

// numel x itemsize of a tensor value [id, storage, offset, numel, itemsize, device]; nullopt if it is not one.
std::optional<uint64_t> TensorBytes(const gp::Value& v) {
  if (v.kind_case() != gp::Value::kListValue || v.list_value().values_size() < 5) return std::nullopt;
  const auto numel = Count(v.list_value().values(3));
  const auto itemsize = Count(v.list_value().values(4));
  if (!numel || !itemsize || (*itemsize > 0 && *numel > UINT64_MAX / 2 / *itemsize)) return std::nullopt;
  return *numel * *itemsize;
}

// Copies a Python string literal starting at repr[i] (its quote) as a JSON string; returns the index after it.
size_t CopyPythonString(std::string_view repr, size_t i, std::string& out) {
  const char quote = repr[i++];
  out.push_back('"');
  for (; i < repr.size() && repr[i] != quote; ++i) {
    char c = repr[i];
    if (c == '\\' && i + 1 < repr.size()) {
      const char next = repr[++i];
      if (next == '\'' || next == '"') {
        c = next;
      } else {
        out.push_back('\\');
        c = next;
      }
    }
    if (c == '"') out.push_back('\\');
    out.push_back(c);
  }
  out.push_back('"');
  return i + 1;
}

}  // namespace

std::optional<CommType> CommTypeFromName(std::string_view name) {
  std::string norm;
  for (const char c : name.substr(0, name.find('('))) {
    if (c == '_' || c == '-') continue;
    norm.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  }
  static constexpr std::pair<const char*, CommType> kOrder[] = {
      {"allreduce", CommType::kAllReduce}, {"alltoall", CommType::kAllToAll},
      {"allgather", CommType::kAllGather}, {"reducescatter", CommType::kReduceScatter},
      {"broadcast", CommType::kBroadcast}, {"sendrecv", CommType::kAllToAll},
      {"barrier", CommType::kBarrier},     {"reduce", CommType::kReduce},
      {"gather", CommType::kGather},       {"scatter", CommType::kScatter}};
  for (const auto& [key, type] : kOrder)
    if (norm.find(key) != std::string::npos) return type;
  return std::nullopt;
}

std::string PythonReprToJson(std::string_view repr) {
  std::string out;
  out.reserve(repr.size() + 16);
  size_t i = 0;
  while (i < repr.size()) {
    const char c = repr[i];
    if (c == '\'' || c == '"') {
      i = CopyPythonString(repr, i, out);
      continue;
    }
    if (std::isalpha(static_cast<unsigned char>(c))) {
      size_t j = i;
      while (j < repr.size() && (std::isalnum(static_cast<unsigned char>(repr[j])) || repr[j] == '_')) ++j;
      const std::string_view word = repr.substr(i, j - i);
      out += word == "True" ? "true" : word == "False" ? "false" : word == "None" ? "null" : std::string(word);
      i = j;
      continue;
    }
    out.push_back(c == '(' ? '[' : c == ')' ? ']' : c);
    ++i;
  }
  return out;
}

std::optional<uint64_t> TensorBytesOfInputs(std::string_view values, std::string_view types) {
  const auto vals = ParseJsonList(PythonReprToJson(values));
  const auto kinds = ParseJsonList(PythonReprToJson(types));
  if (!vals || !kinds) return std::nullopt;
  uint64_t total = 0;
  bool any = false;
  auto add = [&](const gp::Value& v) {
    const auto b = TensorBytes(v);
    if (!b || *b > UINT64_MAX / 2 - total) return;
    total += *b;
    any = true;
  };
  const int n = std::min(vals->values_size(), kinds->values_size());
  for (int k = 0; k < n; ++k) {
    const std::string& type = kinds->values(k).string_value();
    if (type.find("Tensor") == std::string::npos) continue;
    const gp::Value& v = vals->values(k);
    if (type.rfind("GenericList[Tensor", 0) == 0) {
      if (v.kind_case() == gp::Value::kListValue)
        for (const gp::Value& t : v.list_value().values()) add(t);
    } else {
      add(v);
    }
  }
  if (!any) return std::nullopt;
  return total;
}

bool IsProcessGroupTableNode(std::string_view name) { return name.find("process_group:init") != name.npos; }

std::optional<std::vector<PyTorchGroup>> ParseProcessGroupTable(std::string_view values) {
  auto outer = ParseJsonList(PythonReprToJson(values));
  if (!outer) return std::nullopt;
  // The converter's form: a list holding the JSON text as one string. A JSON list of objects is accepted as is.
  if (outer->values_size() == 1 && outer->values(0).kind_case() == gp::Value::kStringValue) {
    outer = ParseJsonList(outer->values(0).string_value());
    if (!outer) return std::nullopt;
  }
  std::vector<PyTorchGroup> groups;
  for (const gp::Value& v : outer->values()) {
    if (v.kind_case() != gp::Value::kStructValue) return std::nullopt;
    const auto& f = v.struct_value().fields();
    PyTorchGroup g;
    const auto name = f.find("pg_name");
    if (name == f.end()) return std::nullopt;
    if (const auto num = Count(name->second)) {
      g.name = std::to_string(*num);
    } else if (name->second.kind_case() == gp::Value::kStringValue) {
      g.name = name->second.string_value();
    } else {
      return std::nullopt;
    }
    if (const auto ranks = f.find("ranks"); ranks != f.end() && ranks->second.kind_case() == gp::Value::kListValue)
      for (const gp::Value& r : ranks->second.list_value().values()) {
        const auto rank = Count(r);
        if (!rank || *rank > INT32_MAX) return std::nullopt;
        g.ranks.push_back(static_cast<int64_t>(*rank));
      }
    if (const auto size = f.find("group_size"); size != f.end()) {
      const auto s = Count(size->second);
      if (s && *s <= INT32_MAX) g.group_size = static_cast<int64_t>(*s);
    }
    groups.push_back(std::move(g));
  }
  return groups;
}

std::optional<uint32_t> PeerFromName(std::string_view name, bool send) {
  static const std::regex kSend(R"(nccl:send\s*([0-9]{1,9})\s*->\s*([0-9]{1,9}))");
  static const std::regex kRecv(R"(nccl:recv\s*([0-9]{1,9})\s*<-\s*([0-9]{1,9}))");
  if (name.size() > 4096) return std::nullopt;  // record-function names are short; std::regex recurses per char
  std::match_results<std::string_view::const_iterator> m;
  if (!std::regex_search(name.begin(), name.end(), m, send ? kSend : kRecv)) return std::nullopt;
  return static_cast<uint32_t>(std::stoul(m[2].str()));
}

}  // namespace clustersim::wl::chakra
