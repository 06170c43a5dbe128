// api/: the framework-free handlers, by resource — ingest, events, deliveries and attempts,
// reprocess, feed and consumers, audit, the request log, the session, test events to a
// destination — on ApiRequest/ApiResponse (http.h),
// with what they share: provider signatures and JSON Schemas (verify/), payload filters on
// destinations (payload_filter.h), API-token auth and roles, query parameters and cursors, request
// bodies, JSON parsing and rendering (render.h), the one Status → problem+json table, CIDR
// blocks, the feed's parked long-polls and the embedded OpenAPI description.
//
// May include: storage/ (the core), RapidJSON, spdlog, OpenSSL. No Pistache, no SQL, no
// adapter: the HTTP edge (server/http/) calls these handlers through its route table.
#ifndef HOOKVAULT_API_API_H_
#define HOOKVAULT_API_API_H_

#include "api/audit.h"
#include "api/auth.h"
#include "api/deliveries.h"
#include "api/events.h"
#include "api/feed.h"
#include "api/feed_waiters.h"
#include "api/health.h"
#include "api/http.h"
#include "api/ingest.h"
#include "api/openapi.h"
#include "api/payload_filter.h"
#include "api/problem.h"
#include "api/reprocess.h"
#include "api/requests.h"
#include "api/session.h"
#include "api/skip.h"
#include "api/test_event.h"
#include "api/verify/verify.h"

#endif  // HOOKVAULT_API_API_H_
