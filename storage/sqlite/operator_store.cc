#include "storage/sqlite/operator_store.h"

#include <SQLiteCpp/SQLiteCpp.h>

#include <algorithm>
#include <optional>
#include <unordered_map>

#include "storage/audit_chain.h"
#include "storage/sqlite/database.h"
#include "storage/sqlite/delivery_filter.h"
#include "storage/sqlite/query_sql.h"
#include "storage/sqlite/sql.h"

namespace hookvault::storage {

using namespace sql;  // NOLINT: the statements of this file

struct SqliteOperatorStore::Statements {
  explicit Statements(SQLite::Database& db)
      : refresh_event_status(db, std::string(kRefreshEventStatus)),
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

  // Makes every statement ready for the next call, also after a failed one.
  void ResetAll() {
    ResetStatements(
        {&refresh_event_status, &requeue_delivery, &last_audit, &insert_audit, &ack_consumer});
    for (auto& [text, s] : composed) ResetStatements({s.get()});
  }

  SQLite::Statement refresh_event_status;  // also prepared by SqliteDeliveryStore
  SQLite::Statement requeue_delivery;
  SQLite::Statement last_audit;
  SQLite::Statement insert_audit;
  SQLite::Statement ack_consumer;
  std::unordered_map<std::string, std::unique_ptr<SQLite::Statement>> composed;

 private:
  SQLite::Database& db_;
};

StatusOr<std::unique_ptr<SqliteOperatorStore>> SqliteOperatorStore::Create(
    SqliteWriteConnection& connection) {
  try {
    return std::unique_ptr<SqliteOperatorStore>(new SqliteOperatorStore(connection));
  } catch (const SQLite::Exception& e) {
    return StatusFromSqlite(e, "prepare operator store statements");
  }
}

SqliteOperatorStore::SqliteOperatorStore(SqliteWriteConnection& connection)
    : db_(connection.database()), stmts_(std::make_unique<Statements>(db_)) {}

SqliteOperatorStore::~SqliteOperatorStore() = default;

void SqliteOperatorStore::SelectForReprocess(const DeliveryFilter& filter,
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

StatusOr<ReprocessResult> SqliteOperatorStore::Reprocess(const ReprocessSpec& spec,
                                                         const AuditActor& who, int64_t now) {
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
    SQLite::Transaction txn(db_, SQLite::TransactionBehavior::IMMEDIATE);
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
    row.hash = AuditHash(row.prev_hash, row, audit_key_);
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

StatusOr<int64_t> SqliteOperatorStore::AckConsumer(const std::string& name, int64_t seq,
                                                   int64_t now) {
  try {
    SQLite::Transaction txn(db_, SQLite::TransactionBehavior::IMMEDIATE);
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

// The chain's last row, whole (StartAuditChain checks its hash).
constexpr std::string_view kLastAuditRow = R"sql(
SELECT id, at, actor, role, action, target, matched, requeued, reason, prev_hash, hash
FROM audit_log ORDER BY id DESC LIMIT 1
)sql";

StatusOr<int64_t> SqliteOperatorStore::StartAuditChain(std::string key, int64_t now) {
  audit_key_ = std::move(key);
  try {
    SQLite::Transaction txn(db_, SQLite::TransactionBehavior::IMMEDIATE);
    SQLite::Statement last(db_, std::string(kLastAuditRow));
    if (!last.executeStep()) return 0;  // empty: the first row is keyed if need be
    AuditRow row;
    row.id = last.getColumn(0).getInt64();
    row.at = last.getColumn(1).getInt64();
    row.actor = last.getColumn(2).getString();
    row.role = last.getColumn(3).getString();
    row.action = last.getColumn(4).getString();
    row.target_json = last.getColumn(5).getString();
    row.matched = last.getColumn(6).getInt64();
    row.requeued = last.getColumn(7).getInt64();
    row.reason = last.getColumn(8).getString();
    row.prev_hash = last.getColumn(9).getString();
    row.hash = last.getColumn(10).getString();
    if (auto s = CheckAuditKeyFor(row, audit_key_); !s.ok()) return s;
    if (audit_key_.empty() || IsKeyedAuditHash(row.hash)) return 0;
    AuditRow added = AuditKeyAddedRow(row, now);
    added.hash = AuditHash(added.prev_hash, added, audit_key_);
    SQLite::Statement insert(db_, std::string(kInsertAudit));
    insert.bind(1, static_cast<int64_t>(added.id));
    insert.bind(2, static_cast<int64_t>(added.at));
    insert.bind(3, added.actor);
    insert.bind(4, added.role);
    insert.bind(5, added.action);
    insert.bind(6, added.target_json);
    insert.bind(7, static_cast<int64_t>(added.matched));
    insert.bind(8, static_cast<int64_t>(added.requeued));
    insert.bind(9, added.reason);
    insert.bind(10, added.prev_hash);
    insert.bind(11, added.hash);
    insert.exec();
    txn.commit();
    return added.id;
  } catch (const SQLite::Exception& e) {
    return StatusFromSqlite(e, "start the audit chain");
  }
}

}  // namespace hookvault::storage
