#include "storage/sqlite/retention_store.h"

#include <SQLiteCpp/SQLiteCpp.h>

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "storage/sqlite/database.h"
#include "storage/sqlite/sql.h"

namespace hookvault::storage {

struct SqliteRetentionStore::Statements {
  explicit Statements(SQLite::Database& db)
      : scan_events(db, std::string(sql::kPruneScanEvents)),
        delete_event(db, std::string(sql::kPruneDeleteEvent)),
        scan_attempts(db, std::string(sql::kPruneScanAttempts)),
        delete_attempt(db, std::string(sql::kPruneDeleteAttempt)),
        scan_request_log(db, std::string(sql::kPruneScanRequestLog)),
        delete_request_log(db, std::string(sql::kPruneDeleteRequestLog)),
        scan_keys(db, std::string(sql::kPruneScanKeys)),
        delete_key(db, std::string(sql::kPruneDeleteKey)),
        register_consumer(db, std::string(sql::kRegisterConsumer)),
        consumer_cursor(db, std::string(sql::kConsumerCursor)),
        freelist_count(db, std::string(sql::kFreelistCount)) {}

  void ResetAll() {
    ResetStatements({&scan_events, &delete_event, &scan_attempts, &delete_attempt,
                     &scan_request_log, &delete_request_log, &scan_keys, &delete_key,
                     &register_consumer, &consumer_cursor, &freelist_count});
  }

