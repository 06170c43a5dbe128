#include "api/audit.h"

#include <functional>

#include "api/list.h"
#include "api/params.h"
#include "api/problem.h"
#include "api/render.h"

namespace hookvault::api {

void AuditHandler::ListAudit(const ApiRequest& req, Responder respond) const {
  ServeList(
      req, "audit", {"after", "before", "limit", "cursor"},
      [](QueryParams& q) {
        storage::TimeFilter f;
        f.after = q.Time("after");
        f.before = q.Time("before");
        return f;
      },
      std::bind_front(&storage::QueryStore::ListAudit, &queries_), WriteAudit,
      &storage::AuditRow::id, respond);
}

void AuditHandler::VerifyAudit(const ApiRequest& req, Responder respond) const {
  QueryParams q(req, {});
  if (!q.ok()) return respond(q.error());
  auto v = queries_.VerifyAudit();
  if (!v.ok()) return respond(ProblemFromStatus(v.status(), req.path));
  respond(JsonOk(RenderAuditVerification(*v)));
}

}  // namespace hookvault::api
