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
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <exception>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

namespace hookvault::server {
namespace {

// The largest frame asked of the broker (its default): bodies beyond it go in several frames.
constexpr int kFrameMax = 131072;
// How long the thread sleeps at most between two looks at its connections: each look sends
// the heartbeats that are due and notices missed ones.
constexpr int kMaxPollMs = 1000;
// A connect (TCP, TLS, login) is given at most this long, whatever the request's timeout_ms.
constexpr int64_t kMaxConnectMs = 10000;
// The TCP/TLS open is tried in slices of at most this long, so that a shutdown does not wait
// for a connect to an unreachable host (its socket is not ours to shut down until it is open).
constexpr int64_t kConnectSliceMs = 1000;
// How long the destructor gives each connection (all in parallel) to close.
constexpr int64_t kStopMs = 1000;

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

void CancelRequest(Request& r) {
  OutboundResponse response;
  response.error = "client shutting down";
  response.cancelled = true;
  Finish(r, std::move(response));
}

// A published message awaiting its confirm.
struct InFlight {
  Request request;
  int64_t started_us = 0;
  int64_t deadline_us = 0;
  uint64_t publish_seq = 0;             // its correlation_id
  std::optional<std::string> returned;  // set by its basic.return, which precedes its ack
};

// One destination's channel (exchange + routing key) on a connection, in confirm mode.
struct Channel {
  bool open = false;
  uint64_t next_tag = 1;
  std::map<uint64_t, InFlight> in_flight;  // by delivery tag
  std::optional<std::string> returning;    // a basic.return whose content header is next
};

std::string CorrelationId(uint64_t seq) { return "hookvault-publish-" + std::to_string(seq); }

}  // namespace

namespace amqp_internal {

// Shuts a socket down when a call that may block on it (a write to a broker that does not read,
// a handshake to a silent one) has passed its deadline, so that the blocked call returns with an
// error. Thread-safety: all methods may be called from any thread (mu_ guards everything); an
// armed fd is never closed before it is disarmed, so a shutdown cannot hit a reused fd.
class Watchdog {
 public:
  Watchdog() : thread_([this] { Run(); }) {}
  ~Watchdog() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }

  // `owner` is about to block on `fd` until at most `deadline_us`.
  void Arm(const void* owner, int fd, int64_t deadline_us) {
    bool sooner;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (cap_us_ != 0) deadline_us = std::min(deadline_us, cap_us_);
      armed_[owner] = Armed{fd, deadline_us, false};
      // Most calls are armed and disarmed long before the thread's next wake-up: only an
      // earlier deadline needs to wake it (it skips what was disarmed when it wakes).
      sooner = deadline_us < wakes_at_us_;
    }
    if (sooner) cv_.notify_all();
  }
  // Returns true when the watchdog shut the socket down (the call ran out of time).
  bool Disarm(const void* owner) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = armed_.find(owner);
    if (it == armed_.end()) return false;
    bool fired = it->second.fired;
    armed_.erase(it);
    return fired;
  }
  // From now on nothing armed may block past `deadline_us` (the client is stopping).
  void Cap(int64_t deadline_us) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      cap_us_ = deadline_us;
      for (auto& [owner, a] : armed_) a.deadline_us = std::min(a.deadline_us, deadline_us);
    }
    cv_.notify_all();
  }

 private:
  struct Armed {
    int fd;
    int64_t deadline_us;
    bool fired;
  };
  void Run() {
    pthread_setname_np(pthread_self(), "hv-amqp-watch");
    std::unique_lock<std::mutex> lock(mu_);
    while (!stop_) {
      const int64_t now = NowMicros();
      std::optional<int64_t> next;
      for (auto& [owner, a] : armed_) {
        if (a.fired) continue;
        if (a.deadline_us <= now) {
          ::shutdown(a.fd, SHUT_RDWR);
          a.fired = true;
        } else if (!next || a.deadline_us < *next) {
          next = a.deadline_us;
        }
      }
      wakes_at_us_ = next.value_or(INT64_MAX);
      if (next) {
        cv_.wait_until(lock,
                       std::chrono::steady_clock::time_point(std::chrono::microseconds(*next)));
      } else {
        cv_.wait(lock);
      }
    }
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::map<const void*, Armed> armed_;  // guarded by mu_
  int64_t cap_us_ = 0;                  // guarded by mu_; 0: none
  int64_t wakes_at_us_ = 0;             // guarded by mu_; when the thread wakes next at the latest
  bool stop_ = false;                   // guarded by mu_
  std::thread thread_;                  // last
};

