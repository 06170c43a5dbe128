#include "server/delivery/amqp_client.h"

#include <amqp.h>
#include <amqp_framing.h>
#include <amqp_ssl_socket.h>
#include <amqp_tcp_socket.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <exception>
#include <optional>
#include <utility>
#include <vector>

namespace hookvault::server {
namespace {

constexpr amqp_channel_t kChannel = 1;
// The largest frame asked of the broker (its default): bodies beyond it go in several frames.
constexpr int kFrameMax = 131072;
// How long the thread sleeps at most between two looks at its connections: each look sends
// the heartbeats that are due and notices missed ones.
constexpr int kMaxPollMs = 1000;

int64_t NowMicros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

timeval ToTimeval(int64_t ms) {
  ms = std::max<int64_t>(ms, 1);
  return timeval{static_cast<time_t>(ms / 1000), static_cast<suseconds_t>((ms % 1000) * 1000)};
}

std::string ToString(amqp_bytes_t bytes) {
  return std::string(static_cast<const char*>(bytes.bytes), bytes.len);
}

amqp_bytes_t ToBytes(const std::string& text) {
  return amqp_bytes_t{text.size(), const_cast<char*>(text.data())};
}

// Returns "CODE TEXT" of a broker's close.
std::string CloseReason(uint16_t code, amqp_bytes_t text) {
  return std::to_string(code) + " " + ToString(text);
}

// Returns what went wrong in an RPC's reply (empty when it succeeded).
std::string ReplyError(const amqp_rpc_reply_t& reply) {
  switch (reply.reply_type) {
    case AMQP_RESPONSE_NORMAL:
      return "";
    case AMQP_RESPONSE_NONE:
      return "no reply";
    case AMQP_RESPONSE_LIBRARY_EXCEPTION:
      return amqp_error_string2(reply.library_error);
    case AMQP_RESPONSE_SERVER_EXCEPTION:
      if (reply.reply.id == AMQP_CONNECTION_CLOSE_METHOD) {
        auto* m = static_cast<amqp_connection_close_t*>(reply.reply.decoded);
        return "connection closed by the broker: " + CloseReason(m->reply_code, m->reply_text);
      }
      if (reply.reply.id == AMQP_CHANNEL_CLOSE_METHOD) {
        auto* m = static_cast<amqp_channel_close_t*>(reply.reply.decoded);
        return "channel closed: " + CloseReason(m->reply_code, m->reply_text);
      }
      return "unexpected broker method " + std::to_string(reply.reply.id);
  }
  return "unknown reply";
}

struct Request {
  OutboundRequest request;
  std::function<void(OutboundResponse)> done;
};

void Finish(Request& r, OutboundResponse response) {
  try {
    r.done(std::move(response));
  } catch (const std::exception& e) {
    spdlog::error("amqp client: a completion callback threw: {}", e.what());
  } catch (...) {
    spdlog::error("amqp client: a completion callback threw");
  }
}

void Fail(Request& r, int64_t started_us, std::string error) {
  OutboundResponse response;
  response.error = std::move(error);
  response.duration_us = NowMicros() - started_us;
  Finish(r, std::move(response));
}

// A published message awaiting its confirm.
struct InFlight {
  Request request;
  int64_t started_us = 0;
  int64_t deadline_us = 0;
};

// A message the broker returned (basic.return, then its content header): its ack follows.
struct Returned {
  std::string message_id;
  std::string exchange;
  std::string routing_key;
  std::string reason;
};

// One broker connection and its channel in confirm mode, used by the client's thread only.
class Connection {
 public:
  Connection(std::string url, const AmqpClientOptions& options)
      : url_(std::move(url)), options_(options) {}
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  ~Connection() { Destroy(); }

  bool up() const { return state_ != nullptr; }
  int fd() const { return state_ ? amqp_get_sockfd(state_) : -1; }
  bool Buffered() const {
    return state_ && (amqp_frames_enqueued(state_) || amqp_data_in_buffer(state_));
  }
  std::optional<int64_t> NextDeadline() const {
    std::optional<int64_t> next;
    for (const auto& [tag, f] : in_flight_) {
      if (!next || f.deadline_us < *next) next = f.deadline_us;
    }
    return next;
  }

