#include "storage/postgres/query_store.h"

#include <libpq-fe.h>

#include <algorithm>
#include <unordered_map>
#include <utility>

#include "storage/audit_chain.h"
#include "storage/postgres/query_sql.h"

namespace hookvault::storage {

using namespace pg::query_sql;  // NOLINT: the statements of this file

namespace {

// The values of one call's parameters, by the names its composed statement uses; turned into
// pg::Params in the order ToPositional numbered them. Every value is sent as text: PostgreSQL
// types each parameter from its place in the statement (a bigint column, LIMIT, …).
// Thread-safety: not thread-safe; one call's own.
class Bindings {
 public:
  Bindings& Set(std::string name, std::string value) {
    values_.emplace_back(std::move(name), std::move(value));
    return *this;
  }
  Bindings& Set(std::string name, int64_t value) {
    return Set(std::move(name), std::to_string(value));
  }

  // Returns the values for `names`, in order; kInternal if one was not set (a composition bug).
  StatusOr<pg::Params> ToParams(const std::vector<std::string>& names) const {
    pg::Params params;
    for (const std::string& name : names) {
      auto it = std::find_if(values_.begin(), values_.end(),
                             [&](const auto& v) { return v.first == name; });
      if (it == values_.end()) return Status::Internal("query: no value for :" + name);
      params.Add(std::string_view(it->second));
    }
    return params;
  }

