// HealthHandler: the probes. GET /healthz answers 200 while the process serves. GET /readyz
// answers 200 only while ingest accepts and the database takes a durable write now (a probe
// through the writer), else 503, so that a load balancer sends webhooks elsewhere.
#ifndef HOOKVAULT_API_HEALTH_H_
#define HOOKVAULT_API_HEALTH_H_

#include "api/http.h"
#include "api/ingest.h"
#include "storage/event_writer.h"

namespace hookvault::api {

// Public routes: nothing to authorize.
//
// Thread-safety: every method may be called from many threads at once; Readiness is answered
// from the writer's thread.
class HealthHandler {
 public:
  // Both must outlive this object.
  HealthHandler(storage::EventWriter& writer, const IngestHandler& ingest)
      : writer_(writer), ingest_(ingest) {}

  void Health(const ApiRequest& req, Responder respond) const;
  void Readiness(const ApiRequest& req, Responder respond) const;

 private:
  storage::EventWriter& writer_;
  const IngestHandler& ingest_;
};

}  // namespace hookvault::api

#endif  // HOOKVAULT_API_HEALTH_H_
