// server/http/: the HTTP edge. The Pistache adapter (http_endpoint.h) with its request-head
// checks and the wrong-client guard, the route table — every method and path with its
// operationId, who may call it (access.h) and where it runs — the router that authorizes API
// tokens before any handler runs, and the query pool that runs the API's reads off the reactors.
//
// May include: api/, storage/ (the core), Pistache, spdlog. Not the SQLite adapter, not the
// delivery wing, not server/'s own files: main.cc hands it the handlers and an observer.
#ifndef HOOKVAULT_SERVER_HTTP_HTTP_H_
#define HOOKVAULT_SERVER_HTTP_HTTP_H_

#include "server/http/access.h"
#include "server/http/http_endpoint.h"
#include "server/http/query_pool.h"
#include "server/http/route_table.h"
#include "server/http/router.h"

#endif  // HOOKVAULT_SERVER_HTTP_HTTP_H_