 private:
  std::vector<std::pair<std::string, std::string>> values_;
};

void SetDescendingPage(Bindings& b, const Page& page) {
  b.Set("cursor", page.cursor.value_or(kNoCursorDescending));
  b.Set("limit", static_cast<int64_t>(page.limit));
  b.Set("max_bytes", page.max_bytes);
}

unsigned TimeBits(const std::optional<int64_t>& after, const std::optional<int64_t>& before) {
  return (after ? kFilterAfter : 0u) | (before ? kFilterBefore : 0u);
}

void SetTime(Bindings& b, const std::optional<int64_t>& after,
             const std::optional<int64_t>& before) {
  if (after) b.Set("after", *after);
  if (before) b.Set("before", *before);
}

unsigned DeliveryFilterBits(const DeliveryFilter& f) {
  return (f.destination ? kFilterDestination : 0u) | (f.status ? kFilterStatus : 0u) |
         (f.event_id ? kFilterEventId : 0u) | TimeBits(f.created_after, f.created_before);
}

void SetDeliveryFilter(Bindings& b, const DeliveryFilter& f) {
  if (f.destination) b.Set("destination", *f.destination);
  if (f.status) b.Set("status", *f.status);
  if (f.event_id) b.Set("event_id", *f.event_id);
  SetTime(b, f.created_after, f.created_before);
}

// Columns as kEventListRows, kFeedRows and kGetEvent select them.
EventRow ReadEvent(const pg::Result& r, int i, bool with_content) {
  EventRow row;
  row.seq = r.GetInt64(i, 0);
  row.id = r.GetString(i, 1);
  row.source = r.GetString(i, 2);
  row.event_type = r.GetString(i, 3);
  row.idempotency_key = r.GetString(i, 4);
  row.received_at = r.GetInt64(i, 5);
  row.remote_addr = r.GetString(i, 6);
  row.status = r.GetString(i, 7);
  if (with_content) {
    row.headers_json = r.GetString(i, 8);
    row.body = r.GetBytes(i, 9);
  }
  return row;
}

// Columns as kDeliveryColumns selects them.
DeliveryRow ReadDelivery(const pg::Result& r, int i) {
  DeliveryRow row;
  row.id = r.GetInt64(i, 0);
  row.event_seq = r.GetInt64(i, 1);
  row.event_id = r.IsNull(i, 2) ? std::string() : r.GetString(i, 2);
  row.destination = r.GetString(i, 3);
  row.status = r.GetString(i, 4);
  row.attempts = static_cast<int>(r.GetInt64(i, 5));
  row.next_attempt_at = r.GetInt64(i, 6);
  row.last_error = r.GetOptionalString(i, 7);
  row.created_at = r.GetInt64(i, 8);
  row.updated_at = r.GetInt64(i, 9);
  row.order_key = r.GetOptionalString(i, 10);
  row.held = r.GetInt64(i, 11) != 0;
  return row;
}

// Columns as kAttemptRows selects them.
AttemptRow ReadAttempt(const pg::Result& r, int i) {
  AttemptRow row;
  row.id = r.GetInt64(i, 0);
  row.delivery_id = r.GetInt64(i, 1);
  row.event_id = r.IsNull(i, 2) ? std::string() : r.GetString(i, 2);
  row.destination = r.IsNull(i, 3) ? std::string() : r.GetString(i, 3);
  row.number = static_cast<int>(r.GetInt64(i, 4));
  row.started_at = r.GetInt64(i, 5);
  row.duration_us = r.GetInt64(i, 6);
  if (!r.IsNull(i, 7)) row.http_status = static_cast<int>(r.GetInt64(i, 7));
  row.error = r.GetOptionalString(i, 8);
  if (!r.IsNull(i, 9)) row.response_excerpt = r.GetBytes(i, 9);
  row.outcome = r.GetString(i, 10);
  return row;
}

// Columns as kRequestRows selects them.
RequestRow ReadRequest(const pg::Result& r, int i) {
  RequestRow row;
  row.id = r.GetInt64(i, 0);
  row.received_at = r.GetInt64(i, 1);
  row.source = r.GetString(i, 2);
  row.remote_addr = r.GetString(i, 3);
  row.status = static_cast<int>(r.GetInt64(i, 4));
  row.reason = r.GetString(i, 5);
  row.event_id = r.GetOptionalString(i, 6);
  row.body_bytes = r.GetInt64(i, 7);
  if (!r.IsNull(i, 8)) row.body = r.GetBytes(i, 8);
  return row;
}

// Columns as kAuditColumns selects them.
AuditRow ReadAudit(const pg::Result& r, int i) {
  AuditRow row;
  row.id = r.GetInt64(i, 0);
  row.at = r.GetInt64(i, 1);
  row.actor = r.GetString(i, 2);
  row.role = r.GetString(i, 3);
  row.action = r.GetString(i, 4);
  row.target_json = r.GetString(i, 5);
  row.matched = r.GetInt64(i, 6);
  row.requeued = r.GetInt64(i, 7);
  row.reason = r.GetString(i, 8);
  row.prev_hash = r.GetString(i, 9);
  row.hash = r.GetString(i, 10);
  return row;
}

ConsumerRow ReadConsumer(const pg::Result& r, int i) {
  return ConsumerRow{r.GetString(i, 0), r.GetInt64(i, 1), r.GetInt64(i, 2)};
}

template <typename Row, typename ReadFn>
std::vector<Row> ReadAll(const pg::Result& r, ReadFn read) {
  std::vector<Row> rows;
  rows.reserve(r.rows());
  for (int i = 0; i < r.rows(); ++i) rows.push_back(read(r, i));
  return rows;
}

// Prefixes the message of a failed call with the operation it belongs to.
Status Annotate(const Status& s, const char* what) {
  if (s.ok()) return s;
  std::string message = std::string(what) + ": " + s.message();
  switch (s.code()) {
    case StatusCode::kUnavailable:
      return Status::Unavailable(std::move(message));
    case StatusCode::kAlreadyExists:
      return Status::AlreadyExists(std::move(message));
    case StatusCode::kInvalidArgument:
      return Status::InvalidArgument(std::move(message));
    default:
      return Status::Internal(std::move(message));
  }
}

}  // namespace

// One reader connection and the statements prepared on it, by their composed (named) text: a
// composed list query is one of a few dozen texts, so the map stays small.
// Thread-safety: used by one thread at a time (the holder of its Lease).
class PostgresQueryStore::Reader {
 public:
  explicit Reader(std::unique_ptr<pg::Connection> connection)
      : connection_(std::move(connection)) {}

  // Sets the reader session up (kReaderSession); after Open and after each reconnect.
  Status Configure() {
    auto set = connection_->Exec(kReaderSession);
    return set.ok() ? Status::Ok() : set.status();
  }

  // True when the connection cannot be used as it is: marked broken by a connection-level
  // failure, or found closed by libpq.
  bool broken() {
    return needs_reset_ || connection_->broken() || PQstatus(connection_->raw()) != CONNECTION_OK;
  }

