// RateLimiter: how many attempts a destination may start now under its rate_limit, so that
// never more than per_second start in any one-second window.
#ifndef HOOKVAULT_SERVER_DELIVERY_RATE_LIMITER_H_
#define HOOKVAULT_SERVER_DELIVERY_RATE_LIMITER_H_

#include <cstdint>
#include <deque>

namespace hookvault::server {

// A sliding log of the start times (monotonic microseconds) of the last `capacity` attempts:
// an attempt may start when fewer than `capacity` started within the last window. Exact where a
// token bucket is not (a full bucket lets a second's worth through on top of the refill).
//
// per_second >= 1: capacity floor(per_second) per one-second window (a fractional part above 1
// cannot be honoured in every window: two adjacent windows of 2 starts each already make 4 in
// 2 s for 2.5/s, so it is rounded down). per_second < 1: one start per 1/per_second seconds
// (0.5: one every 2 s). Each slot is held a little longer than the window (kJitterMicros), so
// that a burst sent at the end of one window and the next sent at the start of the following one
// do not arrive, after the network's jitter, within one second at the receiver.
//
// Thread-safety: none; the scheduler calls it under its lock.
class RateLimiter {
 public:
  static constexpr int64_t kJitterMicros = 20'000;

  // per_second <= 0: no limit (Allowed() is always `wanted`).
  explicit RateLimiter(double per_second);

  bool limited() const { return capacity_ > 0; }

  // Returns how many of `wanted` attempts may start at `now`.
  int Allowed(int64_t now, int wanted);
  // Records `n` attempts started at `now` (at most what Allowed() returned).
  void Started(int64_t now, int n);
  // When the next slot frees (monotonic microseconds); only meaningful when Allowed() is 0.
  int64_t NextFree() const;

 private:
  void Expire(int64_t now);

  int capacity_ = 0;            // 0: no limit
  int64_t hold_micros_ = 0;     // how long a start holds its slot: the window plus kJitterMicros
  std::deque<int64_t> starts_;  // oldest first; at most capacity_
};

}  // namespace hookvault::server

#endif  // HOOKVAULT_SERVER_DELIVERY_RATE_LIMITER_H_
