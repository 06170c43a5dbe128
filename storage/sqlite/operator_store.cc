#include "storage/sqlite/operator_store.h"

#include <SQLiteCpp/SQLiteCpp.h>

#include <algorithm>
#include <optional>
#include <ranges>
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
        rehead_key(db, std::string(kReheadKey)),
        start_cursor(db, std::string(kReprocessStartCursor)),
        last_audit(db, std::string(kLastAudit)),
        insert_audit(db, std::string(kInsertAudit)),
        ack_consumer(db, std::string(kAckConsumer)),
        delivery_status(db, std::string(kDeliveryStatus)),
        skip_delivery(db, std::string(kSkipDelivery)),
        release_next_held(db, std::string(kReleaseNextHeld)),
        db_(db) {}

  // Returns the statement for a composed query (a reprocess walk), prepared on first use.
  SQLite::Statement& Composed(const std::string& text) {
    auto it = composed.find(text);
    if (it == composed.end()) {
      it = composed.emplace(text, std::make_unique<SQLite::Statement>(db_, text)).first;
    }
    return *it->second;
  }

  // Makes every statement ready for the next call, also after a failed one.
  void ResetAll() {
    ResetStatements({&refresh_event_status, &requeue_delivery, &rehead_key, &start_cursor,
                     &last_audit, &insert_audit, &ack_consumer, &delivery_status, &skip_delivery,
                     &release_next_held});
    for (auto& [text, s] : composed) ResetStatements({s.get()});
  }

  SQLite::Statement refresh_event_status;  // also prepared by SqliteDeliveryStore
  SQLite::Statement requeue_delivery;
  SQLite::Statement rehead_key;
  SQLite::Statement start_cursor;
  SQLite::Statement last_audit;
  SQLite::Statement insert_audit;
  SQLite::Statement ack_consumer;
  SQLite::Statement delivery_status;
  SQLite::Statement skip_delivery;
  SQLite::Statement release_next_held;  // also prepared by SqliteDeliveryStore
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

size_t SqliteOperatorStore::Walk(const DeliveryFilter& filter, int64_t cursor, size_t limit,
                                 std::vector<Walked>& out) {
  SQLite::Statement& s = stmts_->Composed(ReprocessWalkSql(internal::DeliveryFilterBits(filter)));
  s.reset();
  s.clearBindings();
  s.bind(":cursor", static_cast<int64_t>(cursor));
  s.bind(":limit", static_cast<int64_t>(limit));
  internal::BindDeliveryFilter(s, filter);
  size_t n = 0;
  while (s.executeStep()) {
    out.push_back(
        {s.getColumn(0).getInt64(), s.getColumn(1).getInt64(), s.getColumn(2).getInt() != 0});
    ++n;
  }
  s.reset();
  return n;
}

int64_t SqliteOperatorStore::AppendAudit(const AuditActor& who, const std::string& action,
                                         const std::string& target_json, int64_t matched,
                                         int64_t requeued, int64_t now) {
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
  row.action = action;
  row.target_json = target_json;
  row.matched = matched;
  row.requeued = requeued;
  row.reason = who.reason;
  InsertAudit(row);
  return row.id;
}

void SqliteOperatorStore::InsertAudit(AuditRow& row) {
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
  insert.reset();
}

