#include "server/delivery/retry_after.h"

#include <curl/curl.h>

#include <algorithm>
#include <string>

#include "storage/base/strings.h"

namespace hookvault::server {
namespace {

// Returns the value of all-digit `s`, or nullopt if it is not all digits or exceeds
// kMaxRetryAfterSeconds. Stops accumulating past the limit, so any number of digits is safe.
std::optional<int64_t> ParseDeltaSeconds(std::string_view s) {
  if (s.empty()) return std::nullopt;
  int64_t seconds = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    seconds = seconds * 10 + (c - '0');
    if (seconds > kMaxRetryAfterSeconds) return std::nullopt;
  }
  return seconds;
}

}  // namespace

std::optional<int64_t> ParseRetryAfterMs(std::string_view value, int64_t now_unix_seconds) {
  value = base::TrimOptionalWhitespace(value);
  if (value.empty()) return std::nullopt;
  if (value.front() >= '0' && value.front() <= '9') {
    // Checked before curl_getdate(), which would otherwise read "2015" or "07:28" as bits
    // of a date. A digit-led value that is not a clean number ("1.5", "120s") is refused.
    std::optional<int64_t> seconds = ParseDeltaSeconds(value);
    if (!seconds.has_value()) return std::nullopt;
    return *seconds * 1000;
  }
  if (value.front() == '-' || value.front() == '+') return std::nullopt;

  // curl_getdate() wants a NUL-terminated string; header values are short.
  const std::string text(value);
  const time_t date = curl_getdate(text.c_str(), nullptr);
  if (date == -1) return std::nullopt;  // -1 is its "unparsable"
  const int64_t wait_seconds = static_cast<int64_t>(date) - now_unix_seconds;
  if (wait_seconds <= 0) return 0;
  if (wait_seconds > kMaxRetryAfterSeconds) return std::nullopt;
  return wait_seconds * 1000;
}

}  // namespace hookvault::server
