// WriteSerializer: runs work one piece at a time, in order with the ingest batches, so that
// every write of the store is serialised by one party: the writer. Stores document whether
// their write methods need it (storage/delivery_store.h, operator_store.h, retention_store.h);
// the callers that use those stores (the scheduler, retention, the operator port) go through a
// WriteSerializer either way, so no store has to be thread-safe and none has to say which
// thread it runs on.
#ifndef HOOKVAULT_STORAGE_WRITE_SERIALIZER_H_
#define HOOKVAULT_STORAGE_WRITE_SERIALIZER_H_

#include <functional>
#include <future>
#include <memory>
#include <utility>

#include "storage/status.h"

namespace hookvault::storage {

// Thread-safety: SubmitTask() and SubmitRequestTask() may be called from any thread, also from
// inside a task.
class WriteSerializer {
 public:
  WriteSerializer() = default;
  WriteSerializer(const WriteSerializer&) = delete;
  WriteSerializer& operator=(const WriteSerializer&) = delete;
  virtual ~WriteSerializer() = default;

  // Queues `task` to run after everything queued before it, never beside another task or
  // batch. Returns kUnavailable when stopping; then `task` never runs.
  virtual Status SubmitTask(std::function<void()> task) = 0;

  // Like SubmitTask, for work a client's request asks for (REST writes): an implementation
  // that bounds its queue refuses it with kUnavailable when saturated, rather than queue it
  // behind the ingest it would delay (the caller answers 503). By default it is SubmitTask.
  virtual Status SubmitRequestTask(std::function<void()> task) {
    return SubmitTask(std::move(task));
  }
};

// Runs `fn` (returning Status or StatusOr<T>) through `serializer` and waits for its result.
// Returns the refusal (kUnavailable) when the task cannot be queued. Must not be called from
// inside a task of the same serializer: it would wait for itself.
template <typename Fn>
auto RunSerialized(WriteSerializer& serializer, Fn fn) -> decltype(fn()) {
  using Result = decltype(fn());
  auto promise = std::make_shared<std::promise<Result>>();
  std::future<Result> result = promise->get_future();
  Status queued =
      serializer.SubmitTask([promise, fn = std::move(fn)]() mutable { promise->set_value(fn()); });
  if (!queued.ok()) return Result(std::move(queued));
  return result.get();
}

}  // namespace hookvault::storage

#endif  // HOOKVAULT_STORAGE_WRITE_SERIALIZER_H_
