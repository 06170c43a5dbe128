// ChannelRouter: one HttpClient for the scheduler and the destination tester that sends each
// request down the channel its URL names: amqp:// and amqps:// to the AMQP client, the rest
// (http://, https://) to the HTTP client.
#ifndef HOOKVAULT_SERVER_DELIVERY_CHANNEL_ROUTER_H_
#define HOOKVAULT_SERVER_DELIVERY_CHANNEL_ROUTER_H_

#include <functional>

#include "server/delivery/http_client.h"

namespace hookvault::server {

// Thread-safety: as thread-safe as the two clients it routes to (both take Post() from any
// thread); it holds no state of its own. Both clients must outlive it.
class ChannelRouter final : public HttpClient {
 public:
  ChannelRouter(HttpClient& http, HttpClient& amqp) : http_(http), amqp_(amqp) {}

  void Post(OutboundRequest request, std::function<void(OutboundResponse)> done) override;

 private:
  HttpClient& http_;
  HttpClient& amqp_;
};

}  // namespace hookvault::server

#endif  // HOOKVAULT_SERVER_DELIVERY_CHANNEL_ROUTER_H_
