// RetentionStore: deleting what has outlived its retention age, a small batch at a time, and
// giving the freed space back. The driver is server/retention.h, which runs every call as a
// task of the WriteSerializer so that each batch is a short write between ingest batches.
//
// Invariants (each has a test in tests/storage/retention_store_test.cc):
//
//  1. An event is deleted only when its status is delivered or failed and no delivery of it is
//     pending; a pending event is kept whatever its age. Its deliveries and their attempts go
//     with it.
//  2. An idempotency key is deleted only when its event is gone, so a retried request is
//     answered as a duplicate for as long as its event is stored, and after that until the key
//     itself is old enough.
//  3. Every call deletes at most `limit` rows of the table it names (plus an event's deliveries
//     and attempts) in one transaction of its own, so ingest batches run between calls.
//  4. The audit log and consumer cursors are never deleted.
//  5. An event whose seq is above the `max_event_seq` of the call is kept whatever its age: the
//     driver passes the lowest cursor of the consumers still reading, so no event such a
//     consumer has not acknowledged goes.
#ifndef HOOKVAULT_STORAGE_RETENTION_STORE_H_
#define HOOKVAULT_STORAGE_RETENTION_STORE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "storage/status.h"

namespace hookvault::storage {

// The kinds of rows that age out; each has its own retention age.
enum class PruneTarget {
  kDeliveredEvents,  // events.status = 'delivered', by received_at
  kFailedEvents,     // events.status = 'failed', by received_at
  kAttempts,         // by started_at, whatever their delivery's state
  kRequestLog,       // by received_at
  kIdempotencyKeys,  // by created_at, only once their event is gone
};

// Where a scan of one target goes on within a round: the last row it looked at. Rows it kept
// (an old failed event still being delivered, the key of an event still stored) are not looked
// at again in the same round.
struct PruneCursor {
  int64_t at = INT64_MIN;  // the row's time
  std::string key_source;  // with key_name, the tie-break of idempotency keys
  std::string key_name;
  int64_t row = INT64_MIN;  // the tie-break of the other targets (seq or id)
};

struct PruneBatch {
  int64_t deleted = 0;  // rows of the target deleted (cascaded deliveries and attempts aside)
  int64_t scanned = 0;  // rows of the target looked at
  std::optional<PruneCursor> next;  // where to go on; nullopt when the scan is finished
};

// A consumer's committed cursor and when it last acknowledged (microseconds since the epoch).
struct ConsumerCursor {
  std::string name;
  int64_t cursor = 0;
  int64_t last_ack_at = 0;
};

struct ReclaimResult {
  int64_t freed_bytes = 0;      // space returned to the file system
  int64_t remaining_bytes = 0;  // space still free inside the store's files
};

// Thread-safety: calls must not overlap (they are writes like any other); the driver makes each
// a task of its WriteSerializer.
class RetentionStore {
 public:
  RetentionStore() = default;
  RetentionStore(const RetentionStore&) = delete;
  RetentionStore& operator=(const RetentionStore&) = delete;
  virtual ~RetentionStore() = default;

  // Looks at up to `limit` rows of `target` older than `before` (microseconds since the epoch)
  // after `after` (oldest first) and deletes those that may go, in one transaction; events only
  // up to seq `max_event_seq`. Returns kUnavailable if the store cannot commit (then nothing is
  // deleted), kInvalidArgument if limit < 1.
  virtual StatusOr<PruneBatch> Prune(PruneTarget target, int64_t before, int64_t max_event_seq,
                                     const PruneCursor& after, int limit) = 0;

  // Returns the cursor of each consumer in `names`, in one short write: a consumer that never
  // acknowledged is stored first at cursor 0 with its last ack `now`, so that a consumer
  // configured but not yet running holds events back from the time it was first seen. Returns
  // kUnavailable if the store cannot commit.
  virtual StatusOr<std::vector<ConsumerCursor>> ConsumerCursors(
      const std::vector<std::string>& names, int64_t now) = 0;

  // Returns about `max_bytes` (at least one unit of the store's allocation) of the space that
  // deleted rows left free to the file system, in one short write. A store that cannot give
  // space back (SQLite without auto_vacuum = INCREMENTAL; one that its server reclaims, like
  // PostgreSQL's autovacuum) frees nothing and reports none remaining. Returns kUnavailable if
  // the store cannot commit, kInvalidArgument if max_bytes < 1.
  virtual StatusOr<ReclaimResult> ReclaimSpace(int64_t max_bytes) = 0;
};

}  // namespace hookvault::storage

#endif  // HOOKVAULT_STORAGE_RETENTION_STORE_H_
