// AuditHandler: the audit log routes of the REST API (contract: "REST API"): the operator
// actions, and the verification of their hash chain.
#ifndef HOOKVAULT_API_AUDIT_H_
#define HOOKVAULT_API_AUDIT_H_

#include "api/http.h"
#include "storage/query_store.h"

namespace hookvault::api {

// Reads only. The router has checked the caller's permission (kRead) before any call.
//
// Thread-safety: every method may be called from many threads at once; each read runs on the
// calling thread, on a reader connection of its own.
class AuditHandler {
 public:
  // `queries` must outlive this object.
  explicit AuditHandler(storage::QueryStore& queries) : queries_(queries) {}

  void ListAudit(const ApiRequest& req, Responder respond) const;
  void VerifyAudit(const ApiRequest& req, Responder respond) const;

 private:
  storage::QueryStore& queries_;
};

}  // namespace hookvault::api

#endif  // HOOKVAULT_API_AUDIT_H_