  // Makes the connection ready for a call: reconnected (and configured) if it broke, out of any
  // transaction a failed call left open. Returns kUnavailable if the server cannot be reached.
  Status Heal() {
    if (broken()) {
      // Until a reconnect has fully succeeded (session set, every statement prepared again),
      // the next call reconnects again: a half-restored session would lack statements that
      // prepared_ says it has.
      needs_reset_ = true;
      if (Status reset = connection_->Reset(); !reset.ok()) return reset;
      if (Status configured = Configure(); !configured.ok()) return configured;
      needs_reset_ = false;
    }
    if (PQtransactionStatus(connection_->raw()) != PQTRANS_IDLE) {
      auto rolled_back = connection_->Exec("ROLLBACK");
      if (!rolled_back.ok()) return rolled_back.status();
    }
    return Status::Ok();
  }

  // Runs the composed statement `named` (":name" parameters) with `values`, preparing it on
  // this connection on its first use.
  StatusOr<pg::Result> Query(const std::string& named, const Bindings& values) {
    auto it = prepared_.find(named);
    if (it == prepared_.end()) {
      Positional positional = ToPositional(named);
      std::string name = "hookvault_read_" + std::to_string(prepared_.size());
      if (Status s = connection_->Prepare(name, positional.text); !s.ok()) return s;
      it = prepared_.emplace(named, Prepared{std::move(name), std::move(positional.names)}).first;
    }
    auto params = values.ToParams(it->second.names);
    if (!params.ok()) return params.status();
    return connection_->ExecPrepared(it->second.name, *params);
  }
  StatusOr<pg::Result> Query(std::string_view named, const Bindings& values) {
    return Query(std::string(named), values);
  }

  pg::Connection& connection() { return *connection_; }

 private:
  struct Prepared {
    std::string name;                // the prepared statement's name on this connection
    std::vector<std::string> names;  // the parameters, in $n order
  };

  std::unique_ptr<pg::Connection> connection_;
  std::unordered_map<std::string, Prepared> prepared_;
  bool needs_reset_ = false;  // a reconnect failed part-way
};

// Holds a reader of the pool for one call.
class PostgresQueryStore::Lease {
 public:
  explicit Lease(PostgresQueryStore& store) : store_(store), reader_(store.Acquire()) {}
  ~Lease() { store_.Release(reader_); }
  Lease(const Lease&) = delete;
  Lease& operator=(const Lease&) = delete;
  Reader& reader() { return *reader_; }

 private:
  PostgresQueryStore& store_;
  Reader* reader_;
};

StatusOr<std::unique_ptr<PostgresQueryStore>> PostgresQueryStore::Open(
    const pg::ConnectionOptions& options, int pool_size) {
  pg::ConnectionOptions reader_options = options;
  // The caller's name when it set one (main.cc names the node's readers), as the writer does.
  if (reader_options.application_name == pg::ConnectionOptions().application_name) {
    reader_options.application_name = "hookvault-reader";
  }
  if (reader_options.statement_timeout_ms == 0) {
    reader_options.statement_timeout_ms = kReaderStatementTimeoutMs;
  }
  std::vector<std::unique_ptr<Reader>> readers;
  for (int i = 0; i < std::max(pool_size, 1); ++i) {
    auto connection = pg::Connection::Open(reader_options);
    if (!connection.ok()) return Annotate(connection.status(), "open reader");
    auto reader = std::make_unique<Reader>(std::move(connection).value());
    if (Status s = reader->Configure(); !s.ok()) return Annotate(s, "open reader");
    readers.push_back(std::move(reader));
  }
  return std::unique_ptr<PostgresQueryStore>(new PostgresQueryStore(std::move(readers)));
}

PostgresQueryStore::PostgresQueryStore(std::vector<std::unique_ptr<Reader>> readers)
    : readers_(std::move(readers)) {
  for (auto& r : readers_) free_.push_back(r.get());
}

PostgresQueryStore::~PostgresQueryStore() = default;

PostgresQueryStore::Reader* PostgresQueryStore::Acquire() {
  std::unique_lock<std::mutex> lock(mu_);
  // First come, first served: a caller takes a ticket and waits for its turn, so that a thread
  // that releases and asks again at once cannot overtake one that has been waiting.
  const uint64_t ticket = next_ticket_++;
  free_cv_.wait(lock, [&] { return ticket == now_serving_ && !free_.empty(); });
  ++now_serving_;
  Reader* r = free_.back();
  free_.pop_back();
  const bool more = !free_.empty();
  lock.unlock();
  if (more) free_cv_.notify_all();  // the next ticket may take the next free reader
  return r;
}

void PostgresQueryStore::Release(Reader* reader) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    free_.push_back(reader);
  }
  // All: notify_one could wake a waiter whose turn it is not, and the one whose turn it is
  // would sleep on.
  free_cv_.notify_all();
}

