// BuildOutboundRequest: the one place that says what a forwarded request looks like (URL,
// timeout, the Standard Webhooks headers and signature, hookvault's own headers), so that a
// test event (POST /api/v1/destinations/{name}/test) is sent exactly as a real delivery is.
//
// Thread-safety: a free function with no shared state; safe to call from any thread.
#ifndef HOOKVAULT_SERVER_DELIVERY_OUTBOUND_REQUEST_H_
#define HOOKVAULT_SERVER_DELIVERY_OUTBOUND_REQUEST_H_

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "server/delivery/destination.h"
#include "server/delivery/http_client.h"
#include "storage/status.h"

namespace hookvault::server {

// Computes the webhook-signature header (SignWebhook; tests replace it to make signing fail).
using SignFunction = std::function<storage::StatusOr<std::string>(
    std::string_view key, std::string_view msg_id, int64_t timestamp_seconds,
    std::string_view body)>;

// What one attempt sends. Borrowed: every view must outlive the call.
struct OutboundMessage {
  std::string_view id;  // the webhook-id: the event id (or a test event's test_<random>)
  std::string_view source;
  std::string_view event_type;
  int attempt = 1;
  std::string_view body;
};

// Returns the POST of `message` to `destination`, stamped `timestamp_seconds`, signed with
// `signing_key` (the decoded secret; empty: unsigned) through `sign`. Returns kInternal, with
// the reason, when signing fails or gives an empty signature: such a request must not be sent
// (an unsigned or empty signature header would only be refused, or teach the receiver to accept
// unsigned requests).
storage::StatusOr<OutboundRequest> BuildOutboundRequest(const OutboundDestination& destination,
                                                        std::string_view signing_key,
                                                        const OutboundMessage& message,
                                                        int64_t timestamp_seconds,
                                                        std::string_view user_agent,
                                                        const SignFunction& sign);

}  // namespace hookvault::server

#endif  // HOOKVAULT_SERVER_DELIVERY_OUTBOUND_REQUEST_H_