  // Publishes `r` (connecting first if need be), or fails it at once.
  void Publish(Request r) {
    const int64_t started = NowMicros();
    if (!up()) {
      if (started < down_until_us_) {
        Fail(r, started,
             "connection down: " + last_error_ + " (reconnecting in " +
                 std::to_string((down_until_us_ - started + 999) / 1000) + " ms)");
        return;
      }
      std::string error = Connect(r.request.timeout_ms);
      if (!error.empty()) {
        Down(error);
        Fail(r, started, error);
        return;
      }
    }
    amqp_basic_properties_t props;
    std::memset(&props, 0, sizeof(props));
    props._flags = AMQP_BASIC_CONTENT_TYPE_FLAG | AMQP_BASIC_DELIVERY_MODE_FLAG |
                   AMQP_BASIC_MESSAGE_ID_FLAG | AMQP_BASIC_HEADERS_FLAG;
    props.delivery_mode = AMQP_DELIVERY_PERSISTENT;
    props.message_id = ToBytes(r.request.message_id);
    std::string content_type = "application/json";
    std::string app_id;
    // The table's keys and values point into these strings.
    std::vector<std::pair<std::string, std::string>> headers;
    for (const auto& [name, value] : r.request.headers) {
      std::string key = name;
      std::transform(key.begin(), key.end(), key.begin(),
                     [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
      if (key == "content-type") {
        content_type = value;
      } else if (key == "user-agent") {
        app_id = value;
      } else {
        if (key == "webhook-timestamp") {
          props._flags |= AMQP_BASIC_TIMESTAMP_FLAG;
          props.timestamp = std::strtoull(value.c_str(), nullptr, 10);
        }
        headers.emplace_back(std::move(key), value);
      }
    }
    props.content_type = ToBytes(content_type);
    if (!app_id.empty()) {
      props._flags |= AMQP_BASIC_APP_ID_FLAG;
      props.app_id = ToBytes(app_id);
    }
    std::vector<amqp_table_entry_t> entries(headers.size());
    for (size_t i = 0; i < headers.size(); ++i) {
      entries[i].key = ToBytes(headers[i].first);
      entries[i].value.kind = AMQP_FIELD_KIND_UTF8;
      entries[i].value.value.bytes = ToBytes(headers[i].second);
    }
    props.headers.num_entries = static_cast<int>(entries.size());
    props.headers.entries = entries.data();
    int rc = amqp_basic_publish(state_, kChannel, ToBytes(r.request.amqp_exchange),
                                ToBytes(r.request.amqp_routing_key), /*mandatory=*/1,
                                /*immediate=*/0, &props, ToBytes(r.request.body));
    if (rc != AMQP_STATUS_OK) {
      std::string error = std::string("connection lost: ") + amqp_error_string2(rc);
      Lose(error);
      Fail(r, started, error);
      return;
    }
    const uint64_t tag = next_tag_++;
    int64_t deadline = started + std::max<int64_t>(r.request.timeout_ms, 1) * 1000;
    in_flight_.emplace(tag, InFlight{std::move(r), started, deadline});
  }

  // Reads and handles every frame that has arrived (and sends a heartbeat when one is due).
  void Drain() {
    while (up()) {
      amqp_frame_t frame;
      timeval zero{0, 0};
      int rc = amqp_simple_wait_frame_noblock(state_, &frame, &zero);
      if (rc == AMQP_STATUS_TIMEOUT) break;
      if (rc != AMQP_STATUS_OK) {
        Lose(std::string("connection lost: ") + amqp_error_string2(rc));
        return;
      }
      Handle(frame);
      if (up()) amqp_maybe_release_buffers(state_);
    }
  }

  // Fails the messages whose confirm has not come in time. The connection is kept: a broker
  // under a memory or disk alarm holds confirms without being dead (heartbeats tell that).
  void Expire(int64_t now) {
    for (auto it = in_flight_.begin(); it != in_flight_.end();) {
      if (it->second.deadline_us <= now) {
        InFlight f = std::move(it->second);
        it = in_flight_.erase(it);
        Fail(f.request, f.started_us,
             "timeout waiting for publisher confirm (" +
                 std::to_string(f.request.request.timeout_ms) + " ms)");
      } else {
        ++it;
      }
    }
    if (in_flight_.empty()) returned_.clear();
  }

  // Completes everything awaiting its confirm as cancelled, and closes the connection.
  void Cancel() {
    for (auto& [tag, f] : in_flight_) {
      OutboundResponse response;
      response.error = "client shutting down";
      response.cancelled = true;
      response.duration_us = NowMicros() - f.started_us;
      Finish(f.request, std::move(response));
    }
    in_flight_.clear();
    if (up()) {
      timeval tv = ToTimeval(1000);
      amqp_set_rpc_timeout(state_, &tv);
      amqp_connection_close(state_, AMQP_REPLY_SUCCESS);
    }
    Destroy();
  }

 private:
  // Opens the connection, logs in, opens the channel and puts it in confirm mode. Returns the
  // error, or empty.
  std::string Connect(int64_t timeout_ms) {
    std::string text = url_;  // amqp_parse_url writes into it, and `info` points into it
    amqp_connection_info info;
    amqp_default_connection_info(&info);
    if (amqp_parse_url(text.data(), &info) != AMQP_STATUS_OK) return "cannot connect: bad URL";
    // "amqp://host/" names the empty vhost in the AMQP URI spec, which no broker has; RabbitMQ's
    // own clients take it as the default vhost, and so does hookvault.
    const char* vhost = (info.vhost == nullptr || info.vhost[0] == '\0') ? "/" : info.vhost;
    const std::string where = std::string(info.host) + ":" + std::to_string(info.port);
    state_ = amqp_new_connection();
    if (state_ == nullptr) return "cannot connect: out of memory";
    amqp_socket_t* socket = nullptr;
    if (info.ssl) {
      socket = amqp_ssl_socket_new(state_);
      if (socket != nullptr) {
        // Peer and host name verification against the system's CAs.
        SSL_CTX_set_default_verify_paths(static_cast<SSL_CTX*>(amqp_ssl_socket_get_context(socket)));
        amqp_ssl_socket_set_verify_peer(socket, 1);
        amqp_ssl_socket_set_verify_hostname(socket, 1);
      }
    } else {
      socket = amqp_tcp_socket_new(state_);
    }
    if (socket == nullptr) {
      Destroy();
      return "cannot connect: cannot create a socket";
    }
    timeval tv = ToTimeval(timeout_ms);
    amqp_set_handshake_timeout(state_, &tv);
    amqp_set_rpc_timeout(state_, &tv);
    int rc = amqp_socket_open_noblock(socket, info.host, info.port, &tv);
    if (rc != AMQP_STATUS_OK) {
      Destroy();
      return "cannot connect to " + where + ": " + amqp_error_string2(rc);
    }
    std::string error =
        ReplyError(amqp_login(state_, vhost, 0, kFrameMax, options_.heartbeat_seconds,
                              AMQP_SASL_METHOD_PLAIN, info.user, info.password));
    if (error.empty()) {
      amqp_channel_open(state_, kChannel);
      error = ReplyError(amqp_get_rpc_reply(state_));
    }
    if (error.empty()) {
      amqp_confirm_select(state_, kChannel);
      error = ReplyError(amqp_get_rpc_reply(state_));
    }
    if (!error.empty()) {
      Destroy();
      return "cannot connect to " + where + ": " + error;
    }
    // A confirm that is late must not hold the thread: RPCs are done, the rest polls.
    next_tag_ = 1;
    backoff_ms_ = 0;
    return "";
  }

  void Handle(const amqp_frame_t& frame) {
    if (frame.frame_type == AMQP_FRAME_HEADER) {
      if (returning_) {
        auto* props = static_cast<amqp_basic_properties_t*>(frame.payload.properties.decoded);
        if (props != nullptr && (props->_flags & AMQP_BASIC_MESSAGE_ID_FLAG)) {
          returning_->message_id = ToString(props->message_id);
        }
        returned_.push_back(std::move(*returning_));
        returning_.reset();
      }
      return;
    }
    if (frame.frame_type != AMQP_FRAME_METHOD) return;  // a returned message's body
    const amqp_method_t& method = frame.payload.method;
    switch (method.id) {
      case AMQP_BASIC_ACK_METHOD: {
        auto* m = static_cast<amqp_basic_ack_t*>(method.decoded);
        Confirm(m->delivery_tag, m->multiple != 0, true);
        break;
      }
      case AMQP_BASIC_NACK_METHOD: {
        auto* m = static_cast<amqp_basic_nack_t*>(method.decoded);
        Confirm(m->delivery_tag, m->multiple != 0, false);
        break;
      }
      case AMQP_BASIC_RETURN_METHOD: {
        auto* m = static_cast<amqp_basic_return_t*>(method.decoded);
        returning_ = Returned{"", ToString(m->exchange), ToString(m->routing_key),
                              "basic.return " + CloseReason(m->reply_code, m->reply_text) +
                                  " (exchange '" + ToString(m->exchange) + "', routing key '" +
                                  ToString(m->routing_key) + "')"};
        break;
      }
      case AMQP_CHANNEL_CLOSE_METHOD: {
        auto* m = static_cast<amqp_channel_close_t*>(method.decoded);
        Lose("channel closed: " + CloseReason(m->reply_code, m->reply_text));
        break;
      }
      case AMQP_CONNECTION_CLOSE_METHOD: {
        auto* m = static_cast<amqp_connection_close_t*>(method.decoded);
        std::string reason = CloseReason(m->reply_code, m->reply_text);
        amqp_connection_close_ok_t ok{};
        amqp_send_method(state_, 0, AMQP_CONNECTION_CLOSE_OK_METHOD, &ok);
        Lose("connection closed by the broker: " + reason);
        break;
      }
      case AMQP_CONNECTION_BLOCKED_METHOD:
        spdlog::warn("amqp {}: the broker blocks publishing (resource alarm); confirms wait",
                     url_host());
        break;
      default:
        break;
    }
  }

  // The broker's verdict on `tag` (and, with `multiple`, every earlier tag).
  void Confirm(uint64_t tag, bool multiple, bool ack) {
    std::vector<InFlight> confirmed;
    if (multiple) {
      // Tag 0 with `multiple` confirms everything outstanding.
      auto end = tag == 0 ? in_flight_.end() : in_flight_.upper_bound(tag);
      for (auto it = in_flight_.begin(); it != end;) {
        confirmed.push_back(std::move(it->second));
        it = in_flight_.erase(it);
      }
    } else if (auto it = in_flight_.find(tag); it != in_flight_.end()) {
      confirmed.push_back(std::move(it->second));
      in_flight_.erase(it);
    }
    for (InFlight& f : confirmed) {
      const OutboundRequest& q = f.request.request;
      if (!ack) {
        Fail(f.request, f.started_us,
             "basic.nack: the broker did not take the message (a full queue with "
             "x-overflow reject-publish, or a broker error)");
        continue;
      }
      // A returned message is acked too: its return came first.
      auto returned = std::find_if(returned_.begin(), returned_.end(), [&](const Returned& r) {
        return r.message_id == q.message_id && r.exchange == q.amqp_exchange &&
               r.routing_key == q.amqp_routing_key;
      });
      if (returned != returned_.end()) {
        std::string reason = std::move(returned->reason);
        returned_.erase(returned);
        Fail(f.request, f.started_us, std::move(reason));
        continue;
      }
      OutboundResponse response;
      response.acknowledged = true;
      response.body_excerpt = "basic.ack";
      response.duration_us = NowMicros() - f.started_us;
      Finish(f.request, std::move(response));
    }
  }

  // The connection is gone: every message awaiting its confirm fails with `error` (the broker
  // may or may not have it: it is retried, so a consumer may see it twice), and publishes fail
  // at once until the backoff has passed.
  void Lose(const std::string& error) {
    spdlog::warn("amqp {}: {}", url_host(), error);
    std::map<uint64_t, InFlight> lost;
    lost.swap(in_flight_);
    Down(error);
    for (auto& [tag, f] : lost) Fail(f.request, f.started_us, error);
  }

  void Down(const std::string& error) {
    Destroy();
    last_error_ = error;
    backoff_ms_ = backoff_ms_ == 0
                      ? options_.reconnect_backoff_ms
                      : std::min(backoff_ms_ * 2, options_.max_reconnect_backoff_ms);
    down_until_us_ = NowMicros() + backoff_ms_ * 1000;
  }

  void Destroy() {
    if (state_ != nullptr) amqp_destroy_connection(state_);
    state_ = nullptr;
    returned_.clear();
    returning_.reset();
  }

  // The URL's host part, for logs (never the password).
  std::string url_host() const {
    size_t at = url_.rfind('@');
    size_t start = at == std::string::npos ? url_.find("://") + 3 : at + 1;
    return url_.substr(0, url_.find("://") + 3) + url_.substr(start);
  }

  const std::string url_;
  const AmqpClientOptions& options_;
  amqp_connection_state_t state_ = nullptr;
  uint64_t next_tag_ = 1;
  std::map<uint64_t, InFlight> in_flight_;  // by delivery tag
  std::vector<Returned> returned_;          // returns whose ack has not come yet
  std::optional<Returned> returning_;       // a basic.return whose content header is next
  std::string last_error_;
  int64_t backoff_ms_ = 0;  // the last reconnect backoff; 0 after a successful connect
  int64_t down_until_us_ = 0;
};

}  // namespace

AmqpClient::AmqpClient(AmqpClientOptions options) : options_(options) {
  wake_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  thread_ = std::thread([this] { Run(); });
}

AmqpClient::~AmqpClient() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  Wake();
  thread_.join();
  if (wake_fd_ >= 0) close(wake_fd_);
}

bool IsValidAmqpUrl(const std::string& url) {
  std::string text = url;  // amqp_parse_url writes into it
  amqp_connection_info info;
  amqp_default_connection_info(&info);
  return amqp_parse_url(text.data(), &info) == AMQP_STATUS_OK && info.host != nullptr &&
         info.host[0] != '\0';
}

void AmqpClient::Post(OutboundRequest request, std::function<void(OutboundResponse)> done) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    queue_.push_back(Pending{std::move(request), std::move(done)});
  }
  Wake();
}

