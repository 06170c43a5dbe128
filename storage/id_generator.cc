#include "storage/id_generator.h"

#include <cstdio>

namespace hookvault::storage {

IdGenerator::IdGenerator(const Clock& clock) : clock_(clock), random_(std::random_device{}()) {}

std::string IdGenerator::Next() {
  int64_t ms = clock_.NowMicros() / 1000;
  if (ms > last_ms_) {
    last_ms_ = ms;
    counter_ = static_cast<uint32_t>(random_() & 0x1ff);  // room left to count up
  } else if (++counter_ > 0xfff) {
    // The counter overflowed within one millisecond (or the clock stepped back): borrow the
    // next millisecond so that ids keep increasing.
    ++last_ms_;
    counter_ = 0;
  }
  uint64_t hi = (static_cast<uint64_t>(last_ms_) << 16) | (0x7ull << 12) | counter_;
  uint64_t lo = (random_() & 0x3fffffffffffffffull) | 0x8000000000000000ull;
  char buf[37];
  std::snprintf(buf, sizeof(buf), "%08llx-%04llx-%04llx-%04llx-%012llx",
                static_cast<unsigned long long>(hi >> 32),
                static_cast<unsigned long long>((hi >> 16) & 0xffff),
                static_cast<unsigned long long>(hi & 0xffff),
                static_cast<unsigned long long>(lo >> 48),
                static_cast<unsigned long long>(lo & 0xffffffffffffull));
  return buf;
}

}  // namespace hookvault::storage
