#include "storage/sqlite/event_log.h"

#include <SQLiteCpp/SQLiteCpp.h>

#include <exception>
#include <string>
#include <utility>

#include "storage/sqlite/database.h"
#include "storage/sqlite/sql.h"

namespace hookvault::storage {

using namespace sql;  // NOLINT: the statements of this file

struct SqliteEventLog::Statements {
  explicit Statements(SQLite::Database& db)
      : select_key(db, std::string(kSelectKey)),
        insert_event(db, std::string(kInsertEvent)),
        insert_key(db, std::string(kInsertKey)),
        insert_delivery(db, std::string(kInsertDelivery)),
        insert_request_log(db, std::string(kInsertRequestLog)),
        upsert_probe(db, std::string(kUpsertProbe)),
        delete_probe(db, std::string(kDeleteProbe)) {}

  // Makes every statement ready for the next batch, also after a failed one.
  void ResetAll() {
    ResetStatements({&select_key, &insert_event, &insert_key, &insert_delivery, &insert_request_log,
                     &upsert_probe, &delete_probe});
  }

  SQLite::Statement select_key;
  SQLite::Statement insert_event;
  SQLite::Statement insert_key;
  SQLite::Statement insert_delivery;
  SQLite::Statement insert_request_log;
  SQLite::Statement upsert_probe;
  SQLite::Statement delete_probe;
};

StatusOr<std::unique_ptr<SqliteEventLog>> SqliteEventLog::Create(SqliteWriteConnection& connection,
                                                                 const Clock& clock) {
  try {
    return std::unique_ptr<SqliteEventLog>(new SqliteEventLog(connection, clock));
  } catch (const SQLite::Exception& e) {
    return StatusFromSqlite(e, "prepare event log statements");
  }
}

SqliteEventLog::SqliteEventLog(SqliteWriteConnection& connection, const Clock& clock)
    : db_(connection.database()),
      clock_(clock),
      ids_(clock),
      stmts_(std::make_unique<Statements>(db_)) {}

SqliteEventLog::~SqliteEventLog() = default;

AppendResult SqliteEventLog::AppendEvent(const NewEvent& event, int64_t now) {
  SQLite::Statement& select_key = stmts_->select_key;
  select_key.reset();
  select_key.bindNoCopy(1, event.source);
  select_key.bindNoCopy(2, event.idempotency_key);
  if (select_key.executeStep()) {
    AppendResult original{select_key.getColumn(0).getString(), select_key.getColumn(1).getInt64(),
                          /*duplicate=*/true};
    // Left active, the statement would hold its read open past COMMIT, and the writer's
    // checkpoint between batches would fail with SQLITE_LOCKED.
    select_key.reset();
    return original;
  }

  AppendResult result{ids_.Next(), 0, false};
  SQLite::Statement& insert = stmts_->insert_event;
  insert.reset();
  insert.bindNoCopy(1, result.id);
  insert.bindNoCopy(2, event.source);
  insert.bindNoCopy(3, event.event_type);
  insert.bindNoCopy(4, event.idempotency_key);
  insert.bind(5, static_cast<int64_t>(event.received_at));
  insert.bindNoCopy(6, event.remote_addr);
  insert.bindNoCopy(7, event.headers_json);
  insert.bindNoCopy(8, event.body.data(), static_cast<int>(event.body.size()));
  insert.bind(9, event.destinations.empty() ? "delivered" : "pending");
  insert.exec();
  result.seq = db_.getLastInsertRowid();

  SQLite::Statement& key = stmts_->insert_key;
  key.reset();
  key.bindNoCopy(1, event.source);
  key.bindNoCopy(2, event.idempotency_key);
  key.bindNoCopy(3, result.id);
  key.bind(4, static_cast<int64_t>(result.seq));
  key.bind(5, static_cast<int64_t>(now));
  key.exec();

  SQLite::Statement& delivery = stmts_->insert_delivery;
  for (const std::string& destination : event.destinations) {
    delivery.reset();
    delivery.bind(1, static_cast<int64_t>(result.seq));
    delivery.bindNoCopy(2, destination);
    delivery.bind(3, static_cast<int64_t>(now));
    if (auto key = event.order_keys.find(destination); key != event.order_keys.end()) {
      delivery.bindNoCopy(4, key->second);
    } else {
      delivery.bind(4);  // NULL: not ordered
    }
    delivery.exec();
  }
  return result;
}

void SqliteEventLog::AppendLog(const RequestLogEntry& log,
                               const std::optional<std::string>& event_id,
                               const std::string& reason) {
  SQLite::Statement& s = stmts_->insert_request_log;
  s.reset();
  s.bind(1, static_cast<int64_t>(log.received_at));
  s.bindNoCopy(2, log.source);
  s.bindNoCopy(3, log.remote_addr);
  s.bind(4, log.status);
  s.bindNoCopy(5, reason);
  if (event_id) {
    s.bindNoCopy(6, *event_id);
  } else {
    s.bind(6);  // NULL
  }
  s.bind(7, static_cast<int64_t>(log.body_bytes));
  if (log.body) {
    s.bindNoCopy(8, log.body->data(), static_cast<int>(log.body->size()));
  } else {
    s.bind(8);  // NULL: not kept
  }
  s.exec();
}

StatusOr<std::vector<std::optional<AppendResult>>> SqliteEventLog::Append(
    std::span<const IngestRecord> records) {
  std::vector<std::optional<AppendResult>> results;
  results.reserve(records.size());
  try {
    SQLite::Transaction txn(db_, SQLite::TransactionBehavior::IMMEDIATE);
    int64_t now = clock_.NowMicros();
    for (const IngestRecord& record : records) {
      std::optional<AppendResult> result;
      if (record.event) result = AppendEvent(*record.event, now);
      if (record.log && result) {
        static const std::string kDuplicate = "duplicate";
        AppendLog(*record.log, result->id, result->duplicate ? kDuplicate : record.log->reason);
      } else if (record.log) {
        AppendLog(*record.log, record.log->event_id, record.log->reason);
      }
      results.push_back(std::move(result));
    }
    txn.commit();
  } catch (const SQLite::Exception& e) {
    stmts_->ResetAll();
    return StatusFromSqlite(e, "append batch");
  } catch (const std::exception& e) {
    // Not SQLite's (a record too large to bind, no memory for a string): the transaction was
    // rolled back all the same, and the writer thread must live on.
    stmts_->ResetAll();
    return Status::Internal(std::string("append batch: ") + e.what());
  }
  return results;
}

Status SqliteEventLog::Probe() {
  try {
    SQLite::Transaction txn(db_, SQLite::TransactionBehavior::IMMEDIATE);
    stmts_->upsert_probe.reset();
    stmts_->upsert_probe.bind(1, kProbeBytes);
    stmts_->upsert_probe.exec();
    stmts_->delete_probe.reset();
    stmts_->delete_probe.exec();
    txn.commit();
  } catch (const SQLite::Exception& e) {
    stmts_->ResetAll();
    return StatusFromSqlite(e, "write probe");
  }
  return Status::Ok();
}

}  // namespace hookvault::storage
