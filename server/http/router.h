// Router: the route table, matching method and path to a handler, and checking the route's
// access before the handler runs. Framework-free, so the table is testable without sockets and
// the HTTP adapter stays thin.
#ifndef HOOKVAULT_SERVER_HTTP_ROUTER_H_
#define HOOKVAULT_SERVER_HTTP_ROUTER_H_

#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "api/auth.h"
#include "api/http.h"
#include "server/http/access.h"

namespace hookvault::server {

class QueryPool;

// Where a route's handler runs. The reactor thread that received the request serves every other
// connection it holds too, providers' webhooks among them, so only what never waits on the
// database runs there (ingest hands its work to the writer thread and returns); a handler that
// reads the database runs on the query pool (server/http/query_pool.h).
enum class Runs {
  kReactor,
  kQueryPool,
};

// Path parameters in the order they appear in the pattern.
using PathParams = std::vector<std::string>;

// What the router learnt about a request before calling its handler.
struct RouteContext {
  PathParams params;
  // Who made the request: set exactly when the route's access is an api::Permission (which
  // the caller's role grants); nullopt on public and source-token routes.
  std::optional<api::Principal> principal;
};

using RouteHandler =
    std::function<void(const api::ApiRequest&, const RouteContext&, api::Responder)>;

// Thread-safety: Add() only before serving; Dispatch() from any number of threads after.
class Router {
 public:
  // `auth` checks the API tokens of routes whose access is a permission; it must outlive the
  // router. `queries` runs the handlers of Runs::kQueryPool routes; it must outlive the router.
  // Without one (tests of the table alone) every handler runs on the dispatching thread.
  explicit Router(const api::Authenticator& auth, QueryPool* queries = nullptr)
      : auth_(auth), queries_(queries) {}

  // Adds a route. `pattern` is a path whose segments are literal or ":name" parameters
  // ("/webhooks/:source"); a parameter matches one non-empty segment. `access` says who may
  // call it (server/http/access.h), `runs` where its handler runs.
  void Add(std::string method, std::string pattern, Access access, RouteHandler handler,
           Runs runs = Runs::kReactor);

  // Answers 404 (no pattern matches the path, which must be the pattern exactly: no empty
  // segment, so no trailing slash unless the pattern ends in one, as "/console/" does) or 405 with an Allow header (the path matches, the method
  // does not), both as problem+json. Otherwise, on a route whose access is a permission,
  // answers 401 (no or unknown API token, with WWW-Authenticate) or 403 (the role may not) as
  // api::Authenticator::Authorize does, without calling the handler; else calls the matching
  // handler: on this thread for Runs::kReactor, else queued to the query pool, or answers 503
  // with Retry-After when the pool's queue is full or it is stopping, or when the route is
  // public and kMaxPublicInPool public reads are already queued or running.
  void Dispatch(const api::ApiRequest& request, api::Responder respond) const;

  // Most reads of public routes (/metrics) queued or running on the pool at once: anyone who can
  // reach the port may send them, and they must never crowd the API's authenticated reads out
  // of the pool's queue. A scraper or two fit.
  static constexpr int kMaxPublicInPool = 2;

  struct Route {
    std::string method;
    std::string pattern;
    std::vector<std::string> segments;
    Access access;
    RouteHandler handler;
    Runs runs;
  };
  const std::vector<Route>& routes() const { return routes_; }

 private:
  // Runs `route`'s handler on the query pool, or answers 503 when the pool refuses it.
  void Queue(const Route& route, const api::ApiRequest& request, RouteContext context,
             api::Responder respond) const;

  const api::Authenticator& auth_;
  QueryPool* const queries_;  // null: every handler runs on the dispatching thread
  std::vector<Route> routes_;
  // Public reads queued or running on the pool (shared with their tasks, which may finish
  // after the router is gone).
  std::shared_ptr<std::atomic<int>> public_in_pool_ = std::make_shared<std::atomic<int>>(0);
};

}  // namespace hookvault::server

#endif  // HOOKVAULT_SERVER_HTTP_ROUTER_H_
