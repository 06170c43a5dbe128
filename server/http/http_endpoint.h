// HttpEndpoint: the Pistache 0.0.5 HTTP server, adapting its requests to api::ApiRequest and
// the Router. Every Pistache-specific guard lives here, each beside the quirk it answers.
#ifndef HOOKVAULT_SERVER_HTTP_HTTP_ENDPOINT_H_
#define HOOKVAULT_SERVER_HTTP_HTTP_ENDPOINT_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "server/http/router.h"
#include "storage/clock.h"
#include "storage/status.h"

namespace Pistache::Http {
class Endpoint;
}

namespace hookvault::server {

// Sees every answered request once: its method, its path (without the query), the response and
// the seconds from its arrival to the response being queued. Runs on whatever thread answers the
// request (a reactor thread, or the writer thread for ingest), so it must be thread-safe, short,
// non-blocking and must not throw.
using RequestObserver =
    std::function<void(std::string_view method, std::string_view path,
                       const api::ApiResponse& response, double latency_seconds)>;

struct EndpointOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 8080;  // 0: any free port (see port())
  int threads = 2;
  // Pistache counts headers and body together against this limit.
  size_t max_request_bytes = (1 << 20) + (16 << 10);
  // The request line and header fields together; a longer head is refused with 413 before
  // Pistache, which rescans the whole head on every read, gets to spend CPU on it.
  size_t max_head_bytes = 32 << 10;
  // Both stay far above the worst commit time: a request that outlives them gets Pistache's
  // 408 although its event may still commit.
  std::chrono::milliseconds header_timeout{10000};
  std::chrono::milliseconds body_timeout{30000};
  // Pistache closes idle connections after this long, counted from the end of their last
  // request; a connection whose request is still being served counts as idle, so this must
  // exceed the longest answer (a long-poll waits up to 30 s).
  std::chrono::milliseconds keepalive_timeout{45000};
  // PEM files; both set: serve HTTPS with Pistache's TLS. Both empty: plain HTTP. For small
  // deployments only: Debian's Pistache 0.0.5 runs each TLS handshake on its one accept thread,
  // blocking, for up to 10 s (fixed, not configurable), so one client that connects and stays
  // silent holds up every new connection that long. nginx in front is the internet-facing path.
  std::string tls_cert_file;
  std::string tls_key_file;
  RequestObserver observer;  // optional: the access log and metrics (server/main.cc)
};

// Thread-safety: Start() and Shutdown() from one controlling thread; owed_answers() from any.
// Requests are handled on Pistache's reactor threads; responses may be sent from any thread.
class HttpEndpoint {
 public:
  // `router` and `clock` must outlive the endpoint.
  HttpEndpoint(EndpointOptions options, const Router& router, const storage::Clock& clock);
  HttpEndpoint(const HttpEndpoint&) = delete;
  HttpEndpoint& operator=(const HttpEndpoint&) = delete;
  ~HttpEndpoint();

  // Binds and starts serving on background threads. Returns kUnavailable if the address
  // cannot be bound or the TLS certificate and key cannot be loaded.
  storage::Status Start();

  // Returns the bound port (useful after binding port 0).
  uint16_t port() const;

  // Returns "https" when TLS is configured, else "http".
  const char* scheme() const { return options_.tls_cert_file.empty() ? "http" : "https"; }

  // Stops serving without losing an answer: waits until every request dispatched so far has
  // been answered (or its client is gone), stops the reactors, and, once their threads have
  // exited, writes every answer still queued on them. Gives up waiting after `drain_timeout`
  // (logged; connections whose clients do not read their answers are then shut down). The caller first makes sure every owed answer will come (the writer drained, the
  // query pool and long-polls stopped); a request arriving meanwhile is answered on its reactor
  // thread and written with the rest.
  void Shutdown(std::chrono::milliseconds drain_timeout = std::chrono::seconds(10));

  // Returns how many dispatched requests have not been answered yet.
  int64_t owed_answers() const;

  struct Drain;  // the answers owed and the reactors holding them (http_endpoint.cc)

 private:
  const EndpointOptions options_;
  const Router& router_;
  const storage::Clock& clock_;
  std::shared_ptr<Drain> drain_;
  std::unique_ptr<Pistache::Http::Endpoint> endpoint_;
  bool running_ = false;
};

}  // namespace hookvault::server

#endif  // HOOKVAULT_SERVER_HTTP_HTTP_ENDPOINT_H_
