#include "storage/sqlite/store.h"

#include <SQLiteCpp/SQLiteCpp.h>
#include <sqlite3.h>

#include <algorithm>
#include <string_view>
#include <unordered_map>

#include "storage/audit_chain.h"
#include "storage/sqlite/query_sql.h"
#include "storage/sqlite/query_store.h"
#include "storage/sqlite/sql.h"

namespace hookvault::storage {

using namespace sql;  // NOLINT: the statements of this file

struct SqliteStore::Statements {
  explicit Statements(SQLite::Database& db)
      : select_key(db, std::string(kSelectKey)),
        insert_event(db, std::string(kInsertEvent)),
        insert_key(db, std::string(kInsertKey)),
        insert_delivery(db, std::string(kInsertDelivery)),
        insert_request_log(db, std::string(kInsertRequestLog)),
        upsert_probe(db, std::string(kUpsertProbe)),
        delete_probe(db, std::string(kDeleteProbe)),
        select_due(db, std::string(kSelectDue)),
        lease_delivery(db, std::string(kLeaseDelivery)),
        next_due(db, std::string(kNextDue)),
        insert_attempt(db, std::string(kInsertAttempt)),
        update_delivery(db, std::string(kUpdateDelivery)),
        refresh_event_status(db, std::string(kRefreshEventStatus)),
        requeue_delivery(db, std::string(kRequeueDelivery)),
        last_audit(db, std::string(kLastAudit)),
        insert_audit(db, std::string(kInsertAudit)),
        ack_consumer(db, std::string(kAckConsumer)),
        db_(db) {}

  // Returns the statement for a composed query (Reprocess's selection), prepared on first use.
  SQLite::Statement& Composed(const std::string& text) {
    auto it = composed.find(text);
    if (it == composed.end()) {
      it = composed.emplace(text, std::make_unique<SQLite::Statement>(db_, text)).first;
    }
    return *it->second;
  }

  // Makes every statement ready for the next batch, also after a failed one.
  void ResetAll() {
    for (SQLite::Statement* s :
         {&select_key, &insert_event, &insert_key, &insert_delivery, &insert_request_log,
          &upsert_probe, &delete_probe, &select_due, &lease_delivery, &next_due, &insert_attempt,
          &update_delivery, &refresh_event_status, &requeue_delivery, &last_audit,
          &insert_audit, &ack_consumer}) {
      s->tryReset();
      s->clearBindings();
    }
    for (auto& [text, s] : composed) {
      s->tryReset();
      s->clearBindings();
    }
  }

  SQLite::Statement select_key;
  SQLite::Statement insert_event;
  SQLite::Statement insert_key;
  SQLite::Statement insert_delivery;
  SQLite::Statement insert_request_log;
  SQLite::Statement upsert_probe;
  SQLite::Statement delete_probe;
  SQLite::Statement select_due;
  SQLite::Statement lease_delivery;
  SQLite::Statement next_due;
  SQLite::Statement insert_attempt;
  SQLite::Statement update_delivery;
  SQLite::Statement refresh_event_status;
  SQLite::Statement requeue_delivery;
  SQLite::Statement last_audit;
  SQLite::Statement insert_audit;
  SQLite::Statement ack_consumer;
  std::unordered_map<std::string, std::unique_ptr<SQLite::Statement>> composed;

