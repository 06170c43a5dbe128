// EventsHandler: the event routes of the REST API (contract: "REST API"): the list of events,
// one event with its payload and deliveries, an event's payload bytes as received, and an event's
// delivery attempts.
#ifndef HOOKVAULT_API_EVENTS_H_
#define HOOKVAULT_API_EVENTS_H_

#include <string>

#include "api/http.h"
#include "storage/query_store.h"

namespace hookvault::api {

// Reads only. The router has checked the caller's permission (kRead) before any call.
//
// Thread-safety: every method may be called from many threads at once; each read runs on the
// calling thread, on a reader connection of its own.
class EventsHandler {
 public:
  // `queries` must outlive this object.
  explicit EventsHandler(storage::QueryStore& queries) : queries_(queries) {}

  void ListEvents(const ApiRequest& req, Responder respond) const;
  void GetEvent(const ApiRequest& req, const std::string& id, Responder respond) const;
  // The stored body exactly as it arrived: the JSON rendering of GetEvent is also the stored
  // bytes, but a client that parses it loses big integers, escapes, key order and duplicate keys,
  // and with them the means to re-check a signature or compare ids.
  void GetEventPayload(const ApiRequest& req, const std::string& id, Responder respond) const;
  void ListEventAttempts(const ApiRequest& req, const std::string& id, Responder respond) const;

 private:
  storage::QueryStore& queries_;
};

}  // namespace hookvault::api

#endif  // HOOKVAULT_API_EVENTS_H_
