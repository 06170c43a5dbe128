#include "server/destination_tester.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <utility>

#include "api/json.h"
#include "storage/base/crypto.h"

namespace hookvault::server {

HttpDestinationTester::HttpDestinationTester(const std::vector<OutboundDestination>& destinations,
                                             HttpClient& http, const storage::Clock& clock,
                                             std::string user_agent, SignFunction sign)
    : http_(http), clock_(clock), user_agent_(std::move(user_agent)), sign_(std::move(sign)) {
  for (const OutboundDestination& d : destinations) {
    Target t{d, ""};
    if (!d.signing_secret.empty()) {
      // The config loader has validated it; the scheduler logs a secret it cannot use.
      auto key = DecodeSigningSecret(d.signing_secret);
      if (key.ok()) t.signing_key = *key;
    }
    destinations_.emplace(d.name, std::move(t));
  }
}

void HttpDestinationTester::Release(const std::string& name) {
  std::lock_guard<std::mutex> lock(mu_);
  running_.erase(name);
}

storage::Status HttpDestinationTester::SendTestEvent(const std::string& name, Done done) {
  auto target = destinations_.find(name);
  if (target == destinations_.end()) {
    return storage::Status::NotFound("no destination named '" + name + "' is configured");
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!running_.insert(name).second) {
      return storage::Status::AlreadyExists("a test event to " + name +
                                            " is still running; try again when it has answered");
    }
  }
  api::TestEventOutcome outcome;
  outcome.webhook_id = "test_" + base::RandomHex(12);
  const int64_t now = clock_.NowMicros();
  const std::string body = R"({"type":")" + std::string(kTestEventType) +
                           R"(","test":true,"destination":)" + api::JsonQuote(name) +
                           R"(,"sent_at":")" + storage::FormatRfc3339(now) + R"("})";
  const Target& t = target->second;
  auto request = BuildOutboundRequest(
      t.config, t.signing_key, {outcome.webhook_id, kTestEventSource, kTestEventType, 1, body},
      now / 1'000'000, user_agent_, sign_);
  if (!request.ok()) {
    Release(name);
    outcome.error = request.status().message();
    done(std::move(outcome));
    return storage::Status::Ok();
  }
  request->timeout_ms = std::min<int64_t>(request->timeout_ms, api::kMaxTestTimeoutMs);
  http_.Post(std::move(request).value(), [this, name, outcome = std::move(outcome),
                                          done = std::move(done)](OutboundResponse r) mutable {
    Release(name);
    outcome.status = r.status;
    outcome.error = r.error;
    outcome.response_excerpt = r.body_excerpt;
    outcome.duration_us = r.duration_us;
    outcome.cancelled = r.cancelled;
    outcome.acknowledged = r.acknowledged;
    spdlog::info("test event {} to {}: {}", outcome.webhook_id, name,
                 r.acknowledged ? "basic.ack"
                 : r.status > 0 ? "HTTP " + std::to_string(r.status)
                                : r.error);
    done(std::move(outcome));
  });
  return storage::Status::Ok();
}

}  // namespace hookvault::server
