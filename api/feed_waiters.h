// The pull feed's reads: pages of events by seq, and long-polls parked until a commit brings
// events (the routes that serve them are api/feed.h).
#ifndef HOOKVAULT_API_FEED_WAITERS_H_
#define HOOKVAULT_API_FEED_WAITERS_H_

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <list>
#include <mutex>
#include <thread>
#include <vector>

#include "storage/query_store.h"
#include "storage/status.h"

namespace hookvault::api {

struct FeedPage {
  std::vector<storage::EventRow> rows;
  // Where the next page starts. Past every row returned, and past events that exist but did
  // not match the filters, so a filtered consumer does not re-read them.
  int64_t next_after = 0;
};

// Reads one page of the feed. Returns kUnavailable when the database cannot be read.
storage::StatusOr<FeedPage> ReadFeed(storage::QueryStore& queries,
                                     const storage::FeedQuery& query);

// Long-polls that found nothing wait here, costing no HTTP worker thread: the request's
// responder is parked, and one thread of this class answers it when a commit brings a
// matching event or its wait ends. A commit costs one read for all the parked requests, not
// one per request: the newest seq, then (when some request is behind it) one page of events
// after the furthest-behind request, from which each request's page is cut.
//
// Thread-safety: Park(), Notify() and Stop() may be called from any thread. Answers run on the
// class's own thread ("hv-feed").
class FeedWaiters {
 public:
  using Answer = std::function<void(storage::StatusOr<FeedPage>)>;

  // `queries` must outlive this object. At most `max_waiters` requests wait at once.
  FeedWaiters(storage::QueryStore& queries, size_t max_waiters);
  FeedWaiters(const FeedWaiters&) = delete;
  FeedWaiters& operator=(const FeedWaiters&) = delete;
  // Calls Stop().
  ~FeedWaiters();

  // Parks a request whose page was empty. `answer` is called exactly once, on the feed
  // thread: with the first non-empty page after a commit, or with an empty page when `wait`
  // ends or on Stop(). Returns kUnavailable, without calling `answer`, when too many wait or
  // after Stop().
  storage::Status Park(storage::FeedQuery query, std::chrono::milliseconds wait, Answer answer);

  // Tells the waiters that a commit stored new events. Cheap; never blocks on the database.
  void Notify();

  // Answers every parked request with an empty page and joins the thread. Idempotent.
  void Stop();

  // Returns how many requests are parked.
  size_t waiting() const;

 private:
  struct Waiter {
    storage::FeedQuery query;
    std::chrono::steady_clock::time_point deadline;
    Answer answer;
  };

  void Run();
  // After a commit: answers the waiters of `waiters` whose page now has events (removing them)
  // and moves the others' after_seq past what did not match, with one shared read.
  void Check(std::list<Waiter>& waiters);

  storage::QueryStore& queries_;
  const size_t max_waiters_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::list<Waiter> waiters_;  // guarded by mu_
  // Waiters the feed thread took out of waiters_ to check them (outside the lock): they still
  // count against max_waiters_. Guarded by mu_.
  size_t checking_ = 0;
  bool notified_ = false;      // guarded by mu_
  bool stopping_ = false;      // guarded by mu_
  std::thread thread_;
};

}  // namespace hookvault::api

#endif  // HOOKVAULT_API_FEED_WAITERS_H_
