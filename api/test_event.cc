#include "api/test_event.h"

#include "api/body.h"
#include "api/params.h"
#include "api/problem.h"
#include "api/render.h"

namespace hookvault::api {
namespace {

// Longest `reason` an operator may give (as for a reprocess).
constexpr size_t kMaxReasonBytes = 1000;

// Writes "status" and "error": one of them null (both for an AMQP broker's ack).
void WriteStatusAndError(JsonWriter& w, const TestEventOutcome& outcome) {
  WriteKey(w, "status");
  if (outcome.status > 0) {
    w.Int(outcome.status);
  } else {
    w.Null();
  }
  WriteKey(w, "error");
  if (outcome.status > 0 || outcome.acknowledged) {
    w.Null();
  } else {
    WriteString(w, outcome.error.empty() ? "no response" : outcome.error);
  }
}

std::string Outcome(const TestEventOutcome& outcome) {
  if (outcome.acknowledged) return "basic.ack";
  return outcome.status > 0 ? "HTTP " + std::to_string(outcome.status) : outcome.error;
}

// The members the audit target and the answer share: destination, webhook_id, status, error
// and duration_ms.
void WriteOutcomeMembers(JsonWriter& w, const std::string& destination,
                         const TestEventOutcome& outcome) {
  WriteKey(w, "destination");
  WriteString(w, destination);
  WriteKey(w, "webhook_id");
  WriteString(w, outcome.webhook_id);
  WriteStatusAndError(w, outcome);
  WriteKey(w, "duration_ms");
  w.Double(static_cast<double>(outcome.duration_us) / 1000.0);
}

}  // namespace

std::string TestEventTarget(const std::string& destination, const TestEventOutcome& outcome) {
  std::string out;
  StringSink sink(out);
  JsonWriter w(sink);
  w.StartObject();
  WriteOutcomeMembers(w, destination, outcome);
  w.EndObject();
  return out;
}

std::string RenderTestEvent(const std::string& destination, const TestEventOutcome& outcome,
                            int64_t audit_id) {
  std::string out;
  StringSink sink(out);
  JsonWriter w(sink);
  w.StartObject();
  WriteOutcomeMembers(w, destination, outcome);
  WriteKey(w, "response_excerpt");
  WriteString(w, outcome.response_excerpt);
  WriteKey(w, "audit_id");
  w.Int64(audit_id);
  w.EndObject();
  return out;
}

void TestEventHandler::TestDestination(const ApiRequest& req, const Principal& who,
                                       const std::string& name, Responder respond) const {
  QueryParams q(req, {});
  if (!q.ok()) return respond(q.error());
  rapidjson::Document doc;
  ApiResponse problem;
  if (!ParseBody(req, {"reason"}, doc, &problem)) return respond(problem);
  BodyFields body(doc, req);
  std::string reason = body.String("reason", kMaxReasonBytes).value_or("");
  if (!body.ok()) return respond(body.error());

  storage::AuditActor actor{who.name, std::string(RoleName(who.role)), std::move(reason)};
  // On the HTTP client's thread: queues the audit row; the writer answers once it is written.
  auto sent = [&operations = operations_, respond, name, path = req.path,
               actor = std::move(actor)](TestEventOutcome outcome) mutable {
    if (outcome.cancelled) {
      return respond(Problem(ProblemKind::kUnavailable,
                             "hookvault is stopping: the test event to " + name +
                                 " was cut off before its receiver answered (it may have "
                                 "arrived). Retry",
                             path));
    }
    // The event went out: from here on every answer says so, also when it cannot be audited.
    auto unaudited = [name, path, sent = Outcome(outcome)](const storage::Status& s) {
      return Problem(ProblemKind::kUnavailable,
                     "the test event was sent to " + name + " (" + sent +
                         ") but its audit row could not be written (" + s.message() +
                         "); it is not in the audit log. Retry later",
                     path);
    };
    std::string target = TestEventTarget(name, outcome);
    auto done = [respond, unaudited, name, outcome](storage::StatusOr<int64_t> id) {
      if (!id.ok()) return respond(unaudited(id.status()));
      respond(JsonOk(RenderTestEvent(name, outcome, *id)));
    };
    if (auto s = operations.AuditAction(std::move(actor), "destination.test", std::move(target),
                                        std::move(done));
        !s.ok()) {
      respond(unaudited(s));
    }
  };
  if (auto s = tester_.SendTestEvent(name, std::move(sent)); !s.ok()) {
    respond(ProblemFromStatus(s, req.path));
  }
}

}  // namespace hookvault::api
