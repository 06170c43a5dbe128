#include "storage/sqlite/query_store.h"

#include <SQLiteCpp/SQLiteCpp.h>

#include <unordered_map>
#include <utility>

#include "storage/audit_chain.h"
#include "storage/sqlite/delivery_filter.h"
#include "storage/sqlite/query_sql.h"
#include "storage/sqlite/sql.h"

namespace hookvault::storage {

using namespace sql;  // NOLINT: the statements of this file

// One reader connection and its prepared statements, keyed by SQL text (a composed list query
// is one of a few dozen texts, so the cache stays small).
// Thread-safety: used by one thread at a time (the holder of its Lease).
class SqliteQueryStore::Connection {
 public:
  explicit Connection(std::unique_ptr<SQLite::Database> db) : db_(std::move(db)) {}

  // Returns the statement for `text`, prepared once, ready to bind. It is reset when the
  // connection is released, so that no read transaction outlives the call.
  SQLite::Statement& Prepare(const std::string& text) {
    auto it = statements_.find(text);
    if (it == statements_.end()) {
      it = statements_.emplace(text, std::make_unique<SQLite::Statement>(*db_, text)).first;
    }
    SQLite::Statement& s = *it->second;
    s.tryReset();
    s.clearBindings();
    used_.push_back(&s);
    return s;
  }
  SQLite::Statement& Prepare(std::string_view text) { return Prepare(std::string(text)); }
  SQLite::Database& database() { return *db_; }

  void ResetUsed() {
    for (SQLite::Statement* s : used_) s->tryReset();
    used_.clear();
  }

 private:
  std::unique_ptr<SQLite::Database> db_;
  std::unordered_map<std::string, std::unique_ptr<SQLite::Statement>> statements_;
  std::vector<SQLite::Statement*> used_;
};

// Holds a connection of the pool for one call.
class SqliteQueryStore::Lease {
 public:
  explicit Lease(SqliteQueryStore& store) : store_(store), connection_(store.Acquire()) {}
  ~Lease() {
    connection_->ResetUsed();
    store_.Release(connection_);
  }
  Lease(const Lease&) = delete;
  Lease& operator=(const Lease&) = delete;
  Connection& connection() { return *connection_; }

