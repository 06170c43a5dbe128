// The route table: every method and path hookvault serves, with its OpenAPI operationId, who
// may call it and where its handler runs (Runs, server/http/router.h: every handler that reads
// the database runs on the query pool, never on the reactor threads that answer providers).
// server/main.cc binds a handler to each entry (and refuses to start if one is missing);
// tests/api/openapi_test.cc checks that api/openapi.json describes exactly these
// routes, and asks for a bearer token exactly where the access is a permission.
#ifndef HOOKVAULT_SERVER_HTTP_ROUTE_TABLE_H_
#define HOOKVAULT_SERVER_HTTP_ROUTE_TABLE_H_

#include <array>
#include <string_view>

#include "api/auth.h"
#include "server/http/access.h"
#include "server/http/router.h"

namespace hookvault::server {

struct RouteSpec {
  std::string_view method;
  std::string_view pattern;  // segments are literal or ":name" parameters
  std::string_view operation_id;
  Access access;
  Runs runs;
};

inline constexpr Runs kReactor = Runs::kReactor;
inline constexpr Runs kQueryPool = Runs::kQueryPool;

inline constexpr std::array kRouteTable = {
    RouteSpec{"POST", "/webhooks/:source", "ingestWebhook", kSourceToken, kReactor},
    RouteSpec{"GET", "/healthz", "getHealth", kPublic, kReactor},
    RouteSpec{"GET", "/readyz", "getReadiness", kPublic, kReactor},
    RouteSpec{"GET", "/metrics", "getMetrics", kPublic, kQueryPool},
    RouteSpec{"GET", "/api/v1/openapi.json", "getOpenApi", kPublic, kReactor},
    RouteSpec{"GET", "/api/v1/events", "listEvents", api::Permission::kRead, kQueryPool},
    RouteSpec{"GET", "/api/v1/events/:id", "getEvent", api::Permission::kRead, kQueryPool},
    RouteSpec{"GET", "/api/v1/events/:id/payload", "getEventPayload", api::Permission::kRead,
              kQueryPool},
    RouteSpec{"GET", "/api/v1/events/:id/attempts", "listEventAttempts", api::Permission::kRead,
              kQueryPool},
    RouteSpec{"POST", "/api/v1/events/:id/reprocess", "reprocessEvent", api::Permission::kReprocess,
              kQueryPool},
    RouteSpec{"GET", "/api/v1/deliveries", "listDeliveries", api::Permission::kRead, kQueryPool},
    RouteSpec{"POST", "/api/v1/deliveries/:id/skip", "skipDelivery", api::Permission::kReprocess,
              kQueryPool},
    RouteSpec{"GET", "/api/v1/attempts", "listAttempts", api::Permission::kRead, kQueryPool},
    RouteSpec{"POST", "/api/v1/reprocess", "reprocessBulk", api::Permission::kReprocess,
              kQueryPool},
    RouteSpec{"GET", "/api/v1/audit", "listAudit", api::Permission::kRead, kQueryPool},
    RouteSpec{"GET", "/api/v1/audit/verify", "verifyAudit", api::Permission::kRead, kQueryPool},
    RouteSpec{"GET", "/api/v1/requests", "listRequests", api::Permission::kRead, kQueryPool},
    // Served from memory (server/stats/), but rendering up to 361 buckets is not free: on the
    // query pool, whose bound caps how much of it runs at once, not on the ingest reactors.
    RouteSpec{"GET", "/api/v1/stats", "getStats", api::Permission::kRead, kQueryPool},
    RouteSpec{"GET", "/api/v1/destinations", "listDestinations", api::Permission::kRead,
              kQueryPool},
    RouteSpec{"GET", "/api/v1/feed", "getFeed", api::Permission::kPull, kQueryPool},
    RouteSpec{"GET", "/api/v1/consumers/:name/events", "getConsumerEvents",
              api::Permission::kPull, kQueryPool},
    RouteSpec{"POST", "/api/v1/consumers/:name/ack", "ackConsumer", api::Permission::kConsume,
              kQueryPool},
    RouteSpec{"GET", "/api/v1/consumers", "listConsumers", api::Permission::kPull, kQueryPool},
    RouteSpec{"GET", "/api/v1/session", "getSession", api::Permission::kSession, kQueryPool},
    RouteSpec{"POST", "/api/v1/destinations/:name/test", "testDestination",
              api::Permission::kReprocess, kQueryPool},
    // The operator console (server/web/): embedded files, no store access, so on the reactor.
    RouteSpec{"GET", "/console", "redirectConsole", kPublic, kReactor},
    RouteSpec{"GET", "/console/", "getConsole", kPublic, kReactor},
    RouteSpec{"GET", "/console/:asset", "getConsoleAsset", kPublic, kReactor},
};

}  // namespace hookvault::server

#endif  // HOOKVAULT_SERVER_HTTP_ROUTE_TABLE_H_
