#include "server/http/router.h"

#include "api/problem.h"

namespace hookvault::server {
namespace {

std::vector<std::string> SplitPath(std::string_view path) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < path.size()) {
    if (path[i] == '/') {
      ++i;
      continue;
    }
    size_t end = path.find('/', i);
    if (end == std::string_view::npos) end = path.size();
    out.emplace_back(path.substr(i, end - i));
    i = end;
  }
  return out;
}

bool Match(const std::vector<std::string>& pattern, const std::vector<std::string>& path,
           PathParams* params) {
  if (pattern.size() != path.size()) return false;
  params->clear();
  for (size_t i = 0; i < pattern.size(); ++i) {
    if (!pattern[i].empty() && pattern[i][0] == ':') {
      params->push_back(path[i]);
    } else if (pattern[i] != path[i]) {
      return false;
    }
  }
  return true;
}

}  // namespace

void Router::Add(std::string method, std::string pattern, Access access, RouteHandler handler) {
  std::vector<std::string> segments = SplitPath(pattern);
  routes_.push_back(Route{std::move(method), std::move(pattern), std::move(segments), access,
                          std::move(handler)});
}

void Router::Dispatch(const api::ApiRequest& request, api::Responder respond) const {
  std::vector<std::string> path = SplitPath(request.path);
  RouteContext context;
  std::string allowed;
  for (const Route& route : routes_) {
    if (!Match(route.segments, path, &context.params)) continue;
    if (route.method == request.method) {
      if (const auto* permission = std::get_if<api::Permission>(&route.access)) {
        api::ApiResponse problem;
        context.principal = auth_.Authorize(request, *permission, &problem);
        if (!context.principal) return respond(std::move(problem));
      }
      return route.handler(request, context, std::move(respond));
    }
    if (allowed.find(route.method) == std::string::npos) {
      allowed += (allowed.empty() ? "" : ", ") + route.method;
    }
  }
  if (allowed.empty()) {
    return respond(
        api::Problem(api::ProblemKind::kNotFound, "no route for " + request.path, request.path));
  }
  api::ApiResponse response =
      api::Problem(api::ProblemKind::kMethodNotAllowed,
                   request.method + " is not allowed here; allowed: " + allowed, request.path);
  response.headers.emplace_back("Allow", allowed);
  respond(std::move(response));
}

}  // namespace hookvault::server
