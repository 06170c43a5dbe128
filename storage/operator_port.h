// OperatorPort: the operator actions the REST API asks for (reprocess, consumer acks), run
// asynchronously so that no HTTP thread waits for a write.
#ifndef HOOKVAULT_STORAGE_OPERATOR_PORT_H_
#define HOOKVAULT_STORAGE_OPERATOR_PORT_H_

#include <cstdint>
#include <functional>
#include <string>

#include "storage/clock.h"
#include "storage/operator_store.h"
#include "storage/status.h"
#include "storage/write_serializer.h"

namespace hookvault::storage {

// Thread-safety: every method may be called from any thread. Each `done` is called exactly
// once, possibly on another thread, unless the call returns an error.
class OperatorPort {
 public:
  using ReprocessDone = std::function<void(StatusOr<ReprocessResult>)>;
  using AckDone = std::function<void(StatusOr<int64_t>)>;

  OperatorPort() = default;
  OperatorPort(const OperatorPort&) = delete;
  OperatorPort& operator=(const OperatorPort&) = delete;
  virtual ~OperatorPort() = default;

  // Queues OperatorStore::Reprocess at the current time and calls `done` with its result.
  // Returns kUnavailable, without calling `done`, when it cannot be queued.
  virtual Status Reprocess(ReprocessSpec spec, AuditActor who, ReprocessDone done) = 0;

  // Queues OperatorStore::AckConsumer at the current time and calls `done` with the cursor.
  // Returns kUnavailable, without calling `done`, when it cannot be queued.
  virtual Status AckConsumer(std::string name, int64_t seq, AckDone done) = 0;
};

// The OperatorPort of one OperatorStore: each action is a task of `serializer`, so it runs
// between ingest batches; `done` runs on the serializer's thread and must be quick.
// `on_requeued` (may be empty) is called there after a reprocess that requeued something (the
// scheduler wakes on it). Every reference must outlive this object.
class SerializedOperatorPort final : public OperatorPort {
 public:
  SerializedOperatorPort(WriteSerializer& serializer, OperatorStore& store, const Clock& clock,
                         std::function<void()> on_requeued)
      : serializer_(serializer),
        store_(store),
        clock_(clock),
        on_requeued_(std::move(on_requeued)) {}

  Status Reprocess(ReprocessSpec spec, AuditActor who, ReprocessDone done) override;
  Status AckConsumer(std::string name, int64_t seq, AckDone done) override;

 private:
  WriteSerializer& serializer_;
  OperatorStore& store_;
  const Clock& clock_;
  const std::function<void()> on_requeued_;
};

}  // namespace hookvault::storage

#endif  // HOOKVAULT_STORAGE_OPERATOR_PORT_H_
