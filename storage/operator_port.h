// OperatorPort: the operator actions the REST API asks for (reprocess, consumer acks), run
// asynchronously so that no HTTP thread waits for a write.
#ifndef HOOKVAULT_STORAGE_OPERATOR_PORT_H_
#define HOOKVAULT_STORAGE_OPERATOR_PORT_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "storage/clock.h"
#include "storage/operator_store.h"
#include "storage/query_store.h"
#include "storage/status.h"
#include "storage/write_serializer.h"

namespace hookvault::storage {

// Thread-safety: every method may be called from any thread. Each `done` is called exactly
// once, possibly on another thread, unless the call returns an error.
class OperatorPort {
 public:
  using ReprocessDone = std::function<void(StatusOr<ReprocessResult>)>;
  using AckDone = std::function<void(StatusOr<int64_t>)>;
  using AuditDone = std::function<void(StatusOr<int64_t>)>;
  using SkipDone = std::function<void(StatusOr<SkipResult>)>;

  OperatorPort() = default;
  OperatorPort(const OperatorPort&) = delete;
  OperatorPort& operator=(const OperatorPort&) = delete;
  virtual ~OperatorPort() = default;

  // Reprocesses at the current time and calls `done` with the result once the whole action is
  // written. A dry run counts on a reader, on the calling thread, and writes only its audit row.
  // A real run is written in chunks that interleave with ingest (storage/operator_store.h); if
  // one fails or cannot be queued, `done` gets kUnavailable, the chunks before it stay done,
  // and running the same request again requeues the rest. Returns, without calling `done`:
  // kAlreadyExists for a real run without an event filter (a bulk run) while another one is
  // running; kUnavailable when it cannot be queued or counted; kInvalidArgument for an unknown
  // status.
  virtual Status Reprocess(ReprocessSpec spec, AuditActor who, ReprocessDone done) = 0;

  // Queues OperatorStore::AckConsumer at the current time and calls `done` with the cursor.
  // Returns kUnavailable, without calling `done`, when it cannot be queued.
  virtual Status AckConsumer(std::string name, int64_t seq, AckDone done) = 0;

  // Queues OperatorStore::AuditAction at the current time and calls `done` with the row's id.
  // Returns kUnavailable, without calling `done`, when it cannot be queued.
  virtual Status AuditAction(AuditActor who, std::string action, std::string target_json,
                             AuditDone done) = 0;

  // Queues OperatorStore::Skip at the current time and calls `done` with its result. Returns
  // kUnavailable, without calling `done`, when it cannot be queued.
  virtual Status Skip(int64_t delivery_id, AuditActor who, std::string target_json,
                      SkipDone done) = 0;
};

// The OperatorPort of one OperatorStore: each action, and each chunk of a reprocess, is a task of
// `serializer`, so it runs between ingest batches; the next chunk is queued when one is done,
// behind whatever was submitted meanwhile. `done` runs on the serializer's thread and must be
// quick. `on_requeued` (may be empty) is called there after each chunk that requeued something
// and after each skip (which may release a held delivery): the scheduler wakes on it. Dry runs count through `queries`. Every reference must outlive
// this object, and the serializer must run or drop every task queued before this object goes.
class SerializedOperatorPort final : public OperatorPort {
 public:
  // Deliveries one reprocess chunk looks at: a short transaction (a few ms here), so that an
  // ingest batch queued behind it waits little.
  static constexpr size_t kChunkRows = 1000;
  // How long a caller waits for a run: one still going after this is answered with its counts so
  // far and `running` set, and goes on. An HTTP answer owed much longer is cut off by the
  // connection's idle timeout (45 s) or a proxy's (nginx: 60 s), and the operator would see an
  // error for a run that is in fact under way.
  static constexpr int64_t kAnswerAfterMicros = 20'000'000;

  SerializedOperatorPort(WriteSerializer& serializer, OperatorStore& store, QueryStore& queries,
                         const Clock& clock, std::function<void()> on_requeued,
                         size_t chunk_rows = kChunkRows,
                         int64_t answer_after_micros = kAnswerAfterMicros)
      : serializer_(serializer),
        store_(store),
        queries_(queries),
        clock_(clock),
        on_requeued_(std::move(on_requeued)),
        chunk_rows_(chunk_rows),
        answer_after_micros_(answer_after_micros) {}

  Status Reprocess(ReprocessSpec spec, AuditActor who, ReprocessDone done) override;
  Status AckConsumer(std::string name, int64_t seq, AckDone done) override;
  Status AuditAction(AuditActor who, std::string action, std::string target_json,
                     AuditDone done) override;
  Status Skip(int64_t delivery_id, AuditActor who, std::string target_json,
              SkipDone done) override;

 private:
  struct Run;
  Status DryRun(ReprocessSpec spec, AuditActor who, ReprocessDone done);
  // Writes the next chunk of `run` and queues the one after it, or finishes the run.
  void Step(const std::shared_ptr<Run>& run);
  void Finish(Run& run, StatusOr<ReprocessResult> result);

  WriteSerializer& serializer_;
  OperatorStore& store_;
  QueryStore& queries_;
  const Clock& clock_;
  const std::function<void()> on_requeued_;
  const size_t chunk_rows_;
  const int64_t answer_after_micros_;
  std::atomic<bool> bulk_running_{false};  // a real run without an event filter is under way
};

}  // namespace hookvault::storage

#endif  // HOOKVAULT_STORAGE_OPERATOR_PORT_H_
