#include "api/reprocess.h"

#include "api/body.h"
#include "api/params.h"
#include "api/problem.h"
#include "api/render.h"

namespace hookvault::api {
namespace {

// Longest `reason` an operator may give.
constexpr size_t kMaxReasonBytes = 1000;

storage::AuditActor Actor(const Principal& who, std::string reason) {
  return {who.name, std::string(RoleName(who.role)), std::move(reason)};
}

}  // namespace

void ReprocessHandler::ReprocessEvent(const ApiRequest& req, const Principal& who,
                                      const std::string& id, Responder respond) const {
  QueryParams q(req, {});
  if (!q.ok()) return respond(q.error());
  rapidjson::Document doc;
  ApiResponse problem;
  if (!ParseBody(req, {"destinations", "all", "reason"}, doc, &problem)) return respond(problem);
  BodyFields body(doc, req);
  storage::ReprocessSpec spec;
  spec.destinations = body.Strings("destinations");
  bool all = body.Bool("all").value_or(false);
  std::string reason = body.String("reason", kMaxReasonBytes).value_or("");
  if (!body.ok()) return respond(body.error());
  auto event = queries_.GetEvent(id);
  if (!event.ok()) return respond(ProblemFromStatus(event.status(), req.path));
  if (!event->has_value()) {
    return respond(Problem(ProblemKind::kNotFound, "no event with id " + id, req.path));
  }
  spec.filter.event_id = id;
  if (!all) spec.filter.status = "failed";  // all: failed and succeeded (pending ones are live)
  spec.action = "reprocess_event";
  spec.target_json = TargetJson()
                         .Field("event_id", id)
                         .List("destinations", spec.destinations)
                         .Bool("all", all)
                         .Done();
  Submit(req, std::move(spec), Actor(who, std::move(reason)), std::move(respond),
         [](const storage::ReprocessResult& result) {
           ApiResponse r = JsonOk(RenderEventReprocessed(result));
           r.status = 202;
           return r;
         });
}

void ReprocessHandler::ReprocessBulk(const ApiRequest& req, const Principal& who,
                                     Responder respond) const {
  QueryParams q(req, {});
  if (!q.ok()) return respond(q.error());
  rapidjson::Document doc;
  ApiResponse problem;
  if (!ParseBody(req, {"destination", "status", "event_id", "after", "before", "dry_run", "reason"},
                 doc, &problem)) {
    return respond(problem);
  }
  BodyFields body(doc, req);
  storage::ReprocessSpec spec;
  spec.filter.destination = body.String("destination");
  std::string status = body.String("status", 16).value_or("failed");
  if (status != "failed" && status != "succeeded" && status != "skipped") {
    body.Fail("status",
              "must be failed, succeeded or skipped (pending deliveries are still being tried)");
  }
  spec.filter.status = status;
  spec.filter.event_id = body.String("event_id");
  spec.filter.created_after = body.Time("after");
  spec.filter.created_before = body.Time("before");
  spec.dry_run = body.Bool("dry_run").value_or(false);
  std::string reason = body.String("reason", kMaxReasonBytes).value_or("");
  if (!body.ok()) return respond(body.error());
  spec.action = "reprocess_bulk";
  spec.target_json = TargetJson()
                         .Field("destination", spec.filter.destination)
                         .Field("status", spec.filter.status)
                         .Field("event_id", spec.filter.event_id)
                         .TimeField("after", spec.filter.created_after)
                         .TimeField("before", spec.filter.created_before)
                         .Bool("dry_run", spec.dry_run)
                         .Done();
  bool dry_run = spec.dry_run;
  Submit(req, std::move(spec), Actor(who, std::move(reason)), std::move(respond),
         [dry_run](const storage::ReprocessResult& result) {
           ApiResponse r = JsonOk(RenderBulkReprocessed(result, dry_run));
           if (result.running) r.status = 202;  // accepted, still running
           return r;
         });
}

void ReprocessHandler::Submit(
    const ApiRequest& req, storage::ReprocessSpec spec, storage::AuditActor who, Responder respond,
    std::function<ApiResponse(const storage::ReprocessResult&)> render) const {
  auto done = [respond, render, path = req.path](storage::StatusOr<storage::ReprocessResult> r) {
    if (!r.ok()) return respond(ProblemFromStatus(r.status(), path));
    respond(render(*r));
  };
  if (auto s = operations_.Reprocess(std::move(spec), std::move(who), std::move(done)); !s.ok()) {
    respond(ProblemFromStatus(s, req.path));
  }
}

}  // namespace hookvault::api
