#include "server/web/console.h"

#include <string>

#include "api/problem.h"

namespace hookvault::server {
namespace {

void AddSecurityHeaders(api::ApiResponse& response) {
  response.headers.emplace_back("Content-Security-Policy", std::string(kConsoleCsp));
  response.headers.emplace_back("X-Content-Type-Options", "nosniff");
  response.headers.emplace_back("Referrer-Policy", "no-referrer");
  response.headers.emplace_back("X-Frame-Options", "DENY");
  response.headers.emplace_back("Cache-Control", "no-cache");
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Returns true when the If-None-Match list `header` names `etag` or is "*" (RFC 9110 13.1.2:
// the comparison is weak, so W/"x" matches "x").
bool NoneMatchHits(std::string_view header, std::string_view etag) {
  while (!header.empty()) {
    size_t comma = header.find(',');
    std::string_view tag = Trim(header.substr(0, comma));
    if (tag == "*") return true;
    if (tag.starts_with("W/")) tag.remove_prefix(2);
    if (tag == etag) return true;
    if (comma == std::string_view::npos) break;
    header.remove_prefix(comma + 1);
  }
  return false;
}

}  // namespace

const ConsoleAsset* FindConsoleAsset(std::string_view name) {
  for (const ConsoleAsset& asset : ConsoleAssets()) {
    if (asset.name == name) return &asset;
  }
  return nullptr;
}

api::ApiResponse ServeConsoleAsset(const api::ApiRequest& request, std::string_view name) {
  const ConsoleAsset* asset = FindConsoleAsset(name.empty() ? "index.html" : name);
  if (asset == nullptr) {
    api::ApiResponse response = api::Problem(
        api::ProblemKind::kNotFound, "the console has no file " + std::string(name), request.path);
    AddSecurityHeaders(response);
    return response;
  }
  api::ApiResponse response;
  response.content_type = std::string(asset->content_type);
  AddSecurityHeaders(response);
  response.headers.emplace_back("ETag", std::string(asset->etag));
  const std::string* none_match = request.Header("if-none-match");
  if (none_match != nullptr && NoneMatchHits(*none_match, asset->etag)) {
    response.status = 304;
    return response;
  }
  response.body = std::string(asset->body);
  return response;
}

api::ApiResponse RedirectToConsole() {
  api::ApiResponse response;
  response.status = 301;
  response.content_type = "text/plain; charset=utf-8";
  response.body = "The console is at /console/\n";
  response.headers.emplace_back("Location", "/console/");
  AddSecurityHeaders(response);
  return response;
}

}  // namespace hookvault::server
