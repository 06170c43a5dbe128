// Framework-free HTTP request and response, so handlers are testable without sockets.
#ifndef HOOKVAULT_API_HTTP_H_
#define HOOKVAULT_API_HTTP_H_

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace hookvault::api {

using HeaderList = std::vector<std::pair<std::string, std::string>>;

struct ApiRequest {
  std::string method;       // "POST"
  std::string path;         // "/webhooks/harmonics", without the query
  HeaderList headers;       // names in lower case, in arrival order
  HeaderList query;         // decoded query parameters
  std::string body;         // raw bytes
  std::string peer_addr;    // the socket peer's IP address
  int64_t received_at = 0;  // microseconds since the epoch

  // Returns the first header with this lower-case name, or nullptr.
  const std::string* Header(std::string_view lower_name) const;
};

struct ApiResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  HeaderList headers;  // extra headers, e.g. Retry-After
  // For the access log only: the source and event this request concerned, when any.
  std::string source;
  std::string event_id;
};

// Returns a 200 application/json response with `body`.
inline ApiResponse JsonOk(std::string body) {
  ApiResponse r;
  r.body = std::move(body);
  return r;
}

// Receives the one response to a request. May be called on another thread than the one that
// received the request.
using Responder = std::function<void(ApiResponse)>;

}  // namespace hookvault::api

#endif  // HOOKVAULT_API_HTTP_H_