 private:
  SqliteQueryStore& store_;
  Connection* connection_;
};

namespace {

std::optional<std::string> OptionalText(const SQLite::Column& c) {
  if (c.isNull()) return std::nullopt;
  return c.getString();
}

std::string Blob(const SQLite::Column& c) {
  return std::string(static_cast<const char*>(c.getBlob()), c.getBytes());
}

// Binds :cursor and :limit of a descending list.
void BindDescendingPage(SQLite::Statement& s, const Page& page) {
  s.bind(":cursor", static_cast<int64_t>(page.cursor.value_or(kNoCursorDescending)));
  s.bind(":limit", page.limit);
}

void BindTime(SQLite::Statement& s, const std::optional<int64_t>& after,
              const std::optional<int64_t>& before) {
  if (after) s.bind(":after", static_cast<int64_t>(*after));
  if (before) s.bind(":before", static_cast<int64_t>(*before));
}

unsigned TimeBits(const std::optional<int64_t>& after, const std::optional<int64_t>& before) {
  return (after ? kFilterAfter : 0u) | (before ? kFilterBefore : 0u);
}

// Columns as kListEventsOuter and kGetEvent/kFeed select them.
EventRow ReadEvent(SQLite::Statement& s, bool with_content) {
  EventRow row;
  row.seq = s.getColumn(0).getInt64();
  row.id = s.getColumn(1).getString();
  row.source = s.getColumn(2).getString();
  row.event_type = s.getColumn(3).getString();
  row.idempotency_key = s.getColumn(4).getString();
  row.received_at = s.getColumn(5).getInt64();
  row.remote_addr = s.getColumn(6).getString();
  row.status = s.getColumn(7).getString();
  if (with_content) {
    row.headers_json = s.getColumn(8).getString();
    row.body = Blob(s.getColumn(9));
  }
  return row;
}

// Columns as kDeliveryColumns selects them.
DeliveryRow ReadDelivery(SQLite::Statement& s) {
  DeliveryRow row;
  row.id = s.getColumn(0).getInt64();
  row.event_seq = s.getColumn(1).getInt64();
  row.event_id = s.getColumn(2).getString();
  row.destination = s.getColumn(3).getString();
  row.status = s.getColumn(4).getString();
  row.attempts = s.getColumn(5).getInt();
  row.next_attempt_at = s.getColumn(6).getInt64();
  row.last_error = OptionalText(s.getColumn(7));
  row.created_at = s.getColumn(8).getInt64();
  row.updated_at = s.getColumn(9).getInt64();
  row.order_key = OptionalText(s.getColumn(10));
  row.held = s.getColumn(11).getInt() != 0;
  return row;
}

// Columns as kAttemptColumns selects them.
AttemptRow ReadAttempt(SQLite::Statement& s) {
  AttemptRow row;
  row.id = s.getColumn(0).getInt64();
  row.delivery_id = s.getColumn(1).getInt64();
  row.event_id = s.getColumn(2).getString();
  row.destination = s.getColumn(3).getString();
  row.number = s.getColumn(4).getInt();
  row.started_at = s.getColumn(5).getInt64();
  row.duration_us = s.getColumn(6).getInt64();
  if (!s.getColumn(7).isNull()) row.http_status = s.getColumn(7).getInt();
  row.error = OptionalText(s.getColumn(8));
  row.response_excerpt = Blob(s.getColumn(9));
  row.outcome = s.getColumn(10).getString();
  return row;
}

AuditRow ReadAudit(SQLite::Statement& s) {
  AuditRow row;
  row.id = s.getColumn(0).getInt64();
  row.at = s.getColumn(1).getInt64();
  row.actor = s.getColumn(2).getString();
  row.role = s.getColumn(3).getString();
  row.action = s.getColumn(4).getString();
  row.target_json = s.getColumn(5).getString();
  row.matched = s.getColumn(6).getInt64();
  row.requeued = s.getColumn(7).getInt64();
  row.reason = s.getColumn(8).getString();
  row.prev_hash = s.getColumn(9).getString();
  row.hash = s.getColumn(10).getString();
  return row;
}

ConsumerRow ReadConsumer(SQLite::Statement& s) {
  return ConsumerRow{s.getColumn(0).getString(), s.getColumn(1).getInt64(),
                     s.getColumn(2).getInt64()};
}

template <typename Row, typename ReadFn>
std::vector<Row> ReadAll(SQLite::Statement& s, ReadFn read) {
  std::vector<Row> rows;
  while (s.executeStep()) rows.push_back(read(s));
  return rows;
}

// Reads rows until the statement ends or their content reaches `max_bytes` (the page's byte
// budget: at least one row, and the statement's LIMIT bounds the count).
template <typename Row, typename ReadFn>
std::vector<Row> ReadPage(SQLite::Statement& s, ReadFn read, int64_t max_bytes) {
  std::vector<Row> rows;
  int64_t bytes = 0;
  while (bytes < max_bytes && s.executeStep()) {
    rows.push_back(read(s));
    bytes += RowBytes(rows.back());
  }
  return rows;
}

}  // namespace

namespace internal {

unsigned DeliveryFilterBits(const DeliveryFilter& f) {
  return (f.destination ? kFilterDestination : 0u) | (f.status ? kFilterStatus : 0u) |
         (f.event_id ? kFilterEventId : 0u) | TimeBits(f.created_after, f.created_before);
}

void BindDeliveryFilter(SQLite::Statement& s, const DeliveryFilter& f) {
  if (f.destination) s.bind(":destination", *f.destination);
  if (f.status) s.bind(":status", *f.status);
  if (f.event_id) s.bind(":event_id", *f.event_id);
  BindTime(s, f.created_after, f.created_before);
}

}  // namespace internal

StatusOr<std::unique_ptr<SqliteQueryStore>> SqliteQueryStore::Open(const DatabaseOptions& options,
                                                                   int connections) {
  std::vector<std::unique_ptr<Connection>> pool;
  for (int i = 0; i < std::max(connections, 1); ++i) {
    auto db = OpenDatabase(options);
    if (!db.ok()) return db.status();
    try {
      (*db)->exec("PRAGMA query_only = ON");
      // 16 MiB of page cache per reader (SQLite's default is 2 MiB): the upper levels of the
      // list indexes stay cached between calls, so a filtered page of 1,000 rows in a
      // 1,000,000-event database takes 1-2 ms warm rather than 10-20 ms.
      (*db)->exec("PRAGMA cache_size = -16384");
    } catch (const SQLite::Exception& e) {
      return StatusFromSqlite(e, "open reader");
    }
    pool.push_back(std::make_unique<Connection>(std::move(db).value()));
  }
  return std::unique_ptr<SqliteQueryStore>(new SqliteQueryStore(std::move(pool)));
}

SqliteQueryStore::SqliteQueryStore(std::vector<std::unique_ptr<Connection>> connections)
    : connections_(std::move(connections)) {
  for (auto& c : connections_) free_.push_back(c.get());
}

SqliteQueryStore::~SqliteQueryStore() = default;

SqliteQueryStore::Connection* SqliteQueryStore::Acquire() {
  std::unique_lock<std::mutex> lock(mu_);
  free_cv_.wait(lock, [this] { return !free_.empty(); });
  Connection* c = free_.back();
  free_.pop_back();
  return c;
}

void SqliteQueryStore::Release(Connection* connection) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    free_.push_back(connection);
  }
  free_cv_.notify_one();
}

