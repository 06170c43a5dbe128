// Clock: the source of wall-clock time, injected so that tests control time.
#ifndef HOOKVAULT_STORAGE_CLOCK_H_
#define HOOKVAULT_STORAGE_CLOCK_H_

#include <cstdint>
#include <string>

namespace hookvault::storage {

// Thread-safety: implementations must be safe to call from any thread.
class Clock {
 public:
  Clock() = default;
  Clock(const Clock&) = delete;
  Clock& operator=(const Clock&) = delete;
  virtual ~Clock() = default;

  // Returns microseconds since the Unix epoch (UTC).
  virtual int64_t NowMicros() const = 0;
};

// The system's real-time clock.
class SystemClock final : public Clock {
 public:
  int64_t NowMicros() const override;
};

// Formats microseconds since the epoch as RFC 3339 UTC with microseconds
// ("2026-11-28T11:22:01.123456Z").
std::string FormatRfc3339(int64_t micros);

}  // namespace hookvault::storage

#endif  // HOOKVAULT_STORAGE_CLOCK_H_
