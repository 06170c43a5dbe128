#include "api/feed_waiters.h"

#include <pthread.h>

#include <algorithm>
#include <limits>
#include <optional>

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
  // A page the limit or the byte budget cut: the next one starts right after its last event.
  if (!page.rows.empty() && (static_cast<int>(page.rows.size()) >= query.limit ||
                             storage::ReachedByteBudget(page.rows, query.max_bytes))) {
    page.next_after = page.rows.back().seq;
  } else {
    page.next_after = std::max(query.after_seq, *latest);
    if (!page.rows.empty()) page.next_after = std::max(page.next_after, page.rows.back().seq);
  }
  return page;
}

namespace {

// Cuts the page of `query` from `rows`: the unfiltered events after some position at or before
// query.after_seq, every event up to `covered_to` when `complete`, otherwise up to the last of
// `rows`. Returns nullopt when `rows` do not tell: they end before the newest event and before
// the page was full (its own read might find more after them, so a page cut here would be
// shorter than the one the waiter would read on its own).
std::optional<FeedPage> PageFrom(const std::vector<storage::EventRow>& rows, bool complete,
                                 int64_t covered_to, const storage::FeedQuery& query) {
  FeedPage page;
  int64_t bytes = 0;
  for (const storage::EventRow& e : rows) {
    if (e.seq <= query.after_seq) continue;
    if (query.source && e.source != *query.source) continue;
    if (query.event_type && e.event_type != *query.event_type) continue;
    page.rows.push_back(e);
    bytes += storage::RowBytes(e);
    if (static_cast<int>(page.rows.size()) >= query.limit || bytes >= query.max_bytes) {
      page.next_after = e.seq;
      return page;
    }
  }
  if (!complete) return std::nullopt;
  // Every event up to covered_to has been looked at, matching or not.
  page.next_after = std::max(query.after_seq, covered_to);
  return page;
}

}  // namespace

FeedWaiters::FeedWaiters(storage::QueryStore& queries, size_t max_waiters)
    : queries_(queries), max_waiters_(max_waiters), thread_([this] { Run(); }) {}

FeedWaiters::~FeedWaiters() { Stop(); }

storage::Status FeedWaiters::Park(storage::FeedQuery query, std::chrono::milliseconds wait,
                                  Answer answer) {
  std::lock_guard<std::mutex> lock(mu_);
  if (stopping_) return storage::Status::Unavailable("shutting down");
  if (waiters_.size() + checking_ >= max_waiters_) {
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
  // Every commit notifies: with no long-poll parked or being checked there is nobody to look
  // for, and Park() looks once more anyway, so the thread is not woken (a wake-up costs the
  // writer a futex call and the machine a context switch per commit).
  if (!waiters_.empty() || checking_ > 0) cv_.notify_one();
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
    checking_ = mine.size();
    lock.unlock();
    auto now = std::chrono::steady_clock::now();
    std::list<Waiter> still;
    if (check) Check(mine);
    for (Waiter& w : mine) {
      if (now >= w.deadline) {
        FeedPage empty;
        empty.next_after = w.query.after_seq;
        w.answer(std::move(empty));
        continue;
      }
      still.push_back(std::move(w));
    }
    lock.lock();
    checking_ = 0;
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

void FeedWaiters::Check(std::list<Waiter>& waiters) {
  auto answer_all = [&waiters](const storage::Status& status) {
    for (Waiter& w : waiters) w.answer(status);
    waiters.clear();
  };
  // Every event up to the newest seq is committed, so rows read after it cover what is before.
  auto latest = queries_.LatestSeq();
  if (!latest.ok()) return answer_all(latest.status());
  storage::FeedQuery shared;
  shared.after_seq = std::numeric_limits<int64_t>::max();
  shared.limit = 0;
  for (const Waiter& w : waiters) {
    if (w.query.after_seq >= *latest) continue;  // nothing new for it
    shared.after_seq = std::min(shared.after_seq, w.query.after_seq);
    shared.limit = std::max(shared.limit, w.query.limit);
  }
  if (shared.limit == 0) return;  // every waiter is at the newest event
  auto rows = queries_.Feed(shared);
  if (!rows.ok()) return answer_all(rows.status());
  bool complete = static_cast<int>(rows->size()) < shared.limit &&
                  !storage::ReachedByteBudget(*rows, shared.max_bytes);
  int64_t covered_to = rows->empty() ? *latest : std::max(*latest, rows->back().seq);
  if (!complete) covered_to = rows->back().seq;
  for (auto it = waiters.begin(); it != waiters.end();) {
    if (it->query.after_seq >= *latest) {
      ++it;
      continue;
    }
    std::optional<FeedPage> cut = PageFrom(*rows, complete, covered_to, it->query);
    // A filtered waiter the shared rows did not reach reads on its own (rare: the shared page
    // is as long as the longest limit).
    storage::StatusOr<FeedPage> page =
        cut ? storage::StatusOr<FeedPage>(std::move(*cut)) : ReadFeed(queries_, it->query);
    if (!page.ok() || !page->rows.empty()) {
      it->answer(std::move(page));
      it = waiters.erase(it);
      continue;
    }
    it->query.after_seq = page->next_after;  // nothing matched up to here: skip it next time
    ++it;
  }
}

}  // namespace hookvault::api