 private:
  SQLite::Database& db_;
};

StatusOr<std::unique_ptr<SqliteStore>> SqliteStore::Open(const DatabaseOptions& options,
                                                         const Clock& clock) {
  auto db = OpenDatabase(options);
  if (!db.ok()) return db.status();
  try {
    return std::unique_ptr<SqliteStore>(new SqliteStore(std::move(db).value(), clock));
  } catch (const SQLite::Exception& e) {
    return StatusFromSqlite(e, "prepare event log statements");
  }
}

SqliteStore::SqliteStore(std::unique_ptr<SQLite::Database> db, const Clock& clock)
    : db_(std::move(db)), clock_(clock), ids_(clock), stmts_(std::make_unique<Statements>(*db_)) {}

SqliteStore::~SqliteStore() = default;

AppendResult SqliteStore::AppendEvent(const NewEvent& event, int64_t now) {
  SQLite::Statement& select_key = stmts_->select_key;
  select_key.reset();
  select_key.bindNoCopy(1, event.source);
  select_key.bindNoCopy(2, event.idempotency_key);
  if (select_key.executeStep()) {
    return AppendResult{select_key.getColumn(0).getString(), select_key.getColumn(1).getInt64(),
                        /*duplicate=*/true};
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
  result.seq = db_->getLastInsertRowid();

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
    delivery.exec();
  }
  return result;
}

void SqliteStore::AppendLog(const RequestLogEntry& log, const std::optional<std::string>& event_id,
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

StatusOr<std::vector<std::optional<AppendResult>>> SqliteStore::Append(
    std::span<const IngestRecord> records) {
  std::vector<std::optional<AppendResult>> results;
  results.reserve(records.size());
  try {
    SQLite::Transaction txn(*db_, SQLite::TransactionBehavior::IMMEDIATE);
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
  }
  return results;
}

Status SqliteStore::Probe() {
  try {
    SQLite::Transaction txn(*db_, SQLite::TransactionBehavior::IMMEDIATE);
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

void SqliteStore::set_wal_listener(std::function<void(int64_t)> listener) {
  wal_listener_ = std::move(listener);
  // Called by SQLite after each commit, before the COMMIT statement returns.
  auto hook = [](void* self, sqlite3*, const char*, int frames) -> int {
    auto& listener = static_cast<SqliteStore*>(self)->wal_listener_;
    if (listener) listener(frames);
    return SQLITE_OK;
  };
  sqlite3_wal_hook(db_->getHandle(), hook, this);
}

Status SqliteStore::CheckpointWal() {
  int rc = sqlite3_wal_checkpoint_v2(db_->getHandle(), nullptr, SQLITE_CHECKPOINT_PASSIVE,
                                     nullptr, nullptr);
  if (rc == SQLITE_OK) return Status::Ok();
  return StatusFromSqliteCode(rc, std::string("checkpoint: ") + sqlite3_errstr(rc));
}

StatusOr<std::vector<DueDelivery>> SqliteStore::ClaimDue(const std::string& destination, int limit,
                                                         int64_t now, int64_t lease_until) {
  std::vector<DueDelivery> due;
  try {
    SQLite::Transaction txn(*db_, SQLite::TransactionBehavior::IMMEDIATE);
    SQLite::Statement& select = stmts_->select_due;
    select.reset();
    select.bindNoCopy(1, destination);
    select.bind(2, static_cast<int64_t>(now));
    select.bind(3, limit);
    while (select.executeStep()) {
      DueDelivery d;
      d.delivery_id = select.getColumn(0).getInt64();
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
    SQLite::Statement& lease = stmts_->lease_delivery;
    for (const DueDelivery& d : due) {
      lease.reset();
      lease.bind(1, static_cast<int64_t>(d.delivery_id));
      lease.bind(2, static_cast<int64_t>(lease_until));
      lease.bind(3, static_cast<int64_t>(now));
      lease.exec();
    }
    txn.commit();
  } catch (const SQLite::Exception& e) {
    stmts_->ResetAll();
    return StatusFromSqlite(e, "claim deliveries");
  }
  return due;
}

StatusOr<std::optional<int64_t>> SqliteStore::NextDue(const std::string& destination) {
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

Status SqliteStore::RecordAttempts(std::span<const AttemptRecord> attempts) {
  static const std::string kStatusNames[] = {"succeeded", "pending", "failed"};
  try {
    SQLite::Transaction txn(*db_, SQLite::TransactionBehavior::IMMEDIATE);
    int64_t now = clock_.NowMicros();
    for (const AttemptRecord& a : attempts) {
      bool success = a.next == AttemptRecord::Next::kSucceeded;
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
      update.exec();

      SQLite::Statement& refresh = stmts_->refresh_event_status;
      refresh.reset();
      refresh.bind(1, static_cast<int64_t>(a.delivery_id));
      refresh.exec();
    }
    txn.commit();
  } catch (const SQLite::Exception& e) {
    stmts_->ResetAll();
    return StatusFromSqlite(e, "record attempts");
  }
  return Status::Ok();
}

StatusOr<PendingSummary> SqliteStore::Pending() {
  try {
    PendingSummary summary;
    SQLite::Statement count(*db_, std::string(kCountPending));
    while (count.executeStep()) {
      int64_t n = count.getColumn(1).getInt64();
      summary.by_destination[count.getColumn(0).getString()] = n;
      summary.count += n;
    }
    SQLite::Statement oldest(*db_, std::string(kOldestPending));
    if (oldest.executeStep()) summary.oldest_created_at = oldest.getColumn(0).getInt64();
    return summary;
  } catch (const SQLite::Exception& e) {
    return StatusFromSqlite(e, "pending deliveries");
  }
}

StatusOr<int> SqliteStore::ReleaseAllLeases() {
  try {
    return db_->exec(std::string(kReleaseLeases));
  } catch (const SQLite::Exception& e) {
    return StatusFromSqlite(e, "release leases");
  }
}

void SqliteStore::SelectForReprocess(const DeliveryFilter& filter,
                                     std::vector<std::pair<int64_t, int64_t>>& out) {
  std::string text(kReprocessSelect);
  text += DeliveryKeysSql(internal::DeliveryFilterBits(filter));
  text += kReprocessSelectEnd;
  SQLite::Statement& s = stmts_->Composed(text);
  s.reset();
  s.clearBindings();
  s.bind(":cursor", static_cast<int64_t>(kNoCursorDescending));
  s.bind(":limit", -1);  // no limit
  internal::BindDeliveryFilter(s, filter);
  while (s.executeStep()) out.emplace_back(s.getColumn(0).getInt64(), s.getColumn(1).getInt64());
  s.reset();
}

StatusOr<ReprocessResult> SqliteStore::Reprocess(const ReprocessSpec& spec, const AuditActor& who,
                                                 int64_t now) {
  // Pending deliveries are still being tried and are never selected: an unset status means both
  // final ones, and a "pending" filter selects nothing (the action is still audited).
  std::vector<std::string> statuses;
  if (!spec.filter.status) {
    statuses = {"failed", "succeeded"};
  } else if (*spec.filter.status == "failed" || *spec.filter.status == "succeeded") {
    statuses = {*spec.filter.status};
  } else if (*spec.filter.status != "pending") {
    return Status::InvalidArgument("unknown delivery status: " + *spec.filter.status);
  }
  // The destination list narrows the filter's destination (both must hold).
  std::vector<std::optional<std::string>> destinations;
  if (spec.destinations.empty()) {
    destinations.push_back(spec.filter.destination);
  } else {
    for (const std::string& d : spec.destinations) {
      if (spec.filter.destination && *spec.filter.destination != d) continue;
      if (std::find(destinations.begin(), destinations.end(), d) == destinations.end()) {
        destinations.emplace_back(d);
      }
    }
  }

  ReprocessResult result;
  try {
    SQLite::Transaction txn(*db_, SQLite::TransactionBehavior::IMMEDIATE);
    std::vector<std::pair<int64_t, int64_t>> selected;  // (delivery id, event seq)
    for (const std::string& status : statuses) {
      for (const std::optional<std::string>& destination : destinations) {
        DeliveryFilter filter = spec.filter;
        filter.status = status;
        filter.destination = destination;
        SelectForReprocess(filter, selected);
      }
    }
    result.matched = static_cast<int64_t>(selected.size());

    if (!spec.dry_run) {
      SQLite::Statement& requeue = stmts_->requeue_delivery;
      for (const auto& [id, event_seq] : selected) {
        requeue.reset();
        requeue.bind(1, static_cast<int64_t>(id));
        requeue.bind(2, static_cast<int64_t>(now));
        result.requeued += requeue.exec();
      }
      // One refresh per event, through any one of its deliveries.
      std::sort(selected.begin(), selected.end(),
                [](const auto& a, const auto& b) { return a.second < b.second; });
      SQLite::Statement& refresh = stmts_->refresh_event_status;
      for (size_t i = 0; i < selected.size(); ++i) {
        if (i > 0 && selected[i].second == selected[i - 1].second) continue;
        refresh.reset();
        refresh.bind(1, static_cast<int64_t>(selected[i].first));
        refresh.exec();
      }
    }

    AuditRow row;
    SQLite::Statement& last = stmts_->last_audit;
    last.reset();
    if (last.executeStep()) {
      row.id = last.getColumn(0).getInt64() + 1;
      row.prev_hash = last.getColumn(1).getString();
    } else {
      row.id = 1;
    }
    last.reset();
    row.at = now;
    row.actor = who.actor;
    row.role = who.role;
    row.action = spec.action;
    row.target_json = spec.target_json;
    row.matched = result.matched;
    row.requeued = result.requeued;
    row.reason = who.reason;
    row.hash = AuditHash(row.prev_hash, row);
    SQLite::Statement& insert = stmts_->insert_audit;
    insert.reset();
    insert.bind(1, static_cast<int64_t>(row.id));
    insert.bind(2, static_cast<int64_t>(row.at));
    insert.bindNoCopy(3, row.actor);
    insert.bindNoCopy(4, row.role);
    insert.bindNoCopy(5, row.action);
    insert.bindNoCopy(6, row.target_json);
    insert.bind(7, static_cast<int64_t>(row.matched));
    insert.bind(8, static_cast<int64_t>(row.requeued));
    insert.bindNoCopy(9, row.reason);
    insert.bindNoCopy(10, row.prev_hash);
    insert.bindNoCopy(11, row.hash);
    insert.exec();
    result.audit_id = row.id;
    txn.commit();
  } catch (const SQLite::Exception& e) {
    stmts_->ResetAll();
    return StatusFromSqlite(e, "reprocess");
  }
  return result;
}

StatusOr<int64_t> SqliteStore::AckConsumer(const std::string& name, int64_t seq, int64_t now) {
  try {
    SQLite::Transaction txn(*db_, SQLite::TransactionBehavior::IMMEDIATE);
    SQLite::Statement& ack = stmts_->ack_consumer;
    ack.reset();
    ack.bindNoCopy(1, name);
    ack.bind(2, static_cast<int64_t>(seq));
    ack.bind(3, static_cast<int64_t>(now));
    int64_t cursor = seq;
    if (ack.executeStep()) cursor = ack.getColumn(0).getInt64();
    while (ack.executeStep()) {
    }
    ack.reset();
    txn.commit();
    return cursor;
  } catch (const SQLite::Exception& e) {
    stmts_->ResetAll();
    return StatusFromSqlite(e, "ack consumer");
  }
}

}  // namespace hookvault::storage