template <typename T, typename Fn>
StatusOr<T> SqliteQueryStore::Run(const char* what, Fn&& fn) {
  Lease lease(*this);
  try {
    return fn(lease.connection());
  } catch (const SQLite::Exception& e) {
    return StatusFromSqlite(e, what);
  }
}

StatusOr<std::vector<EventRow>> SqliteQueryStore::ListEvents(const EventFilter& f,
                                                             const Page& page) {
  unsigned bits = (f.source ? kFilterSource : 0u) | (f.event_type ? kFilterType : 0u) |
                  (f.status ? kFilterStatus : 0u) | TimeBits(f.received_after, f.received_before) |
                  (f.idempotency_key ? kFilterKey : 0u);
  return Run<std::vector<EventRow>>("list events", [&](Connection& c) {
    SQLite::Statement& s = c.Prepare(ListEventsSql(bits));
    BindDescendingPage(s, page);
    if (f.idempotency_key) s.bind(":idempotency_key", *f.idempotency_key);
    if (f.source) s.bind(":source", *f.source);
    if (f.event_type) s.bind(":type", *f.event_type);
    if (f.status) s.bind(":status", *f.status);
    BindTime(s, f.received_after, f.received_before);
    return ReadPage<EventRow>(
        s, [](SQLite::Statement& s) { return ReadEvent(s, false); }, page.max_bytes);
  });
}

StatusOr<std::optional<EventRow>> SqliteQueryStore::GetEvent(const std::string& id) {
  return Run<std::optional<EventRow>>("get event", [&](Connection& c) {
    SQLite::Statement& s = c.Prepare(kGetEvent);
    s.bind(":id", id);
    std::optional<EventRow> row;
    if (s.executeStep()) row = ReadEvent(s, true);
    return row;
  });
}

StatusOr<std::vector<DeliveryRow>> SqliteQueryStore::EventDeliveries(int64_t event_seq) {
  return Run<std::vector<DeliveryRow>>("event deliveries", [&](Connection& c) {
    SQLite::Statement& s = c.Prepare(EventDeliveriesSql());
    s.bind(":event_seq", static_cast<int64_t>(event_seq));
    return ReadAll<DeliveryRow>(s, ReadDelivery);
  });
}

