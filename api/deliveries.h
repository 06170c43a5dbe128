// DeliveriesHandler: the forwarding history routes of the REST API (contract: "REST API"):
// deliveries (one per event and destination) and their attempts.
#ifndef HOOKVAULT_API_DELIVERIES_H_
#define HOOKVAULT_API_DELIVERIES_H_

#include "api/http.h"
#include "storage/query_store.h"

namespace hookvault::api {

// Reads only. The router has checked the caller's permission (kRead) before any call.
//
// Thread-safety: every method may be called from many threads at once; each read runs on the
// calling thread, on a reader connection of its own.
class DeliveriesHandler {
 public:
  // `queries` must outlive this object.
  explicit DeliveriesHandler(storage::QueryStore& queries) : queries_(queries) {}

  void ListDeliveries(const ApiRequest& req, Responder respond) const;
  void ListAttempts(const ApiRequest& req, Responder respond) const;

 private:
  storage::QueryStore& queries_;
};

}  // namespace hookvault::api

#endif  // HOOKVAULT_API_DELIVERIES_H_
