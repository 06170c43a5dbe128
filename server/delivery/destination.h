// OutboundDestination: where and how the scheduler sends a destination's deliveries. Which
// events reach it is decided at ingest (api::DestinationFilter), not here.
#ifndef HOOKVAULT_SERVER_DELIVERY_DESTINATION_H_
#define HOOKVAULT_SERVER_DELIVERY_DESTINATION_H_

#include <cstdint>
#include <string>

#include "server/delivery/backoff.h"

namespace hookvault::server {

struct OutboundDestination {
  std::string name;  // the key of its deliveries in the store, and of its metrics
  std::string url;
  int64_t timeout_ms = 5000;
  int max_attempts = 10;
  BackoffPolicy backoff;
  int concurrency = 8;
  std::string signing_secret;  // empty: requests are not signed
};

}  // namespace hookvault::server

#endif  // HOOKVAULT_SERVER_DELIVERY_DESTINATION_H_
