// OutboundDestination: where and how the scheduler sends a destination's deliveries. Which
// events reach it is decided at ingest (api::DestinationFilter), not here.
#ifndef HOOKVAULT_SERVER_DELIVERY_DESTINATION_H_
#define HOOKVAULT_SERVER_DELIVERY_DESTINATION_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "server/delivery/backoff.h"

namespace hookvault::server {

// Where an amqp:// destination publishes (AMQP 0-9-1): the exchange ("" is the broker's default
// exchange, which routes to the queue named like the routing key) and the routing key.
struct AmqpTarget {
  std::string exchange;
  std::string routing_key;
};

// How fast attempts may start: never more than per_second in any second. 0: no limit.
struct RateLimit {
  double per_second = 0;
};

// The circuit breaker: after `failures` consecutive failed attempts the destination is paused
// (no attempt starts) for open_ms, then one probe is sent; its success resumes the destination,
// its failure pauses it again. Paused deliveries keep their place and their attempt count.
struct CircuitPolicy {
  int failures = 20;
  int64_t open_ms = 30000;
};

struct OutboundDestination {
  std::string name;  // the key of its deliveries in the store, and of its metrics
  std::string url;   // http://, https://, amqp:// or amqps://
  AmqpTarget amqp;   // for amqp:// and amqps:// URLs
  int64_t timeout_ms = 5000;
  int max_attempts = 10;
  BackoffPolicy backoff;
  int concurrency = 8;
  std::string signing_secret;  // empty: requests are not signed
  RateLimit rate_limit;
  CircuitPolicy circuit;
  // Set when the destination orders its deliveries per key ("ordering.key": a JSON pointer or
  // "source", as written): the key itself is derived at ingest (api::DestinationFilter) and
  // stored with each delivery; the store claims only the oldest open delivery of a key.
  std::optional<std::string> ordering;
};

// Returns true for an amqp:// or amqps:// URL (published to RabbitMQ, not POSTed).
inline bool IsAmqpUrl(std::string_view url) {
  return url.starts_with("amqp://") || url.starts_with("amqps://");
}

}  // namespace hookvault::server

#endif  // HOOKVAULT_SERVER_DELIVERY_DESTINATION_H_