StatusOr<std::vector<AttemptRow>> SqliteQueryStore::EventAttempts(int64_t event_seq,
                                                                  const Page& page) {
  return Run<std::vector<AttemptRow>>("event attempts", [&](Connection& c) {
    SQLite::Statement& s = c.Prepare(EventAttemptsSql());
    s.bind(":event_seq", static_cast<int64_t>(event_seq));
    s.bind(":cursor", static_cast<int64_t>(page.cursor.value_or(0)));
    s.bind(":limit", page.limit);
    return ReadPage<AttemptRow>(s, ReadAttempt, page.max_bytes);
  });
}

StatusOr<std::vector<DeliveryRow>> SqliteQueryStore::ListDeliveries(const DeliveryFilter& f,
                                                                    const Page& page) {
  return Run<std::vector<DeliveryRow>>("list deliveries", [&](Connection& c) {
    SQLite::Statement& s = c.Prepare(ListDeliveriesSql(internal::DeliveryFilterBits(f)));
    BindDescendingPage(s, page);
    internal::BindDeliveryFilter(s, f);
    return ReadPage<DeliveryRow>(s, ReadDelivery, page.max_bytes);
  });
}

StatusOr<int64_t> SqliteQueryStore::CountDeliveries(const std::vector<DeliveryFilter>& filters) {
  return Run<int64_t>("count deliveries", [&](Connection& c) -> int64_t {
    // One read transaction, so that the counts of all filters come from one snapshot; its
    // destructor ends it (a rollback of nothing), also when a count throws.
    SQLite::Transaction snapshot(c.database(), SQLite::TransactionBehavior::DEFERRED);
    int64_t count = 0;
    for (const DeliveryFilter& f : filters) {
      SQLite::Statement& s = c.Prepare(CountDeliveriesSql(internal::DeliveryFilterBits(f)));
      internal::BindDeliveryFilter(s, f);
      if (s.executeStep()) count += s.getColumn(0).getInt64();
      s.reset();
    }
    return count;
  });
}

StatusOr<std::vector<AttemptRow>> SqliteQueryStore::ListAttempts(const AttemptFilter& f,
                                                                 const Page& page) {
  unsigned bits = (f.destination ? kFilterDestination : 0u) |
                  (f.event_id ? kFilterEventId : 0u) | (f.outcome ? kFilterOutcome : 0u) |
                  TimeBits(f.started_after, f.started_before);
  return Run<std::vector<AttemptRow>>("list attempts", [&](Connection& c) {
    SQLite::Statement& s = c.Prepare(ListAttemptsSql(bits));
    BindDescendingPage(s, page);
    if (f.destination) s.bind(":destination", *f.destination);
    if (f.event_id) s.bind(":event_id", *f.event_id);
    if (f.outcome) s.bind(":outcome", *f.outcome);
    BindTime(s, f.started_after, f.started_before);
    return ReadPage<AttemptRow>(s, ReadAttempt, page.max_bytes);
  });
}

StatusOr<std::vector<RequestRow>> SqliteQueryStore::ListRequests(const RequestFilter& f,
                                                                 const Page& page) {
  unsigned bits = (f.source ? kFilterSource : 0u) | (f.status ? kFilterStatus : 0u) |
                  (f.rejected ? kFilterRejected : 0u) |
                  TimeBits(f.received_after, f.received_before);
  return Run<std::vector<RequestRow>>("list requests", [&](Connection& c) {
    SQLite::Statement& s = c.Prepare(ListRequestsSql(bits));
    BindDescendingPage(s, page);
    if (f.source) s.bind(":source", *f.source);
    if (f.status) s.bind(":status", *f.status);
    BindTime(s, f.received_after, f.received_before);
    return ReadPage<RequestRow>(s, [](SQLite::Statement& s) {
      RequestRow row;
      row.id = s.getColumn(0).getInt64();
      row.received_at = s.getColumn(1).getInt64();
      row.source = s.getColumn(2).getString();
      row.remote_addr = s.getColumn(3).getString();
      row.status = s.getColumn(4).getInt();
      row.reason = s.getColumn(5).getString();
      row.event_id = OptionalText(s.getColumn(6));
      row.body_bytes = s.getColumn(7).getInt64();
      if (SQLite::Column body = s.getColumn(8); !body.isNull()) {
        row.body.emplace(static_cast<const char*>(body.getBlob()), body.getBytes());
      }
      return row;
    }, page.max_bytes);
  });
}

