// IdGenerator: event ids as UUIDv7 strings that sort in creation order.
#ifndef HOOKVAULT_STORAGE_ID_GENERATOR_H_
#define HOOKVAULT_STORAGE_ID_GENERATOR_H_

#include <cstdint>
#include <random>
#include <string>

#include "storage/clock.h"

namespace hookvault::storage {

// Generates RFC 9562 UUIDv7 ids ("0192f6c1-7a2b-7c3d-8e4f-0123456789ab"). Within one generator
// ids are strictly increasing as strings, also within one millisecond (the 12-bit rand_a field
// is a counter, RFC 9562 section 6.2 method 1) and when the clock steps back.
//
// Thread-safety: not thread-safe; the writer thread owns one.
class IdGenerator {
 public:
  explicit IdGenerator(const Clock& clock);
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
