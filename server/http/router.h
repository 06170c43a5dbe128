// Router: the route table, matching method and path to a handler, and checking the route's
// access before the handler runs. Framework-free, so the table is testable without sockets and
// the HTTP adapter stays thin.
#ifndef HOOKVAULT_SERVER_HTTP_ROUTER_H_
#define HOOKVAULT_SERVER_HTTP_ROUTER_H_

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "api/auth.h"
#include "api/http.h"
#include "server/http/access.h"

namespace hookvault::server {

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
  // router.
  explicit Router(const api::Authenticator& auth) : auth_(auth) {}

  // Adds a route. `pattern` is a path whose segments are literal or ":name" parameters
  // ("/webhooks/:source"); a parameter matches one non-empty segment. `access` says who may
  // call it (server/http/access.h).
  void Add(std::string method, std::string pattern, Access access, RouteHandler handler);

  // Answers 404 (no pattern matches the path) or 405 with an Allow header (the path matches,
  // the method does not), both as problem+json. Otherwise, on a route whose access is a
  // permission, answers 401 (no or unknown API token, with WWW-Authenticate) or 403 (the role
  // may not) as api::Authenticator::Authorize does, without calling the handler; else calls
  // the matching handler.
  void Dispatch(const api::ApiRequest& request, api::Responder respond) const;

  struct Route {
    std::string method;
    std::string pattern;
    std::vector<std::string> segments;
    Access access;
    RouteHandler handler;
  };
  const std::vector<Route>& routes() const { return routes_; }

 private:
  const api::Authenticator& auth_;
  std::vector<Route> routes_;
};

}  // namespace hookvault::server

#endif  // HOOKVAULT_SERVER_HTTP_ROUTER_H_