namespace {

// One broker connection and its channels, used by its worker's thread only.
class Connection {
 public:
  Connection(std::string url, const AmqpClientOptions& options, Watchdog& watchdog,
             const std::atomic<bool>& stopping)
      : url_(std::move(url)), options_(options), watchdog_(watchdog), stopping_(stopping) {}
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
    for (const auto& [id, ch] : channels_) {
      for (const auto& [tag, f] : ch.in_flight) {
        if (!next || f.deadline_us < *next) next = f.deadline_us;
      }
    }
    return next;
  }

  // Publishes `r` (connecting and opening its channel first if need be), or fails it at once.
  void Publish(Request r) {
    const int64_t started = NowMicros();
    const int64_t deadline = started + std::max<int64_t>(r.request.timeout_ms, 1) * 1000;
    if (!up()) {
      if (started < down_until_us_) {
        Fail(r, started,
             "connection down: " + last_error_ + " (reconnecting in " +
                 std::to_string((down_until_us_ - started + 999) / 1000) + " ms)");
        return;
      }
      std::string error = Connect(std::min(deadline, started + kMaxConnectMs * 1000));
      if (!error.empty()) {
        Down(error);
        Fail(r, started, error);
        return;
      }
    }
    if (blocked_) {
      // Writing now would only fill the socket: RabbitMQ stops reading a blocked publisher.
      Fail(r, started, "broker blocked: " + blocked_reason_);
      return;
    }
    std::string error;
    const amqp_channel_t id =
        OpenChannel(r.request.amqp_exchange, r.request.amqp_routing_key, deadline, &error);
    if (id == 0) {
      Fail(r, started, error);
      return;
    }
    const uint64_t seq = ++publish_seq_;
    const std::string correlation_id = CorrelationId(seq);
    amqp_basic_properties_t props;
    std::memset(&props, 0, sizeof(props));
    props._flags = AMQP_BASIC_CONTENT_TYPE_FLAG | AMQP_BASIC_DELIVERY_MODE_FLAG |
                   AMQP_BASIC_MESSAGE_ID_FLAG | AMQP_BASIC_HEADERS_FLAG |
                   AMQP_BASIC_CORRELATION_ID_FLAG;
    props.delivery_mode = AMQP_DELIVERY_PERSISTENT;
    props.message_id = ToBytes(r.request.message_id);
    props.correlation_id = ToBytes(correlation_id);
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
    // rabbitmq-c writes a publish with no deadline of its own: the watchdog is the deadline.
    watchdog_.Arm(this, fd(), deadline);
    int rc = amqp_basic_publish(state_, id, ToBytes(r.request.amqp_exchange),
                                ToBytes(r.request.amqp_routing_key), /*mandatory=*/1,
                                /*immediate=*/0, &props, ToBytes(r.request.body));
    const bool timed_out = watchdog_.Disarm(this);
    if (rc != AMQP_STATUS_OK || timed_out) {
      error = timed_out ? NotReading(started, r.request.timeout_ms)
                        : std::string("connection lost: ") + amqp_error_string2(rc);
      Lose(error);
      FailOrCancel(r, started, error);
      return;
    }
    Channel& ch = channels_[id];
    const uint64_t tag = ch.next_tag++;
    ch.in_flight.emplace(tag, InFlight{std::move(r), started, deadline, seq, std::nullopt});
  }

