// Replays every seed input (tests/fuzz/corpus/<target>/) and every crash reproducer
// (tests/fuzz/regressions/<target>/) through its fuzz target in the normal build, so that the
// targets' invariants are checked by ctest without clang, and a bug the fuzzer once found
// stays fixed. A broken invariant aborts the test binary, naming the input.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <ostream>
#include <string>
#include <vector>

#include "tests/fuzz/fuzz_targets.h"

namespace hookvault::fuzz {
namespace {

struct Target {
  const char* name;  // the directory under corpus/ and regressions/
  int (*run)(const uint8_t* data, size_t size);
};

// For gtest's messages: the target's name, not its bytes.
void PrintTo(const Target& target, std::ostream* os) { *os << target.name; }

std::vector<std::filesystem::path> InputsIn(const std::filesystem::path& dir) {
  std::vector<std::filesystem::path> files;
  if (!std::filesystem::is_directory(dir)) return files;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (entry.is_regular_file() && !entry.path().filename().string().starts_with(".")) {
      files.push_back(entry.path());
    }
  }
  std::sort(files.begin(), files.end());
  return files;
}

// Runs every input in `dir`; returns how many there were.
size_t Replay(const Target& target, const std::filesystem::path& dir) {
  std::vector<std::filesystem::path> files = InputsIn(dir);
  for (const std::filesystem::path& file : files) {
    std::ifstream in(file, std::ios::binary);
    EXPECT_TRUE(in.good()) << file;
    std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    SetCurrentInput(file.string());
    EXPECT_EQ(target.run(reinterpret_cast<const uint8_t*>(data.data()), data.size()), 0) << file;
  }
  SetCurrentInput("");
  return files.size();
}

class CorpusReplayTest : public ::testing::TestWithParam<Target> {};

TEST_P(CorpusReplayTest, SeedsAndRegressionsHoldTheInvariants) {
  const std::filesystem::path fuzz_dir = std::filesystem::path(HOOKVAULT_SOURCE_DIR) / "tests/fuzz";
  EXPECT_GT(Replay(GetParam(), fuzz_dir / "corpus" / GetParam().name), 0u)
      << "no seed inputs for " << GetParam().name;
  Replay(GetParam(), fuzz_dir / "regressions" / GetParam().name);
}

INSTANTIATE_TEST_SUITE_P(Fuzz, CorpusReplayTest,
                         ::testing::Values(Target{"ingest", FuzzIngest},
                                           Target{"config", FuzzConfig},
                                           Target{"json_pointer_cidr", FuzzJsonPointerCidr},
                                           Target{"query_params", FuzzQueryParams},
                                           Target{"signature", FuzzSignature},
                                           Target{"payload_filter", FuzzPayloadFilter},
                                           Target{"schema", FuzzSchema}),
                         [](const ::testing::TestParamInfo<Target>& info) {
                           return std::string(info.param.name);
                         });

}  // namespace
}  // namespace hookvault::fuzz
