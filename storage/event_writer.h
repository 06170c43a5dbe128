// EventWriter: where ingest hands records to be stored durably.
#ifndef HOOKVAULT_STORAGE_EVENT_WRITER_H_
#define HOOKVAULT_STORAGE_EVENT_WRITER_H_

#include <functional>

#include "storage/event.h"
#include "storage/status.h"

namespace hookvault::storage {

// Called once the write is decided: `status` is OK only after the record's transaction
// committed; `result` is meaningful only then, and only for a record with an event.
using WriteCallback = std::function<void(const Status& status, const AppendResult& result)>;

// Thread-safety: implementations are safe to call from any thread.
class EventWriter {
 public:
  EventWriter() = default;
  EventWriter(const EventWriter&) = delete;
  EventWriter& operator=(const EventWriter&) = delete;
  virtual ~EventWriter() = default;

  // Queues an event record (with its request-log row). Returns kUnavailable, without calling
  // `done`, when it cannot be queued (full, stopping); otherwise calls `done` exactly once,
  // possibly on another thread, after the record's transaction committed or failed.
  virtual Status SubmitEvent(IngestRecord record, WriteCallback done) = 0;

  // Queues the request-log row of a rejected request, if the request-log budget admits it.
  // Returns kUnavailable when refused (then the row is only counted).
  virtual Status SubmitLog(RequestLogEntry entry) = 0;

  // Queues a durable write that proves the database writable; `done` gets its Status. Returns
  // kUnavailable, without calling `done`, when it cannot be queued.
  virtual Status SubmitProbe(std::function<void(const Status&)> done) = 0;

  // Returns false after a transaction failed for want of storage (kUnavailable: full disk, I/O
  // error) until a transaction holding an event, or a probe, succeeds. A record the store
  // refuses on its own (kInternal) says nothing about the storage and leaves it as it is.
  virtual bool healthy() const = 0;
};

}  // namespace hookvault::storage

#endif  // HOOKVAULT_STORAGE_EVENT_WRITER_H_