  // Reads and handles every frame that has arrived (and sends a heartbeat when one is due).
  void Drain() {
    while (up()) {
      amqp_frame_t frame;
      timeval zero{0, 0};
      // A heartbeat due is written here: bounded like any other write.
      const int64_t now = NowMicros();
      const int64_t heartbeat_ms =
          options_.heartbeat_seconds > 0 ? options_.heartbeat_seconds * 1000LL : kMaxConnectMs;
      watchdog_.Arm(this, fd(), now + heartbeat_ms * 1000);
      int rc = amqp_simple_wait_frame_noblock(state_, &frame, &zero);
      const bool timed_out = watchdog_.Disarm(this);
      if (rc == AMQP_STATUS_TIMEOUT && !timed_out) break;
      if (rc != AMQP_STATUS_OK || timed_out) {
        Lose(timed_out ? "broker not reading: send timed out (heartbeat)"
                       : std::string("connection lost: ") + amqp_error_string2(rc));
        return;
      }
      Handle(frame);
      if (up()) amqp_maybe_release_buffers(state_);
    }
  }

  // Fails the messages whose confirm has not come in time. The connection is kept: a broker
  // may hold confirms without being dead (heartbeats tell that).
  void Expire(int64_t now) {
    for (auto& [id, ch] : channels_) {
      for (auto it = ch.in_flight.begin(); it != ch.in_flight.end();) {
        if (it->second.deadline_us <= now) {
          InFlight f = std::move(it->second);
          it = ch.in_flight.erase(it);
          Fail(f.request, f.started_us,
               "timeout waiting for publisher confirm (" +
                   std::to_string(f.request.request.timeout_ms) + " ms)");
        } else {
          ++it;
        }
      }
    }
  }

  // Completes everything awaiting its confirm as cancelled, and closes the connection.
  void Cancel() {
    for (auto& [id, ch] : channels_) {
      for (auto& [tag, f] : ch.in_flight) {
        OutboundResponse response;
        response.error = "client shutting down";
        response.cancelled = true;
        response.duration_us = NowMicros() - f.started_us;
        Finish(f.request, std::move(response));
      }
      ch.in_flight.clear();
    }
    if (up()) {
      timeval tv = ToTimeval(kStopMs);
      amqp_set_rpc_timeout(state_, &tv);
      watchdog_.Arm(this, fd(), NowMicros() + kStopMs * 1000);
      amqp_connection_close(state_, AMQP_REPLY_SUCCESS);
      watchdog_.Disarm(this);
    }
    Destroy();
  }

 private:
  // Sends a method frame; like every write, it may not block for more than a connect's time.
  void SendBounded(amqp_channel_t channel, amqp_method_number_t id, void* method) {
    watchdog_.Arm(this, fd(), NowMicros() + kMaxConnectMs * 1000);
    amqp_send_method(state_, channel, id, method);
    watchdog_.Disarm(this);
  }

  // While the client stops, the watchdog cuts what blocks: that is a cancel, not a failure.
  void FailOrCancel(Request& r, int64_t started_us, std::string error) {
    if (!stopping_.load()) {
      Fail(r, started_us, std::move(error));
      return;
    }
    OutboundResponse response;
    response.error = "client shutting down";
    response.cancelled = true;
    response.duration_us = NowMicros() - started_us;
    Finish(r, std::move(response));
  }

  static std::string NotReading(int64_t started_us, int64_t timeout_ms) {
    return "broker not reading: send timed out after " +
           std::to_string((NowMicros() - started_us) / 1000) + " ms (timeout_ms " +
           std::to_string(timeout_ms) + "); connection dropped";
  }

