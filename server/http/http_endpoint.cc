#include "server/http/http_endpoint.h"

#include <pistache/endpoint.h>
#include <pistache/http.h>
#include <pistache/peer.h>
#include <pistache/transport.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <future>
#include <map>
#include <mutex>
#include <ostream>
#include <thread>
#include <vector>

#include "api/params.h"
#include "api/problem.h"
#include "server/http/request_head.h"
#include "storage/base/strings.h"

namespace hookvault::server {
namespace {

using Pistache::Http::ResponseWriter;

// What the head checker kept of a request that Pistache's parsed Request loses.
struct HeadExtras {
  std::string raw_query;                   // RequestHeadChecker::raw_query()
  std::vector<std::string> forwarded_for;  // RequestHeadChecker::forwarded_for()
};

// Returns every parameter of `raw_query` ("a=1&a=2&b=&c") in order, repeats and empty values
// included ({a,1}, {a,2}, {b,""}, {c,""}), decoded. Pistache 0.0.5 keeps only the first of a
// repeated parameter, so the API could not refuse a repeat; it parses the raw query instead. An
// empty piece ("a=1&&b=2", a trailing '&') carries no parameter and is skipped; a malformed
// escape is passed on as sent, for the handler to refuse.
api::HeaderList ParseQuery(std::string_view raw_query) {
  api::HeaderList out;
  while (!raw_query.empty()) {
    size_t amp = raw_query.find('&');
    std::string_view piece = raw_query.substr(0, amp);
    raw_query.remove_prefix(amp == std::string_view::npos ? raw_query.size() : amp + 1);
    if (piece.empty()) continue;
    size_t eq = piece.find('=');
    std::string_view name = piece.substr(0, eq);
    std::string_view value =
        eq == std::string_view::npos ? std::string_view() : piece.substr(eq + 1);
    out.emplace_back(api::PercentDecode(name).value_or(std::string(name)),
                     api::PercentDecode(value).value_or(std::string(value)));
  }
  return out;
}

api::ApiRequest ToApiRequest(const Pistache::Http::Request& req, const HeadExtras& extras,
                             int64_t now) {
  api::ApiRequest out;
  out.method = Pistache::Http::methodString(req.method());
  out.path = req.resource();
  out.received_at = now;
  out.peer_addr = req.address().host();
  // Pistache keeps every request header raw, and the ones it knows also as typed objects; of a
  // name given on several lines it keeps one. For X-Forwarded-For that is the line the client
  // wrote, not the one a proxy in front (HAProxy) added after it: the lines are joined in order
  // with ", " instead, as RFC 9110 section 5.3 combines them, so the walk from the right
  // (api::ClientAddress) starts at the nearest proxy's entry.
  for (const auto& [name, raw] : req.headers().rawList()) {
    std::string lower = base::AsciiLower(name);
    if (lower == "x-forwarded-for") continue;
    out.headers.emplace_back(std::move(lower), raw.value());
  }
  std::string forwarded_for;
  for (const std::string& line : extras.forwarded_for) {
    if (line.empty()) continue;
    if (!forwarded_for.empty()) forwarded_for += ", ";
    forwarded_for += line;
  }
  if (!forwarded_for.empty()) out.headers.emplace_back("x-forwarded-for", std::move(forwarded_for));
  out.query = ParseQuery(extras.raw_query);
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

// Whether a connection may still be written to, shared by the connection (its EdgeState) and
// every answer it is owed. Pistache 0.0.5 queues a write by fd number; once the connection is
// closed a new one may get the same number, and a write queued after the close would go to it
// (someone else's payload, from a long-poll or a query answered late). The adapter closes the
// gate before flushing the connection's writes at the disconnect, and Send() queues a write only
// while it holds the gate open: every write is queued either before the flush (and goes to the
// right socket) or not at all.
//
// Thread-safety: mu guards open.
struct ConnectionGate {
  std::mutex mu;
  bool open = true;
  int owed = 0;  // answers owed on this connection (guarded by mu)
};

// Sends `response` on `writer`, from any thread. Pistache's send() only queues the write on the
// connection's reactor, so it is safe off the reactor thread, provided the peer is pinned for
// the call and no continuation is attached to the returned promise (ThreadSanitizer reports
// one attached from another thread: its continuation list is not guarded). Nothing is sent once
// `gate` is closed.
// `owed` answers are counted off the gate in the same critical section, before the write is
// queued, so that the client's next request, sent after it read this answer, never finds this
// answer still counted as owed.
void Send(ResponseWriter& writer, const api::ApiResponse& response, ConnectionGate& gate,
          bool owed = false) {
  std::lock_guard<std::mutex> lock(gate.mu);
  if (owed) --gate.owed;
  // Closed: the client is gone; a stored event stays stored (its retry is a duplicate).
  if (!gate.open) return;
  auto pin = writer.getPeer();
  if (!pin) return;
  for (const auto& [name, value] : response.headers) {
    writer.headers().add(std::make_shared<NamedHeader>(name, value));
  }
  writer.send(static_cast<Pistache::Http::Code>(response.status), response.body,
              MediaTypeFor(response.content_type));
}

}  // namespace

// The answers the endpoint still owes and the reactor threads that may hold them, for a
// shutdown that loses none (HttpEndpoint::Shutdown). Shared with every answer and adapter, so
// it outlives the endpoint when an answer does.
//
// Thread-safety: mu guards every member.
struct HttpEndpoint::Drain {
  std::mutex mu;
  std::condition_variable cv;
  int64_t owed = 0;  // answers created (a request dispatched) and not yet sent or dropped
  std::vector<Pistache::Tcp::Transport*> transports;  // one per reactor that took a request
  int reactors_running = 0;  // of those, the reactor threads that have not exited
  // The fd of every open connection that has sent something, by its gate: a stop whose reactors
  // do not finish shuts these down (Shutdown()). An entry leaves when its connection
  // disconnects or its state is freed, which may be just after Pistache closed the fd.
  std::map<const void*, int> connections;

