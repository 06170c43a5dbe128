#include "server/delivery/backoff.h"

#include <algorithm>
#include <cmath>

namespace hookvault::server {

int64_t BackoffCeilingMs(const BackoffPolicy& policy, int failed_attempts) {
  const int64_t max_ms = std::max<int64_t>(0, policy.max_ms);
  const int64_t initial_ms = std::clamp<int64_t>(policy.initial_ms, 0, max_ms);
  // `!(x >= 1)` also catches NaN.
  const double multiplier = !(policy.multiplier >= 1.0) ? 1.0 : policy.multiplier;
  const int exponent = std::max(failed_attempts, 1) - 1;
  // In double, a huge exponent saturates to +inf instead of wrapping; the comparison with
  // max_ms then caps it. Powers of two and small integer products are exact in double, so
  // the usual policies give exact ceilings.
  const double ceiling = static_cast<double>(initial_ms) * std::pow(multiplier, exponent);
  if (!(ceiling < static_cast<double>(max_ms))) return max_ms;
  return static_cast<int64_t>(ceiling);
}

int64_t NextDelayMs(const BackoffPolicy& policy, int failed_attempts,
                    std::optional<int64_t> retry_after_ms, uint64_t random) {
  if (retry_after_ms.has_value()) {
    return std::clamp<int64_t>(*retry_after_ms, 0, std::max<int64_t>(0, policy.max_ms));
  }
  const uint64_t ceiling = static_cast<uint64_t>(BackoffCeilingMs(policy, failed_attempts));
  // Multiply-shift maps the 64-bit `random` onto [0, ceiling] (ceiling + 1 values) without
  // the modulo's extra bias; 0 maps to 0 and UINT64_MAX to exactly `ceiling`. ceiling + 1
  // cannot overflow: the ceiling is at most INT64_MAX.
  const unsigned __int128 scaled =
      static_cast<unsigned __int128>(random) * (static_cast<unsigned __int128>(ceiling) + 1);
  return static_cast<int64_t>(scaled >> 64);
}

AttemptVerdict Classify(int http_status) {
  if (http_status >= 200 && http_status <= 299) return AttemptVerdict::kSucceeded;
  if (http_status == 410) return AttemptVerdict::kFailNow;
  return AttemptVerdict::kRetry;
}

}  // namespace hookvault::server
