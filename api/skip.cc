#include "api/skip.h"

#include <charconv>
#include <cstdint>

#include "api/body.h"
#include "api/params.h"
#include "api/problem.h"
#include "api/render.h"

namespace hookvault::api {
namespace {

// Longest `reason` an operator may give (as for a reprocess).
constexpr size_t kMaxReasonBytes = 1000;

// A delivery id is a positive decimal integer; anything else names no delivery.
bool ParseDeliveryId(const std::string& text, int64_t* id) {
  if (text.empty() || text.size() > 19 || text[0] == '0') return false;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), *id);
  return ec == std::errc() && end == text.data() + text.size() && *id > 0;
}

}  // namespace

void SkipHandler::SkipDelivery(const ApiRequest& req, const Principal& who, const std::string& id,
                               Responder respond) const {
  QueryParams q(req, {});
  if (!q.ok()) return respond(q.error());
  rapidjson::Document doc;
  ApiResponse problem;
  if (!ParseBody(req, {"reason"}, doc, &problem)) return respond(problem);
  BodyFields body(doc, req);
  std::string reason = body.String("reason", kMaxReasonBytes).value_or("");
  if (!body.ok()) return respond(body.error());
  int64_t delivery_id = 0;
  if (!ParseDeliveryId(id, &delivery_id)) {
    return respond(Problem(ProblemKind::kNotFound, "no delivery with id " + id, req.path));
  }
  storage::AuditActor actor{who.name, std::string(RoleName(who.role)), std::move(reason)};
  std::string target = "{\"delivery_id\":" + std::to_string(delivery_id) + "}";
  auto done = [respond, delivery_id, path = req.path](
                  storage::StatusOr<storage::SkipResult> r) {
    if (!r.ok()) return respond(ProblemFromStatus(r.status(), path));
    const std::string name = std::to_string(delivery_id);
    switch (r->outcome) {
      case storage::SkipResult::Outcome::kNotFound:
        return respond(Problem(ProblemKind::kNotFound, "no delivery with id " + name, path));
      case storage::SkipResult::Outcome::kNotFailed:
        return respond(Problem(ProblemKind::kConflict,
                               "delivery " + name + " is " + r->status +
                                   ": only a failed delivery can be skipped",
                               path));
      case storage::SkipResult::Outcome::kSkipped:
        break;
    }
    respond(JsonOk("{\"delivery_id\":" + name + ",\"status\":\"skipped\",\"audit_id\":" +
                   std::to_string(r->audit_id) + "}"));
  };
  if (auto s = operations_.Skip(delivery_id, std::move(actor), std::move(target), std::move(done));
      !s.ok()) {
    respond(ProblemFromStatus(s, req.path));
  }
}

}  // namespace hookvault::api
