#include "storage/postgres/operator_store.h"

#include <algorithm>
#include <optional>
#include <string_view>
#include <utility>

#include "storage/audit_chain.h"
#include "storage/postgres/ops_sql.h"
#include "storage/postgres/write_sql.h"

namespace hookvault::storage {

namespace {

using pg::Params;
using namespace pg::ops;  // NOLINT: the statements of this file

// Statement names on the shared write connection; "ops_" keeps them apart from the other
// stores' on it.
constexpr std::string_view kPrepared[][2] = {
    {"ops_reprocess_start", kReprocessStartCursor},
    {"ops_requeue", kRequeueDeliveries},
    {"ops_rehead", kReheadKeys},
    {"ops_lock_events", kLockEvents},
    {"ops_refresh_events", kRefreshEventsStatus},
    {"ops_audit_lock", kAuditAppendLockSql},
    {"ops_last_audit", kLastAuditRow},
    {"ops_insert_audit", kInsertAudit},
    {"ops_ack_consumer", kAckConsumer},
    {"ops_lock_order_keys", pgsql::kLockOrderKeysOfDeliveries},
    {"ops_release_next_held", pgsql::kReleaseNextHeld},
    {"ops_skip", kSkipDelivery},
    {"ops_delivery_status", kDeliveryStatus},
};

std::string WalkName(unsigned bits) { return "ops_walk_" + std::to_string(bits); }

unsigned WalkBitsOf(const DeliveryFilter& f) {
  return (f.destination ? kWalkDestination : 0u) | (f.event_id ? kWalkEventId : 0u) |
         (f.created_after ? kWalkAfter : 0u) | (f.created_before ? kWalkBefore : 0u);
}

}  // namespace

StatusOr<std::unique_ptr<PostgresOperatorStore>> PostgresOperatorStore::Create(
    pg::Connection& conn) {
  for (const auto& [name, sql] : kPrepared) {
    if (auto s = conn.Prepare(std::string(name), sql); !s.ok()) return s;
  }
  return std::unique_ptr<PostgresOperatorStore>(new PostgresOperatorStore(conn));
}

PostgresOperatorStore::PostgresOperatorStore(pg::Connection& conn) : conn_(conn) {}

PostgresOperatorStore::~PostgresOperatorStore() = default;

StatusOr<size_t> PostgresOperatorStore::Walk(const DeliveryFilter& filter, int64_t cursor,
                                             size_t limit, std::vector<Walked>& out) {
  const unsigned bits = WalkBitsOf(filter);
  const std::string name = WalkName(bits);
  if (auto s = conn_.Prepare(name, ReprocessWalkSql(bits)); !s.ok()) return s;
  Params params;
  params.Add(cursor).Add(static_cast<int64_t>(limit)).Add(filter.status.value_or(""));
  // In the order ReprocessWalkSql numbers them.
  if (filter.destination) params.Add(*filter.destination);
  if (filter.event_id) params.Add(*filter.event_id);
  if (filter.created_after) params.Add(*filter.created_after);
  if (filter.created_before) params.Add(*filter.created_before);
  auto rows = conn_.ExecPrepared(name, params);
  if (!rows.ok()) return rows.status();
  for (int i = 0; i < rows->rows(); ++i) {
    out.push_back({rows->GetInt64(i, 0), rows->GetInt64(i, 2) != 0});
  }
  return static_cast<size_t>(rows->rows());
}

StatusOr<std::optional<AuditRow>> PostgresOperatorStore::LastAuditRow() {
  auto last = conn_.ExecPrepared("ops_last_audit", Params());
  if (!last.ok()) return last.status();
  if (last->rows() == 0) return std::optional<AuditRow>();
  AuditRow row;
  row.id = last->GetInt64(0, 0);
  row.at = last->GetInt64(0, 1);
  row.actor = last->GetString(0, 2);
  row.role = last->GetString(0, 3);
  row.action = last->GetString(0, 4);
  row.target_json = last->GetString(0, 5);
  row.matched = last->GetInt64(0, 6);
  row.requeued = last->GetInt64(0, 7);
  row.reason = last->GetString(0, 8);
  row.prev_hash = last->GetString(0, 9);
  row.hash = last->GetString(0, 10);
  return std::optional<AuditRow>(std::move(row));
}

Status PostgresOperatorStore::InsertAudit(AuditRow& row) {
  row.hash = AuditHash(row.prev_hash, row, audit_key_);
  Params params;
  params.Add(row.id)
      .Add(row.at)
      .Add(row.actor)
      .Add(row.role)
      .Add(row.action)
      .Add(row.target_json)
      .Add(row.matched)
      .Add(row.requeued)
      .Add(row.reason)
      .Add(row.prev_hash)
      .Add(row.hash);
  auto inserted = conn_.ExecPrepared("ops_insert_audit", params);
  return inserted.ok() ? Status::Ok() : inserted.status();
}

StatusOr<int64_t> PostgresOperatorStore::AppendAudit(const AuditActor& who,
                                                     const std::string& action,
                                                     const std::string& target_json,
                                                     int64_t matched, int64_t requeued,
                                                     int64_t now) {
  // The lock first, in a statement of its own: the read of the last row after it then sees
  // the row of the node that held it before.
  auto locked = conn_.ExecPrepared("ops_audit_lock", Params().Add(kAuditAppendLock));
  if (!locked.ok()) return locked.status();
  auto last = LastAuditRow();
  if (!last.ok()) return last.status();
  AuditRow row;
  if (*last) {
    if (auto s = CheckAuditKeyFor(**last, audit_key_); !s.ok()) return s;
    row.id = (*last)->id + 1;
    row.prev_hash = (*last)->hash;
  } else {
    row.id = 1;
  }
  row.at = now;
  row.actor = who.actor;
  row.role = who.role;
  row.action = action;
  row.target_json = target_json;
  row.matched = matched;
  row.requeued = requeued;
  row.reason = who.reason;
  if (auto s = InsertAudit(row); !s.ok()) return s;
  return row.id;
}

StatusOr<ReprocessProgress> PostgresOperatorStore::ReprocessChunk(const ReprocessSpec& spec,
                                                                  const AuditActor& who,
                                                                  const ReprocessProgress& progress,
                                                                  size_t max_rows, int64_t now) {
  if (progress.done) return progress;
  auto filters = ReprocessFilters(spec);
  if (!filters.ok()) return filters.status();
  const size_t limit = std::max<size_t>(max_rows, 1);
  if (auto s = EnsureConnected(conn_); !s.ok()) return s;

  ReprocessProgress next = progress;
  Status done = pg::InTransaction(conn_, [&]() -> Status {
    if (!next.cursor) {
      auto start = conn_.ExecPrepared("ops_reprocess_start", Params());
      if (!start.ok()) return start.status();
      next.cursor = start->rows() > 0 ? start->GetInt64(0, 0) : 1;
    }
    // Each filter's newest `limit` deliveries below the cursor; the newest `limit` of them all
    // are this chunk. One walk over ids for all filters is what keeps a delivery from being
    // looked at twice (as in the SQLite wing).
    std::vector<Walked> walked;
    bool more = false;
    for (const DeliveryFilter& filter : *filters) {
      auto n = Walk(filter, *next.cursor, limit, walked);
      if (!n.ok()) return n.status();
      more |= *n == limit;  // it may have more below
    }
    std::sort(walked.begin(), walked.end(),
              [](const Walked& a, const Walked& b) { return a.id > b.id; });
    if (walked.size() > limit) {
      walked.resize(limit);
      more = true;
    }
    if (more) next.cursor = walked.back().id;

    std::vector<int64_t> matching;
    for (const Walked& w : walked) {
      if (w.matches) matching.push_back(w.id);
    }
    next.matched += static_cast<int64_t>(matching.size());
    if (!spec.dry_run && !matching.empty()) {
      // Their ordering keys' locks before the rows' (write_sql.h, "Ordering").
      std::string ids = Int64ArrayLiteral(matching);
      auto keys_locked = conn_.ExecPrepared("ops_lock_order_keys", Params().Add(ids));
      if (!keys_locked.ok()) return keys_locked.status();
      auto requeued = conn_.ExecPrepared("ops_requeue", Params().Add(ids).Add(now));
      if (!requeued.ok()) return requeued.status();
      next.requeued += requeued->rows();
      auto reheaded = conn_.ExecPrepared("ops_rehead", Params().Add(ids).Add(now));
      if (!reheaded.ok()) return reheaded.status();
      std::vector<int64_t> events;
      for (int i = 0; i < requeued->rows(); ++i) events.push_back(requeued->GetInt64(i, 0));
      std::sort(events.begin(), events.end());
      events.erase(std::unique(events.begin(), events.end()), events.end());
      if (!events.empty()) {
        std::string seqs = Int64ArrayLiteral(events);
        auto locked = conn_.ExecPrepared("ops_lock_events", Params().Add(seqs));
        if (!locked.ok()) return locked.status();
        auto refreshed = conn_.ExecPrepared("ops_refresh_events", Params().Add(seqs));
        if (!refreshed.ok()) return refreshed.status();
      }
    }

    next.done = !more;
    if (next.done) {
      auto id = AppendAudit(who, spec.action, spec.target_json, next.matched, next.requeued, now);
      if (!id.ok()) return id.status();
      next.audit_id = *id;
    } else if (!progress.cursor && !spec.dry_run) {
      // The first of several chunks: its changes are covered before they commit, in case the
      // run never reaches its last chunk (a crash, a stop, a lost database).
      auto id = AppendAudit(who, spec.action + "_started", spec.target_json, 0, 0, now);
      if (!id.ok()) return id.status();
      next.started_audit_id = *id;
    }
    return Status::Ok();
  });
  if (!done.ok()) return done;
  return next;
}

StatusOr<SkipResult> PostgresOperatorStore::Skip(int64_t delivery_id, const AuditActor& who,
                                                 const std::string& target_json, int64_t now) {
  if (auto s = EnsureConnected(conn_); !s.ok()) return s;
  SkipResult result;
  Status done = pg::InTransaction(conn_, [&]() -> Status {
    result = SkipResult();
    const std::string id = Int64ArrayLiteral({delivery_id});
    // The key's lock first, before any row lock (write_sql.h, "Ordering").
    auto keys_locked = conn_.ExecPrepared("ops_lock_order_keys", Params().Add(id));
    if (!keys_locked.ok()) return keys_locked.status();
    auto skipped = conn_.ExecPrepared("ops_skip", Params().Add(delivery_id).Add(now));
    if (!skipped.ok()) return skipped.status();
    if (skipped->rows() == 0) {
      auto status = conn_.ExecPrepared("ops_delivery_status", Params().Add(delivery_id));
      if (!status.ok()) return status.status();
      if (status->rows() > 0) {
        result.outcome = SkipResult::Outcome::kNotFailed;
        result.status = status->GetString(0, 0);
      }
      return Status::Ok();  // nothing written: the commit is empty
    }
    result.status = "failed";
    const std::string seqs = Int64ArrayLiteral({skipped->GetInt64(0, 0)});
    auto released = conn_.ExecPrepared("ops_release_next_held", Params().Add(delivery_id).Add(now));
    if (!released.ok()) return released.status();
    auto locked = conn_.ExecPrepared("ops_lock_events", Params().Add(seqs));
    if (!locked.ok()) return locked.status();
    auto refreshed = conn_.ExecPrepared("ops_refresh_events", Params().Add(seqs));
    if (!refreshed.ok()) return refreshed.status();
    auto audited = AppendAudit(who, "delivery.skip", target_json, 1, 0, now);
    if (!audited.ok()) return audited.status();
    result.audit_id = *audited;
    result.outcome = SkipResult::Outcome::kSkipped;
    return Status::Ok();
  });
  if (!done.ok()) return done;
  return result;
}

StatusOr<int64_t> PostgresOperatorStore::AuditDryRun(const ReprocessSpec& spec,
                                                     const AuditActor& who, int64_t matched,
                                                     int64_t now) {
  return AppendAuditAlone(who, spec.action, spec.target_json, matched, now);
}

StatusOr<int64_t> PostgresOperatorStore::AuditAction(const AuditActor& who,
                                                     const std::string& action,
                                                     const std::string& target_json, int64_t now) {
  return AppendAuditAlone(who, action, target_json, 0, now);
}

StatusOr<int64_t> PostgresOperatorStore::AppendAuditAlone(const AuditActor& who,
                                                          const std::string& action,
                                                          const std::string& target_json,
                                                          int64_t matched, int64_t now) {
  if (auto s = EnsureConnected(conn_); !s.ok()) return s;
  int64_t id = 0;
  Status done = pg::InTransaction(conn_, [&]() -> Status {
    auto appended = AppendAudit(who, action, target_json, matched, 0, now);
    if (!appended.ok()) return appended.status();
    id = *appended;
    return Status::Ok();
  });
  if (!done.ok()) return done;
  return id;
}

StatusOr<int64_t> PostgresOperatorStore::AckConsumer(const std::string& name, int64_t seq,
                                                     int64_t now) {
  if (auto s = EnsureConnected(conn_); !s.ok()) return s;
  // One statement: atomic on its own, no transaction around it.
  auto acked = conn_.ExecPrepared("ops_ack_consumer", Params().Add(name).Add(seq).Add(now));
  if (!acked.ok()) return acked.status();
  return acked->rows() > 0 ? acked->GetInt64(0, 0) : seq;
}

StatusOr<int64_t> PostgresOperatorStore::StartAuditChain(std::string key, int64_t now) {
  audit_key_ = std::move(key);
  if (auto s = EnsureConnected(conn_); !s.ok()) return s;
  int64_t added_id = 0;
  // Under the append lock, so that nodes starting with the key at the same moment add one
  // "audit_key_added" row between them: the second finds the first's keyed row.
  Status done = pg::InTransaction(conn_, [&]() -> Status {
    auto locked = conn_.ExecPrepared("ops_audit_lock", Params().Add(kAuditAppendLock));
    if (!locked.ok()) return locked.status();
    auto last = LastAuditRow();
    if (!last.ok()) return last.status();
    if (!*last) return Status::Ok();  // empty: the first row is keyed if need be
    if (auto s = CheckAuditKeyFor(**last, audit_key_); !s.ok()) return s;
    if (audit_key_.empty() || IsKeyedAuditHash((*last)->hash)) return Status::Ok();
    AuditRow added = AuditKeyAddedRow(**last, now);
    if (auto s = InsertAudit(added); !s.ok()) return s;
    added_id = added.id;
    return Status::Ok();
  });
  if (!done.ok()) return done;
  return added_id;
}

}  // namespace hookvault::storage
