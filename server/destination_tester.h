// HttpDestinationTester: the api::DestinationTester of a serving hookvault. It sends each test
// event through an HttpClient of its own (server/main.cc: so that a test never waits for a
// connection behind deliveries), built by the same BuildOutboundRequest and signed with the same
// secret as the destination's real deliveries.
#ifndef HOOKVAULT_SERVER_DESTINATION_TESTER_H_
#define HOOKVAULT_SERVER_DESTINATION_TESTER_H_

#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "api/test_event.h"
#include "server/delivery/destination.h"
#include "server/delivery/http_client.h"
#include "server/delivery/outbound_request.h"
#include "server/delivery/webhook_signature.h"
#include "storage/clock.h"

namespace hookvault::server {

// The event type of a test event; its body is
// {"type":"hookvault.test","test":true,"destination":"<name>","sent_at":"<RFC 3339>"}.
inline constexpr std::string_view kTestEventType = "hookvault.test";
// The X-Hookvault-Source of a test event: it came from no source, but from hookvault itself.
inline constexpr std::string_view kTestEventSource = "hookvault";

// Thread-safety: SendTestEvent() may be called from many threads at once; the destinations are
// immutable after construction. The HttpClient's completions arrive on its thread. `http` and
// `clock` must outlive this object, and the HttpClient must call every completion before this
// object goes (CurlHttpClient does when it is destroyed).
class HttpDestinationTester final : public api::DestinationTester {
 public:
  HttpDestinationTester(const std::vector<OutboundDestination>& destinations, HttpClient& http,
                        const storage::Clock& clock, std::string user_agent,
                        SignFunction sign = SignWebhook);

  storage::Status SendTestEvent(const std::string& name, Done done) override;

 private:
  struct Target {
    OutboundDestination config;
    std::string signing_key;  // decoded; empty: unsigned
  };

  // Ends the test of `name`: another may start.
  void Release(const std::string& name);

  std::map<std::string, Target, std::less<>> destinations_;  // immutable
  HttpClient& http_;
  const storage::Clock& clock_;
  const std::string user_agent_;
  const SignFunction sign_;

  std::mutex mu_;
  std::set<std::string, std::less<>> running_;  // destinations with a test in flight; guarded by mu_
};

}  // namespace hookvault::server

#endif  // HOOKVAULT_SERVER_DESTINATION_TESTER_H_
