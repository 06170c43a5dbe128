// IdGenerator: event ids as UUIDv7 strings that sort in creation order.
#ifndef HOOKVAULT_STORAGE_ID_GENERATOR_H_
#define HOOKVAULT_STORAGE_ID_GENERATOR_H_

#include <array>
#include <cstdint>
#include <random>
#include <string>

#include "storage/clock.h"

namespace hookvault::storage {

// 256 bits of seed: std::mt19937_64 seeded from one 32-bit std::random_device value (as before)
// has only 2^32 possible streams, so two generators collide after ~65,000 starts.
inline constexpr size_t kSeedWords = 8;
using SeedWords = std::array<uint32_t, kSeedWords>;

// Returns kSeedWords words from the kernel's CSPRNG (getrandom). Throws std::runtime_error if it
// fails, which it does not on a working system.
SeedWords RandomSeed();

// Returns a std::mt19937_64 seeded with all of `seed` through a std::seed_seq.
std::mt19937_64 SeededEngine(const SeedWords& seed = RandomSeed());

// Generates RFC 9562 UUIDv7 ids ("0192f6c1-7a2b-7c3d-8e4f-0123456789ab"). Within one generator
// ids are strictly increasing as strings, also within one millisecond (the 12-bit rand_a field
// is a counter, RFC 9562 section 6.2 method 1) and when the clock steps back.
//
// Thread-safety: not thread-safe; the writer thread owns one.
class IdGenerator {
 public:
  // Seeds the random parts of the ids with `seed` (tests pass their own).
  explicit IdGenerator(const Clock& clock, const SeedWords& seed = RandomSeed());
  IdGenerator(const IdGenerator&) = delete;
  IdGenerator& operator=(const IdGenerator&) = delete;

  // Returns the next id.
  std::string Next();

 private:
  const Clock& clock_;
  std::mt19937_64 random_;
  int64_t last_ms_ = 0;
  uint32_t counter_ = 0;  // the 12-bit rand_a of the last id
};

}  // namespace hookvault::storage

#endif  // HOOKVAULT_STORAGE_ID_GENERATOR_H_
