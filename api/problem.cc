#include "api/problem.h"

#include <spdlog/spdlog.h>

#include <string>

#include "api/json.h"

namespace hookvault::api {
namespace {

struct ProblemSpec {
  ProblemKind kind;
  int status;
  std::string_view slug;
  std::string_view title;
};

constexpr ProblemSpec kProblems[] = {
    {ProblemKind::kBadRequest, 400, "bad-request", "Bad request"},
    {ProblemKind::kMalformedJson, 400, "malformed-json", "Body is not valid JSON"},
    {ProblemKind::kUnauthenticated, 401, "unauthenticated", "Missing or invalid credentials"},
    {ProblemKind::kForbidden, 403, "forbidden", "Forbidden"},
    {ProblemKind::kNotFound, 404, "not-found", "Not found"},
    {ProblemKind::kUnknownSource, 404, "unknown-source", "Unknown source"},
    {ProblemKind::kMethodNotAllowed, 405, "method-not-allowed", "Method not allowed"},
    {ProblemKind::kConflict, 409, "conflict", "Conflict"},
    {ProblemKind::kGone, 410, "gone", "Gone"},
    {ProblemKind::kPayloadTooLarge, 413, "payload-too-large", "Payload too large"},
    {ProblemKind::kUnsupportedMediaType, 415, "unsupported-media-type", "Unsupported media type"},
    {ProblemKind::kMissingField, 422, "missing-field", "Required field missing"},
    {ProblemKind::kSchemaViolation, 422, "schema-violation", "Payload does not match its schema"},
    {ProblemKind::kInternal, 500, "internal", "Internal error"},
    {ProblemKind::kNotImplemented, 501, "not-implemented", "Not implemented"},
    {ProblemKind::kUnavailable, 503, "unavailable", "Service unavailable"},
};

const ProblemSpec& SpecFor(ProblemKind kind) {
  for (const ProblemSpec& spec : kProblems) {
    if (spec.kind == kind) return spec;
  }
  return SpecFor(ProblemKind::kInternal);
}

ProblemKind KindFor(storage::StatusCode code) {
  switch (code) {
    case storage::StatusCode::kInvalidArgument:
      return ProblemKind::kBadRequest;
    case storage::StatusCode::kNotFound:
      return ProblemKind::kNotFound;
    case storage::StatusCode::kAlreadyExists:
      return ProblemKind::kConflict;
    case storage::StatusCode::kUnauthenticated:
      return ProblemKind::kUnauthenticated;
    case storage::StatusCode::kPermissionDenied:
      return ProblemKind::kForbidden;
    case storage::StatusCode::kUnavailable:
      return ProblemKind::kUnavailable;
    case storage::StatusCode::kOk:
    case storage::StatusCode::kInternal:
      return ProblemKind::kInternal;
  }
  return ProblemKind::kInternal;
}

}  // namespace

ApiResponse Problem(ProblemKind kind, std::string_view detail, std::string_view instance) {
  return ProblemWithMembers(kind, detail, instance, {});
}

ApiResponse ProblemWithMembers(ProblemKind kind, std::string_view detail,
                               std::string_view instance, std::string_view members_json) {
  const ProblemSpec& spec = SpecFor(kind);
  ApiResponse response;
  response.status = spec.status;
  response.content_type = "application/problem+json";
  std::string body = "{\"type\":\"urn:hookvault:problem:";
  body += spec.slug;
  body += "\",\"title\":" + JsonQuote(spec.title);
  body += ",\"status\":" + std::to_string(spec.status);
  body += ",\"detail\":" + JsonQuote(detail);
  if (!instance.empty()) body += ",\"instance\":" + JsonQuote(instance);
  if (!members_json.empty()) {
    body += ',';
    body += members_json;
  }
  body += "}";
  response.body = std::move(body);
  if (spec.status == 503) {
    response.headers.emplace_back("Retry-After", std::to_string(kRetryAfterSeconds));
  }
  return response;
}

std::string_view ProblemSlug(ProblemKind kind) { return SpecFor(kind).slug; }

ApiResponse ProblemFromStatus(const storage::Status& status, std::string_view instance) {
  ProblemKind kind = KindFor(status.code());
  std::string_view detail = status.message();
  if (kind == ProblemKind::kInternal) {
    // The client learns nothing of the cause (it may name tables, paths or data); the operator
    // must, or the 500 cannot be explained.
    spdlog::error("internal error answering {}: {}", instance.empty() ? "-" : instance,
                  status.ToString());
    detail = "internal error; see the server log";
  }
  if (kind == ProblemKind::kUnavailable) detail = "storage is unavailable; retry later";
  return Problem(kind, detail, instance);
}

}  // namespace hookvault::api
