// FeedHandler: the pull routes of the REST API (contract: "REST API"): the feed of events by
// seq, a named consumer's next events, and its ack. Empty pages may long-poll (FeedWaiters,
// api/feed_waiters.h).
#ifndef HOOKVAULT_API_FEED_H_
#define HOOKVAULT_API_FEED_H_

#include <cstdint>
#include <string>

#include "api/feed_waiters.h"
#include "api/http.h"
#include "storage/operator_port.h"
#include "storage/query_store.h"

namespace hookvault::api {

// Longest a long-poll may wait (`wait` seconds).
inline constexpr int kMaxWaitSeconds = 30;

// The router has checked the caller's permission (kConsume) before any call.
//
// Thread-safety: every method may be called from many threads at once. Reads run on the
// calling thread; acks are queued to the writer and answered from its thread; parked
// long-polls are answered from the feed thread.
class FeedHandler {
 public:
  // Every reference must outlive this object.
  FeedHandler(storage::QueryStore& queries, FeedWaiters& waiters, storage::OperatorPort& operations)
      : queries_(queries), waiters_(waiters), operations_(operations) {}

  void Feed(const ApiRequest& req, Responder respond) const;
  void ConsumerEvents(const ApiRequest& req, const std::string& name, Responder respond) const;
  void AckConsumer(const ApiRequest& req, const std::string& name, Responder respond) const;

 private:
  // Answers the feed page for `query`, parking the request when the page is empty and
  // `wait_seconds` > 0.
  void ServeFeed(const ApiRequest& req, storage::FeedQuery query, int64_t wait_seconds,
                 Responder respond) const;

  storage::QueryStore& queries_;
  FeedWaiters& waiters_;
  // Acks run there, answered when they are done.
  storage::OperatorPort& operations_;
};

}  // namespace hookvault::api

#endif  // HOOKVAULT_API_FEED_H_
