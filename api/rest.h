// RestApi: the handlers of /api/v1 (contract: "REST API") on framework-free requests.
// Auditors read the history, operators reprocess, consumers pull the feed.
#ifndef HOOKVAULT_API_REST_H_
#define HOOKVAULT_API_REST_H_

#include <functional>
#include <string>

#include "api/auth.h"
#include "api/feed.h"
#include "api/http.h"
#include "storage/clock.h"
#include "storage/operator_port.h"
#include "storage/query_store.h"

namespace hookvault::api {

// What RestApi needs; every reference must outlive it.
struct RestApiDeps {
  const Authenticator& auth;
  storage::QueryStore& queries;
  // Reprocess and acks, answered when they are done.
  storage::OperatorPort& operations;
  FeedWaiters& waiters;
  const storage::Clock& clock;
};

// Longest a long-poll may wait (`wait` seconds).
inline constexpr int kMaxWaitSeconds = 30;

// Thread-safety: every handler may be called from many threads at once. Reads run on the
// calling thread (each on a reader connection of its own); writes are queued to the writer
// and answered from its thread; parked long-polls are answered from the feed thread.
class RestApi {
 public:
  explicit RestApi(RestApiDeps deps) : d_(std::move(deps)) {}

  void ListEvents(const ApiRequest& req, Responder respond) const;
  void GetEvent(const ApiRequest& req, const std::string& id, Responder respond) const;
  void ListEventAttempts(const ApiRequest& req, const std::string& id, Responder respond) const;
  void ReprocessEvent(const ApiRequest& req, const std::string& id, Responder respond) const;
  void ListDeliveries(const ApiRequest& req, Responder respond) const;
  void ListAttempts(const ApiRequest& req, Responder respond) const;
  void ReprocessBulk(const ApiRequest& req, Responder respond) const;
  void ListAudit(const ApiRequest& req, Responder respond) const;
  void VerifyAudit(const ApiRequest& req, Responder respond) const;
  void ListRequests(const ApiRequest& req, Responder respond) const;
  void Feed(const ApiRequest& req, Responder respond) const;
  void ConsumerEvents(const ApiRequest& req, const std::string& name, Responder respond) const;
  void AckConsumer(const ApiRequest& req, const std::string& name, Responder respond) const;

 private:
  // Returns who made the request if they may do `permission`; otherwise answers 401 or 403.
  std::optional<Principal> Authorize(const ApiRequest& req, Permission permission,
                                     const Responder& respond) const;
  // Runs the reprocess on the writer (with its audit row, in one transaction), wakes the
  // scheduler when something was requeued, and answers render(result) from the writer thread.
  void SubmitReprocess(const ApiRequest& req, storage::ReprocessSpec spec,
                       storage::AuditActor who, Responder respond,
                       std::function<ApiResponse(const storage::ReprocessResult&)> render) const;
  // Answers the feed page for `query`, parking the request when the page is empty and
  // `wait_seconds` > 0.
  void ServeFeed(const ApiRequest& req, storage::FeedQuery query, int64_t wait_seconds,
                 Responder respond) const;

  RestApiDeps d_;
};

}  // namespace hookvault::api

#endif  // HOOKVAULT_API_REST_H_
