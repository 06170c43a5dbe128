// FeedHandler: the pull routes of the REST API (contract: "REST API"): the feed of events by
// seq, a named consumer's next events, and its ack. Empty pages may long-poll (FeedWaiters,
// api/feed_waiters.h).
#ifndef HOOKVAULT_API_FEED_H_
#define HOOKVAULT_API_FEED_H_

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "api/auth.h"
#include "api/feed_waiters.h"
#include "api/http.h"
#include "storage/operator_port.h"
#include "storage/query_store.h"

namespace hookvault::api {

// Longest a long-poll may wait (`wait` seconds).
inline constexpr int kMaxWaitSeconds = 30;

// Returns true if `name` may name a consumer: 1 to 64 of A-Z a-z 0-9 . _ -.
bool ValidConsumerName(std::string_view name);

// Only the consumers of the config exist (the names its consumer tokens list), so that no
// client can create consumers, and with them metrics series, at will.
//
// A consumer reads its events in seq order without a gap (seq is gap-free): when retention has
// pruned events after its cursor (it had not acknowledged for longer than
// retention.max_consumer_lag_days), its read answers 410 naming the first seq it can still get,
// rather than skipping them in silence.
//
// The router has checked the caller's permission (kPull, or kConsume for acks) before any call;
// this class checks which consumers the caller may use (MayReadConsumer, MayAckConsumer).
//
// Thread-safety: every method may be called from many threads at once. Reads run on the
// calling thread; acks are queued to the writer and answered from its thread; parked
// long-polls are answered from the feed thread.
class FeedHandler {
 public:
  // Every reference must outlive this object.
  // `consumers`: the configured consumers (server/config.h ConsumerNames).
  FeedHandler(storage::QueryStore& queries, FeedWaiters& waiters, storage::OperatorPort& operations,
              const std::vector<std::string>& consumers)
      : queries_(queries),
        waiters_(waiters),
        operations_(operations),
        consumers_(consumers.begin(), consumers.end()) {}

  void Feed(const ApiRequest& req, Responder respond) const;
  void ConsumerEvents(const ApiRequest& req, const Principal& who, const std::string& name,
                      Responder respond) const;
  void AckConsumer(const ApiRequest& req, const Principal& who, const std::string& name,
                   Responder respond) const;
  // GET /consumers: every configured consumer `who` may read (a consumer token: those it lists)
  // with its cursor and its lag behind the newest event.
  void ListConsumers(const ApiRequest& req, const Principal& who, Responder respond) const;

 private:
  // Returns the 400, 403 or 404 answer when `who` may not use the consumer `name` (`ack`: to
  // acknowledge), or nullopt.
  std::optional<ApiResponse> RefuseConsumer(const ApiRequest& req, const Principal& who,
                                            const std::string& name, bool ack) const;

  // Answers the feed page for `query`, parking the request when the page is empty and
  // `wait_seconds` > 0. With `cursor` (a consumer's read) a gap after the cursor is a 410.
  void ServeFeed(const ApiRequest& req, storage::FeedQuery query, int64_t wait_seconds,
                 std::optional<int64_t> cursor, Responder respond) const;

  storage::QueryStore& queries_;
  FeedWaiters& waiters_;
  // Acks run there, answered when they are done.
  storage::OperatorPort& operations_;
  const std::set<std::string, std::less<>> consumers_;
};

}  // namespace hookvault::api

#endif  // HOOKVAULT_API_FEED_H_
