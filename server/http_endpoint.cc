#include "server/http_endpoint.h"

#include <pistache/endpoint.h>
#include <pistache/http.h>
#include <pistache/peer.h>
#include <spdlog/spdlog.h>

#include <ostream>

#include "api/params.h"
#include "api/problem.h"
#include "server/logging.h"
#include "server/metrics.h"

namespace hookvault::server {
namespace {

using Pistache::Http::ResponseWriter;

api::ApiRequest ToApiRequest(const Pistache::Http::Request& req, int64_t now) {
  api::ApiRequest out;
  out.method = Pistache::Http::methodString(req.method());
  out.path = req.resource();
  out.received_at = now;
  out.peer_addr = req.address().host();
  // Pistache keeps every request header raw, and the ones it knows also as typed objects.
  for (const auto& [name, raw] : req.headers().rawList()) {
    out.headers.emplace_back(api::AsciiLower(name), raw.value());
  }
  // Pistache 0.0.5 neither decodes query parameters nor keeps a repeated one (the first
  // wins); a malformed escape is passed on as sent, for the handler to refuse.
  const auto& query = req.query();
  for (auto it = query.parameters_begin(); it != query.parameters_end(); ++it) {
    out.query.emplace_back(api::PercentDecode(it->first).value_or(it->first),
                           api::PercentDecode(it->second).value_or(it->second));
  }
  out.body = req.body();
  return out;
}

const Pistache::Http::Mime::MediaType& MediaTypeFor(const std::string& content_type) {
  static const auto kJson = Pistache::Http::Mime::MediaType::fromString("application/json");
  static const auto kProblem =
      Pistache::Http::Mime::MediaType::fromString("application/problem+json");
  static const auto kText = Pistache::Http::Mime::MediaType::fromString("text/plain");
  static const auto kMetrics =
      Pistache::Http::Mime::MediaType::fromString(std::string(kMetricsContentType));
  if (content_type == "application/json") return kJson;
  if (content_type == "application/problem+json") return kProblem;
  if (content_type == kMetricsContentType) return kMetrics;
  return kText;
}

// A response header of any name. Pistache 0.0.5 writes only typed headers into a response
// (raw ones are dropped), so Retry-After and Allow need this.
class NamedHeader final : public Pistache::Http::Header::Header {
 public:
  NamedHeader(std::string name, std::string value)
      : name_(std::move(name)), value_(std::move(value)) {}
  const char* name() const override { return name_.c_str(); }
  void parse(const std::string& data) override { value_ = data; }
  void write(std::ostream& os) const override { os << value_; }
  // Used only by Pistache's checked casts to typed headers, which this one never undergoes.
  uint64_t hash() const override { return Pistache::Http::Header::detail::hash(name_.c_str()); }

 private:
  std::string name_;
  std::string value_;
};

// Sends `response` on `writer`, from any thread. Pistache's send() only queues the write on the
// connection's reactor, so it is safe off the reactor thread, provided the peer is pinned for
// the call and no continuation is attached to the returned promise (design.md).
void Send(ResponseWriter& writer, const api::ApiResponse& response) {
  auto pin = writer.getPeer();
  if (!pin) return;  // the client is gone; a stored event stays stored (its retry is a duplicate)
  for (const auto& [name, value] : response.headers) {
    writer.headers().add(std::make_shared<NamedHeader>(name, value));
  }
  writer.send(static_cast<Pistache::Http::Code>(response.status), response.body,
              MediaTypeFor(response.content_type));
}

class Adapter final : public Pistache::Http::Handler {
 public:
  HTTP_PROTOTYPE(Adapter)

  Adapter(const Router* router, const storage::Clock* clock,
          std::shared_ptr<const RequestObserver> observer)
      : router_(router), clock_(clock), observer_(std::move(observer)) {}