StatusOr<std::vector<AuditRow>> SqliteQueryStore::ListAudit(const TimeFilter& f,
                                                           const Page& page) {
  return Run<std::vector<AuditRow>>("list audit", [&](Connection& c) {
    SQLite::Statement& s = c.Prepare(ListAuditSql(TimeBits(f.after, f.before)));
    BindDescendingPage(s, page);
    BindTime(s, f.after, f.before);
    return ReadPage<AuditRow>(s, ReadAudit, page.max_bytes);
  });
}

StatusOr<AuditVerification> SqliteQueryStore::VerifyAudit() {
  return Run<AuditVerification>("verify audit", [&](Connection& c) {
    AuditChainWalk walk(audit_key_);
    SQLite::Statement& s = c.Prepare(kAuditChain);
    while (s.executeStep()) walk.Add(ReadAudit(s));
    return walk.Finish();
  });
}

StatusOr<std::vector<EventRow>> SqliteQueryStore::Feed(const FeedQuery& q) {
  unsigned bits = (q.source ? kFilterSource : 0u) | (q.event_type ? kFilterType : 0u);
  return Run<std::vector<EventRow>>("feed", [&](Connection& c) {
    SQLite::Statement& s = c.Prepare(FeedSql(bits));
    s.bind(":after_seq", static_cast<int64_t>(q.after_seq));
    s.bind(":limit", q.limit);
    if (q.source) s.bind(":source", *q.source);
    if (q.event_type) s.bind(":type", *q.event_type);
    return ReadPage<EventRow>(
        s, [](SQLite::Statement& s) { return ReadEvent(s, true); }, q.max_bytes);
  });
}

StatusOr<int64_t> SqliteQueryStore::LatestSeq() {
  return Run<int64_t>("latest seq", [&](Connection& c) -> int64_t {
    SQLite::Statement& s = c.Prepare(kLatestSeq);
    return s.executeStep() ? s.getColumn(0).getInt64() : 0;
  });
}

StatusOr<std::optional<ConsumerRow>> SqliteQueryStore::GetConsumer(const std::string& name) {
  return Run<std::optional<ConsumerRow>>("get consumer", [&](Connection& c) {
    SQLite::Statement& s = c.Prepare(kGetConsumer);
    s.bind(":name", name);
    std::optional<ConsumerRow> row;
    if (s.executeStep()) row = ReadConsumer(s);
    return row;
  });
}

StatusOr<std::vector<ConsumerRow>> SqliteQueryStore::ListConsumers() {
  return Run<std::vector<ConsumerRow>>("list consumers", [&](Connection& c) {
    return ReadAll<ConsumerRow>(c.Prepare(kListConsumers), ReadConsumer);
  });
}

StatusOr<PendingSummary> SqliteQueryStore::Pending() {
  return Run<PendingSummary>("pending deliveries", [&](Connection& c) {
    PendingSummary summary;
    SQLite::Statement& count = c.Prepare(kCountPending);
    while (count.executeStep()) {
      int64_t n = count.getColumn(1).getInt64();
      summary.by_destination[count.getColumn(0).getString()] = n;
      summary.count += n;
    }
    SQLite::Statement& oldest = c.Prepare(kOldestPending);
    if (oldest.executeStep()) summary.oldest_pending_since = oldest.getColumn(0).getInt64();
    return summary;
  });
}

}  // namespace hookvault::storage
