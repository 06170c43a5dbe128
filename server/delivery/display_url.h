// DisplayUrl: a destination's URL as it may be shown to auditors (GET /api/v1/destinations, the
// console), parsed by libcurl as deliveries are sent (this wing owns libcurl).
#ifndef HOOKVAULT_SERVER_DELIVERY_DISPLAY_URL_H_
#define HOOKVAULT_SERVER_DELIVERY_DISPLAY_URL_H_

#include <string>
#include <string_view>

namespace hookvault::server {

// Returns `url` without userinfo, query or fragment, which can carry credentials
// ("https://user:pass@host/hooks?token=..." → "https://host/hooks"). The path is kept: a
// receiver that takes its secret in the path (Slack-style) shows it; sign such a destination or
// keep the secret out of the path. Thread-safe.
std::string DisplayUrl(std::string_view url);

}  // namespace hookvault::server

#endif  // HOOKVAULT_SERVER_DELIVERY_DISPLAY_URL_H_
