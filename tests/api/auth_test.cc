#include "api/auth.h"

#include <gtest/gtest.h>

namespace hookvault::api {
namespace {

ApiRequest WithAuthorization(std::string value) {
  ApiRequest r;
  r.method = "GET";
  r.path = "/api/v1/events";
  if (!value.empty()) r.headers.emplace_back("authorization", std::move(value));
  return r;
}

const Authenticator& Tokens() {
  static const Authenticator auth({{"audit-team", "auditor-token-0123456789", Role::kAuditor},
                                   {"ops", "operator-token-0123456789", Role::kOperator},
                                   {"warehouse", "consumer-token-0123456789", Role::kConsumer},
                                   {"root", "admin-token-0123456789", Role::kAdmin}});
  return auth;
}

TEST(AuthTest, RolesGrantWhatTheContractSays) {
  EXPECT_TRUE(Allows(Role::kAuditor, Permission::kRead));
  EXPECT_FALSE(Allows(Role::kAuditor, Permission::kReprocess));
  EXPECT_FALSE(Allows(Role::kAuditor, Permission::kConsume));
  EXPECT_TRUE(Allows(Role::kOperator, Permission::kRead));
  EXPECT_TRUE(Allows(Role::kOperator, Permission::kReprocess));
  EXPECT_FALSE(Allows(Role::kOperator, Permission::kConsume));
  EXPECT_FALSE(Allows(Role::kConsumer, Permission::kRead));
  EXPECT_FALSE(Allows(Role::kConsumer, Permission::kReprocess));
  EXPECT_TRUE(Allows(Role::kConsumer, Permission::kConsume));
  EXPECT_TRUE(Allows(Role::kAdmin, Permission::kRead));
  EXPECT_TRUE(Allows(Role::kAdmin, Permission::kReprocess));
  EXPECT_TRUE(Allows(Role::kAdmin, Permission::kConsume));
  // Auditors read everything, the feed included; every role may pull.
  for (Role r : {Role::kAuditor, Role::kOperator, Role::kConsumer, Role::kAdmin}) {
    EXPECT_TRUE(Allows(r, Permission::kPull)) << RoleName(r);
    EXPECT_TRUE(Allows(r, Permission::kSession)) << RoleName(r);  // GET /session: any token
  }
}

TEST(AuthTest, AConsumerTokenUsesOnlyTheConsumersItLists) {
  Principal warehouse{"warehouse", Role::kConsumer, {"warehouse", "archive"}};
  EXPECT_TRUE(MayReadConsumer(warehouse, "archive"));
  EXPECT_TRUE(MayAckConsumer(warehouse, "archive"));
  EXPECT_FALSE(MayReadConsumer(warehouse, "billing"));
  EXPECT_FALSE(MayAckConsumer(warehouse, "billing"));
  for (Role r : {Role::kAuditor, Role::kOperator, Role::kAdmin}) {
    Principal p{"x", r, {}};
    EXPECT_TRUE(MayReadConsumer(p, "billing")) << RoleName(r);
    EXPECT_EQ(MayAckConsumer(p, "billing"), r == Role::kAdmin) << RoleName(r);
  }
}

TEST(AuthTest, ParsesRoleNames) {
  for (Role r : {Role::kAuditor, Role::kOperator, Role::kConsumer, Role::kAdmin}) {
    EXPECT_EQ(ParseRole(RoleName(r)), r);
  }
  EXPECT_EQ(ParseRole("root"), std::nullopt);
}

TEST(AuthTest, ReturnsThePrincipalOfAValidToken) {
  ApiResponse problem;
  auto p = Tokens().Authorize(WithAuthorization("Bearer operator-token-0123456789"),
                              Permission::kReprocess, &problem);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->name, "ops");
  EXPECT_EQ(p->role, Role::kOperator);
  // The scheme is case-insensitive (RFC 9110).
  EXPECT_TRUE(Tokens().Authorize(WithAuthorization("bearer auditor-token-0123456789"),
                                 Permission::kRead, &problem));
}

TEST(AuthTest, MissingMalformedOrUnknownTokensAre401) {
  for (const char* header : {"", "operator-token-0123456789", "Basic b3BzOm9wcw==", "Bearer ",
                             "Bearer operator-token-012345678", "Bearer operator-token-01234567890",
                             "Bearer OPERATOR-TOKEN-0123456789"}) {
    ApiResponse problem;
    EXPECT_FALSE(Tokens().Authorize(WithAuthorization(header), Permission::kRead, &problem))
        << header;
    EXPECT_EQ(problem.status, 401) << header;
    EXPECT_EQ(problem.content_type, "application/problem+json");
    bool challenge = false;
    for (const auto& [name, value] : problem.headers) challenge |= name == "WWW-Authenticate";
    EXPECT_TRUE(challenge) << header;
  }
}

TEST(AuthTest, AValidTokenWithoutTheRoleIs403) {
  ApiResponse problem;
  EXPECT_FALSE(Tokens().Authorize(WithAuthorization("Bearer consumer-token-0123456789"),
                                  Permission::kRead, &problem));
  EXPECT_EQ(problem.status, 403);
  EXPECT_NE(problem.body.find("consumer"), std::string::npos);
}

}  // namespace
}  // namespace hookvault::api