template <typename T, typename Fn>
StatusOr<T> PostgresQueryStore::Run(Fn&& fn) {
  Lease lease(*this);
  Reader& reader = lease.reader();
  // A connection the server ended while it sat in the pool is found broken only by the
  // statement that uses it; the second run goes through Heal's reconnect.
  for (int run = 0;; ++run) {
    if (Status healthy = reader.Heal(); !healthy.ok()) return healthy;
    StatusOr<T> result = fn(reader);
    if (result.ok() || run == 1 || !reader.broken()) return result;
  }
}

StatusOr<std::vector<EventRow>> PostgresQueryStore::ListEvents(const EventFilter& f,
                                                               const Page& page) {
  unsigned bits = (f.source ? kFilterSource : 0u) | (f.event_type ? kFilterType : 0u) |
                  (f.status ? kFilterStatus : 0u) | TimeBits(f.received_after, f.received_before) |
                  (f.idempotency_key ? kFilterKey : 0u);
  Bindings b;
  SetDescendingPage(b, page);
  if (f.idempotency_key) b.Set("idempotency_key", *f.idempotency_key);
  if (f.source) b.Set("source", *f.source);
  if (f.event_type) b.Set("type", *f.event_type);
  if (f.status) b.Set("status", *f.status);
  SetTime(b, f.received_after, f.received_before);
  const std::string sql = ListEventsSql(bits);
  return Run<std::vector<EventRow>>([&](Reader& r) -> StatusOr<std::vector<EventRow>> {
    auto result = r.Query(sql, b);
    if (!result.ok()) return Annotate(result.status(), "list events");
    return ReadAll<EventRow>(*result,
                             [](const pg::Result& x, int i) { return ReadEvent(x, i, false); });
  });
}

StatusOr<std::optional<EventRow>> PostgresQueryStore::GetEvent(const std::string& id) {
  Bindings b;
  b.Set("id", id);
  return Run<std::optional<EventRow>>([&](Reader& r) -> StatusOr<std::optional<EventRow>> {
    auto result = r.Query(kGetEvent, b);
    if (!result.ok()) return Annotate(result.status(), "get event");
    std::optional<EventRow> row;
    if (result->rows() > 0) row = ReadEvent(*result, 0, true);
    return row;
  });
}

StatusOr<std::vector<DeliveryRow>> PostgresQueryStore::EventDeliveries(int64_t event_seq) {
  Bindings b;
  b.Set("event_seq", event_seq);
  const std::string sql = EventDeliveriesSql();
  return Run<std::vector<DeliveryRow>>([&](Reader& r) -> StatusOr<std::vector<DeliveryRow>> {
    auto result = r.Query(sql, b);
    if (!result.ok()) return Annotate(result.status(), "event deliveries");
    return ReadAll<DeliveryRow>(*result, ReadDelivery);
  });
}

StatusOr<std::vector<AttemptRow>> PostgresQueryStore::EventAttempts(int64_t event_seq,
                                                                    const Page& page) {
  Bindings b;
  b.Set("event_seq", event_seq);
  b.Set("cursor", page.cursor.value_or(0));
  b.Set("limit", static_cast<int64_t>(page.limit));
  b.Set("max_bytes", page.max_bytes);
  const std::string sql = EventAttemptsSql();
  return Run<std::vector<AttemptRow>>([&](Reader& r) -> StatusOr<std::vector<AttemptRow>> {
    auto result = r.Query(sql, b);
    if (!result.ok()) return Annotate(result.status(), "event attempts");
    return ReadAll<AttemptRow>(*result, ReadAttempt);
  });
}

