// Clock: the sources of time, injected so that tests control time.
//
// Two clocks, for two uses. Wall-clock time (NowMicros) is what gets stored and compared with
// stored times: received_at, next_attempt_at, lease ends, retention cutoffs. It can step (NTP,
// an operator fixing the date). Monotonic time (MonotonicMicros) never steps and means nothing
// across processes: it measures durations and drives in-process waits and timeouts (attempt
// latencies, retry pauses after a failed write), so a wall-clock step neither distorts a
// latency nor fires or stalls an in-process timer.
#ifndef HOOKVAULT_STORAGE_CLOCK_H_
#define HOOKVAULT_STORAGE_CLOCK_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

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

  // Returns microseconds since an arbitrary fixed point, never decreasing and unaffected by
  // changes of the wall clock. Only differences of two readings mean anything.
  virtual int64_t MonotonicMicros() const = 0;
};

// The system's clocks: system_clock for the wall, steady_clock (CLOCK_MONOTONIC) for durations.
class SystemClock final : public Clock {
 public:
  int64_t NowMicros() const override;
  int64_t MonotonicMicros() const override;
};

// Formats microseconds since the epoch as RFC 3339 UTC with microseconds
// ("2026-11-28T11:22:01.123456Z").
std::string FormatRfc3339(int64_t micros);

// A FormatRfc3339 text held in place, so that making one allocates nothing (a feed page
// renders 1,000 of them). Thread-safety: a value.
struct Rfc3339Text {
  // 27 characters for the years 0 to 9999, a few more outside.
  std::array<char, 48> chars{};
  size_t size = 0;

  std::string_view view() const { return {chars.data(), size}; }
};

// As FormatRfc3339, without allocating.
Rfc3339Text FormatRfc3339Text(int64_t micros);

}  // namespace hookvault::storage

#endif  // HOOKVAULT_STORAGE_CLOCK_H_
