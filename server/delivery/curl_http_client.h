// CurlHttpClient: the real HttpClient, on libcurl's multi interface driven by one thread.
#ifndef HOOKVAULT_SERVER_DELIVERY_CURL_HTTP_CLIENT_H_
#define HOOKVAULT_SERVER_DELIVERY_CURL_HTTP_CLIENT_H_

#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "server/delivery/http_client.h"

namespace hookvault::server {

struct CurlHttpClientOptions {
  // Most transfers in flight at once, and most connections open (also set as
  // CURLMOPT_MAX_TOTAL_CONNECTIONS). Requests beyond it wait in the client's queue; their
  // timeout_ms and duration_us start when they leave it. 0 = unlimited.
  long max_total_connections = 64;
  // The same for one host:port (CURLMOPT_MAX_HOST_CONNECTIONS). 0 = unlimited.
  long max_host_connections = 0;
};

// Sends every request on one thread of its own ("hv-http") that drives a libcurl multi
// handle, so idle connections stay in one shared cache and are reused across requests and
// callers (keep-alive). Each request: a POST of the exact body bytes, the caller's headers
// (with "Expect: 100-continue" suppressed), `timeout_ms` for the whole transfer, TLS
// verification on, redirects not followed, http and https only.
//
// The response body: the first kResponseExcerptBytes bytes are kept. Up to kMaxDrainBytes of
// body are read and dropped after that, so the connection stays reusable; a body longer than
// that is cut off (the connection is closed) and the status already received is reported.
// Any other failure after the status line (a timeout or reset mid-body) is no answer:
// status 0, with the status that came named in `error`.
//
// Thread-safety: Post() may be called from any thread, including from inside a `done`
// callback. Every `done` is called exactly once, on the client's thread, outside any lock of
// the client; it must not block long (it holds up every other transfer). The destructor
// completes whatever is still queued or in flight with status 0 and error "client shutting
// down" and joins the thread; it must not run concurrently with Post() from another thread,
// nor from inside a `done` callback. Exceptions thrown by `done` are caught and logged.
class CurlHttpClient final : public HttpClient {
 public:
  // Bytes of response body read (and dropped) before a transfer is cut off.
  static constexpr size_t kMaxDrainBytes = 1 << 20;

  explicit CurlHttpClient(CurlHttpClientOptions options = {});
  ~CurlHttpClient() override;

  void Post(OutboundRequest request, std::function<void(OutboundResponse)> done) override;

 private:
  struct Pending {
    OutboundRequest request;
    std::function<void(OutboundResponse)> done;
  };

  void Run();

  const CurlHttpClientOptions options_;
  void* multi_ = nullptr;  // CURLM*; used by the thread only (curl_multi_wakeup excepted)

  std::mutex mu_;
  std::deque<Pending> queue_;  // guarded by mu_
  bool stopping_ = false;      // guarded by mu_
  bool exited_ = false;        // guarded by mu_; the thread completes no more requests

  std::thread thread_;  // last: started once everything above is initialised
};

}  // namespace hookvault::server

#endif  // HOOKVAULT_SERVER_DELIVERY_CURL_HTTP_CLIENT_H_
