#include "server/delivery/rate_limiter.h"

#include <algorithm>
#include <cmath>

namespace hookvault::server {

RateLimiter::RateLimiter(double per_second) {
  if (!(per_second > 0)) return;
  if (per_second >= 1) {
    capacity_ = static_cast<int>(std::floor(per_second));
    window_ = 1'000'000;
  } else {
    capacity_ = 1;
    window_ = static_cast<int64_t>(std::llround(1'000'000.0 / per_second));
  }
}

void RateLimiter::Expire(int64_t now) {
  while (!frees_.empty() && frees_.front() <= now) frees_.pop_front();
}

int RateLimiter::Allowed(int64_t now, int wanted) {
  if (capacity_ == 0) return wanted;
  Expire(now);
  const int held = in_flight_ + static_cast<int>(frees_.size());
  return std::max(0, std::min(wanted, capacity_ - held));
}

void RateLimiter::Started(int n) {
  if (capacity_ == 0) return;
  in_flight_ += n;
}

void RateLimiter::Ended(int64_t now) {
  if (capacity_ == 0 || in_flight_ == 0) return;
  --in_flight_;
  // Ends come in time order (the scheduler's lock orders them), so the deque stays sorted; a
  // later time first (two clocks read on two threads) only frees a slot a little late.
  frees_.push_back(std::max(now + window_, frees_.empty() ? 0 : frees_.back()));
}

int64_t RateLimiter::NextFree() const { return frees_.empty() ? 0 : frees_.front(); }

}  // namespace hookvault::server
