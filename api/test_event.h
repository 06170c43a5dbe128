// TestEventHandler: POST /api/v1/destinations/{name}/test (contract: "Operator console"). An
// operator sends a synthetic, signed `hookvault.test` event to one destination now, sees what
// the receiver answered, and the audit log keeps who did it.
#ifndef HOOKVAULT_API_TEST_EVENT_H_
#define HOOKVAULT_API_TEST_EVENT_H_

#include <cstdint>
#include <functional>
#include <string>

#include "api/auth.h"
#include "api/http.h"
#include "storage/operator_port.h"
#include "storage/status.h"

namespace hookvault::api {

// What one test event came to.
struct TestEventOutcome {
  std::string webhook_id;        // test_<random>
  int status = 0;                // the receiver's HTTP status; 0 when no response arrived
  std::string error;             // why no response arrived (or it could not be sent); else empty
  std::string response_excerpt;  // the first bytes of the response body
  int64_t duration_us = 0;
  // hookvault stopped before the receiver answered: nothing is known of the outcome, so there
  // is nothing to audit or to show as a result.
  bool cancelled = false;
  // An amqp:// destination's broker confirmed the message (basic.ack): its success, with
  // status 0 and response_excerpt "basic.ack".
  bool acknowledged = false;
};

// Sends test events through the delivery engine's client and signing (server/
// destination_tester.h), so that a test shows what a real delivery would get.
//
// Thread-safety: SendTestEvent() may be called from many threads at once.
class DestinationTester {
 public:
  using Done = std::function<void(TestEventOutcome)>;

  DestinationTester() = default;
  DestinationTester(const DestinationTester&) = delete;
  DestinationTester& operator=(const DestinationTester&) = delete;
  virtual ~DestinationTester() = default;

  // Sends a `hookvault.test` event to the destination `name` now, exactly as its deliveries are
  // sent (URL, headers, signature; the destination's timeout, at most kMaxTestTimeoutMs), and
  // calls `done` with the outcome, on the HTTP client's thread (or this one if it could not be
  // sent); `done` must not block long. Stores nothing. Returns, without calling `done`:
  // kNotFound when no destination of that name is configured, kAlreadyExists while a test of it
  // is still running (one at a time per destination, so that no operator floods a receiver).
  virtual storage::Status SendTestEvent(const std::string& name, Done done) = 0;
};

// The longest a test event waits for its receiver. Its answer is owed to an HTTP client (the
// console) until then: an answer owed much longer would be cut off by the connection's idle
// timeout (45 s) or a proxy's (nginx: 60 s).
inline constexpr int64_t kMaxTestTimeoutMs = 30000;

// The router has checked the caller's permission (kReprocess) before any call; `who` is the
// audit row's actor.
//
// Thread-safety: every method may be called from many threads at once. The test is sent from the
// calling thread and waited for by nobody: no thread is held while the receiver takes its time
// (with 2 query threads, two slow receivers would otherwise stall every read of the API). Its
// outcome arrives on the HTTP client's thread, which queues the audit row to the writer; the
// answer is sent from the writer's thread.
class TestEventHandler {
 public:
  // Both must outlive this object and every outcome the tester still owes (`operations`
  // writes their audit rows).
  TestEventHandler(DestinationTester& tester, storage::OperatorPort& operations)
      : tester_(tester), operations_(operations) {}

  // Body: optional `{"reason": "..."}`. Answers 200 with the outcome once its audit row
  // (`destination.test`) is written, whatever the receiver answered; 404 for an unknown
  // destination; 409 while another test of it runs; 503 with Retry-After when the audit row
  // cannot be written (the event was sent: the detail says so), or when hookvault stops before
  // the receiver answered (no audit row: nothing is known of the outcome).
  void TestDestination(const ApiRequest& req, const Principal& who, const std::string& name,
                       Responder respond) const;

 private:
  DestinationTester& tester_;
  storage::OperatorPort& operations_;
};

// Returns the audit target of a test: {"destination", "webhook_id", "status", "error",
// "duration_ms"} (status or error null).
std::string TestEventTarget(const std::string& destination, const TestEventOutcome& outcome);

// Returns the 200 answer {"destination", "status", "duration_ms", "response_excerpt", "error",
// "audit_id"} (status null and error set when no response arrived).
std::string RenderTestEvent(const std::string& destination, const TestEventOutcome& outcome,
                            int64_t audit_id);

}  // namespace hookvault::api

#endif  // HOOKVAULT_API_TEST_EVENT_H_