void AmqpClient::Wake() {
  uint64_t one = 1;
  // A full counter (never, in practice) still leaves the fd readable: the wake is not lost.
  ssize_t n = write(wake_fd_, &one, sizeof(one));
  (void)n;
}

void AmqpClient::Run() {
  pthread_setname_np(pthread_self(), "hv-amqp");
  // OpenSSL (amqps://) writes to a closed peer would raise SIGPIPE; blocked on this thread, a
  // write gives EPIPE instead, whatever the process does with the signal.
  sigset_t pipe_set;
  sigemptyset(&pipe_set);
  sigaddset(&pipe_set, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe_set, nullptr);

  std::map<std::string, std::unique_ptr<Connection>> connections;  // by URL
  for (;;) {
    std::deque<Pending> batch;
    bool stopping;
    {
      std::lock_guard<std::mutex> lock(mu_);
      batch.swap(queue_);
      stopping = stopping_;
    }
    if (stopping) {
      for (Pending& p : batch) {
        Request r{std::move(p.request), std::move(p.done)};
        OutboundResponse response;
        response.error = "client shutting down";
        response.cancelled = true;
        Finish(r, std::move(response));
      }
      for (auto& [url, c] : connections) c->Cancel();
      return;
    }
    for (Pending& p : batch) {
      auto& c = connections[p.request.url];
      if (!c) c = std::make_unique<Connection>(p.request.url, options_);
      c->Publish(Request{std::move(p.request), std::move(p.done)});
    }
    const int64_t now = NowMicros();
    // With no connection open and nothing awaiting a confirm there is nothing to look at
    // until a Post() wakes the thread (an idle gateway without AMQP destinations never wakes).
    int64_t timeout_ms = -1;
    auto at_most = [&timeout_ms](int64_t ms) {
      if (timeout_ms < 0 || ms < timeout_ms) timeout_ms = std::max<int64_t>(ms, 0);
    };
    std::vector<pollfd> fds{{wake_fd_, POLLIN, 0}};
    for (auto& [url, c] : connections) {
      c->Drain();
      c->Expire(now);
      if (c->up()) {
        fds.push_back({c->fd(), POLLIN, 0});
        at_most(kMaxPollMs);  // heartbeats
      }
      if (c->Buffered()) at_most(0);
      if (auto next = c->NextDeadline()) at_most((*next - now + 999) / 1000);
    }
    if (poll(fds.data(), fds.size(), static_cast<int>(timeout_ms)) < 0 && errno != EINTR) {
      spdlog::error("amqp client: poll failed: {}", std::strerror(errno));
    }
    if (fds[0].revents & POLLIN) {
      uint64_t count;
      ssize_t n = read(wake_fd_, &count, sizeof(count));
      (void)n;
    }
  }
}

}  // namespace hookvault::server
