// The fuzz targets of tests/fuzz: one function per target, shared by the libFuzzer entry points
// (*_fuzzer.cc, built with HOOKVAULT_FUZZ=ON and clang) and by corpus_replay_test.cc, which
// runs every seed and regression input through the same function in the normal build.
//
// Each function takes one input, drives real hookvault code with it and checks invariants
// that must hold for every input. A broken invariant aborts the process after naming it on
// stderr, so libFuzzer keeps the input as a crash and the replay test fails. Each returns 0
// (libFuzzer's convention for "input processed").
//
// Thread-safety: none; call from one thread (libFuzzer and the replay test do).
#ifndef HOOKVAULT_TESTS_FUZZ_FUZZ_TARGETS_H_
#define HOOKVAULT_TESTS_FUZZ_FUZZ_TARGETS_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace hookvault::fuzz {

// A webhook (source, headers, body, peer address) through api::IngestHandler into the real
// SQLite store (or a fake writer that fails or refuses). Format in ingest_target.cc.
int FuzzIngest(const uint8_t* data, size_t size);

// Config text through server::ParseConfig. The whole input is the config file.
int FuzzConfig(const uint8_t* data, size_t size);

// JSON pointers (config → idempotency key and event type), IP addresses, CIDR blocks and
// X-Forwarded-For walks. Format in json_pointer_cidr_target.cc.
int FuzzJsonPointerCidr(const uint8_t* data, size_t size);

// REST API query strings through api::QueryParams, and ParseRfc3339, PercentDecode and the
// cursors. Format in query_params_target.cc.
int FuzzQueryParams(const uint8_t* data, size_t size);

// Stripe-Signature and webhook-signature values through their parsers, and requests through
// api::VerifySignature under every scheme. Format in signature_target.cc.
int FuzzSignature(const uint8_t* data, size_t size);

// A destination's payload filter through api::PayloadFilter::Parse and Matches. Format in
// payload_filter_target.cc.
int FuzzPayloadFilter(const uint8_t* data, size_t size);

// A JSON Schema through api::PayloadSchema::Parse and payloads through Validate. Format in
// schema_target.cc.
int FuzzSchema(const uint8_t* data, size_t size);

// Writes "invariant broken: ..." with the condition, `detail`, the place and the input being
// replayed (if any) to stderr, then aborts.
[[noreturn]] void InvariantBroken(const char* condition, const std::string& detail,
                                  const char* file, int line);

// Names the input that InvariantBroken reports (the replay test sets the file's path).
void SetCurrentInput(std::string name);

// Splits `text` at '\n' (a trailing '\r' is removed from each line). At most `max_lines`
// pieces: the last one holds the rest of the text, newlines included. Fewer when the text ends
// earlier; an empty rest is left out.
std::vector<std::string_view> SplitLines(std::string_view text, size_t max_lines);

}  // namespace hookvault::fuzz

// Aborts through InvariantBroken unless `condition` holds. `detail` (a std::string
// expression) is evaluated only when it does not.
#define HOOKVAULT_FUZZ_CHECK(condition, detail)                                     \
  do {                                                                              \
    if (!(condition)) {                                                             \
      ::hookvault::fuzz::InvariantBroken(#condition, (detail), __FILE__, __LINE__); \
    }                                                                               \
  } while (0)

#endif  // HOOKVAULT_TESTS_FUZZ_FUZZ_TARGETS_H_
