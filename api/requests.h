// RequestsHandler: the request log route of the REST API (contract: "REST API"): every ingest
// request as it was answered, the rejected ones included.
#ifndef HOOKVAULT_API_REQUESTS_H_
#define HOOKVAULT_API_REQUESTS_H_

#include "api/http.h"
#include "storage/query_store.h"

namespace hookvault::api {

// Reads only. The router has checked the caller's permission (kRead) before any call.
//
// Thread-safety: ListRequests() may be called from many threads at once; each read runs on
// the calling thread, on a reader connection of its own.
class RequestsHandler {
 public:
  // `queries` must outlive this object.
  explicit RequestsHandler(storage::QueryStore& queries) : queries_(queries) {}

  void ListRequests(const ApiRequest& req, Responder respond) const;

 private:
  storage::QueryStore& queries_;
};

}  // namespace hookvault::api

#endif  // HOOKVAULT_API_REQUESTS_H_
