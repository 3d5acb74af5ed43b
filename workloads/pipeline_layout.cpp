#include "workloads/pipeline_layout.h"

#include "common/error.h"

namespace clustersim::wl {
namespace {

constexpr const char* kField = "workload.parallelism.pipeline_model_parallel_layout";

[[noreturn]] void Fail(const std::string& file, const std::string& layout, const std::string& rule) {
  throw InputError::Field(file, 0, kField, layout, rule);
}

bool Cosmetic(char c) { return c == ',' || c == ' ' || c == '\t'; }
bool Symbol(char c) { return c == 'E' || c == 't' || c == 'm' || c == 'L' || c == '|'; }

// Recursive-descent expansion of the layout grammar: seq := item*; item := atom ('*' count)?;
// atom := symbol | '(' seq ')'. Appends the expanded symbols to `out`.
class Expander {
 public:
  Expander(const std::string& layout, const std::string& file) : s_(layout), file_(file) {}

  std::string Run() {
    std::string out;
    Seq(out, 0);
    if (pos_ < s_.size()) Fail(file_, s_, "unbalanced ')' at character " + std::to_string(pos_ + 1));
    return out;
  }

 private:
  void Seq(std::string& out, int depth) {
    if (depth > 16) Fail(file_, s_, "groups nested more than 16 deep");
    while (true) {
      Skip();
      if (pos_ >= s_.size() || s_[pos_] == ')') return;
      std::string atom;
      const char c = s_[pos_];
      if (c == '(') {
        ++pos_;
        Seq(atom, depth + 1);
        if (pos_ >= s_.size()) Fail(file_, s_, "'(' without its ')'");
        ++pos_;
      } else if (Symbol(c)) {
        atom = c;
        ++pos_;
      } else {
        Fail(file_, s_,
             std::string("unknown symbol '") + c + "' at character " + std::to_string(pos_ + 1) +
                 " (E embedding, t decoder layer, m MTP module, L loss, '|' between stages, X*n and (...)*n repeat)");
      }
      const uint64_t n = Count();
      if (out.size() + atom.size() * n > kMaxLayoutSymbols) {
        Fail(file_, s_, "expands to more than " + std::to_string(kMaxLayoutSymbols) + " symbols");
      }
      for (uint64_t i = 0; i < n; ++i) out += atom;
    }
  }

  // The repeat count after '*', or 1.
  uint64_t Count() {
    Skip();
    if (pos_ >= s_.size() || s_[pos_] != '*') return 1;
    ++pos_;
    Skip();
    uint64_t n = 0;
    const size_t start = pos_;
    while (pos_ < s_.size() && s_[pos_] >= '0' && s_[pos_] <= '9') {
      n = n * 10 + static_cast<uint64_t>(s_[pos_] - '0');
      if (n > kMaxLayoutSymbols) Fail(file_, s_, "a repeat count above " + std::to_string(kMaxLayoutSymbols));
      ++pos_;
    }
    if (pos_ == start) Fail(file_, s_, "'*' must be followed by a repeat count");
    return n;
  }

  void Skip() {
    while (pos_ < s_.size() && Cosmetic(s_[pos_])) ++pos_;
  }

  const std::string& s_;
  const std::string& file_;
  size_t pos_ = 0;
};

// Megatron-Core's order: the embedding first, then the decoder layers, the MTP modules, and the loss last.
void CheckOrder(const std::string& symbols, const std::string& layout, const std::string& file) {
  std::string order;
  for (char c : symbols)
    if (c != '|') order += c;
  if (order.empty() || order.front() != 'E' || order.find('E', 1) != std::string::npos) {
    Fail(file, layout, "needs one E (embedding), as its first symbol");
  }
  if (order.back() != 'L' || order.find('L') != order.size() - 1) {
    Fail(file, layout, "needs one L (output layer and loss), as its last symbol");
  }
  const size_t first_m = order.find('m');
  if (first_m != std::string::npos && order.find('t', first_m) != std::string::npos) {
    Fail(file, layout, "MTP modules (m) must follow every decoder layer (t)");
  }
}

}  // namespace

std::vector<LayoutStage> ParsePipelineLayout(const std::string& layout, const std::string& file) {
  std::vector<LayoutStage> stages;
  if (layout.empty()) return stages;
  const std::string symbols = Expander(layout, file).Run();
  CheckOrder(symbols, layout, file);
  stages.emplace_back();
  for (char c : symbols) {
    LayoutStage& st = stages.back();
    switch (c) {
      case '|':
        stages.emplace_back();
        break;
      case 'E':
        st.embedding = true;
        break;
      case 'L':
        st.loss = true;
        break;
      case 't':
        ++st.decoders;
        break;
      default:
        ++st.mtp;
        break;
    }
  }
  return stages;
}

void CheckPipelineLayout(const std::vector<LayoutStage>& stages, const std::string& layout, uint64_t virtual_stages,
                         uint32_t layers, uint32_t mtp_depth, const std::string& file) {
  if (stages.size() != virtual_stages) {
    Fail(file, layout,
         "has " + std::to_string(stages.size()) + " stages; pp x model chunks per stage = " +
             std::to_string(virtual_stages));
  }
  uint64_t t = 0, m = 0;
  for (const LayoutStage& s : stages) {
    t += s.decoders;
    m += s.mtp;
  }
  if (t != layers) {
    Fail(file, layout, "places " + std::to_string(t) + " decoder layers (t); the model has " + std::to_string(layers));
  }
  if (m != mtp_depth) {
    Fail(file, layout,
         "places " + std::to_string(m) + " MTP modules (m); the model has mtp_depth " + std::to_string(mtp_depth));
  }
}

}  // namespace clustersim::wl
