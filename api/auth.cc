#include "api/auth.h"

#include <algorithm>

#include "api/problem.h"
#include "storage/base/crypto.h"
#include "storage/base/strings.h"

namespace hookvault::api {

std::optional<Role> ParseRole(std::string_view name) {
  if (name == "auditor") return Role::kAuditor;
  if (name == "operator") return Role::kOperator;
  if (name == "consumer") return Role::kConsumer;
  if (name == "admin") return Role::kAdmin;
  return std::nullopt;
}

std::string_view RoleName(Role role) {
  switch (role) {
    case Role::kAuditor:
      return "auditor";
    case Role::kOperator:
      return "operator";
    case Role::kConsumer:
      return "consumer";
    case Role::kAdmin:
      return "admin";
  }
  return "unknown";
}

bool Allows(Role role, Permission permission) {
  switch (permission) {
    case Permission::kRead:
      return role == Role::kAuditor || role == Role::kOperator || role == Role::kAdmin;
    case Permission::kReprocess:
      return role == Role::kOperator || role == Role::kAdmin;
    case Permission::kPull:
      return true;
    case Permission::kConsume:
      return role == Role::kConsumer || role == Role::kAdmin;
    case Permission::kSession:
      return true;
  }
  return false;
}

bool MayReadConsumer(const Principal& who, std::string_view consumer) {
  if (who.role != Role::kConsumer) return true;
  return std::find(who.consumers.begin(), who.consumers.end(), consumer) != who.consumers.end();
}

bool MayAckConsumer(const Principal& who, std::string_view consumer) {
  if (who.role == Role::kAdmin) return true;
  return who.role == Role::kConsumer && MayReadConsumer(who, consumer);
}

std::optional<Principal> Authenticator::Authorize(const ApiRequest& request,
                                                  Permission permission,
                                                  ApiResponse* problem) const {
  auto unauthenticated = [&](std::string_view detail) {
    *problem = Problem(ProblemKind::kUnauthenticated, detail, request.path);
    problem->headers.emplace_back("WWW-Authenticate", "Bearer realm=\"hookvault\"");
    return std::nullopt;
  };
  const std::string* header = request.Header("authorization");
  if (!header) return unauthenticated("missing Authorization: Bearer <token>");
  std::string_view value = *header;
  constexpr std::string_view kScheme = "bearer ";
  if (value.size() <= kScheme.size() ||
      base::AsciiLower(value.substr(0, kScheme.size())) != kScheme) {
    return unauthenticated("Authorization must use the Bearer scheme");
  }
  std::string_view presented = value.substr(kScheme.size());
  while (!presented.empty() && presented.front() == ' ') presented.remove_prefix(1);
  while (!presented.empty() && presented.back() == ' ') presented.remove_suffix(1);
  // Every token is compared, so the time taken says nothing about which one (or whether one)
  // matched.
  const ApiToken* match = nullptr;
  for (const ApiToken& t : tokens_) {
    if (base::SecretsEqual(presented, t.token) && !match) match = &t;
  }
  if (!match) return unauthenticated("unknown API token");
  if (!Allows(match->role, permission)) {
    *problem = Problem(ProblemKind::kForbidden,
                       "role " + std::string(RoleName(match->role)) + " may not do this",
                       request.path);
    return std::nullopt;
  }
  return Principal{match->name, match->role, match->consumers};
}

}  // namespace hookvault::api
