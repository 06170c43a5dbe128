// SkipHandler: POST /api/v1/deliveries/{id}/skip (contract: "REST API"): an operator gives up
// on a failed delivery, which releases the next delivery of its ordering key; audited.
#ifndef HOOKVAULT_API_SKIP_H_
#define HOOKVAULT_API_SKIP_H_

#include <string>

#include "api/auth.h"
#include "api/http.h"
#include "storage/operator_port.h"

namespace hookvault::api {

// The router has checked the caller's permission (kReprocess: operator or admin) before any
// call; `who` is the caller it authenticated, recorded as the audit row's actor.
//
// Thread-safety: every method may be called from many threads at once. The skip is queued to
// the writer and answered from its thread.
class SkipHandler {
 public:
  // Must outlive this object.
  explicit SkipHandler(storage::OperatorPort& operations) : operations_(operations) {}

  // `id` is the delivery's id as the path gives it. Answers 200 with the delivery's new status
  // and the audit row's id; 404 for no such delivery; 409 (naming its status) for a delivery
  // that is not failed.
  void SkipDelivery(const ApiRequest& req, const Principal& who, const std::string& id,
                    Responder respond) const;

 private:
  storage::OperatorPort& operations_;
};

}  // namespace hookvault::api

#endif  // HOOKVAULT_API_SKIP_H_
