#include "storage/sqlite/delivery_store.h"

#include <SQLiteCpp/SQLiteCpp.h>

#include <algorithm>
#include <utility>

#include "storage/sqlite/database.h"
#include "storage/sqlite/sql.h"

namespace hookvault::storage {

using namespace sql;  // NOLINT: the statements of this file

namespace {

// `s` as a JSON string (for json_each).
std::string JsonString(const std::string& s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20) {
      static const char kHex[] = "0123456789abcdef";
      out += "\\u00";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    } else {
      out += static_cast<char>(c);
    }
  }
  out += '"';
  return out;
}

}  // namespace

struct SqliteDeliveryStore::Statements {
  explicit Statements(SQLite::Database& db)
      : select_due(db, std::string(kSelectDue)),
        lease_delivery(db, std::string(kLeaseDelivery)),
        next_due(db, std::string(kNextDue)),
        insert_attempt(db, std::string(kInsertAttempt)),
        update_delivery(db, std::string(kUpdateDelivery)),
        refresh_event_status(db, std::string(kRefreshEventStatus)),
        release_next_held(db, std::string(kReleaseNextHeld)) {}

  // Makes every statement ready for the next call, also after a failed one.
  void ResetAll() {
    ResetStatements({&select_due, &lease_delivery, &next_due, &insert_attempt, &update_delivery,
                     &refresh_event_status, &release_next_held});
  }

  SQLite::Statement select_due;
  SQLite::Statement lease_delivery;
  SQLite::Statement next_due;
  SQLite::Statement insert_attempt;
  SQLite::Statement update_delivery;
  SQLite::Statement refresh_event_status;  // also prepared by SqliteOperatorStore
  SQLite::Statement release_next_held;     // also prepared by SqliteOperatorStore
};

StatusOr<std::unique_ptr<SqliteDeliveryStore>> SqliteDeliveryStore::Create(
    SqliteWriteConnection& connection, const Clock& clock) {
  try {
    return std::unique_ptr<SqliteDeliveryStore>(new SqliteDeliveryStore(connection, clock));
  } catch (const SQLite::Exception& e) {
    return StatusFromSqlite(e, "prepare delivery store statements");
  }
}

SqliteDeliveryStore::SqliteDeliveryStore(SqliteWriteConnection& connection, const Clock& clock)
    : db_(connection.database()), clock_(clock), stmts_(std::make_unique<Statements>(db_)) {}

SqliteDeliveryStore::~SqliteDeliveryStore() = default;

StatusOr<std::vector<DueDelivery>> SqliteDeliveryStore::ClaimDue(const std::string& destination,
                                                                 int limit, int64_t now,
                                                                 int64_t lease_until,
                                                                 std::span<const int64_t> held) {
  std::vector<DueDelivery> due;
  try {
    SQLite::Transaction txn(db_, SQLite::TransactionBehavior::IMMEDIATE);
    SQLite::Statement& select = stmts_->select_due;
    select.reset();
    select.bindNoCopy(1, destination);
    select.bind(2, static_cast<int64_t>(now));
    // Held deliveries are skipped here rather than in SQL: they are due only after a wall-clock
    // step or a lost completion, so asking for that many more rows costs nothing otherwise.
    select.bind(3, limit + static_cast<int>(held.size()));
    while (static_cast<int>(due.size()) < limit && select.executeStep()) {
      int64_t id = select.getColumn(0).getInt64();
      if (std::find(held.begin(), held.end(), id) != held.end()) continue;
      DueDelivery d;
      d.delivery_id = id;
      d.attempt = select.getColumn(1).getInt() + 1;
      d.destination = destination;
      d.event_id = select.getColumn(2).getString();
      d.source = select.getColumn(3).getString();
      d.event_type = select.getColumn(4).getString();
      SQLite::Column body = select.getColumn(5);
      d.body.assign(static_cast<const char*>(body.getBlob()), body.getBytes());
      d.received_at = select.getColumn(6).getInt64();
      due.push_back(std::move(d));
    }
    select.reset();
    SQLite::Statement& lease = stmts_->lease_delivery;
    for (DueDelivery& d : due) {
      lease.reset();
      lease.bind(1, static_cast<int64_t>(d.delivery_id));
      lease.bind(2, static_cast<int64_t>(lease_until));
      lease.bind(3, static_cast<int64_t>(now));
      if (!lease.executeStep()) throw SQLite::Exception("lease: no token returned");
      d.lease_token = lease.getColumn(0).getInt64();
      lease.reset();
    }
    txn.commit();
  } catch (const SQLite::Exception& e) {
    stmts_->ResetAll();
    return StatusFromSqlite(e, "claim deliveries");
  }
  return due;
}

StatusOr<std::optional<int64_t>> SqliteDeliveryStore::NextDue(const std::string& destination) {
  try {
    SQLite::Statement& q = stmts_->next_due;
    q.reset();
    q.bindNoCopy(1, destination);
    std::optional<int64_t> next;
    if (q.executeStep()) next = q.getColumn(0).getInt64();
    q.reset();
    return next;
  } catch (const SQLite::Exception& e) {
    stmts_->ResetAll();
    return StatusFromSqlite(e, "next due delivery");
  }
}

