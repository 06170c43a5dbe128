// Retry-After (RFC 9110 section 10.2.3) as sent with a 429 or 503: how long the receiver
// asks us to wait before the next attempt.
//
// Thread-safety: a free function with no shared state (libcurl's date parser keeps none);
// safe to call from any thread, without curl_global_init().
#ifndef HOOKVAULT_SERVER_DELIVERY_RETRY_AFTER_H_
#define HOOKVAULT_SERVER_DELIVERY_RETRY_AFTER_H_

#include <cstdint>
#include <optional>
#include <string_view>

namespace hookvault::server {

// Longest wait a Retry-After may ask for: one year. Anything longer is treated as nonsense
// (or an attempt to park deliveries forever) and ignored, so the ordinary backoff applies.
inline constexpr int64_t kMaxRetryAfterSeconds = 365LL * 24 * 60 * 60;

// Returns the wait in milliseconds that the Retry-After `value` asks for, relative to
// `now_unix_seconds` (the wall clock; an HTTP-date is wall-clock time).
//
// `value` is either delta-seconds ("120": ASCII digits only, no sign) or an HTTP-date. Dates
// are parsed with libcurl's curl_getdate(), which takes the IMF-fixdate
// ("Wed, 21 Oct 2015 07:28:00 GMT"), the obsolete RFC 850 and asctime forms, and, being
// lenient, a few more (a missing time, a numeric zone, trailing words). Leading and trailing
// spaces and tabs are ignored. A date at or before `now` gives 0.
//
// Returns nullopt for an empty or unparsable value, a negative or fractional number, or a wait
// longer than kMaxRetryAfterSeconds; the caller then falls back to its backoff.
std::optional<int64_t> ParseRetryAfterMs(std::string_view value, int64_t now_unix_seconds);

}  // namespace hookvault::server

#endif  // HOOKVAULT_SERVER_DELIVERY_RETRY_AFTER_H_
