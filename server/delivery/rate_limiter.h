// RateLimiter: how many attempts a destination may start now under its rate_limit, so that
// never more than per_second start in any one-second window, also as the receiver sees them.
#ifndef HOOKVAULT_SERVER_DELIVERY_RATE_LIMITER_H_
#define HOOKVAULT_SERVER_DELIVERY_RATE_LIMITER_H_

#include <cstdint>
#include <deque>

namespace hookvault::server {

// `capacity` slots; an attempt holds one from its start until one window after it ended (its
// response, its error or its timeout). Exact where a token bucket is not (a full bucket lets a
// second's worth through on top of the refill), and it holds at the receiver too: a request
// arrives there before its attempt ends, so two attempts on one slot arrive at least a window
// apart, however long the first waited in the client or the network. Counting from the start
// instead let a receiver see 28 arrivals in one second at 20/s on a loaded machine (requests of
// one window delayed into the next). The cost: a receiver that takes L to answer gets at most
// capacity per (window + L).
//
// per_second >= 1: capacity floor(per_second), window 1 s (a fractional part above 1 cannot be
// honoured in every window: two adjacent windows of 2 starts each already make 4 in 2 s for
// 2.5/s, so it is rounded down). per_second < 1: capacity 1, window 1/per_second seconds (0.5:
// one attempt every 2 s).
//
// Thread-safety: none; the scheduler calls it under its lock.
class RateLimiter {
 public:
  // per_second <= 0: no limit (Allowed() is always `wanted`).
  explicit RateLimiter(double per_second);

  bool limited() const { return capacity_ > 0; }

  // Returns how many of `wanted` attempts may start at `now` (monotonic microseconds).
  int Allowed(int64_t now, int wanted);
  // Records `n` attempts started (at most what Allowed() returned): their slots are held until
  // they end.
  void Started(int n);
  // Records that one started attempt ended at `now`: its slot frees one window later.
  void Ended(int64_t now);
  // When the next slot frees (monotonic microseconds), or 0 when that waits for an attempt in
  // flight to end (its end wakes the scheduler). Only meaningful when Allowed() is 0.
  int64_t NextFree() const;

 private:
  void Expire(int64_t now);

  int capacity_ = 0;           // 0: no limit
  int64_t window_ = 0;         // microseconds
  int in_flight_ = 0;          // attempts started and not ended
  std::deque<int64_t> frees_;  // when the slots of ended attempts free, in order; bounded by
                               // capacity_ (each ended attempt held a slot)
};

}  // namespace hookvault::server

#endif  // HOOKVAULT_SERVER_DELIVERY_RATE_LIMITER_H_
