// libFuzzer entry point of hookvault_fuzz_schema (scripts/fuzz). The target is FuzzSchema in
// schema_target.cc, which corpus_replay_test.cc also runs in the normal build.
#include <cstddef>
#include <cstdint>

#include "tests/fuzz/fuzz_targets.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return hookvault::fuzz::FuzzSchema(data, size);
}
