// PLACEHOLDER (pgwrite's branch only, until pgops' real file lands): compiles stores.cc.
#ifndef HOOKVAULT_STORAGE_POSTGRES_RETENTION_STORE_H_
#define HOOKVAULT_STORAGE_POSTGRES_RETENTION_STORE_H_

#include <string>
#include <vector>

#include "storage/postgres/connection.h"
#include "storage/retention_store.h"

namespace hookvault::storage {

// Thread-safety: not thread-safe. A placeholder whose every write fails with kInternal.
class PostgresRetentionStore final : public RetentionStore {
 public:
  explicit PostgresRetentionStore(pg::Connection&) {}
  StatusOr<PruneBatch> Prune(PruneTarget, int64_t, int64_t, const PruneCursor&, int) override {
    return Status::Internal("placeholder");
  }
  StatusOr<std::vector<ConsumerCursor>> ConsumerCursors(const std::vector<std::string>&,
                                                        int64_t) override {
    return Status::Internal("placeholder");
  }
  StatusOr<ReclaimResult> ReclaimSpace(int64_t) override { return Status::Internal("placeholder"); }
};

}  // namespace hookvault::storage

#endif  // HOOKVAULT_STORAGE_POSTGRES_RETENTION_STORE_H_
