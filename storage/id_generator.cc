#include "storage/id_generator.h"

#include <sys/random.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <stdexcept>

namespace hookvault::storage {

SeedWords RandomSeed() {
  SeedWords seed{};
  auto* bytes = reinterpret_cast<unsigned char*>(seed.data());
  size_t got = 0;
  while (got < sizeof(seed)) {
    ssize_t n = ::getrandom(bytes + got, sizeof(seed) - got, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) throw std::runtime_error(std::string("getrandom: ") + std::strerror(errno));
    got += static_cast<size_t>(n);
  }
  return seed;
}

std::mt19937_64 SeededEngine(const SeedWords& seed) {
  std::seed_seq seq(seed.begin(), seed.end());
  return std::mt19937_64(seq);
}

IdGenerator::IdGenerator(const Clock& clock, const SeedWords& seed)
    : clock_(clock), random_(SeededEngine(seed)) {}

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
