// PostgresRetentionStore: the RetentionStore on a node's PostgreSQL write connection: pruning
// by age, a bounded batch per transaction, and the consumers' cursors.
//
// Several nodes may run retention at once over the same rows. Every delete re-checks, where it
// deletes, what made its rows go (an event with no pending delivery, a key whose event is
// gone), and deleting a row another node deleted first deletes nothing: two rounds never fail
// each other, and the sum of what they delete is what one round would have deleted.
//
// Space: PostgreSQL's autovacuum makes the space of deleted rows reusable for new ones (the
// hot tables are vacuumed after 1 % of their rows changed, migration 0001); giving it back to
// the file system would take VACUUM FULL, which locks the table out for ingest, so this store
// never does: ReclaimSpace frees nothing and reports nothing remaining, as the port allows.
#ifndef HOOKVAULT_STORAGE_POSTGRES_RETENTION_STORE_H_
#define HOOKVAULT_STORAGE_POSTGRES_RETENTION_STORE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "storage/postgres/connection.h"
#include "storage/retention_store.h"

namespace hookvault::storage {

// Thread-safety: not thread-safe; called by the writer thread only (WriteSerializer tasks), like
// its connection. Any number of nodes may run one each on the same database.
class PostgresRetentionStore final : public RetentionStore {
 public:
  // `conn` must outlive the store. The statements are prepared on the first call, whose Status
  // reports a failure to prepare them.
  explicit PostgresRetentionStore(pg::Connection& conn);
  ~PostgresRetentionStore() override;

  StatusOr<PruneBatch> Prune(PruneTarget target, int64_t before, int64_t max_event_seq,
                             const PruneCursor& after, int limit) override;
  StatusOr<std::vector<ConsumerCursor>> ConsumerCursors(const std::vector<std::string>& names,
                                                        int64_t now) override;
  // Returns {0, 0} (see the top of this file); kInvalidArgument if max_bytes < 1.
  StatusOr<ReclaimResult> ReclaimSpace(int64_t max_bytes) override;

 private:
  // Prepares the statements (once per connection; again after a reconnect, by the connection).
  Status Prepare();
  // Inside the caller's transaction: one batch of the events of `status`.
  StatusOr<PruneBatch> PruneEvents(const std::string& status, int64_t before, int64_t max_seq,
                                   const PruneCursor& after, int limit);
  // Inside the caller's transaction: one batch of attempts or request log rows (`scan` and
  // `erase` name the statements).
  StatusOr<PruneBatch> PruneById(const std::string& scan, const std::string& erase, int64_t before,
                                 const PruneCursor& after, int limit);
  StatusOr<PruneBatch> PruneKeys(int64_t before, const PruneCursor& after, int limit);

  pg::Connection& conn_;
  bool prepared_ = false;
};

}  // namespace hookvault::storage

#endif  // HOOKVAULT_STORAGE_POSTGRES_RETENTION_STORE_H_
