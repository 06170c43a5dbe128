#include "server/delivery/outbound_request.h"

#include <utility>

namespace hookvault::server {
namespace {

// Returns `value` fit for a header: the event type comes from the provider's payload, and a
// control character (CR, LF, NUL) would make the client refuse the request on every attempt.
std::string HeaderValue(std::string_view text) {
  std::string value(text);
  for (char& c : value) {
    unsigned char u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) c = ' ';
  }
  return value;
}

}  // namespace

storage::StatusOr<OutboundRequest> BuildOutboundRequest(const OutboundDestination& destination,
                                                        std::string_view signing_key,
                                                        const OutboundMessage& message,
                                                        int64_t timestamp_seconds,
                                                        std::string_view user_agent,
                                                        const SignFunction& sign) {
  OutboundRequest request;
  request.url = destination.url;
  request.timeout_ms = destination.timeout_ms;
  if (IsAmqpUrl(destination.url)) {
    request.amqp_exchange = destination.amqp.exchange;
    request.amqp_routing_key = destination.amqp.routing_key;
    request.message_id = std::string(message.id);
  }
  request.headers = {
      {"Content-Type", "application/json"},
      {"User-Agent", std::string(user_agent)},
      {"webhook-id", std::string(message.id)},
      {"webhook-timestamp", std::to_string(timestamp_seconds)},
      {"X-Hookvault-Source", std::string(message.source)},
      {"X-Hookvault-Event-Type", HeaderValue(message.event_type)},
      {"X-Hookvault-Attempt", std::to_string(message.attempt)},
  };
  if (!signing_key.empty()) {
    auto signature = sign(signing_key, message.id, timestamp_seconds, message.body);
    if (!signature.ok()) return storage::Status::Internal(signature.status().message());
    if (signature->empty()) {
      return storage::Status::Internal("signing the request failed: empty signature");
    }
    request.headers.emplace_back("webhook-signature", std::move(signature).value());
  }
  request.body = std::string(message.body);
  return request;
}

}  // namespace hookvault::server
