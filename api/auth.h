// Bearer-token authentication and the roles of the REST API (contract: "Roles").
#ifndef HOOKVAULT_API_AUTH_H_
#define HOOKVAULT_API_AUTH_H_

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "api/http.h"

namespace hookvault::api {

enum class Role { kAuditor, kOperator, kConsumer, kAdmin };

// What a route needs. Auditors read everything (the feed too); operators also reprocess;
// consumers only pull; admins do everything.
enum class Permission {
  kRead,       // the history: events, deliveries, attempts, requests, audit
  kReprocess,  // put deliveries back to pending
  kPull,       // read the feed and a named consumer's events (MayReadConsumer says which)
  kConsume,    // acknowledge a named consumer's events (MayAckConsumer says which)
  // Any valid token, whatever its role: only for routes that tell a token about itself
  // (GET /session), so that a console can offer exactly what the role may do. A route that
  // shows stored data must name one of the permissions above.
  kSession,
};

// Returns the role named "auditor", "operator", "consumer" or "admin", or nullopt.
std::optional<Role> ParseRole(std::string_view name);
std::string_view RoleName(Role role);

// Returns true if `role` grants `permission`.
bool Allows(Role role, Permission permission);

struct ApiToken {
  std::string name;  // the actor recorded in the audit log
  std::string token;
  Role role = Role::kAuditor;
  // Role consumer only: the named consumers this token reads and acknowledges.
  std::vector<std::string> consumers = {};
};

// Who made a request.
struct Principal {
  std::string name;
  Role role = Role::kAuditor;
  std::vector<std::string> consumers = {};  // as ApiToken::consumers
};

// A consumer token reads only the consumers it lists, so that one downstream system cannot move
// (or watch) another's cursor; every other role may read any consumer.
bool MayReadConsumer(const Principal& who, std::string_view consumer);
// Only a consumer token listing the consumer, or an admin, moves its cursor: an ack skips events
// for that consumer for good.
bool MayAckConsumer(const Principal& who, std::string_view consumer);

// Thread-safety: immutable after construction; Authorize() from any thread.
class Authenticator {
 public:
  explicit Authenticator(std::vector<ApiToken> tokens) : tokens_(std::move(tokens)) {}

  // Checks `Authorization: Bearer <token>` against every configured token in constant time
  // and the token's role against `permission`. Returns the principal, or fills `problem` with
  // a 401 (no or unknown token, with WWW-Authenticate) or 403 (role may not) and returns
  // nullopt.
  std::optional<Principal> Authorize(const ApiRequest& request, Permission permission,
                                     ApiResponse* problem) const;

 private:
  const std::vector<ApiToken> tokens_;
};

}  // namespace hookvault::api

#endif  // HOOKVAULT_API_AUTH_H_