  void Owe() {
    std::lock_guard<std::mutex> lock(mu);
    ++owed;
  }
  void Paid() {
    std::lock_guard<std::mutex> lock(mu);
    if (--owed == 0) cv.notify_all();
  }
};

namespace {

// What the adapter keeps per connection beside Pistache's parser (as the peer's data).
struct EdgeState {
  EdgeState(size_t max_head_bytes, int fd, std::shared_ptr<HttpEndpoint::Drain> drain)
      : head(max_head_bytes), drain(std::move(drain)) {
    std::lock_guard<std::mutex> lock(this->drain->mu);
    this->drain->connections[gate.get()] = fd;
  }
  ~EdgeState() { Forget(); }
  EdgeState(const EdgeState&) = delete;
  EdgeState& operator=(const EdgeState&) = delete;

  // Takes the connection off the drain's list (its fd is about to close).
  void Forget() {
    std::lock_guard<std::mutex> lock(drain->mu);
    drain->connections.erase(gate.get());
  }

  RequestHeadChecker head;
  bool refused = false;  // answered with an error and shut down
  std::shared_ptr<ConnectionGate> gate = std::make_shared<ConnectionGate>();
  std::shared_ptr<HttpEndpoint::Drain> drain;
};

constexpr char kEdgeStateKey[] = "hookvault.edge";

// Runs on a reactor thread that has taken a request, from its first until it exits (a
// thread_local's destructor): the shutdown may touch that reactor's transport only then.
struct ReactorThreadNotice {
  std::shared_ptr<HttpEndpoint::Drain> drain;
  ~ReactorThreadNotice() {
    if (!drain) return;
    std::lock_guard<std::mutex> lock(drain->mu);
    --drain->reactors_running;
    drain->cv.notify_all();
  }
};

// One answer the endpoint owes: the writer and the connection's gate, paid (counted off the
// drain) when sent, or when the last copy of its Responder is dropped unsent.
class OwedAnswer {
 public:
  OwedAnswer(ResponseWriter writer, std::shared_ptr<ConnectionGate> gate,
             std::shared_ptr<HttpEndpoint::Drain> drain)
      : writer_(std::move(writer)), gate_(std::move(gate)), drain_(std::move(drain)) {
    drain_->Owe();
    std::lock_guard<std::mutex> lock(gate_->mu);
    ++gate_->owed;
  }
  ~OwedAnswer() {
    if (!paid_.exchange(true)) Settle();
  }
  OwedAnswer(const OwedAnswer&) = delete;
  OwedAnswer& operator=(const OwedAnswer&) = delete;

  // Sends the answer once: a second call (a handler that answered and then threw, answered
  // again by the catch) is dropped, since the client would read it as its next request's.
  void Send(const api::ApiResponse& response) {
    if (paid_.exchange(true)) return;
    hookvault::server::Send(writer_, response, *gate_, /*owed=*/true);
    drain_->Paid();
  }

 private:
  // Counts an answer dropped unsent off the connection and the drain.
  void Settle() {
    {
      std::lock_guard<std::mutex> lock(gate_->mu);
      --gate_->owed;
    }
    drain_->Paid();
  }

  ResponseWriter writer_;
  std::shared_ptr<ConnectionGate> gate_;
  std::shared_ptr<HttpEndpoint::Drain> drain_;
  std::atomic<bool> paid_{false};
};

class Adapter final : public Pistache::Http::Handler {
 public:
  HTTP_PROTOTYPE(Adapter)

