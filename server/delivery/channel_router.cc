#include "server/delivery/channel_router.h"

#include <utility>

#include "server/delivery/destination.h"

namespace hookvault::server {

void ChannelRouter::Post(OutboundRequest request, std::function<void(OutboundResponse)> done) {
  HttpClient& channel = IsAmqpUrl(request.url) ? amqp_ : http_;
  channel.Post(std::move(request), std::move(done));
}

}  // namespace hookvault::server
