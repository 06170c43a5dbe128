// EventLog: the durable store that ingest writes through, one batch per transaction. Its only
// caller is the GroupCommitWriter, which owns the batching.
#ifndef HOOKVAULT_STORAGE_EVENT_LOG_H_
#define HOOKVAULT_STORAGE_EVENT_LOG_H_

#include <optional>
#include <span>
#include <vector>

#include "storage/event.h"
#include "storage/status.h"

namespace hookvault::storage {

// Thread-safety: calls must not overlap; the GroupCommitWriter makes them from its one thread,
// between the tasks it serialises.
class EventLog {
 public:
  EventLog() = default;
  EventLog(const EventLog&) = delete;
  EventLog& operator=(const EventLog&) = delete;
  virtual ~EventLog() = default;

  // Writes every record in one transaction and returns after it is durable. Returns one
  // entry per record, in order: an AppendResult for a record with an event, nullopt for a
  // log-only record. A record whose idempotency key is already stored for its source (also by
  // an earlier record of the same batch) stores nothing and returns the original's id and seq
  // with duplicate = true. Returns kUnavailable when the storage cannot commit (disk full, I/O
  // error, locked); then nothing of the batch is stored.
  virtual StatusOr<std::vector<std::optional<AppendResult>>> Append(
      std::span<const IngestRecord> records) = 0;

  // Performs a durable write as large as a big batch (and undoes it) to prove the store can
  // take events now. Returns kUnavailable when it cannot.
  virtual Status Probe() = 0;
};

}  // namespace hookvault::storage

#endif  // HOOKVAULT_STORAGE_EVENT_LOG_H_
