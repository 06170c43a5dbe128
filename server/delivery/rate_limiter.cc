#include "server/delivery/rate_limiter.h"

#include <algorithm>
#include <cmath>

namespace hookvault::server {

RateLimiter::RateLimiter(double per_second) {
  if (!(per_second > 0)) return;
  int64_t window;
  if (per_second >= 1) {
    capacity_ = static_cast<int>(std::floor(per_second));
    window = 1'000'000;
  } else {
    capacity_ = 1;
    window = static_cast<int64_t>(std::llround(1'000'000.0 / per_second));
  }
  hold_micros_ = window + kJitterMicros;
}

void RateLimiter::Expire(int64_t now) {
  while (!starts_.empty() && starts_.front() + hold_micros_ <= now) starts_.pop_front();
}

int RateLimiter::Allowed(int64_t now, int wanted) {
  if (capacity_ == 0) return wanted;
  Expire(now);
  return std::max(0, std::min(wanted, capacity_ - static_cast<int>(starts_.size())));
}

void RateLimiter::Started(int64_t now, int n) {
  if (capacity_ == 0) return;
  for (int i = 0; i < n; ++i) starts_.push_back(now);
  // Never more than capacity_ entries, whatever a caller does: the log stays bounded.
  while (static_cast<int>(starts_.size()) > capacity_) starts_.pop_front();
}

int64_t RateLimiter::NextFree() const {
  if (starts_.empty()) return 0;
  return starts_.front() + hold_micros_;
}

}  // namespace hookvault::server
