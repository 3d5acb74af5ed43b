// See progress_line.h.
#include "cli/progress_line.h"

#include <fmt/format.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <streambuf>

namespace clustersim::cli {
namespace {

std::string Duration(double s) {
  const long t = std::lround(s);
  if (t < 60) return fmt::format("{} s", t);
  if (t < 3600) return fmt::format("{}m{:02d}s", t / 60, t % 60);
  return fmt::format("{}h{:02d}m", t / 3600, (t / 60) % 60);
}

double NowS() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

size_t TerminalColumns() {
  winsize w{};
  if (::ioctl(STDERR_FILENO, TIOCGWINSZ, &w) == 0 && w.ws_col > 20) return w.ws_col;
  return 100;
}

}  // namespace

std::string FormatProgress(const std::vector<ProgressLevel>& levels) {
  std::string out;
  double eta = -1;
  for (const ProgressLevel& l : levels) {
    if (!out.empty()) out += " | ";
    out += l.what;
    if (l.total > 0) out += fmt::format(" {}/{}", l.done, l.total);
    if (l.total == 0 && l.done > 0) out += fmt::format(" {}", l.done);
    if (!l.item.empty()) out += (l.total > 0 ? " (" : ": ") + l.item + (l.total > 0 ? ")" : "");
    if (l.eta_s >= 0 && l.done < l.total) eta = l.eta_s;
  }
  if (eta >= 0) out += ", ETA " + Duration(eta);
  return out;
}

// Forwards to std::cerr's buffer, erasing the progress line first.
class ProgressLine::EraseBuf : public std::streambuf {
 public:
  explicit EraseBuf(ProgressLine& line) : line_(line) {}

 protected:
  int overflow(int c) override {
    if (c == traits_type::eof()) return traits_type::not_eof(c);
    const char ch = static_cast<char>(c);
    return xsputn(&ch, 1) == 1 ? c : traits_type::eof();
  }
  std::streamsize xsputn(const char* s, std::streamsize n) override {
    line_.Erase();
    return std::cerr.rdbuf()->sputn(s, n);
  }
  int sync() override { return std::cerr.rdbuf()->pubsync(); }

 private:
  ProgressLine& line_;
};

ProgressLine::ProgressLine(bool quiet)
    : enabled_(!quiet && ::isatty(STDERR_FILENO) != 0),
      buf_(std::make_unique<EraseBuf>(*this)),
      log_(std::make_unique<std::ostream>(buf_.get())) {}

ProgressLine::~ProgressLine() { Erase(); }

ProgressFn ProgressLine::Fn() {
  if (!enabled_) return {};
  return [this](const std::vector<ProgressLevel>& levels) { Draw(levels); };
}

std::ostream& ProgressLine::Log() { return *log_; }

void ProgressLine::Draw(const std::vector<ProgressLevel>& levels) {
  const double now = NowS();
  std::string shape = ProgressShape(levels);
  if (shown_ && shape == last_shape_ && now - last_draw_s_ < 0.1) return;
  last_draw_s_ = now;
  last_shape_ = std::move(shape);
  std::string text = "clustersim: " + FormatProgress(levels);
  const size_t width = TerminalColumns() - 1;
  if (text.size() > width) text = text.substr(0, width - 3) + "...";
  std::fprintf(stderr, "\r\033[K%s", text.c_str());
  std::fflush(stderr);
  shown_ = true;
}

void ProgressLine::Erase() {
  if (!shown_) return;
  std::fprintf(stderr, "\r\033[K");
  std::fflush(stderr);
  shown_ = false;
}

}  // namespace clustersim::cli
