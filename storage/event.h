// Plain records of the domain: what ingest hands to storage and what storage answers.
#ifndef HOOKVAULT_STORAGE_EVENT_H_
#define HOOKVAULT_STORAGE_EVENT_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace hookvault::storage {

// An accepted webhook, ready to be stored. The id and seq are assigned by the store.
struct NewEvent {
  std::string source;
  std::string event_type;
  std::string idempotency_key;  // unique per source
  int64_t received_at = 0;      // microseconds since the epoch
  std::string remote_addr;
  std::string headers_json;  // JSON object of the request headers, secrets removed
  std::string body;          // raw bytes exactly as received
  // Destinations whose filters match this event: one delivery row each. Empty means the event
  // is delivered at once (nothing to forward).
  std::vector<std::string> destinations;
  // The ordering key of each delivery to an ordered destination ("ordering"), by destination
  // name; a destination of `destinations` that is not here is not ordered for this event. The
  // store holds such a delivery back while an older one of the same destination and key is
  // pending or failed (storage/delivery_store.h, "Ordering").
  std::map<std::string, std::string> order_keys;
};

// One row of the ingest request log: every ingest request, accepted or rejected.
struct RequestLogEntry {
  int64_t received_at = 0;
  std::string source;
  std::string remote_addr;
  int status = 0;      // the HTTP status answered
  std::string reason;  // "stored", "duplicate", or why it was rejected
  std::optional<std::string> event_id;
  int64_t body_bytes = 0;  // the whole body's size
  // The first bytes of a rejected request's raw body, when the config keeps them
  // (request_log.keep_rejected_bodies); nullopt when not kept (always for stored events,
  // whose event row holds the body).
  std::optional<std::string> body = std::nullopt;
};

// What happened to a NewEvent: its id and seq, and whether its idempotency key was already
// stored (then id and seq are the original event's and nothing new was written).
struct AppendResult {
  std::string id;
  int64_t seq = 0;
  bool duplicate = false;
};

// One unit of the writer's work: an event to store with its request-log row, or a log row
// alone (a rejected request). When both are present the log row records the event's id.
struct IngestRecord {
  std::optional<NewEvent> event;
  std::optional<RequestLogEntry> log;
};

}  // namespace hookvault::storage

#endif  // HOOKVAULT_STORAGE_EVENT_H_