  // Opens the connection and logs in, all by `deadline_us`. Returns the error, or empty.
  std::string Connect(int64_t deadline_us) {
    std::string text = url_;  // amqp_parse_url writes into it, and `info` points into it
    amqp_connection_info info;
    amqp_default_connection_info(&info);
    if (amqp_parse_url(text.data(), &info) != AMQP_STATUS_OK) return "cannot connect: bad URL";
    // "amqp://host/" names the empty vhost in the AMQP URI spec, which no broker has; RabbitMQ's
    // own clients take it as the default vhost, and so does hookvault.
    const char* vhost = (info.vhost == nullptr || info.vhost[0] == '\0') ? "/" : info.vhost;
    const std::string where = std::string(info.host) + ":" + std::to_string(info.port);
    int rc = AMQP_STATUS_TIMEOUT;
    // The TCP (and TLS) open, in slices, so that a stop is noticed within a slice.
    for (;;) {
      state_ = amqp_new_connection();
      if (state_ == nullptr) return "cannot connect: out of memory";
      amqp_socket_t* socket = nullptr;
      if (info.ssl) {
        socket = amqp_ssl_socket_new(state_);
        if (socket != nullptr) {
          // Peer and host name verification against the system's CAs.
          SSL_CTX_set_default_verify_paths(
              static_cast<SSL_CTX*>(amqp_ssl_socket_get_context(socket)));
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
      const int64_t left_ms = (deadline_us - NowMicros()) / 1000;
      const int64_t slice_ms = std::min(left_ms, kConnectSliceMs);
      timeval tv = ToTimeval(slice_ms);
      rc = amqp_socket_open_noblock(socket, info.host, info.port, &tv);
      if (rc == AMQP_STATUS_OK) break;
      Destroy();
      if (rc != AMQP_STATUS_TIMEOUT || slice_ms >= left_ms || stopping_.load()) {
        return "cannot connect to " + where + ": " + amqp_error_string2(rc);
      }
    }
    timeval tv = ToTimeval((deadline_us - NowMicros()) / 1000);
    amqp_set_handshake_timeout(state_, &tv);
    amqp_set_rpc_timeout(state_, &tv);
    // Advertise connection.blocked so that RabbitMQ tells us of its resource alarms rather than
    // silently stop reading (rabbitmq-c merges these into its own capabilities).
    amqp_table_entry_t caps[2];
    caps[0].key = amqp_cstring_bytes("connection.blocked");
    caps[0].value.kind = AMQP_FIELD_KIND_BOOLEAN;
    caps[0].value.value.boolean = 1;
    caps[1].key = amqp_cstring_bytes("publisher_confirms");
    caps[1].value.kind = AMQP_FIELD_KIND_BOOLEAN;
    caps[1].value.value.boolean = 1;
    amqp_table_entry_t props[1];
    props[0].key = amqp_cstring_bytes("capabilities");
    props[0].value.kind = AMQP_FIELD_KIND_TABLE;
    props[0].value.value.table = amqp_table_t{2, caps};
    amqp_table_t properties{1, props};
    watchdog_.Arm(this, fd(), deadline_us);
    std::string error = ReplyError(
        amqp_login_with_properties(state_, vhost, 0, kFrameMax, options_.heartbeat_seconds,
                                   &properties, AMQP_SASL_METHOD_PLAIN, info.user, info.password));
    if (watchdog_.Disarm(this) && error.empty()) error = "login timed out";
    if (!error.empty()) {
      Destroy();
      return "cannot connect to " + where + ": " + error;
    }
    backoff_ms_ = 0;
    return "";
  }

  // Returns the open channel of (exchange, routing key), opening it (channel.open and
  // confirm.select) by `deadline_us` if need be; 0 with `error` set when that failed.
  amqp_channel_t OpenChannel(const std::string& exchange, const std::string& routing_key,
                             int64_t deadline_us, std::string* error) {
    auto key = std::make_pair(exchange, routing_key);
    auto found = channel_ids_.find(key);
    amqp_channel_t id;
    if (found != channel_ids_.end()) {
      id = found->second;
    } else {
      const int max = amqp_get_channel_max(state_);
      if (max != 0 && next_channel_ > max) {
        *error = "cannot open a channel: the broker allows " + std::to_string(max) +
                 " per connection (one per exchange and routing key)";
        return 0;
      }
      id = next_channel_++;
      channel_ids_.emplace(key, id);
    }
    Channel& ch = channels_[id];
    if (ch.open) return id;
    timeval tv = ToTimeval((deadline_us - NowMicros()) / 1000);
    amqp_set_rpc_timeout(state_, &tv);
    watchdog_.Arm(this, fd(), deadline_us);
    amqp_channel_open(state_, id);
    amqp_rpc_reply_t reply = amqp_get_rpc_reply(state_);
    if (reply.reply_type == AMQP_RESPONSE_NORMAL) {
      amqp_confirm_select(state_, id);
      reply = amqp_get_rpc_reply(state_);
    }
    const bool timed_out = watchdog_.Disarm(this);
    std::string e = ReplyError(reply);
    if (e.empty() && !timed_out) {
      ch.open = true;
      ch.next_tag = 1;
      ch.returning.reset();
      return id;
    }
    if (!timed_out && reply.reply_type == AMQP_RESPONSE_SERVER_EXCEPTION &&
        reply.reply.id == AMQP_CHANNEL_CLOSE_METHOD) {
      // Only this channel is closed: acknowledge it, the connection stays.
      amqp_channel_close_ok_t ok{};
      SendBounded(id, AMQP_CHANNEL_CLOSE_OK_METHOD, &ok);
      *error = "cannot open a channel: " + e;
      return 0;
    }
    *error = timed_out ? "cannot open a channel: timed out" : "cannot open a channel: " + e;
    Lose(*error);
    return 0;
  }

  void Handle(const amqp_frame_t& frame) {
    auto channel = channels_.find(frame.channel);
    if (frame.frame_type == AMQP_FRAME_HEADER) {
      if (channel != channels_.end() && channel->second.returning) {
        Channel& ch = channel->second;
        auto* props = static_cast<amqp_basic_properties_t*>(frame.payload.properties.decoded);
        if (props != nullptr && (props->_flags & AMQP_BASIC_CORRELATION_ID_FLAG)) {
          const std::string correlation_id = ToString(props->correlation_id);
          // A return whose publish already timed out finds nothing: it is dropped, and can
          // never fail another publish (each publish has a correlation_id of its own).
          for (auto& [tag, f] : ch.in_flight) {
            if (CorrelationId(f.publish_seq) == correlation_id) {
              f.returned = std::move(*ch.returning);
              break;
            }
          }
        }
        ch.returning.reset();
      }
      return;
    }
    if (frame.frame_type != AMQP_FRAME_METHOD) return;  // a returned message's body
    const amqp_method_t& method = frame.payload.method;
    switch (method.id) {
      case AMQP_BASIC_ACK_METHOD: {
        auto* m = static_cast<amqp_basic_ack_t*>(method.decoded);
        if (channel != channels_.end())
          Confirm(channel->second, m->delivery_tag, m->multiple != 0, true);
        break;
      }
      case AMQP_BASIC_NACK_METHOD: {
        auto* m = static_cast<amqp_basic_nack_t*>(method.decoded);
        if (channel != channels_.end())
          Confirm(channel->second, m->delivery_tag, m->multiple != 0, false);
        break;
      }
      case AMQP_BASIC_RETURN_METHOD: {
        auto* m = static_cast<amqp_basic_return_t*>(method.decoded);
        if (channel != channels_.end()) {
          channel->second.returning = "basic.return " + CloseReason(m->reply_code, m->reply_text) +
                                      " (exchange '" + ToString(m->exchange) + "', routing key '" +
                                      ToString(m->routing_key) + "')";
        }
        break;
      }
      case AMQP_CHANNEL_CLOSE_METHOD: {
        auto* m = static_cast<amqp_channel_close_t*>(method.decoded);
        std::string error = "channel closed: " + CloseReason(m->reply_code, m->reply_text);
        spdlog::warn("amqp {}: {}", url_host(), error);
        amqp_channel_close_ok_t ok{};
        SendBounded(frame.channel, AMQP_CHANNEL_CLOSE_OK_METHOD, &ok);
        if (channel != channels_.end()) {
          // Only this destination's channel: the others and the connection stay up, and the
          // next publish of this destination opens it again.
          std::map<uint64_t, InFlight> lost;
          lost.swap(channel->second.in_flight);
          channel->second.open = false;
          channel->second.returning.reset();
          for (auto& [tag, f] : lost) Fail(f.request, f.started_us, error);
        }
        break;
      }
      case AMQP_CONNECTION_CLOSE_METHOD: {
        auto* m = static_cast<amqp_connection_close_t*>(method.decoded);
        std::string reason = CloseReason(m->reply_code, m->reply_text);
        amqp_connection_close_ok_t ok{};
        SendBounded(0, AMQP_CONNECTION_CLOSE_OK_METHOD, &ok);
        Lose("connection closed by the broker: " + reason);
        break;
      }
      case AMQP_CONNECTION_BLOCKED_METHOD: {
        auto* m = static_cast<amqp_connection_blocked_t*>(method.decoded);
        blocked_ = true;
        blocked_reason_ = ToString(m->reason);
        spdlog::warn(
            "amqp {}: the broker blocks publishing ({}); publishes fail until it "
            "unblocks",
            url_host(), blocked_reason_);
        break;
      }
      case AMQP_CONNECTION_UNBLOCKED_METHOD:
        blocked_ = false;
        spdlog::info("amqp {}: the broker unblocked publishing", url_host());
        break;
      default:
        break;
    }
  }

  // The broker's verdict on `tag` (and, with `multiple`, every earlier tag) of channel `ch`.
  void Confirm(Channel& ch, uint64_t tag, bool multiple, bool ack) {
    std::vector<InFlight> confirmed;
    if (multiple) {
      // Tag 0 with `multiple` confirms everything outstanding.
      auto end = tag == 0 ? ch.in_flight.end() : ch.in_flight.upper_bound(tag);
      for (auto it = ch.in_flight.begin(); it != end;) {
        confirmed.push_back(std::move(it->second));
        it = ch.in_flight.erase(it);
      }
    } else if (auto it = ch.in_flight.find(tag); it != ch.in_flight.end()) {
      confirmed.push_back(std::move(it->second));
      ch.in_flight.erase(it);
    }
    for (InFlight& f : confirmed) {
      if (!ack) {
        Fail(f.request, f.started_us,
             "basic.nack: the broker did not take the message (a full queue with "
             "x-overflow reject-publish, or a broker error)");
        continue;
      }
      // A returned message is acked too: its return came first.
      if (f.returned) {
        Fail(f.request, f.started_us, std::move(*f.returned));
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
    std::map<amqp_channel_t, Channel> lost;
    lost.swap(channels_);
    Down(error);
    for (auto& [id, ch] : lost) {
      for (auto& [tag, f] : ch.in_flight) FailOrCancel(f.request, f.started_us, error);
    }
  }

  void Down(const std::string& error) {
    Destroy();
    last_error_ = error;
    backoff_ms_ = backoff_ms_ == 0 ? options_.reconnect_backoff_ms
                                   : std::min(backoff_ms_ * 2, options_.max_reconnect_backoff_ms);
    down_until_us_ = NowMicros() + backoff_ms_ * 1000;
  }

  void Destroy() {
    if (state_ != nullptr) amqp_destroy_connection(state_);
    state_ = nullptr;
    blocked_ = false;
    blocked_reason_.clear();
    // Channels are opened again, from 1, on the next connection; whatever awaited its confirm
    // has been answered by then (Lose, Cancel).
    channels_.clear();
    channel_ids_.clear();
    next_channel_ = 1;
  }

  // The URL's host part, for logs (never the password).
  std::string url_host() const {
    size_t at = url_.rfind('@');
    size_t start = at == std::string::npos ? url_.find("://") + 3 : at + 1;
    return url_.substr(0, url_.find("://") + 3) + url_.substr(start);
  }

  const std::string url_;
  const AmqpClientOptions& options_;
  Watchdog& watchdog_;
  const std::atomic<bool>& stopping_;
  amqp_connection_state_t state_ = nullptr;
  std::map<std::pair<std::string, std::string>, amqp_channel_t> channel_ids_;
  std::map<amqp_channel_t, Channel> channels_;
  int next_channel_ = 1;
  uint64_t publish_seq_ = 0;  // never reset: every publish of this client has its own
  bool blocked_ = false;      // connection.blocked received, no connection.unblocked since
  std::string blocked_reason_;
  std::string last_error_;
  int64_t backoff_ms_ = 0;  // the last reconnect backoff; 0 after a successful connect
  int64_t down_until_us_ = 0;
};

}  // namespace

// The thread of one URL and its connection. Thread-safety: Post() and Stop() from any thread
// (mu_ guards the queue); the connection belongs to the worker's thread.
class Worker {
 public:
  Worker(const std::string& url, const AmqpClientOptions& options, Watchdog& watchdog)
      : wake_fd_(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)),
        connection_(url, options, watchdog, stopping_flag_),
        thread_([this] { Run(); }) {}
  ~Worker() {
    Stop();
    if (thread_.joinable()) thread_.join();
    if (wake_fd_ >= 0) close(wake_fd_);
  }

  void Post(Request r) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      queue_.push_back(std::move(r));
    }
    Wake();
  }
  void Stop() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopping_ = true;
    }
    stopping_flag_ = true;
    Wake();
  }
  void Join() {
    if (thread_.joinable()) thread_.join();
  }

 private:
  void Wake() {
    uint64_t one = 1;
    // A full counter (never, in practice) still leaves the fd readable: the wake is not lost.
    ssize_t n = write(wake_fd_, &one, sizeof(one));
    (void)n;
  }

  void Run() {
    pthread_setname_np(pthread_self(), "hv-amqp");
    // OpenSSL (amqps://) writes to a closed peer would raise SIGPIPE; blocked on this thread, a
    // write gives EPIPE instead, whatever the process does with the signal.
    sigset_t pipe_set;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_set, nullptr);
    for (;;) {
      std::deque<Request> batch;
      bool stopping;
      {
        std::lock_guard<std::mutex> lock(mu_);
        batch.swap(queue_);
        stopping = stopping_;
      }
      if (stopping) {
        for (Request& r : batch) CancelRequest(r);
        connection_.Cancel();
        return;
      }
      // What has arrived first: a connection.blocked or a channel's close changes the publish.
      connection_.Drain();
      for (Request& r : batch) connection_.Publish(std::move(r));
      connection_.Drain();
      const int64_t now = NowMicros();
      connection_.Expire(now);
      // With no connection open and nothing awaiting a confirm there is nothing to look at
      // until a Post() wakes the thread.
      int64_t timeout_ms = -1;
      auto at_most = [&timeout_ms](int64_t ms) {
        if (timeout_ms < 0 || ms < timeout_ms) timeout_ms = std::max<int64_t>(ms, 0);
      };
      std::vector<pollfd> fds{{wake_fd_, POLLIN, 0}};
      if (connection_.up()) {
        fds.push_back({connection_.fd(), POLLIN, 0});
        at_most(kMaxPollMs);  // heartbeats
      }
      if (connection_.Buffered()) at_most(0);
      if (auto next = connection_.NextDeadline()) at_most((*next - now + 999) / 1000);
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

  const int wake_fd_;  // an eventfd: Post() and Stop() wake the thread's poll()
  std::mutex mu_;
  std::deque<Request> queue_;               // guarded by mu_
  bool stopping_ = false;                   // guarded by mu_
  std::atomic<bool> stopping_flag_{false};  // the same, for a connect in progress
  Connection connection_;                   // the thread's only
  std::thread thread_;                      // last: started once everything above is initialised
};

}  // namespace amqp_internal

