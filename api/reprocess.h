// ReprocessHandler: the reprocess routes of the REST API (contract: "REST API"): put one
// event's deliveries, or every delivery a filter matches, back to pending, each with its row
// in the audit log.
#ifndef HOOKVAULT_API_REPROCESS_H_
#define HOOKVAULT_API_REPROCESS_H_

#include <functional>
#include <string>

#include "api/auth.h"
#include "api/http.h"
#include "storage/operator_port.h"
#include "storage/query_store.h"

namespace hookvault::api {

// The router has checked the caller's permission (kReprocess) before any call; `who` is the
// caller it authenticated, recorded as the audit row's actor.
//
// Thread-safety: every method may be called from many threads at once. The event lookup runs
// on the calling thread; the reprocess is queued to the writer and answered from its thread.
class ReprocessHandler {
 public:
  // Both must outlive this object.
  ReprocessHandler(storage::QueryStore& queries, storage::OperatorPort& operations)
      : queries_(queries), operations_(operations) {}

  void ReprocessEvent(const ApiRequest& req, const Principal& who, const std::string& id,
                      Responder respond) const;
  void ReprocessBulk(const ApiRequest& req, const Principal& who, Responder respond) const;

 private:
  // Runs the reprocess on the writer (with its audit row, in one transaction) and answers
  // render(result) from the writer thread.
  void Submit(const ApiRequest& req, storage::ReprocessSpec spec, storage::AuditActor who,
              Responder respond,
              std::function<ApiResponse(const storage::ReprocessResult&)> render) const;

  storage::QueryStore& queries_;
  // Reprocess runs there, answered when it is done.
  storage::OperatorPort& operations_;
};

}  // namespace hookvault::api

#endif  // HOOKVAULT_API_REPROCESS_H_
