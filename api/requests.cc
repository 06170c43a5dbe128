#include "api/requests.h"

#include <functional>

#include "api/list.h"
#include "api/params.h"
#include "api/render.h"

namespace hookvault::api {

void RequestsHandler::ListRequests(const ApiRequest& req, Responder respond) const {
  ServeList(
      req, "requests", {"source", "status", "rejected", "after", "before", "limit", "cursor"},
      [](QueryParams& q) {
        storage::RequestFilter f;
        f.source = q.String("source");
        if (auto status = q.Int("status", 100, 599)) f.status = static_cast<int>(*status);
        // Only `true`: `false` could be read as "accepted only" or as "no filter", and a filter
        // read either way would widen or empty a list silently.
        f.rejected = q.Enum("rejected", {"true"}).has_value();
        f.received_after = q.Time("after");
        f.received_before = q.Time("before");
        return f;
      },
      std::bind_front(&storage::QueryStore::ListRequests, &queries_), WriteRequest,
      &storage::RequestRow::id, respond);
}

}  // namespace hookvault::api
