// The one table that maps failures to HTTP statuses and RFC 9457 problem+json bodies.
#ifndef HOOKVAULT_API_PROBLEM_H_
#define HOOKVAULT_API_PROBLEM_H_

#include <string_view>

#include "api/http.h"
#include "storage/status.h"

namespace hookvault::api {

// Every kind of failure hookvault answers. Each has one HTTP status, title and type URI
// ("urn:hookvault:problem:<slug>").
enum class ProblemKind {
  kBadRequest,            // 400 a parameter or value is invalid
  kMalformedJson,         // 400 the body is not JSON, or nested too deep
  kUnauthenticated,       // 401 missing or wrong credentials
  kForbidden,             // 403 not allowed (role, remote address)
  kNotFound,              // 404 no such resource or route
  kUnknownSource,         // 404 POST to a source that is not configured
  kMethodNotAllowed,      // 405
  kConflict,              // 409
  kGone,                  // 410 what was asked for existed but has been pruned
  kPayloadTooLarge,       // 413
  kUnsupportedMediaType,  // 415
  kMissingField,          // 422 a required JSON pointer is absent
  kSchemaViolation,       // 422 the payload does not match its source's JSON Schema
  kInternal,              // 500
  kNotImplemented,        // 501 a request method the server does not know
  kUnavailable,           // 503 storage cannot commit, overload, shutting down (Retry-After)
};

// Returns the problem+json response for `kind` with a human-readable `detail`. A 503 carries
// Retry-After. `instance` (the request path) is included when not empty.
ApiResponse Problem(ProblemKind kind, std::string_view detail, std::string_view instance = {});

// The same with extension members: `members_json` is the text of JSON object members
// ("\"errors\":[...]"), appended after the standard ones. Empty: none.
ApiResponse ProblemWithMembers(ProblemKind kind, std::string_view detail,
                               std::string_view instance, std::string_view members_json);

// Returns the slug of `kind`'s type URI ("unknown-source"); the request log's reason.
std::string_view ProblemSlug(ProblemKind kind);

// Returns the problem for a non-OK Status (kInvalidArgument → 400, kNotFound → 404,
// kAlreadyExists → 409, kUnauthenticated → 401, kPermissionDenied → 403, kUnavailable → 503,
// kInternal → 500). Internal details are not shown to the client; they are logged (error
// level, with `instance`) so the operator can tell what the 500 was.
ApiResponse ProblemFromStatus(const storage::Status& status, std::string_view instance = {});

// Seconds a client is asked to wait after a 503.
inline constexpr int kRetryAfterSeconds = 1;

}  // namespace hookvault::api

#endif  // HOOKVAULT_API_PROBLEM_H_
