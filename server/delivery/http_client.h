// HttpClient: how the forwarding scheduler sends a delivery. Injected, so that the scheduler
// is tested with a fake; CurlHttpClient (curl_http_client.h) is the real one.
#ifndef HOOKVAULT_SERVER_DELIVERY_HTTP_CLIENT_H_
#define HOOKVAULT_SERVER_DELIVERY_HTTP_CLIENT_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace hookvault::server {

struct OutboundRequest {
  std::string url;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  int64_t timeout_ms = 5000;  // for the whole request: connect, send, wait, read
  // amqp:// and amqps:// URLs only (AmqpClient): where the message is published, and its
  // message_id (the event id, as webhook-id).
  std::string amqp_exchange;
  std::string amqp_routing_key;
  std::string message_id;
};

// Most response body bytes kept for the attempt history.
inline constexpr size_t kResponseExcerptBytes = 1024;

struct OutboundResponse {
  int status = 0;            // the HTTP status; 0 when no response arrived
  std::string error;         // why no response arrived (timeout, refused, DNS, ...); else empty
  std::string body_excerpt;  // the first kResponseExcerptBytes bytes of the body
  std::optional<std::string> retry_after;  // the Retry-After header, verbatim
  int64_t duration_us = 0;  // from the start of the request to the end (or the failure)
  // The client stopped before the request ended (its destructor ran): whether the receiver got
  // it is unknown, and no answer of its is.
  bool cancelled = false;
  // AMQP only: the broker confirmed it (basic.ack, and no basic.return before). This, not a
  // status, is an AMQP attempt's success; `status` stays 0.
  bool acknowledged = false;
};

// Thread-safety: Post() may be called from any thread. `done` is called exactly once, on a
// thread of the client's, and must not block long.
class HttpClient {
 public:
  HttpClient() = default;
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;
  virtual ~HttpClient() = default;

  // Sends `request` as a POST. Redirects are not followed (a 3xx is the answer).
  virtual void Post(OutboundRequest request, std::function<void(OutboundResponse)> done) = 0;
};

}  // namespace hookvault::server

#endif  // HOOKVAULT_SERVER_DELIVERY_HTTP_CLIENT_H_
