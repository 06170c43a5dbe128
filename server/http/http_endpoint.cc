#include "server/http/http_endpoint.h"

#include <pistache/endpoint.h>
#include <pistache/http.h>
#include <pistache/peer.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <ostream>

#include "api/params.h"
#include "api/problem.h"
#include "server/http/request_head.h"
#include "storage/base/strings.h"

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
    out.headers.emplace_back(base::AsciiLower(name), raw.value());
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

Pistache::Http::Mime::MediaType MediaTypeFor(const std::string& content_type) {
  static const auto kJson = Pistache::Http::Mime::MediaType::fromString("application/json");
  static const auto kProblem =
      Pistache::Http::Mime::MediaType::fromString("application/problem+json");
  if (content_type == "application/json") return kJson;
  if (content_type == "application/problem+json") return kProblem;
  return Pistache::Http::Mime::MediaType::fromString(content_type);  // rare: /metrics, text
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
// the call and no continuation is attached to the returned promise (ThreadSanitizer reports
// one attached from another thread: its continuation list is not guarded).
void Send(ResponseWriter& writer, const api::ApiResponse& response) {
  auto pin = writer.getPeer();
  if (!pin) return;  // the client is gone; a stored event stays stored (its retry is a duplicate)
  for (const auto& [name, value] : response.headers) {
    writer.headers().add(std::make_shared<NamedHeader>(name, value));
  }
  writer.send(static_cast<Pistache::Http::Code>(response.status), response.body,
              MediaTypeFor(response.content_type));
}

// What the adapter keeps per connection beside Pistache's parser (as the peer's data).
struct EdgeState {
  explicit EdgeState(size_t max_head_bytes) : head(max_head_bytes) {}
  RequestHeadChecker head;
  bool refused = false;  // answered with an error and shut down
};

constexpr char kEdgeStateKey[] = "hookvault.edge";

class Adapter final : public Pistache::Http::Handler {
 public:
  HTTP_PROTOTYPE(Adapter)

  Adapter(const Router* router, const storage::Clock* clock,
          std::shared_ptr<const RequestObserver> observer, size_t max_request_bytes,
          size_t max_head_bytes)
      : router_(router),
        clock_(clock),
        observer_(std::move(observer)),
        max_request_bytes_(max_request_bytes),
        max_head_bytes_(max_head_bytes) {}

  // Pistache's own Http::Handler::onInput (0.0.5; private there, so it cannot be called from
  // here), redone with the public parser API and these changes, each seen over real sockets
  // (tests/integration/http_abuse_test.cc):
  // - A request that cannot be parsed or is too large is answered once, with problem+json and
  //   `Connection: close`, and the connection is closed (Refuse). Pistache answered a
  //   plain-text 413 and went on parsing the rest of an oversized body as further requests: a
  //   10 MiB body took 22 s to read and 8 s of CPU, its 413 left only when the client stopped
  //   sending, and whole requests inside a refused body were served (and stored).
  // - A Content-Length that can never fit is refused as soon as the head is in, not after
  //   1 MiB of body.
  // - The head is checked line by line first (server/request_head.h): what Pistache waits on
  //   until the header timeout, misreads (two Content-Lengths) or answers with 500 (a negative
  //   Content-Length) is a 400 at once.
  // - An exception from parsing is a 400 (a bad chunk size threw std::length_error: Pistache
  //   answered 500 with the exception's text).
  void onInput(const char* buffer, size_t len,
               const std::shared_ptr<Pistache::Tcp::Peer>& peer) override {
    EdgeState& edge = EdgeFor(peer);
    if (edge.refused) return;  // what was already received when the socket was shut down
    auto parser = getParser(peer);
    Pistache::Http::Request& request = parser->request;
    if (auto refusal = edge.head.Feed(std::string_view(buffer, len))) {
      return Refuse(peer, *parser, edge, refusal->status, refusal->detail);
    }
    Pistache::Http::Private::State state;
    try {
      if (!parser->feed(buffer, len)) {
        return Refuse(peer, *parser, edge, 413,
                      "the request is over the limit of " + std::to_string(max_request_bytes_) +
                          " bytes");
      }
      state = parser->parse();
    } catch (const Pistache::Http::HttpError& e) {
      return Refuse(peer, *parser, edge, e.code() == 413 ? 413 : 400, e.reason());
    } catch (const std::exception&) {
      return Refuse(peer, *parser, edge, 400, "malformed request framing");
    }
    if (state == Pistache::Http::Private::State::Done) {
      edge.head.Reset();
      Pistache::Http::ResponseWriter writer(request.version(), transport(), this, peer);
      request.copyAddress(peer->address());
      auto connection = request.headers().tryGet<Pistache::Http::Header::Connection>();
      writer.headers().add<Pistache::Http::Header::Connection>(
          connection ? connection->control() : Pistache::Http::ConnectionControl::Close);
      try {
        onRequest(request, std::move(writer));
      } catch (const std::exception& e) {
        spdlog::error("unhandled exception while dispatching a request: {}", e.what());
      }
      parser->reset();
      return;
    }
    if (parser->step()->id() == Pistache::Http::Private::BodyStep::Id) {
      auto length = request.headers().tryGet<Pistache::Http::Header::ContentLength>();
      if (length && length->value() > max_request_bytes_) {
        return Refuse(peer, *parser, edge, 413,
                      "Content-Length " + std::to_string(length->value()) +
                          " is over the limit of " + std::to_string(max_request_bytes_) +
                          " bytes for a request");
      }
    }
  }

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
  EdgeState& EdgeFor(const std::shared_ptr<Pistache::Tcp::Peer>& peer) const {
    // Peer data is touched only on the connection's reactor thread.
    auto data = peer->tryGetData(kEdgeStateKey);
    if (!data) {
      data = std::make_shared<EdgeState>(max_head_bytes_);
      peer->putData(kEdgeStateKey, data);
    }
    return *std::static_pointer_cast<EdgeState>(data);
  }

  // Answers `status` (400 or 413) as problem+json, then shuts the socket down both ways: the
  // FIN follows the answer; the receive loop then sees the end and Pistache closes the fd; and
  // data the client still sends makes the kernel reset the connection instead of queueing it
  // (a client that goes on uploading gets a reset after its answer, which it can still read).
  // Not a lingering half-close: Pistache's reaper answers 408 into it at the header timeout,
  // the write fails, and 0.0.5 then never removes the peer (its promise is dropped on EPIPE),
  // so a silent client would hold the fd until the keep-alive timeout, 45 s. Runs on the
  // connection's reactor thread, so the fd is still this peer's.
  void Refuse(const std::shared_ptr<Pistache::Tcp::Peer>& peer,
              Pistache::Http::RequestParser& parser, EdgeState& edge, int status,
              const std::string& detail) {
    edge.refused = true;
    Pistache::Http::ResponseWriter writer(parser.request.version(), transport(), this, peer);
    writer.headers().add<Pistache::Http::Header::Connection>(
        Pistache::Http::ConnectionControl::Close);
    Send(writer, api::Problem(status == 413 ? api::ProblemKind::kPayloadTooLarge
                                            : api::ProblemKind::kBadRequest,
                              detail));
    spdlog::info("refused a request from {}: {} {}", peer->address().host(), status, detail);
    parser.reset();
    transport()->flush();  // the answer is queued on the reactor: write it before the FIN
    ::shutdown(peer->fd(), SHUT_RDWR);
  }

  const Router* router_;
  const storage::Clock* clock_;
  std::shared_ptr<const RequestObserver> observer_;  // null when none is set
  size_t max_request_bytes_;
  size_t max_head_bytes_;
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
        options_.observer ? std::make_shared<const RequestObserver>(options_.observer) : nullptr,
        options_.max_request_bytes, options_.max_head_bytes));
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
