// QueryPool: the threads that run the API's database reads, so that none runs on a Pistache
// reactor thread. A reactor serves every connection it holds, providers' webhooks included: a
// 300 ms window query, /audit/verify over a long chain or a 1,000-event feed page run there
// would hold up every ingest answer on that reactor for as long. The route table says which
// routes run here (Runs::kQueryPool in server/http/route_table.h); the router hands them over.
//
// The queue is bounded in count: when it is full, TrySubmit() refuses and the router answers
// 503 with Retry-After, so a flood of slow queries costs the flooder answers, not memory, and
// never ingest.
#ifndef HOOKVAULT_SERVER_HTTP_QUERY_POOL_H_
#define HOOKVAULT_SERVER_HTTP_QUERY_POOL_H_

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace hookvault::server {

// Thread-safety: TrySubmit() from any number of threads; Stop() once, from one thread (also
// the destructor). Tasks run on the pool's threads, several at once.
class QueryPool {
 public:
  // Starts `threads` threads (at least 1) with room for `max_queued` tasks waiting beside the
  // ones running.
  QueryPool(size_t threads, size_t max_queued);
  QueryPool(const QueryPool&) = delete;
  QueryPool& operator=(const QueryPool&) = delete;
  ~QueryPool();  // Stop()

  // Queues `task` to run on a pool thread. Returns false, without running it, when
  // `max_queued` tasks already wait or the pool is stopping.
  bool TrySubmit(std::function<void()> task);

  // Refuses new tasks, runs the ones already queued (each holds a request whose client waits
  // for its answer) and joins the threads.
  void Stop();

  size_t threads() const { return threads_.size(); }
  size_t max_queued() const { return max_queued_; }

 private:
  void Run();

  const size_t max_queued_;
  std::mutex mu_;
  std::condition_variable work_cv_;
  std::deque<std::function<void()>> queue_;  // guarded by mu_
  bool stopping_ = false;                    // guarded by mu_
  std::vector<std::thread> threads_;
};

}  // namespace hookvault::server

#endif  // HOOKVAULT_SERVER_HTTP_QUERY_POOL_H_