StatusOr<RecordedAttempts> SqliteDeliveryStore::RecordAttempts(
    std::span<const AttemptRecord> attempts) {
  static const std::string kStatusNames[] = {"succeeded", "pending", "failed"};
  RecordedAttempts result;
  try {
    SQLite::Transaction txn(db_, SQLite::TransactionBehavior::IMMEDIATE);
    int64_t now = clock_.NowMicros();
    for (const AttemptRecord& a : attempts) {
      bool success = a.next == AttemptRecord::Next::kSucceeded;
      // The fenced update first: a stale outcome changes nothing and leaves no attempt row.
      const std::string& status = kStatusNames[static_cast<int>(a.next)];
      std::string last_error =
          success ? std::string()
                  : (a.error.empty() ? "HTTP " + std::to_string(a.http_status) : a.error);
      SQLite::Statement& update = stmts_->update_delivery;
      update.reset();
      update.bind(1, static_cast<int64_t>(a.delivery_id));
      update.bindNoCopy(2, status);
      update.bind(
          3, static_cast<int64_t>(a.next == AttemptRecord::Next::kRetry ? a.next_attempt_at : now));
      if (success) {
        update.bind(4);
      } else {
        update.bindNoCopy(4, last_error);
      }
      update.bind(5, static_cast<int64_t>(now));
      update.bind(6, static_cast<int64_t>(a.lease_token));
      if (update.exec() == 0) {
        result.stale.push_back(a.delivery_id);
        continue;
      }

      SQLite::Statement& insert = stmts_->insert_attempt;
      insert.reset();
      insert.bind(1, static_cast<int64_t>(a.delivery_id));
      insert.bind(2, a.number);
      insert.bind(3, static_cast<int64_t>(a.started_at));
      insert.bind(4, static_cast<int64_t>(a.duration_us));
      if (a.http_status > 0) {
        insert.bind(5, a.http_status);
      } else {
        insert.bind(5);
      }
      if (!a.error.empty()) {
        insert.bindNoCopy(6, a.error);
      } else {
        insert.bind(6);
      }
      insert.bindNoCopy(7, a.response_excerpt.data(), static_cast<int>(a.response_excerpt.size()));
      insert.bind(8, success ? "success" : "failure");
      insert.exec();

      SQLite::Statement& refresh = stmts_->refresh_event_status;
      refresh.reset();
      refresh.bind(1, static_cast<int64_t>(a.delivery_id));
      refresh.exec();
      if (success) {
        // The head of an ordered key is done: the next delivery of its key may go (in the same
        // transaction, so that a crash never leaves the key with no head). A failed head
        // releases nothing: its key waits for an operator's reprocess or skip.
        SQLite::Statement& release = stmts_->release_next_held;
        release.reset();
        release.bind(1, static_cast<int64_t>(a.delivery_id));
        release.bind(2, static_cast<int64_t>(now));
        release.exec();
      }
      ++result.applied;
    }
    txn.commit();
  } catch (const SQLite::Exception& e) {
    stmts_->ResetAll();
    return StatusFromSqlite(e, "record attempts");
  }
  return result;
}

StatusOr<PendingSummary> SqliteDeliveryStore::Pending() {
  try {
    PendingSummary summary;
    SQLite::Statement count(db_, std::string(kCountPending));
    while (count.executeStep()) {
      int64_t n = count.getColumn(1).getInt64();
      summary.by_destination[count.getColumn(0).getString()] = n;
      summary.count += n;
    }
    SQLite::Statement oldest(db_, std::string(kOldestPending));
    if (oldest.executeStep()) summary.oldest_pending_since = oldest.getColumn(0).getInt64();
    return summary;
  } catch (const SQLite::Exception& e) {
    return StatusFromSqlite(e, "pending deliveries");
  }
}

StatusOr<ReleasedHolds> SqliteDeliveryStore::ReleaseUnorderedHolds(
    std::span<const std::string> ordered_destinations) {
  std::string names = "[";
  for (const std::string& name : ordered_destinations) {
    if (names.size() > 1) names += ',';
    names += JsonString(name);
  }
  names += ']';
  try {
    // Counted first, in the release's transaction (the writer's: nothing changes in between).
    ReleasedHolds released;
    SQLite::Transaction txn(db_, SQLite::TransactionBehavior::IMMEDIATE);
    SQLite::Statement count(db_, std::string(kCountUnorderedHolds));
    count.bind(1, names);
    while (count.executeStep()) {
      released.by_destination[count.getColumn(0).getString()] = count.getColumn(1).getInt();
    }
    SQLite::Statement release(db_, std::string(kReleaseUnorderedHolds));
    release.bind(1, names);
    release.exec();
    txn.commit();
    return released;
  } catch (const SQLite::Exception& e) {
    return StatusFromSqlite(e, "release the holds of unordered destinations");
  }
}

StatusOr<int> SqliteDeliveryStore::ReleaseAllLeases() {
  try {
    return db_.exec(std::string(kReleaseLeases));
  } catch (const SQLite::Exception& e) {
    return StatusFromSqlite(e, "release leases");
  }
}

}  // namespace hookvault::storage