StatusOr<ReprocessProgress> SqliteOperatorStore::ReprocessChunk(const ReprocessSpec& spec,
                                                                const AuditActor& who,
                                                                const ReprocessProgress& progress,
                                                                size_t max_rows, int64_t now) {
  if (progress.done) return progress;
  auto filters = ReprocessFilters(spec);
  if (!filters.ok()) return filters.status();
  const size_t limit = std::max<size_t>(max_rows, 1);

  ReprocessProgress next = progress;
  try {
    SQLite::Transaction txn(db_, SQLite::TransactionBehavior::IMMEDIATE);
    if (!next.cursor) {
      SQLite::Statement& start = stmts_->start_cursor;
      start.reset();
      next.cursor = start.executeStep() ? start.getColumn(0).getInt64() : 1;
      start.reset();
    }
    // Each filter's newest `limit` deliveries below the cursor; the newest `limit` of them all
    // are this chunk (each of those is among its own filter's newest `limit`). One walk over
    // ids for all filters, rather than one walk per filter, is what keeps a delivery from being
    // looked at twice: requeued under "failed", it may be "succeeded" by the time the walk of
    // that status would reach it.
    std::vector<Walked> walked;
    bool more = false;
    for (const DeliveryFilter& filter : *filters) {
      more |= Walk(filter, *next.cursor, limit, walked) == limit;  // it may have more below
    }
    std::sort(walked.begin(), walked.end(),
              [](const Walked& a, const Walked& b) { return a.id > b.id; });
    if (walked.size() > limit) {
      walked.resize(limit);
      more = true;
    }
    if (more) next.cursor = walked.back().id;

    SQLite::Statement& requeue = stmts_->requeue_delivery;
    std::vector<std::pair<int64_t, int64_t>> requeued;  // (event seq, delivery id)
    // Oldest first within the chunk: of several deliveries of one ordering key requeued
    // together, the oldest becomes the key's head and the others are held behind it.
    for (const Walked& w : std::views::reverse(walked)) {
      if (!w.matches) continue;
      ++next.matched;
      if (spec.dry_run) continue;
      requeue.reset();
      requeue.bind(1, static_cast<int64_t>(w.id));
      requeue.bind(2, static_cast<int64_t>(now));
      if (requeue.exec() > 0) {
        ++next.requeued;
        requeued.emplace_back(w.event_seq, w.id);
      }
    }
    requeue.reset();
    // The oldest open delivery of each key touched is its head again (kReheadKey), whichever
    // chunk requeued it.
    SQLite::Statement& rehead = stmts_->rehead_key;
    for (const auto& [seq, id] : requeued) {
      rehead.reset();
      rehead.bind(1, static_cast<int64_t>(id));
      rehead.bind(2, static_cast<int64_t>(now));
      rehead.exec();
    }
    rehead.reset();
    // One refresh per event, through any one of its deliveries.
    std::sort(requeued.begin(), requeued.end());
    SQLite::Statement& refresh = stmts_->refresh_event_status;
    for (size_t i = 0; i < requeued.size(); ++i) {
      if (i > 0 && requeued[i].first == requeued[i - 1].first) continue;
      refresh.reset();
      refresh.bind(1, static_cast<int64_t>(requeued[i].second));
      refresh.exec();
    }
    refresh.reset();

    next.done = !more;
    if (next.done) {
      next.audit_id =
          AppendAudit(who, spec.action, spec.target_json, next.matched, next.requeued, now);
    } else if (!progress.cursor && !spec.dry_run) {
      // The first of several chunks: its changes are covered before they commit, in case the
      // run never reaches its last chunk (a crash, a stop, a full disk).
      next.started_audit_id =
          AppendAudit(who, spec.action + "_started", spec.target_json, 0, 0, now);
    }
    txn.commit();
  } catch (const SQLite::Exception& e) {
    stmts_->ResetAll();
    return StatusFromSqlite(e, "reprocess");
  }
  return next;
}

StatusOr<SkipResult> SqliteOperatorStore::Skip(int64_t delivery_id, const AuditActor& who,
                                               const std::string& target_json, int64_t now) {
  SkipResult result;
  try {
    SQLite::Transaction txn(db_, SQLite::TransactionBehavior::IMMEDIATE);
    SQLite::Statement& status = stmts_->delivery_status;
    status.reset();
    status.bind(1, static_cast<int64_t>(delivery_id));
    if (!status.executeStep()) {
      status.reset();
      return result;  // kNotFound
    }
    result.status = status.getColumn(0).getString();
    status.reset();
    if (result.status != "failed") {
      result.outcome = SkipResult::Outcome::kNotFailed;
      return result;
    }
    SQLite::Statement& skip = stmts_->skip_delivery;
    skip.reset();
    skip.bind(1, static_cast<int64_t>(delivery_id));
    skip.bind(2, static_cast<int64_t>(now));
    skip.exec();
    SQLite::Statement& release = stmts_->release_next_held;
    release.reset();
    release.bind(1, static_cast<int64_t>(delivery_id));
    release.bind(2, static_cast<int64_t>(now));
    release.exec();
    SQLite::Statement& refresh = stmts_->refresh_event_status;
    refresh.reset();
    refresh.bind(1, static_cast<int64_t>(delivery_id));
    refresh.exec();
    result.audit_id = AppendAudit(who, "delivery.skip", target_json, 1, 0, now);
    txn.commit();
    result.outcome = SkipResult::Outcome::kSkipped;
  } catch (const SQLite::Exception& e) {
    stmts_->ResetAll();
    return StatusFromSqlite(e, "skip delivery");
  }
  return result;
}

StatusOr<int64_t> SqliteOperatorStore::AuditDryRun(const ReprocessSpec& spec, const AuditActor& who,
                                                   int64_t matched, int64_t now) {
  try {
    SQLite::Transaction txn(db_, SQLite::TransactionBehavior::IMMEDIATE);
    int64_t id = AppendAudit(who, spec.action, spec.target_json, matched, 0, now);
    txn.commit();
    return id;
  } catch (const SQLite::Exception& e) {
    stmts_->ResetAll();
    return StatusFromSqlite(e, "audit dry run");
  }
}

StatusOr<int64_t> SqliteOperatorStore::AuditAction(const AuditActor& who,
                                                   const std::string& action,
                                                   const std::string& target_json, int64_t now) {
  try {
    SQLite::Transaction txn(db_, SQLite::TransactionBehavior::IMMEDIATE);
    int64_t id = AppendAudit(who, action, target_json, 0, 0, now);
    txn.commit();
    return id;
  } catch (const SQLite::Exception& e) {
    stmts_->ResetAll();
    return StatusFromSqlite(e, "audit an operator action");
  }
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
    InsertAudit(added);
    txn.commit();
    return added.id;
  } catch (const SQLite::Exception& e) {
    stmts_->ResetAll();
    return StatusFromSqlite(e, "start the audit chain");
  }
}

}  // namespace hookvault::storage
