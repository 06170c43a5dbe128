// AmqpClient: the HttpClient of amqp:// and amqps:// destinations. Post() publishes the request
// to RabbitMQ (AMQP 0-9-1, rabbitmq-c) and answers only when the broker has confirmed it.
#ifndef HOOKVAULT_SERVER_DELIVERY_AMQP_CLIENT_H_
#define HOOKVAULT_SERVER_DELIVERY_AMQP_CLIENT_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "server/delivery/http_client.h"

namespace hookvault::server {

// Returns true when rabbitmq-c can parse `url` as an amqp:// or amqps:// URL (user, password,
// host, port, vhost), so that the config refuses what no attempt could ever connect to.
bool IsValidAmqpUrl(const std::string& url);

struct AmqpClientOptions {
  // After a failed connect or a lost connection, publishes to that URL fail at once (naming the
  // last error) for this long, doubled after each further failure up to the maximum, so that a
  // dead broker costs one connect attempt per backoff and never holds up the client's thread.
  int64_t reconnect_backoff_ms = 200;
  int64_t max_reconnect_backoff_ms = 5000;
  // The AMQP heartbeat asked of the broker: a silent dead connection is noticed within about
  // twice this.
  int heartbeat_seconds = 10;
};

namespace amqp_internal {
class Watchdog;
class Worker;
}  // namespace amqp_internal

// Publishes the requests of each URL on a thread of that URL's own ("hv-amqp"), over one
// connection per URL, so that a broker that stalls, blocks or is slow to connect holds up only
// its own URL. On that connection each destination (exchange + routing key) has a channel of
// its own in confirm mode, so a channel error of one destination (a missing exchange) fails and
// reopens only that channel. Connections are reused across publishes and re-established after
// loss. Each request is published to request.amqp_exchange with request.amqp_routing_key,
// `mandatory`, persistent (delivery_mode 2), content_type from its Content-Type header,
// message_id = request.message_id, correlation_id = a tag unique to this publish (a
// basic.return is matched to its publish by it), timestamp = its webhook-timestamp, app_id =
// its User-Agent, and every other header (names lowercased) in the message's `headers` table.
// Several publishes may await their confirm at once on one channel.
//
// No write to a broker can block for ever: a watchdog thread shuts the socket down when a
// write (publish, handshake, heartbeat) has not finished by the request's deadline, and the
// client logs in advertising the `connection.blocked` capability: while the broker blocks the
// connection (a memory or disk alarm), publishes fail at once without writing.
//
// The answer: `acknowledged` with body_excerpt "basic.ack" only on the broker's basic.ack for
// the message's delivery tag (one ack with `multiple` confirms every tag up to it). Everything
// else is a failure with `error` set: "basic.return 312 NO_ROUTE ..." (unroutable: the broker
// returns it before it acks it), "basic.nack", "channel closed: ...", "connection lost: ...",
// "connection closed by the broker: ...", "cannot connect: ...", "broker blocked: <reason>",
// "broker not reading: send timed out ..." (the connection is dropped), "timeout waiting for
// publisher confirm" (after request.timeout_ms from the publish; the connection is kept).
//
// Thread-safety: Post() may be called from any thread, including from inside a `done` callback.
// Every `done` is called exactly once, on a thread of the client, outside any lock of the
// client; it must not block long. The destructor completes whatever is queued or awaits its
// confirm with `cancelled` (error "client shutting down"); it gives every connection about 1 s,
// all in parallel, to close, and joins the threads; it must not run concurrently with Post()
// from another thread, nor from inside a `done` callback. Exceptions thrown by `done` are caught
// and logged.
class AmqpClient final : public HttpClient {
 public:
  explicit AmqpClient(AmqpClientOptions options = {});
  ~AmqpClient() override;

  void Post(OutboundRequest request, std::function<void(OutboundResponse)> done) override;

 private:
  const AmqpClientOptions options_;
  std::unique_ptr<amqp_internal::Watchdog> watchdog_;  // outlives the workers

  std::mutex mu_;
  // By URL, each with its thread; created on the URL's first Post(). Guarded by mu_.
  std::map<std::string, std::unique_ptr<amqp_internal::Worker>> workers_;
  bool stopping_ = false;  // guarded by mu_
};

}  // namespace hookvault::server

#endif  // HOOKVAULT_SERVER_DELIVERY_AMQP_CLIENT_H_