StatusOr<std::vector<DeliveryRow>> PostgresQueryStore::ListDeliveries(const DeliveryFilter& f,
                                                                      const Page& page) {
  Bindings b;
  SetDescendingPage(b, page);
  SetDeliveryFilter(b, f);
  const std::string sql = ListDeliveriesSql(DeliveryFilterBits(f));
  return Run<std::vector<DeliveryRow>>([&](Reader& r) -> StatusOr<std::vector<DeliveryRow>> {
    auto result = r.Query(sql, b);
    if (!result.ok()) return Annotate(result.status(), "list deliveries");
    return ReadAll<DeliveryRow>(*result, ReadDelivery);
  });
}

StatusOr<int64_t> PostgresQueryStore::CountDeliveries(const std::vector<DeliveryFilter>& filters) {
  return Run<int64_t>([&](Reader& r) -> StatusOr<int64_t> {
    pg::Connection& c = r.connection();
    if (auto begun = c.Exec(kBeginSnapshot); !begun.ok()) {
      return Annotate(begun.status(), "count deliveries");
    }
    int64_t count = 0;
    for (const DeliveryFilter& f : filters) {
      Bindings b;
      SetDeliveryFilter(b, f);
      auto result = r.Query(CountDeliveriesSql(DeliveryFilterBits(f)), b);
      if (!result.ok()) {
        // Heal rolls back whatever is left before the reader's next use.
        (void)c.Exec("ROLLBACK");
        return Annotate(result.status(), "count deliveries");
      }
      if (result->rows() > 0) count += result->GetInt64(0, 0);
    }
    if (auto ended = c.Exec("COMMIT"); !ended.ok()) {
      return Annotate(ended.status(), "count deliveries");
    }
    return count;
  });
}

StatusOr<std::vector<AttemptRow>> PostgresQueryStore::ListAttempts(const AttemptFilter& f,
                                                                   const Page& page) {
  unsigned bits = (f.destination ? kFilterDestination : 0u) | (f.event_id ? kFilterEventId : 0u) |
                  (f.outcome ? kFilterOutcome : 0u) | TimeBits(f.started_after, f.started_before);
  Bindings b;
  SetDescendingPage(b, page);
  if (f.destination) b.Set("destination", *f.destination);
  if (f.event_id) b.Set("event_id", *f.event_id);
  if (f.outcome) b.Set("outcome", *f.outcome);
  SetTime(b, f.started_after, f.started_before);
  const std::string sql = ListAttemptsSql(bits);
  return Run<std::vector<AttemptRow>>([&](Reader& r) -> StatusOr<std::vector<AttemptRow>> {
    auto result = r.Query(sql, b);
    if (!result.ok()) return Annotate(result.status(), "list attempts");
    return ReadAll<AttemptRow>(*result, ReadAttempt);
  });
}

StatusOr<std::vector<RequestRow>> PostgresQueryStore::ListRequests(const RequestFilter& f,
                                                                   const Page& page) {
  unsigned bits = (f.source ? kFilterSource : 0u) | (f.status ? kFilterStatus : 0u) |
                  (f.rejected ? kFilterRejected : 0u) |
                  TimeBits(f.received_after, f.received_before);
  Bindings b;
  SetDescendingPage(b, page);
  if (f.source) b.Set("source", *f.source);
  if (f.status) b.Set("status", static_cast<int64_t>(*f.status));
  SetTime(b, f.received_after, f.received_before);
  const std::string sql = ListRequestsSql(bits);
  return Run<std::vector<RequestRow>>([&](Reader& r) -> StatusOr<std::vector<RequestRow>> {
    auto result = r.Query(sql, b);
    if (!result.ok()) return Annotate(result.status(), "list requests");
    return ReadAll<RequestRow>(*result, ReadRequest);
  });
}

StatusOr<std::vector<AuditRow>> PostgresQueryStore::ListAudit(const TimeFilter& f,
                                                              const Page& page) {
  Bindings b;
  SetDescendingPage(b, page);
  SetTime(b, f.after, f.before);
  const std::string sql = ListAuditSql(TimeBits(f.after, f.before));
  return Run<std::vector<AuditRow>>([&](Reader& r) -> StatusOr<std::vector<AuditRow>> {
    auto result = r.Query(sql, b);
    if (!result.ok()) return Annotate(result.status(), "list audit");
    return ReadAll<AuditRow>(*result, ReadAudit);
  });
}