AmqpClient::AmqpClient(AmqpClientOptions options)
    : options_(options), watchdog_(std::make_unique<amqp_internal::Watchdog>()) {}

AmqpClient::~AmqpClient() {
  std::map<std::string, std::unique_ptr<amqp_internal::Worker>> workers;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
    workers.swap(workers_);
  }
  // Every connection gets the same second to close, in parallel; nothing blocks past it.
  watchdog_->Cap(NowMicros() + kStopMs * 1000);
  for (auto& [url, w] : workers) w->Stop();
  for (auto& [url, w] : workers) w->Join();
  workers.clear();
  watchdog_.reset();
}

bool IsValidAmqpUrl(const std::string& url) {
  std::string text = url;  // amqp_parse_url writes into it
  amqp_connection_info info;
  amqp_default_connection_info(&info);
  return amqp_parse_url(text.data(), &info) == AMQP_STATUS_OK && info.host != nullptr &&
         info.host[0] != '\0';
}

void AmqpClient::Post(OutboundRequest request, std::function<void(OutboundResponse)> done) {
  Request r{std::move(request), std::move(done)};
  amqp_internal::Worker* worker = nullptr;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!stopping_) {
      auto& w = workers_[r.request.url];
      if (!w) w = std::make_unique<amqp_internal::Worker>(r.request.url, options_, *watchdog_);
      worker = w.get();
    }
  }
  // Workers live until the destructor, which must not run concurrently with Post().
  if (worker == nullptr) {
    CancelRequest(r);
    return;
  }
  worker->Post(std::move(r));
}

}  // namespace hookvault::server