  SQLite::Statement scan_events;
  SQLite::Statement delete_event;
  SQLite::Statement scan_attempts;
  SQLite::Statement delete_attempt;
  SQLite::Statement scan_request_log;
  SQLite::Statement delete_request_log;
  SQLite::Statement scan_keys;
  SQLite::Statement delete_key;
  SQLite::Statement register_consumer;
  SQLite::Statement consumer_cursor;
  SQLite::Statement freelist_count;
};

SqliteRetentionStore::SqliteRetentionStore(SqliteWriteConnection& connection)
    : db_(connection.database()) {}

SqliteRetentionStore::~SqliteRetentionStore() = default;

namespace {

// Scans rows keyed (time, row id) and deletes the ones whose third column is true. Events are
// scanned by `status` and up to `max_seq`.
PruneBatch PruneByRowId(SQLite::Statement& scan, SQLite::Statement& erase, int64_t before,
                        const PruneCursor& after, int limit, const char* status = nullptr,
                        int64_t max_seq = 0) {
  PruneBatch batch;
  std::vector<int64_t> doomed;
  PruneCursor last;
  scan.reset();
  scan.clearBindings();
  scan.bind(1, before);
  scan.bind(2, after.at);
  scan.bind(3, after.row);
  scan.bind(4, limit);
  if (status != nullptr) {
    scan.bind(5, status);
    scan.bind(6, max_seq);
  }
  while (scan.executeStep()) {
    ++batch.scanned;
    last.row = scan.getColumn(0).getInt64();
    last.at = scan.getColumn(1).getInt64();
    if (scan.getColumn(2).getInt() != 0) doomed.push_back(last.row);
  }
  scan.reset();
  for (int64_t id : doomed) {
    erase.reset();
    erase.bind(1, id);
    batch.deleted += erase.exec();
  }
  if (batch.scanned == limit) batch.next = std::move(last);
  return batch;
}

PruneBatch PruneKeys(SQLite::Statement& scan, SQLite::Statement& erase, int64_t before,
                     const PruneCursor& after, int limit) {
  PruneBatch batch;
  std::vector<std::pair<std::string, std::string>> doomed;
  PruneCursor last;
  scan.reset();
  scan.clearBindings();
  scan.bind(1, before);
  scan.bind(2, after.at);
  scan.bind(3, after.key_source);
  scan.bind(4, after.key_name);
  scan.bind(5, limit);
  while (scan.executeStep()) {
    ++batch.scanned;
    last.key_source = scan.getColumn(0).getString();
    last.key_name = scan.getColumn(1).getString();
    last.at = scan.getColumn(2).getInt64();
    if (scan.getColumn(3).getInt() != 0) doomed.emplace_back(last.key_source, last.key_name);
  }
  scan.reset();
  for (const auto& [source, key] : doomed) {
    erase.reset();
    erase.bindNoCopy(1, source);
    erase.bindNoCopy(2, key);
    batch.deleted += erase.exec();
  }
  if (batch.scanned == limit) batch.next = std::move(last);
  return batch;
}

}  // namespace

StatusOr<PruneBatch> SqliteRetentionStore::Prune(PruneTarget target, int64_t before,
                                                 int64_t max_event_seq, const PruneCursor& after,
                                                 int limit) {
  if (limit < 1) return Status::InvalidArgument("prune limit must be at least 1");
  try {
    if (!stmts_) stmts_ = std::make_unique<Statements>(db_);
    Statements& s = *stmts_;
    SQLite::Transaction txn(db_, SQLite::TransactionBehavior::IMMEDIATE);
    PruneBatch batch;
    switch (target) {
      case PruneTarget::kDeliveredEvents:
        batch = PruneByRowId(s.scan_events, s.delete_event, before, after, limit, "delivered",
                             max_event_seq);
        break;
      case PruneTarget::kFailedEvents:
        batch = PruneByRowId(s.scan_events, s.delete_event, before, after, limit, "failed",
                             max_event_seq);
        break;
      case PruneTarget::kAttempts:
        batch = PruneByRowId(s.scan_attempts, s.delete_attempt, before, after, limit);
        break;
      case PruneTarget::kRequestLog:
        batch = PruneByRowId(s.scan_request_log, s.delete_request_log, before, after, limit);
        break;
      case PruneTarget::kIdempotencyKeys:
        batch = PruneKeys(s.scan_keys, s.delete_key, before, after, limit);
        break;
    }
    txn.commit();
    return batch;
  } catch (const SQLite::Exception& e) {
    if (stmts_) stmts_->ResetAll();
    return StatusFromSqlite(e, "prune");
  }
}

StatusOr<std::vector<ConsumerCursor>> SqliteRetentionStore::ConsumerCursors(
    const std::vector<std::string>& names, int64_t now) {
  try {
    if (!stmts_) stmts_ = std::make_unique<Statements>(db_);
    Statements& s = *stmts_;
    SQLite::Transaction txn(db_, SQLite::TransactionBehavior::IMMEDIATE);
    std::vector<ConsumerCursor> cursors;
    for (const std::string& name : names) {
      s.register_consumer.reset();
      s.register_consumer.bind(1, name);
      s.register_consumer.bind(2, now);
      s.register_consumer.exec();
      s.consumer_cursor.reset();
      s.consumer_cursor.bind(1, name);
      if (s.consumer_cursor.executeStep()) {
        cursors.push_back({name, s.consumer_cursor.getColumn(0).getInt64(),
                           s.consumer_cursor.getColumn(1).getInt64()});
      }
      s.consumer_cursor.reset();
    }
    txn.commit();
    return cursors;
  } catch (const SQLite::Exception& e) {
    if (stmts_) stmts_->ResetAll();
    return StatusFromSqlite(e, "consumer cursors");
  }
}

StatusOr<ReclaimResult> SqliteRetentionStore::ReclaimSpace(int64_t max_bytes) {
  if (max_bytes < 1) return Status::InvalidArgument("max_bytes must be at least 1");
  try {
    if (!stmts_) stmts_ = std::make_unique<Statements>(db_);
    SQLite::Statement& count = stmts_->freelist_count;
    auto free_pages = [&count] {
      count.reset();
      int64_t n = count.executeStep() ? count.getColumn(0).getInt64() : 0;
      count.reset();
      return n;
    };
    int64_t page_size = db_.execAndGet("PRAGMA page_size").getInt64();
    int64_t pages = std::max<int64_t>(1, max_bytes / page_size);
    int64_t before = free_pages();
    // Outside an explicit transaction the pragma commits by itself, durably like any other
    // commit. With auto_vacuum off it does nothing.
    if (before > 0) {
      db_.exec(std::string(sql::kIncrementalVacuumPrefix) + std::to_string(pages) + ")");
    }
    int64_t remaining = free_pages();
    return ReclaimResult{.freed_bytes = (before - remaining) * page_size,
                         .remaining_bytes = remaining * page_size};
  } catch (const SQLite::Exception& e) {
    if (stmts_) stmts_->ResetAll();
    return StatusFromSqlite(e, "incremental vacuum");
  }
}

}  // namespace hookvault::storage