  void onRequest(const Pistache::Http::Request& req, ResponseWriter writer) override {
    int64_t start = clock_->NowMicros();
    // Pistache 0.0.5 times a connection that is not idle against the header timeout, counted
    // from the end of its last request, and answers 408 and closes it when that passes: it
    // would cut off a long-poll parked for up to 30 s, or an ingest waiting for a slow commit,
    // whose own answer would then never arrive. The request is whole and ours to answer, so
    // the connection counts as idle (keepalive_timeout) until the client sends again.
    if (auto peer = writer.getPeer()) peer->setIdle(true);
    auto shared = std::make_shared<ResponseWriter>(std::move(writer));
    std::string method = Pistache::Http::methodString(req.method());
    std::string path = req.resource();
    const storage::Clock* clock = clock_;
    // Shared, not borrowed: a response may be sent from the writer thread after the endpoint
    // is gone.
    std::shared_ptr<const RequestObserver> observer = observer_;
    api::Responder respond = [shared, start, method, path, clock,
                              observer](api::ApiResponse response) {
      Send(*shared, response);
      int64_t elapsed_us = clock->NowMicros() - start;
      LogRequest(method, path, response.status, static_cast<double>(elapsed_us) / 1000.0,
                 response.source, response.event_id);
      if (observer) (*observer)(method, path, response, static_cast<double>(elapsed_us) / 1e6);
    };
    try {
      router_->Dispatch(ToApiRequest(req, start), respond);
    } catch (const std::exception& e) {
      spdlog::error("unhandled exception on {} {}: {}", method, path, e.what());
      respond(
          api::Problem(api::ProblemKind::kInternal, "internal error; see the server log", path));
    }
  }

  // The wrong-client guard. Pistache 0.0.5 keys pending writes by fd number; when a client
  // disconnects, its fd is closed and a new connection reusing the number would receive the
  // stale write. Flushing the pending writes here, just before Pistache closes the fd, sends
  // them to the socket they were meant for (or drops them with it). Keep
  // tests/integration/wrong_client_test.cc passing.
  void onDisconnection(const std::shared_ptr<Pistache::Tcp::Peer>& peer) override {
    transport()->flush();
    Pistache::Http::Handler::onDisconnection(peer);
  }

 private:
  const Router* router_;
  const storage::Clock* clock_;
  std::shared_ptr<const RequestObserver> observer_;  // null when none is set
};

}  // namespace

HttpEndpoint::HttpEndpoint(EndpointOptions options, const Router& router,
                           const storage::Clock& clock)
    : options_(std::move(options)), router_(router), clock_(clock) {}

HttpEndpoint::~HttpEndpoint() { Shutdown(); }

storage::Status HttpEndpoint::Start() {
  try {
    Pistache::Address address(options_.host, Pistache::Port(options_.port));
    endpoint_ = std::make_unique<Pistache::Http::Endpoint>(address);
    auto opts = Pistache::Http::Endpoint::options()
                    .threads(options_.threads)
                    .flags(Pistache::Tcp::Options::ReuseAddr)
                    .maxRequestSize(options_.max_request_bytes)
                    .headerTimeout(options_.header_timeout)
                    .bodyTimeout(options_.body_timeout)
                    .keepaliveTimeout(options_.keepalive_timeout);
    endpoint_->init(opts);
    if (!options_.tls_cert_file.empty()) {
      try {
        endpoint_->useSSL(options_.tls_cert_file, options_.tls_key_file);
      } catch (const std::exception& e) {
        endpoint_.reset();
        return storage::Status::Unavailable("cannot load TLS certificate " +
                                            options_.tls_cert_file + " and key " +
                                            options_.tls_key_file + ": " + e.what());
      }
    }
    endpoint_->setHandler(Pistache::Http::make_handler<Adapter>(
        &router_, &clock_,
        options_.observer ? std::make_shared<const RequestObserver>(options_.observer) : nullptr));
    endpoint_->serveThreaded();
    running_ = true;
  } catch (const std::exception& e) {
    endpoint_.reset();
    return storage::Status::Unavailable("cannot listen on " + options_.host + ":" +
                                        std::to_string(options_.port) + ": " + e.what());
  }
  return storage::Status::Ok();
}

uint16_t HttpEndpoint::port() const {
  return endpoint_ ? static_cast<uint16_t>(endpoint_->getPort()) : 0;
}

void HttpEndpoint::Shutdown() {
  if (!running_) return;
  running_ = false;
  endpoint_->shutdown();
}

}  // namespace hookvault::server