  Adapter(const Router* router, const storage::Clock* clock,
          std::shared_ptr<const RequestObserver> observer, size_t max_request_bytes,
          size_t max_head_bytes, std::shared_ptr<HttpEndpoint::Drain> drain)
      : router_(router),
        clock_(clock),
        observer_(std::move(observer)),
        max_request_bytes_(max_request_bytes),
        max_head_bytes_(max_head_bytes),
        drain_(std::move(drain)) {}

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
      bool answer_owed;
      {
        std::lock_guard<std::mutex> lock(edge.gate->mu);
        answer_owed = edge.gate->owed > 0;
      }
      if (answer_owed) {
        // A request sent before the previous one on this connection was answered (pipelined):
        // an answer given now (a 401 at once) would reach the client before the owed one (a 200
        // from the writer), and each be read as the other's. It is not served: reading stops,
        // and Pistache closes the connection, dropping what is owed (a stored event's retry is
        // a duplicate). Pistache's own handler answered only the first of pipelined requests.
        spdlog::info("closed a connection from {}: a request was pipelined behind an answer owed",
                     peer->address().host());
        edge.refused = true;
        parser->reset();
        ::shutdown(peer->fd(), SHUT_RD);
        return;
      }
      HeadExtras extras{edge.head.raw_query(), edge.head.forwarded_for()};
      edge.head.Reset();
      NoteReactorThread();
      Pistache::Http::ResponseWriter writer(request.version(), transport(), this, peer);
      request.copyAddress(peer->address());
      auto connection = request.headers().tryGet<Pistache::Http::Header::Connection>();
      writer.headers().add<Pistache::Http::Header::Connection>(
          connection ? connection->control() : Pistache::Http::ConnectionControl::Close);
      try {
        Serve(request, std::move(writer), extras, edge.gate);
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

  // Pistache calls this only from its own onInput, which onInput above replaces.
  void onRequest(const Pistache::Http::Request& req, ResponseWriter writer) override {
    Serve(req, std::move(writer), HeadExtras{}, std::make_shared<ConnectionGate>());
  }

  void Serve(const Pistache::Http::Request& req, ResponseWriter writer, const HeadExtras& extras,
             std::shared_ptr<ConnectionGate> gate) {
    int64_t start = clock_->NowMicros();  // the request's receive time, as stored
    // Latency on the monotonic clock: a wall-clock step must not show as a slow (or negative)
    // answer in the access log and the ingest histogram.
    int64_t start_mono = clock_->MonotonicMicros();
    // Pistache 0.0.5 times a connection that is not idle against the header timeout, counted
    // from the end of its last request, and answers 408 and closes it when that passes: it
    // would cut off a long-poll parked for up to 30 s, or an ingest waiting for a slow commit,
    // whose own answer would then never arrive. The request is whole and ours to answer, so
    // the connection counts as idle (keepalive_timeout) until the client sends again.
    if (auto peer = writer.getPeer()) peer->setIdle(true);
    auto owed = std::make_shared<OwedAnswer>(std::move(writer), std::move(gate), drain_);
    std::string method = Pistache::Http::methodString(req.method());
    std::string path = req.resource();
    const storage::Clock* clock = clock_;
    // Shared, not borrowed: a response may be sent from the writer thread after the endpoint
    // is gone.
    std::shared_ptr<const RequestObserver> observer = observer_;
    api::Responder respond = [owed, start_mono, method, path, clock,
                              observer](api::ApiResponse response) {
      owed->Send(response);
      int64_t elapsed_us = clock->MonotonicMicros() - start_mono;
      if (observer) (*observer)(method, path, response, static_cast<double>(elapsed_us) / 1e6);
    };
    try {
      router_->Dispatch(ToApiRequest(req, extras, start), respond);
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
  // An answer posted after this flush would be queued by the old fd number too, so the
  // connection's gate is closed first (ConnectionGate): such an answer is dropped, not queued.
  void onDisconnection(const std::shared_ptr<Pistache::Tcp::Peer>& peer) override {
    if (auto data = peer->tryGetData(kEdgeStateKey)) {
      EdgeState& edge = *std::static_pointer_cast<EdgeState>(data);
      edge.Forget();
      std::lock_guard<std::mutex> lock(edge.gate->mu);
      edge.gate->open = false;
    }
    transport()->flush();
    Pistache::Http::Handler::onDisconnection(peer);
  }

 private:
  // Registers this reactor thread and its transport with the drain, once (each clone of the
  // adapter serves one reactor).
  void NoteReactorThread() {
    if (noted_) return;
    noted_ = true;
    thread_local ReactorThreadNotice notice;
    std::lock_guard<std::mutex> lock(drain_->mu);
    drain_->transports.push_back(transport());
    ++drain_->reactors_running;
    notice.drain = drain_;
  }

  EdgeState& EdgeFor(const std::shared_ptr<Pistache::Tcp::Peer>& peer) const {
    // Peer data is touched only on the connection's reactor thread.
    auto data = peer->tryGetData(kEdgeStateKey);
    if (!data) {
      data = std::make_shared<EdgeState>(max_head_bytes_, peer->fd(), drain_);
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
    api::ProblemKind kind = status == 413   ? api::ProblemKind::kPayloadTooLarge
                            : status == 501 ? api::ProblemKind::kNotImplemented
                                            : api::ProblemKind::kBadRequest;
    Send(writer, api::Problem(kind, detail), *edge.gate);
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
  std::shared_ptr<HttpEndpoint::Drain> drain_;
  bool noted_ = false;  // this clone's reactor thread is registered with drain_
};

}  // namespace

HttpEndpoint::HttpEndpoint(EndpointOptions options, const Router& router,
                           const storage::Clock& clock)
    : options_(std::move(options)),
      router_(router),
      clock_(clock),
      drain_(std::make_shared<Drain>()) {}

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
        options_.max_request_bytes, options_.max_head_bytes, drain_));
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

int64_t HttpEndpoint::owed_answers() const {
  std::lock_guard<std::mutex> lock(drain_->mu);
  return drain_->owed;
}

void HttpEndpoint::Shutdown(std::chrono::milliseconds drain_timeout) {
  if (!running_) return;
  running_ = false;
  const auto deadline = std::chrono::steady_clock::now() + drain_timeout;
  std::unique_lock<std::mutex> lock(drain_->mu);
  // 1. Every answer owed is queued on its reactor (or dropped with its client).
  if (!drain_->cv.wait_until(lock, deadline, [this] { return drain_->owed == 0; })) {
    spdlog::warn("stopping HTTP with {} answers still owed after {} ms", drain_->owed,
                 drain_timeout.count());
  }
  lock.unlock();
  // 2. The reactors stop; each finishes the round it is in.
  endpoint_->shutdown();
  // 3. Once their threads have exited, their transports are this thread's: write what they
  // still hold. A reactor moves a queued write to the connection's list and writes it in its
  // next round, when the socket is writable; a round may never come after shutdown(), so an
  // empty write is queued for every connection, and flush() takes the queue and writes each
  // connection's list, the earlier answers first.
  lock.lock();
  auto stopped = [this] { return drain_->reactors_running == 0; };
  if (!drain_->cv.wait_until(lock, deadline, stopped)) {
    // Pistache's write loop retries a full socket until it drains, on the reactor thread, which
    // then never sees the stop: a client that does not read a large answer holds it. Shutting
    // every connection down for writing fails those writes (EPIPE) and frees the reactor.
    spdlog::warn("HTTP reactors still busy after {} ms (a client not reading?); shutting down {} "
                 "connections",
                 drain_timeout.count(), drain_->connections.size());
    for (const auto& [gate, fd] : drain_->connections) ::shutdown(fd, SHUT_WR);
    if (!drain_->cv.wait_for(lock, std::chrono::seconds(2), stopped)) {
      spdlog::warn("HTTP reactors still running; answers they hold are lost");
      return;
    }
  }
  std::vector<Pistache::Tcp::Transport*> transports = std::move(drain_->transports);
  drain_->transports.clear();
  lock.unlock();
  std::vector<int> fds;
  for (Pistache::Tcp::Transport* transport : transports) {
    for (const auto& peer : transport->getAllPeer()) {
      fds.push_back(peer->fd());
      transport->asyncWrite(peer->fd(), Pistache::RawBuffer(std::string(), 0));
    }
  }
  // Pistache's write loop retries a socket whose buffer is full until it drains, so a client
  // that stops reading would hold the flush forever. It runs on a thread of its own; at the
  // deadline every connection is shut down for writing, which fails those writes (EPIPE) and
  // ends the loop: what has not been written by then is lost, and logged.
  std::promise<void> done;
  std::future<void> flushed = done.get_future();
  std::thread flusher([&transports, &done] {
    for (Pistache::Tcp::Transport* transport : transports) transport->flush();
    done.set_value();
  });
  const auto flush_deadline = std::max(deadline, std::chrono::steady_clock::now() +
                                                     std::chrono::seconds(1));
  if (flushed.wait_until(flush_deadline) != std::future_status::ready) {
    spdlog::warn("clients not reading their answers held the HTTP stop; closing {} connections",
                 fds.size());
    for (int fd : fds) ::shutdown(fd, SHUT_WR);
  }
  flusher.join();
}

}  // namespace hookvault::server
