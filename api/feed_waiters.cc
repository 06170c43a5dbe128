#include "api/feed_waiters.h"

#include <pthread.h>

#include <algorithm>

namespace hookvault::api {

storage::StatusOr<FeedPage> ReadFeed(storage::QueryStore& queries,
                                     const storage::FeedQuery& query) {
  // The latest seq is read before the page: every event up to it is committed, so a page
  // shorter than the limit has seen every matching event up to it.
  auto latest = queries.LatestSeq();
  if (!latest.ok()) return latest.status();
  auto rows = queries.Feed(query);
  if (!rows.ok()) return rows.status();
  FeedPage page;
  page.rows = std::move(rows).value();
  if (!page.rows.empty() && static_cast<int>(page.rows.size()) >= query.limit) {
    page.next_after = page.rows.back().seq;
  } else {
    page.next_after = std::max(query.after_seq, *latest);
    if (!page.rows.empty()) page.next_after = std::max(page.next_after, page.rows.back().seq);
  }
  return page;
}

FeedWaiters::FeedWaiters(storage::QueryStore& queries, size_t max_waiters)
    : queries_(queries), max_waiters_(max_waiters), thread_([this] { Run(); }) {}

FeedWaiters::~FeedWaiters() { Stop(); }

storage::Status FeedWaiters::Park(storage::FeedQuery query, std::chrono::milliseconds wait,
                                  Answer answer) {
  std::lock_guard<std::mutex> lock(mu_);
  if (stopping_) return storage::Status::Unavailable("shutting down");
  if (waiters_.size() >= max_waiters_) {
    return storage::Status::Unavailable("too many long-polls are waiting");
  }
  waiters_.push_back({std::move(query), std::chrono::steady_clock::now() + wait,
                      std::move(answer)});
  // The page the caller found empty was read before this call; a commit in between would
  // have notified nobody. One more look at once closes that gap.
  notified_ = true;
  cv_.notify_one();
  return storage::Status::Ok();
}

void FeedWaiters::Notify() {
  std::lock_guard<std::mutex> lock(mu_);
  notified_ = true;
  cv_.notify_one();
}

size_t FeedWaiters::waiting() const {
  std::lock_guard<std::mutex> lock(mu_);
  return waiters_.size();
}

void FeedWaiters::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
    cv_.notify_one();
  }
  if (thread_.joinable()) thread_.join();
}

void FeedWaiters::Run() {
  pthread_setname_np(pthread_self(), "hv-feed");  // visible in top -H, perf, gdb
  std::unique_lock<std::mutex> lock(mu_);
  while (true) {
    auto next_deadline = std::chrono::steady_clock::time_point::max();
    for (const Waiter& w : waiters_) next_deadline = std::min(next_deadline, w.deadline);
    cv_.wait_until(lock, next_deadline, [&] {
      return stopping_ || notified_ || std::chrono::steady_clock::now() >= next_deadline ||
             std::any_of(waiters_.begin(), waiters_.end(),
                         [&](const Waiter& w) { return w.deadline < next_deadline; });
    });
    if (stopping_) break;
    bool check = notified_;
    notified_ = false;
    // Work on the waiters outside the lock: queries take time and answers send.
    std::list<Waiter> mine;
    mine.splice(mine.end(), waiters_);
    lock.unlock();
    auto now = std::chrono::steady_clock::now();
    std::list<Waiter> still;
    for (Waiter& w : mine) {
      if (check) {
        auto page = ReadFeed(queries_, w.query);
        if (!page.ok() || !page->rows.empty()) {
          w.answer(std::move(page));
          continue;
        }
        w.query.after_seq = page->next_after;  // nothing matched up to here: skip it next time
      }
      if (now >= w.deadline) {
        FeedPage empty;
        empty.next_after = w.query.after_seq;
        w.answer(std::move(empty));
        continue;
      }
      still.push_back(std::move(w));
    }
    lock.lock();
    waiters_.splice(waiters_.begin(), still);
  }
  std::list<Waiter> left;
  left.splice(left.end(), waiters_);
  lock.unlock();
  for (Waiter& w : left) {
    FeedPage empty;
    empty.next_after = w.query.after_seq;
    w.answer(std::move(empty));
  }
}

}  // namespace hookvault::api