StatusOr<AuditVerification> PostgresQueryStore::VerifyAudit() {
  const std::string sql = AuditChainSql();
  return Run<AuditVerification>([&](Reader& r) -> StatusOr<AuditVerification> {
    pg::Connection& c = r.connection();
    if (auto begun = c.Exec(kBeginSnapshot); !begun.ok()) {
      return Annotate(begun.status(), "verify audit");
    }
    AuditChainWalk walk(audit_key_);
    int64_t after_id = 0;
    for (;;) {
      Bindings b;
      b.Set("after_id", after_id);
      b.Set("limit", static_cast<int64_t>(kAuditChunk));
      auto result = r.Query(sql, b);
      if (!result.ok()) {
        (void)c.Exec("ROLLBACK");
        return Annotate(result.status(), "verify audit");
      }
      for (int i = 0; i < result->rows(); ++i) {
        AuditRow row = ReadAudit(*result, i);
        after_id = row.id;
        walk.Add(row);
      }
      if (result->rows() < kAuditChunk) break;
    }
    if (auto ended = c.Exec("COMMIT"); !ended.ok()) {
      return Annotate(ended.status(), "verify audit");
    }
    return walk.Finish();
  });
}

StatusOr<std::vector<EventRow>> PostgresQueryStore::Feed(const FeedQuery& q) {
  unsigned bits = (q.source ? kFilterSource : 0u) | (q.event_type ? kFilterType : 0u);
  Bindings b;
  b.Set("after_seq", q.after_seq);
  b.Set("limit", static_cast<int64_t>(q.limit));
  b.Set("max_bytes", q.max_bytes);
  if (q.source) b.Set("source", *q.source);
  if (q.event_type) b.Set("type", *q.event_type);
  const std::string sql = FeedSql(bits);
  return Run<std::vector<EventRow>>([&](Reader& r) -> StatusOr<std::vector<EventRow>> {
    auto result = r.Query(sql, b);
    if (!result.ok()) return Annotate(result.status(), "feed");
    return ReadAll<EventRow>(*result,
                             [](const pg::Result& x, int i) { return ReadEvent(x, i, true); });
  });
}

StatusOr<int64_t> PostgresQueryStore::LatestSeq() {
  return Run<int64_t>([&](Reader& r) -> StatusOr<int64_t> {
    auto result = r.Query(kLatestSeq, Bindings());
    if (!result.ok()) return Annotate(result.status(), "latest seq");
    return result->rows() > 0 ? result->GetInt64(0, 0) : int64_t{0};
  });
}

StatusOr<std::optional<ConsumerRow>> PostgresQueryStore::GetConsumer(const std::string& name) {
  Bindings b;
  b.Set("name", name);
  return Run<std::optional<ConsumerRow>>([&](Reader& r) -> StatusOr<std::optional<ConsumerRow>> {
    auto result = r.Query(kGetConsumer, b);
    if (!result.ok()) return Annotate(result.status(), "get consumer");
    std::optional<ConsumerRow> row;
    if (result->rows() > 0) row = ReadConsumer(*result, 0);
    return row;
  });
}

StatusOr<std::vector<ConsumerRow>> PostgresQueryStore::ListConsumers() {
  return Run<std::vector<ConsumerRow>>([&](Reader& r) -> StatusOr<std::vector<ConsumerRow>> {
    auto result = r.Query(kListConsumers, Bindings());
    if (!result.ok()) return Annotate(result.status(), "list consumers");
    return ReadAll<ConsumerRow>(*result, ReadConsumer);
  });
}

StatusOr<PendingSummary> PostgresQueryStore::Pending() {
  return Run<PendingSummary>([&](Reader& r) -> StatusOr<PendingSummary> {
    auto count = r.Query(kCountPending, Bindings());
    if (!count.ok()) return Annotate(count.status(), "pending deliveries");
    PendingSummary summary;
    for (int i = 0; i < count->rows(); ++i) {
      int64_t n = count->GetInt64(i, 1);
      summary.by_destination[count->GetString(i, 0)] = n;
      summary.count += n;
    }
    auto oldest = r.Query(kOldestPending, Bindings());
    if (!oldest.ok()) return Annotate(oldest.status(), "pending deliveries");
    if (oldest->rows() > 0) summary.oldest_pending_since = oldest->GetInt64(0, 0);
    return summary;
  });
}

}  // namespace hookvault::storage
