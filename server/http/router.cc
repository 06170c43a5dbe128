#include "server/http/router.h"

#include <spdlog/spdlog.h>

#include <exception>
#include <memory>
#include <tuple>

#include "api/problem.h"
#include "server/http/query_pool.h"

namespace hookvault::server {
namespace {

// Returns the segments of an absolute path ("/a/b" → {"a", "b"}), keeping empty ones ("/a/" →
// {"a", ""}, "//a" → {"", "a"}), so that a path matches a pattern only when it is the pattern
// exactly: "/api/v1/events/" is not "/api/v1/events" (an empty segment matches no literal and
// no parameter). A path not starting with '/' gets one empty segment first, and matches nothing.
std::vector<std::string> SplitPath(std::string_view path) {
  std::vector<std::string> out;
  if (path.empty()) return out;
  size_t i = path.front() == '/' ? 1 : 0;
  if (i == 0) out.emplace_back();
  for (;;) {
    size_t end = path.find('/', i);
    if (end == std::string_view::npos) {
      out.emplace_back(path.substr(i));
      return out;
    }
    out.emplace_back(path.substr(i, end - i));
    i = end + 1;
  }
}

bool Match(const std::vector<std::string>& pattern, const std::vector<std::string>& path,
           PathParams* params) {
  if (pattern.size() != path.size()) return false;
  params->clear();
  for (size_t i = 0; i < pattern.size(); ++i) {
    if (!pattern[i].empty() && pattern[i][0] == ':') {
      if (path[i].empty()) return false;
      params->push_back(path[i]);
    } else if (pattern[i] != path[i]) {
      return false;
    }
  }
  return true;
}

}  // namespace

void Router::Add(std::string method, std::string pattern, Access access, RouteHandler handler,
                 Runs runs) {
  std::vector<std::string> segments = SplitPath(pattern);
  routes_.push_back(Route{std::move(method), std::move(pattern), std::move(segments), access,
                          std::move(handler), runs});
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
      if (route.runs == Runs::kReactor || queries_ == nullptr) {
        return route.handler(request, context, std::move(respond));
      }
      return Queue(route, request, std::move(context), std::move(respond));
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

void Router::Queue(const Route& route, const api::ApiRequest& request, RouteContext context,
                   api::Responder respond) const {
  // Shared, as std::function wants a copyable task; `respond` is copied into it, so a refused
  // task leaves it here to answer the 503.
  auto work = std::make_shared<std::tuple<api::ApiRequest, RouteContext, api::Responder>>(
      request, std::move(context), respond);
  const RouteHandler* handler = &route.handler;  // routes_ does not change while serving
  std::shared_ptr<std::atomic<int>> public_in_pool;
  if (std::holds_alternative<PublicAccess>(route.access)) {
    public_in_pool = public_in_pool_;
    if (public_in_pool->fetch_add(1) >= kMaxPublicInPool) {
      public_in_pool->fetch_sub(1);
      return respond(api::Problem(api::ProblemKind::kUnavailable,
                                  "too many unauthenticated reads waiting; retry later",
                                  request.path));
    }
  }
  bool queued = queries_->TrySubmit([work, handler, public_in_pool] {
    struct Leave {
      std::atomic<int>* count;
      ~Leave() {
        if (count) count->fetch_sub(1);
      }
    } leave{public_in_pool.get()};
    auto& [req, ctx, answer] = *work;
    try {
      (*handler)(req, ctx, answer);
    } catch (const std::exception& e) {
      spdlog::error("unhandled exception on {} {}: {}", req.method, req.path, e.what());
      answer(api::Problem(api::ProblemKind::kInternal, "internal error; see the server log",
                          req.path));
    }
  });
  if (!queued) {
    if (public_in_pool) public_in_pool->fetch_sub(1);
    respond(api::Problem(api::ProblemKind::kUnavailable,
                         "the API is busy (too many queries waiting) or stopping; retry later",
                         request.path));
  }
}

}  // namespace hookvault::server
