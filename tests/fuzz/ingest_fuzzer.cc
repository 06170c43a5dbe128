// libFuzzer entry point of hookvault_fuzz_ingest (scripts/fuzz). The target is FuzzIngest
// in ingest_target.cc, which corpus_replay_test.cc also runs in the normal build.
#include <spdlog/spdlog.h>

#include <cstddef>
#include <cstdint>

#include "tests/fuzz/fuzz_targets.h"

extern "C" int LLVMFuzzerInitialize(int* /*argc*/, char*** /*argv*/) {
  // A failed commit is logged as a warning: millions of them would drown libFuzzer's output.
  spdlog::set_level(spdlog::level::off);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return hookvault::fuzz::FuzzIngest(data, size);
}
