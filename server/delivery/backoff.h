// Retry policy for forwarding: how long to wait after a failed attempt, and whether an
// attempt's outcome calls for another try at all (README, "Forwarding"). Pure
// functions of their inputs (the random source and the Retry-After value are passed in), so
// the scheduler's due times can be tested exactly.
//
// Thread-safety: free functions and a plain struct; safe to call from any thread.
#ifndef HOOKVAULT_SERVER_DELIVERY_BACKOFF_H_
#define HOOKVAULT_SERVER_DELIVERY_BACKOFF_H_

#include <cstdint>
#include <optional>

namespace hookvault::server {

// One destination's `backoff` settings. Defaults are the contract's example.
struct BackoffPolicy {
  int64_t initial_ms = 1000;
  int64_t max_ms = 3600000;
  double multiplier = 2.0;
};

// Returns the largest delay after the `failed_attempts`-th failure:
// min(max_ms, initial_ms * multiplier^(failed_attempts - 1)).
// Computed without overflow for any `failed_attempts` (a delivery reprocessed many times must
// not wrap to a negative delay). A `failed_attempts` below 1 is taken as 1; a multiplier below
// 1 (or NaN) as 1, so delays never shrink; negative times as 0. Config validation rejects
// such policies; these rules only keep the arithmetic total.
int64_t BackoffCeilingMs(const BackoffPolicy& policy, int failed_attempts);

// Returns the delay before the next attempt, in milliseconds.
//
// Without `retry_after_ms`: "full jitter", a value spread uniformly over
// [0, BackoffCeilingMs()] by `random` (0 gives 0, UINT64_MAX gives the ceiling), so that
// deliveries that failed together (a destination's outage) do not come back together.
// The caller supplies `random` from its own generator.
//
// With `retry_after_ms` (parsed from a 429/503 Retry-After): exactly
// min(max_ms, retry_after_ms), negative taken as 0. The receiver named the earliest time it
// wants us back; jitter below it would come back too early, and max_ms bounds how long a
// receiver can park a delivery.
int64_t NextDelayMs(const BackoffPolicy& policy, int failed_attempts,
                    std::optional<int64_t> retry_after_ms, uint64_t random);

// What one attempt's outcome means for its delivery.
enum class AttemptVerdict {
  kSucceeded,  // 2xx: delivered
  kRetry,      // a failed attempt: try again after NextDelayMs(), unless attempts ran out
  kFailNow,    // the receiver said never again: the delivery is failed at once
};

// Returns the verdict for an attempt that ended with `http_status` (0 when no response came:
// connect error, DNS failure, timeout, reset). 2xx succeeds; 410 Gone fails now (the
// receiver says the resource is gone for good, so retries would only add load); everything
// else, redirects included (they are not followed), is retried. Whether attempts have run out
// (max_attempts) is the scheduler's decision, not this function's.
AttemptVerdict Classify(int http_status);

}  // namespace hookvault::server

#endif  // HOOKVAULT_SERVER_DELIVERY_BACKOFF_H_
