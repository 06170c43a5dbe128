#include "storage/postgres/retention_store.h"

#include <string_view>
#include <utility>

#include "storage/postgres/ops_sql.h"
#include "storage/postgres/write_sql.h"

namespace hookvault::storage {

namespace {

using pg::Params;
using namespace pg::ops;  // NOLINT: the statements of this file

// Statement names on the shared write connection; "ret_" keeps them apart from the other
// stores' on it.
constexpr std::string_view kPrepared[][2] = {
    {"ret_scan_events", kPruneScanEvents},
    {"ret_lock_order_keys", pgsql::kLockOrderKeysOfFailedEvents},
    {"ret_lock_deliveries", kPruneLockDeliveries},
    {"ret_lock_event_attempts", kPruneLockEventAttempts},
    {"ret_delete_events", kPruneDeleteEvents},
    {"ret_scan_attempts", kPruneScanAttempts},
    {"ret_delete_attempts", kPruneDeleteAttempts},
    {"ret_scan_request_log", kPruneScanRequestLog},
    {"ret_delete_request_log", kPruneDeleteRequestLog},
    {"ret_scan_keys", kPruneScanKeys},
    {"ret_delete_keys", kPruneDeleteKeys},
    {"ret_register_consumer", kRegisterConsumer},
    {"ret_consumer_cursor", kConsumerCursor},
};

}  // namespace

PostgresRetentionStore::PostgresRetentionStore(pg::Connection& conn) : conn_(conn) {}

PostgresRetentionStore::~PostgresRetentionStore() = default;

Status PostgresRetentionStore::Prepare() {
  if (auto s = EnsureConnected(conn_); !s.ok()) return s;
  if (prepared_) return Status::Ok();
  for (const auto& [name, sql] : kPrepared) {
    if (auto s = conn_.Prepare(std::string(name), sql); !s.ok()) return s;
  }
  prepared_ = true;
  return Status::Ok();
}

StatusOr<PruneBatch> PostgresRetentionStore::PruneEvents(const std::string& status, int64_t before,
                                                         int64_t max_seq, const PruneCursor& after,
                                                         int limit) {
  auto rows = conn_.ExecPrepared("ret_scan_events", Params()
                                                        .Add(before)
                                                        .Add(after.at)
                                                        .Add(after.row)
                                                        .Add(static_cast<int64_t>(limit))
                                                        .Add(status)
                                                        .Add(max_seq));
  if (!rows.ok()) return rows.status();
  PruneBatch batch;
  PruneCursor last;
  std::vector<int64_t> doomed;
  for (int i = 0; i < rows->rows(); ++i) {
    ++batch.scanned;
    last.row = rows->GetInt64(i, 0);
    last.at = rows->GetInt64(i, 1);
    if (rows->GetInt64(i, 2) != 0) doomed.push_back(last.row);
  }
  if (!doomed.empty()) {
    std::string seqs = Int64ArrayLiteral(doomed);
    // The ordering locks first, before any row lock (storage/postgres/write_sql.h, "Ordering").
    auto keys = conn_.ExecPrepared("ret_lock_order_keys", Params().Add(seqs));
    if (!keys.ok()) return keys.status();
    auto locked = conn_.ExecPrepared("ret_lock_deliveries", Params().Add(seqs));
    if (!locked.ok()) return locked.status();
    auto attempts = conn_.ExecPrepared("ret_lock_event_attempts", Params().Add(seqs));
    if (!attempts.ok()) return attempts.status();
    auto deleted = conn_.ExecPrepared("ret_delete_events", Params().Add(seqs).Add(status));
    if (!deleted.ok()) return deleted.status();
    batch.deleted = deleted->affected_rows();
  }
  if (batch.scanned == limit) batch.next = std::move(last);
  return batch;
}

StatusOr<PruneBatch> PostgresRetentionStore::PruneById(const std::string& scan,
                                                       const std::string& erase, int64_t before,
                                                       const PruneCursor& after, int limit) {
  auto rows = conn_.ExecPrepared(
      scan, Params().Add(before).Add(after.at).Add(after.row).Add(static_cast<int64_t>(limit)));
  if (!rows.ok()) return rows.status();
  PruneBatch batch;
  PruneCursor last;
  std::vector<int64_t> doomed;
  for (int i = 0; i < rows->rows(); ++i) {
    ++batch.scanned;
    last.row = rows->GetInt64(i, 0);
    last.at = rows->GetInt64(i, 1);
    if (rows->GetInt64(i, 2) != 0) doomed.push_back(last.row);
  }
  if (!doomed.empty()) {
    auto deleted = conn_.ExecPrepared(erase, Params().Add(Int64ArrayLiteral(doomed)));
    if (!deleted.ok()) return deleted.status();
    batch.deleted = deleted->affected_rows();
  }
  if (batch.scanned == limit) batch.next = std::move(last);
  return batch;
}

StatusOr<PruneBatch> PostgresRetentionStore::PruneKeys(int64_t before, const PruneCursor& after,
                                                       int limit) {
  auto rows = conn_.ExecPrepared("ret_scan_keys", Params()
                                                      .Add(before)
                                                      .Add(after.at)
                                                      .Add(after.key_source)
                                                      .Add(after.key_name)
                                                      .Add(static_cast<int64_t>(limit)));
  if (!rows.ok()) return rows.status();
  PruneBatch batch;
  PruneCursor last;
  std::vector<std::string> sources;
  std::vector<std::string> keys;
  for (int i = 0; i < rows->rows(); ++i) {
    ++batch.scanned;
    last.key_source = rows->GetString(i, 0);
    last.key_name = rows->GetString(i, 1);
    last.at = rows->GetInt64(i, 2);
    if (rows->GetInt64(i, 3) != 0) {
      sources.push_back(last.key_source);
      keys.push_back(last.key_name);
    }
  }
  if (!keys.empty()) {
    auto deleted = conn_.ExecPrepared(
        "ret_delete_keys", Params().Add(TextArrayLiteral(sources)).Add(TextArrayLiteral(keys)));
    if (!deleted.ok()) return deleted.status();
    batch.deleted = deleted->affected_rows();
  }
  if (batch.scanned == limit) batch.next = std::move(last);
  return batch;
}

StatusOr<PruneBatch> PostgresRetentionStore::Prune(PruneTarget target, int64_t before,
                                                   int64_t max_event_seq, const PruneCursor& after,
                                                   int limit) {
  if (limit < 1) return Status::InvalidArgument("prune limit must be at least 1");
  if (auto s = Prepare(); !s.ok()) return s;
  PruneBatch batch;
  Status done = pg::InTransaction(conn_, [&]() -> Status {
    StatusOr<PruneBatch> pruned = Status::Internal("unknown prune target");
    switch (target) {
      case PruneTarget::kDeliveredEvents:
        pruned = PruneEvents("delivered", before, max_event_seq, after, limit);
        break;
      case PruneTarget::kFailedEvents:
        pruned = PruneEvents("failed", before, max_event_seq, after, limit);
        break;
      case PruneTarget::kAttempts:
        pruned = PruneById("ret_scan_attempts", "ret_delete_attempts", before, after, limit);
        break;
      case PruneTarget::kRequestLog:
        pruned = PruneById("ret_scan_request_log", "ret_delete_request_log", before, after, limit);
        break;
      case PruneTarget::kIdempotencyKeys:
        pruned = PruneKeys(before, after, limit);
        break;
    }
    if (!pruned.ok()) return pruned.status();
    batch = std::move(pruned).value();
    return Status::Ok();
  });
  if (!done.ok()) return done;
  return batch;
}

StatusOr<std::vector<ConsumerCursor>> PostgresRetentionStore::ConsumerCursors(
    const std::vector<std::string>& names, int64_t now) {
  if (auto s = Prepare(); !s.ok()) return s;
  std::vector<ConsumerCursor> cursors;
  Status done = pg::InTransaction(conn_, [&]() -> Status {
    cursors.clear();
    for (const std::string& name : names) {
      auto registered = conn_.ExecPrepared("ret_register_consumer", Params().Add(name).Add(now));
      if (!registered.ok()) return registered.status();
      auto cursor = conn_.ExecPrepared("ret_consumer_cursor", Params().Add(name));
      if (!cursor.ok()) return cursor.status();
      if (cursor->rows() > 0) {
        cursors.push_back({name, cursor->GetInt64(0, 0), cursor->GetInt64(0, 1)});
      }
    }
    return Status::Ok();
  });
  if (!done.ok()) return done;
  return cursors;
}

StatusOr<ReclaimResult> PostgresRetentionStore::ReclaimSpace(int64_t max_bytes) {
  if (max_bytes < 1) return Status::InvalidArgument("max_bytes must be at least 1");
  // Autovacuum makes the space reusable; nothing here may give it back without locking the
  // hot tables (see the top of retention_store.h).
  return ReclaimResult{.freed_bytes = 0, .remaining_bytes = 0};
}

}  // namespace hookvault::storage
