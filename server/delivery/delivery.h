// server/delivery/: the delivery engine. The scheduler (claims due deliveries with a lease,
// records every attempt through the WriteSerializer), the outbound channels behind the
// HttpClient interface (HTTP over libcurl, AMQP 0-9-1 over rabbitmq-c, and the ChannelRouter
// that picks one by URL), backoff with jitter, Retry-After and Standard Webhooks signing.
//
// May include: storage/ (the core), libcurl, rabbitmq-c, OpenSSL, spdlog. Not api/, not the HTTP edge, not
// the SQLite adapter: what to deliver and where comes in as OutboundDestination and
// storage::DeliveryStore.
#ifndef HOOKVAULT_SERVER_DELIVERY_DELIVERY_H_
#define HOOKVAULT_SERVER_DELIVERY_DELIVERY_H_

#include "server/delivery/amqp_client.h"
#include "server/delivery/channel_router.h"
#include "server/delivery/curl_http_client.h"
#include "server/delivery/destination.h"
#include "server/delivery/display_url.h"
#include "server/delivery/scheduler.h"

#endif  // HOOKVAULT_SERVER_DELIVERY_DELIVERY_H_
