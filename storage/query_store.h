// QueryStore: what the REST API reads. Reads never wait for the writer, nor the writer for them
// (SQLite: reader connections beside the WAL writer; a server database: its MVCC snapshots).
#ifndef HOOKVAULT_STORAGE_QUERY_STORE_H_
#define HOOKVAULT_STORAGE_QUERY_STORE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "storage/delivery_store.h"
#include "storage/status.h"

namespace hookvault::storage {

// All times are microseconds since the epoch (UTC).

struct EventRow {
  int64_t seq = 0;
  std::string id;
  std::string source;
  std::string event_type;
  std::string idempotency_key;
  int64_t received_at = 0;
  std::string remote_addr;
  std::string status;        // pending | delivered | failed
  std::string headers_json;  // filled by GetEvent and Feed only
  std::string body;          // the raw body; filled by GetEvent and Feed only
};

struct DeliveryRow {
  int64_t id = 0;
  int64_t event_seq = 0;
  std::string event_id;
  std::string destination;
  std::string status;  // pending | succeeded | failed | skipped
  int attempts = 0;    // since creation or the last reprocess
  int64_t next_attempt_at = 0;
  std::optional<std::string> last_error = std::nullopt;
  int64_t created_at = 0;
  int64_t updated_at = 0;
  // Ordering (storage/delivery_store.h): the delivery's key (none: not ordered), and whether it
  // waits behind an older open delivery of that key.
  std::optional<std::string> order_key = std::nullopt;
  bool held = false;
};

struct AttemptRow {
  int64_t id = 0;
  int64_t delivery_id = 0;
  std::string event_id;
  std::string destination;
  int number = 0;
  int64_t started_at = 0;
  int64_t duration_us = 0;
  std::optional<int> http_status = std::nullopt;  // none when no response arrived
  std::optional<std::string> error = std::nullopt;
  std::string response_excerpt;
  std::string outcome;  // success | failure
};

struct RequestRow {
  int64_t id = 0;
  int64_t received_at = 0;
  std::string source;
  std::string remote_addr;
  int status = 0;
  std::string reason;
  std::optional<std::string> event_id = std::nullopt;
  int64_t body_bytes = 0;
  // The first bytes of the raw body when it was kept (rejected requests, when the config keeps
  // them); shorter than body_bytes when cut.
  std::optional<std::string> body = std::nullopt;
};

// One operator action, as the audit log keeps it. `hash` is the hex SHA-256 of `prev_hash`
// followed by the row's canonical content (AuditCanonical), or with an audit key
// "hmac-sha256:" and the hex HMAC of the same (storage/audit_chain.h); the first row's
// prev_hash is "".
struct AuditRow {
  int64_t id = 0;
  int64_t at = 0;
  std::string actor;        // the API token's name
  std::string role;         // the token's role
  std::string action;       // "reprocess_event" | "reprocess_bulk", each maybe + "_started";
                            // "destination.test"; "audit_key_added"
  std::string target_json;  // JSON object: the event id or the filter, destinations, dry_run
  int64_t matched = 0;
  int64_t requeued = 0;
  std::string reason;
  std::string prev_hash;
  std::string hash;
};

struct AuditVerification {
  bool ok = true;
  int64_t rows = 0;
  std::optional<int64_t> first_bad = std::nullopt;  // id of the first row whose hash does not match
  std::string head;  // the last row's hash ("" for an empty chain), to keep elsewhere
  std::optional<int64_t> keyed_from = std::nullopt;  // id of the first keyed row
};

struct ConsumerRow {
  std::string name;
  int64_t cursor = 0;  // the highest seq acknowledged
  int64_t updated_at = 0;
};

// The byte budget of a page (of a list or of the feed): a page stops after the row with which
// its rows' content (RowBytes) reaches it, so it holds at least one row and at most this plus
// one row. Without it 1,000 rows of 1 MiB payloads would be read and rendered as one 1 GiB
// answer.
inline constexpr int64_t kMaxPageBytes = 4 << 20;

// The bytes of a row's variable-length content, what the byte budget of a page counts. Each
// counts only fields rendered in full, so a rendered page is at least as large.
inline int64_t RowBytes(const EventRow& e) {
  return static_cast<int64_t>(e.id.size() + e.source.size() + e.event_type.size() +
                              e.idempotency_key.size() + e.remote_addr.size() + e.status.size() +
                              e.headers_json.size() + e.body.size());
}
inline int64_t RowBytes(const DeliveryRow& d) {
  return static_cast<int64_t>(d.event_id.size() + d.destination.size() + d.status.size() +
                              (d.last_error ? d.last_error->size() : 0) +
                              (d.order_key ? d.order_key->size() : 0));
}
inline int64_t RowBytes(const AttemptRow& a) {
  return static_cast<int64_t>(a.event_id.size() + a.destination.size() +
                              (a.error ? a.error->size() : 0) + a.response_excerpt.size() +
                              a.outcome.size());
}
inline int64_t RowBytes(const RequestRow& r) {
  return static_cast<int64_t>(r.source.size() + r.remote_addr.size() + r.reason.size() +
                              (r.event_id ? r.event_id->size() : 0) +
                              (r.body ? r.body->size() : 0));
}
inline int64_t RowBytes(const AuditRow& a) {
  return static_cast<int64_t>(a.actor.size() + a.role.size() + a.action.size() +
                              a.target_json.size() + a.reason.size() + a.prev_hash.size() +
                              a.hash.size());
}

// Returns true when `rows` reached `max_bytes` of content: a page that a store cut there may
// have more rows after it, whatever its length.
template <typename Row>
bool ReachedByteBudget(const std::vector<Row>& rows, int64_t max_bytes) {
  int64_t bytes = 0;
  for (const Row& r : rows) bytes += RowBytes(r);
  return bytes >= max_bytes;
}

// Lists are keyset-paginated: `cursor` is the key of the last row of the previous page (a seq
// for events, an id for the rest); the next page holds the rows strictly beyond it in the
// list's order. Rows inserted meanwhile never shift a page, so none is skipped or repeated.
// A list call returns at most `limit` rows, fewer when their content reaches `max_bytes`
// (after the row that reaches it).
struct Page {
  int limit = 50;
  std::optional<int64_t> cursor = std::nullopt;
  int64_t max_bytes = kMaxPageBytes;
};

// Unset fields do not filter. Ranges are [after, before): after inclusive, before exclusive.
struct EventFilter {
  std::optional<std::string> source = std::nullopt;
  std::optional<std::string> event_type = std::nullopt;
  std::optional<std::string> status = std::nullopt;
  std::optional<int64_t> received_after = std::nullopt;
  std::optional<int64_t> received_before = std::nullopt;
  // Exact match, through the (source, key) primary key of the idempotency keys: with `source`
  // one probe; without, one probe per source that ever stored a key.
  std::optional<std::string> idempotency_key = std::nullopt;
};

struct DeliveryFilter {
  std::optional<std::string> destination = std::nullopt;
  std::optional<std::string> status = std::nullopt;
  std::optional<std::string> event_id = std::nullopt;
  std::optional<int64_t> created_after = std::nullopt;  // on the delivery's created_at
  std::optional<int64_t> created_before = std::nullopt;
};

struct AttemptFilter {
  std::optional<std::string> destination = std::nullopt;
  std::optional<std::string> event_id = std::nullopt;
  std::optional<std::string> outcome = std::nullopt;
  std::optional<int64_t> started_after = std::nullopt;
  std::optional<int64_t> started_before = std::nullopt;
};

struct RequestFilter {
  std::optional<std::string> source = std::nullopt;
  std::optional<int> status = std::nullopt;
  bool rejected = false;  // only requests answered with a status of 400 or more
  std::optional<int64_t> received_after = std::nullopt;
  std::optional<int64_t> received_before = std::nullopt;
};

struct TimeFilter {
  std::optional<int64_t> after = std::nullopt;
  std::optional<int64_t> before = std::nullopt;
};

struct FeedQuery {
  int64_t after_seq = 0;  // events with seq > after_seq
  int limit = 50;
  int64_t max_bytes = kMaxPageBytes;  // as Page::max_bytes
  std::optional<std::string> source = std::nullopt;
  std::optional<std::string> event_type = std::nullopt;
};

// Thread-safety: every method may be called from any number of threads at once; each call
// uses a reader connection of its own for its duration. Every method returns kUnavailable when
// the database cannot be read.
class QueryStore {
 public:
  QueryStore() = default;
  QueryStore(const QueryStore&) = delete;
  QueryStore& operator=(const QueryStore&) = delete;
  virtual ~QueryStore() = default;

