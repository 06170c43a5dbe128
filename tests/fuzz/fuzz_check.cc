#include <cstdio>
#include <cstdlib>
#include <string>

#include "tests/fuzz/fuzz_targets.h"

namespace hookvault::fuzz {
namespace {

// The input being replayed; test-only state, set and read on the one fuzzing thread.
std::string& CurrentInput() {
  static std::string* name = new std::string();  // never destroyed: read while aborting
  return *name;
}

}  // namespace

void InvariantBroken(const char* condition, const std::string& detail, const char* file, int line) {
  std::fprintf(stderr, "invariant broken: %s\n  %s\n  at %s:%d\n", condition, detail.c_str(), file,
               line);
  if (!CurrentInput().empty()) std::fprintf(stderr, "  input: %s\n", CurrentInput().c_str());
  std::fflush(stderr);
  std::abort();
}

void SetCurrentInput(std::string name) { CurrentInput() = std::move(name); }

std::vector<std::string_view> SplitLines(std::string_view text, size_t max_lines) {
  std::vector<std::string_view> lines;
  while (lines.size() + 1 < max_lines) {
    size_t nl = text.find('\n');
    if (nl == std::string_view::npos) break;
    std::string_view line = text.substr(0, nl);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    lines.push_back(line);
    text.remove_prefix(nl + 1);
  }
  if (!text.empty()) lines.push_back(text);
  return lines;
}

}  // namespace hookvault::fuzz
