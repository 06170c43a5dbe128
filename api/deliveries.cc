#include "api/deliveries.h"

#include <functional>

#include "api/list.h"
#include "api/params.h"
#include "api/render.h"

namespace hookvault::api {

void DeliveriesHandler::ListDeliveries(const ApiRequest& req, Responder respond) const {
  ServeList(
      req, "deliveries",
      {"destination", "status", "event_id", "after", "before", "limit", "cursor"},
      [](QueryParams& q) {
        storage::DeliveryFilter f;
        f.destination = q.String("destination");
        f.status = q.Enum("status", {"pending", "succeeded", "failed", "skipped"});
        f.event_id = q.String("event_id");
        f.created_after = q.Time("after");
        f.created_before = q.Time("before");
        return f;
      },
      std::bind_front(&storage::QueryStore::ListDeliveries, &queries_), WriteDelivery,
      &storage::DeliveryRow::id, respond);
}

void DeliveriesHandler::ListAttempts(const ApiRequest& req, Responder respond) const {
  ServeList(
      req, "attempts", {"destination", "event_id", "outcome", "after", "before", "limit", "cursor"},
      [](QueryParams& q) {
        storage::AttemptFilter f;
        f.destination = q.String("destination");
        f.event_id = q.String("event_id");
        f.outcome = q.Enum("outcome", {"success", "failure"});
        f.started_after = q.Time("after");
        f.started_before = q.Time("before");
        return f;
      },
      std::bind_front(&storage::QueryStore::ListAttempts, &queries_), WriteAttempt,
      &storage::AttemptRow::id, respond);
}

}  // namespace hookvault::api
