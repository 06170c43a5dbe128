#include "api/health.h"

#include <string>
#include <utility>

#include "api/problem.h"

namespace hookvault::api {

void HealthHandler::Health(const ApiRequest&, Responder respond) const {
  respond(JsonOk("{\"status\":\"ok\"}"));
}

void HealthHandler::Readiness(const ApiRequest& req, Responder respond) const {
  std::string path = req.path;
  if (!ingest_.accepting()) {  // draining: tell load balancers to go elsewhere
    return respond(Problem(ProblemKind::kUnavailable, "shutting down", path));
  }
  auto answer = [respond, path](const storage::Status& s) {
    if (s.ok()) return respond(JsonOk("{\"status\":\"ready\"}"));
    respond(Problem(ProblemKind::kUnavailable, "database is not writable: " + s.message(), path));
  };
  if (auto queued = writer_.SubmitProbe(answer); !queued.ok()) answer(queued);
}

}  // namespace hookvault::api
