// The route table: every method and path hookvault serves, with its OpenAPI operationId.
// server/main.cc binds a handler to each entry (and refuses to start if one is missing);
// tests/api/openapi_test.cc checks that api/openapi.json describes exactly these routes.
#ifndef HOOKVAULT_SERVER_ROUTE_TABLE_H_
#define HOOKVAULT_SERVER_ROUTE_TABLE_H_

#include <array>
#include <string_view>

namespace hookvault::server {

struct RouteSpec {
  std::string_view method;
  std::string_view pattern;  // segments are literal or ":name" parameters
  std::string_view operation_id;
};

inline constexpr std::array kRouteTable = {
    RouteSpec{"POST", "/webhooks/:source", "ingestWebhook"},
    RouteSpec{"GET", "/healthz", "getHealth"},
    RouteSpec{"GET", "/readyz", "getReadiness"},
    RouteSpec{"GET", "/metrics", "getMetrics"},
    RouteSpec{"GET", "/api/v1/openapi.json", "getOpenApi"},
    RouteSpec{"GET", "/api/v1/events", "listEvents"},
    RouteSpec{"GET", "/api/v1/events/:id", "getEvent"},
    RouteSpec{"GET", "/api/v1/events/:id/attempts", "listEventAttempts"},
    RouteSpec{"POST", "/api/v1/events/:id/reprocess", "reprocessEvent"},
    RouteSpec{"GET", "/api/v1/deliveries", "listDeliveries"},
    RouteSpec{"GET", "/api/v1/attempts", "listAttempts"},
    RouteSpec{"POST", "/api/v1/reprocess", "reprocessBulk"},
    RouteSpec{"GET", "/api/v1/audit", "listAudit"},
    RouteSpec{"GET", "/api/v1/audit/verify", "verifyAudit"},
    RouteSpec{"GET", "/api/v1/requests", "listRequests"},
    RouteSpec{"GET", "/api/v1/feed", "getFeed"},
    RouteSpec{"GET", "/api/v1/consumers/:name/events", "getConsumerEvents"},
    RouteSpec{"POST", "/api/v1/consumers/:name/ack", "ackConsumer"},
};

}  // namespace hookvault::server

#endif  // HOOKVAULT_SERVER_ROUTE_TABLE_H_
