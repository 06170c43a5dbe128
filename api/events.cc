#include "api/events.h"

#include <functional>

#include "api/list.h"
#include "api/params.h"
#include "api/problem.h"
#include "api/render.h"

namespace hookvault::api {

void EventsHandler::ListEvents(const ApiRequest& req, Responder respond) const {
  ServeList(
      req, "events",
      {"source", "type", "status", "received_after", "received_before", "idempotency_key",
       "limit", "cursor"},
      [](QueryParams& q) {
        storage::EventFilter f;
        f.source = q.String("source");
        f.idempotency_key = q.String("idempotency_key");
        f.event_type = q.String("type");
        f.status = q.Enum("status", {"pending", "delivered", "failed"});
        f.received_after = q.Time("received_after");
        f.received_before = q.Time("received_before");
        return f;
      },
      std::bind_front(&storage::QueryStore::ListEvents, &queries_), WriteEvent,
      &storage::EventRow::seq, respond);
}

void EventsHandler::GetEvent(const ApiRequest& req, const std::string& id,
                             Responder respond) const {
  QueryParams q(req, {});
  if (!q.ok()) return respond(q.error());
  auto event = queries_.GetEvent(id);
  if (!event.ok()) return respond(ProblemFromStatus(event.status(), req.path));
  if (!event->has_value()) {
    return respond(Problem(ProblemKind::kNotFound, "no event with id " + id, req.path));
  }
  auto deliveries = queries_.EventDeliveries((*event)->seq);
  if (!deliveries.ok()) return respond(ProblemFromStatus(deliveries.status(), req.path));
  respond(JsonOk(RenderEventDetail(**event, *deliveries)));
}

void EventsHandler::GetEventPayload(const ApiRequest& req, const std::string& id,
                                    Responder respond) const {
  QueryParams q(req, {});
  if (!q.ok()) return respond(q.error());
  auto event = queries_.GetEvent(id);
  if (!event.ok()) return respond(ProblemFromStatus(event.status(), req.path));
  if (!event->has_value()) {
    return respond(Problem(ProblemKind::kNotFound, "no event with id " + id, req.path));
  }
  // The bytes were validated as JSON at ingest, so the type is true; the body is attacker
  // controlled, so a browser that opens this URL directly must neither sniff it into HTML nor run
  // anything from it.
  ApiResponse r = JsonOk(std::move((*event)->body));
  r.headers.emplace_back("X-Content-Type-Options", "nosniff");
  r.headers.emplace_back("Content-Security-Policy", "sandbox; default-src 'none'");
  r.event_id = id;
  respond(std::move(r));
}

void EventsHandler::ListEventAttempts(const ApiRequest& req, const std::string& id,
                                      Responder respond) const {
  ServeList(
      req, "event-attempts", {"limit", "cursor"},
      [&id](QueryParams&) { return id; },  // the event of the path is the filter
      [this](const std::string& event_id,
             storage::Page page) -> storage::StatusOr<std::vector<storage::AttemptRow>> {
        auto event = queries_.GetEvent(event_id);
        if (!event.ok()) return event.status();
        if (!event->has_value()) return storage::Status::NotFound("no event with id " + event_id);
        return queries_.EventAttempts((*event)->seq, page);
      },
      WriteAttempt, &storage::AttemptRow::id, respond);
}

}  // namespace hookvault::api