  // Returns events matching `filter`, newest (highest seq) first, without headers and body.
  virtual StatusOr<std::vector<EventRow>> ListEvents(const EventFilter& filter,
                                                     const Page& page) = 0;
  // Returns the event with this id, with headers and body, or nullopt.
  virtual StatusOr<std::optional<EventRow>> GetEvent(const std::string& id) = 0;
  // Returns the deliveries of one event, by destination name.
  virtual StatusOr<std::vector<DeliveryRow>> EventDeliveries(int64_t event_seq) = 0;
  // Returns the attempts of one event, oldest first.
  virtual StatusOr<std::vector<AttemptRow>> EventAttempts(int64_t event_seq,
                                                          const Page& page) = 0;
  // Returns deliveries matching `filter`, newest (highest id) first.
  virtual StatusOr<std::vector<DeliveryRow>> ListDeliveries(const DeliveryFilter& filter,
                                                            const Page& page) = 0;
  // Returns how many deliveries match any of `filters`, which must not overlap, all counted in
  // one snapshot (a reprocess dry run: storage/operator_store.h, ReprocessFilters).
  virtual StatusOr<int64_t> CountDeliveries(const std::vector<DeliveryFilter>& filters) = 0;
  // Returns attempts matching `filter`, newest (highest id) first.
  virtual StatusOr<std::vector<AttemptRow>> ListAttempts(const AttemptFilter& filter,
                                                         const Page& page) = 0;
  // Returns request-log rows matching `filter`, newest first.
  virtual StatusOr<std::vector<RequestRow>> ListRequests(const RequestFilter& filter,
                                                         const Page& page) = 0;
  // Returns audit rows, newest first.
  virtual StatusOr<std::vector<AuditRow>> ListAudit(const TimeFilter& filter,
                                                    const Page& page) = 0;
  // Re-walks the whole audit chain from its first row.
  virtual StatusOr<AuditVerification> VerifyAudit() = 0;
  // Returns events with seq > query.after_seq matching the query, ascending, with headers and
  // body: up to query.limit, fewer when their content reaches query.max_bytes.
  virtual StatusOr<std::vector<EventRow>> Feed(const FeedQuery& query) = 0;
  // Returns the highest seq ever assigned (0 when none).
  virtual StatusOr<int64_t> LatestSeq() = 0;
  // Returns the named consumer, or nullopt if it never acknowledged.
  virtual StatusOr<std::optional<ConsumerRow>> GetConsumer(const std::string& name) = 0;
  // Returns every consumer, by name.
  virtual StatusOr<std::vector<ConsumerRow>> ListConsumers() = 0;
  // Returns the backlog of pending deliveries (for /metrics).
  virtual StatusOr<PendingSummary> Pending() = 0;
};

}  // namespace hookvault::storage

#endif  // HOOKVAULT_STORAGE_QUERY_STORE_H_
