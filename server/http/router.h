// Router: the route table, matching method and path to a handler. Framework-free, so the table
// is testable without sockets and the HTTP adapter stays thin.
#ifndef HOOKVAULT_SERVER_ROUTER_H_
#define HOOKVAULT_SERVER_ROUTER_H_

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "api/http.h"

namespace hookvault::server {

// Path parameters in the order they appear in the pattern.
using PathParams = std::vector<std::string>;
using RouteHandler = std::function<void(const api::ApiRequest&, const PathParams&, api::Responder)>;

// Thread-safety: Add() only before serving; Dispatch() from any number of threads after.
class Router {
 public:
  // Adds a route. `pattern` is a path whose segments are literal or ":name" parameters
  // ("/webhooks/:source"); a parameter matches one non-empty segment.
  void Add(std::string method, std::string pattern, RouteHandler handler);

  // Calls the matching handler, or answers 404 (no pattern matches the path) or 405 with an
  // Allow header (the path matches, the method does not), both as problem+json.
  void Dispatch(const api::ApiRequest& request, api::Responder respond) const;

  struct Route {
    std::string method;
    std::string pattern;
    std::vector<std::string> segments;
    RouteHandler handler;
  };
  const std::vector<Route>& routes() const { return routes_; }

 private:
  std::vector<Route> routes_;
};

}  // namespace hookvault::server

#endif  // HOOKVAULT_SERVER_ROUTER_H_
