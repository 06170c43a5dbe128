#include "server/http/router.h"

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

#include "api/auth.h"
#include "api/json.h"

namespace hookvault::server {
namespace {

api::ApiRequest Req(std::string method, std::string path) {
  api::ApiRequest r;
  r.method = std::move(method);
  r.path = std::move(path);
  return r;
}

const std::string* FindHeader(const api::ApiResponse& r, std::string_view name) {
  for (const auto& [n, v] : r.headers) {
    if (n == name) return &v;
  }
  return nullptr;
}

constexpr char kOperatorToken[] = "operator-token-0123456789";
constexpr char kConsumerToken[] = "consumer-token-0123456789";

// A route table whose handlers record which route ran, with which parameters and principal.
class RouterTest : public ::testing::Test {
 protected:
  // Public unless said otherwise: most tests here are about matching, not access.
  void Add(const std::string& method, const std::string& pattern, Access access = kPublic) {
    router_.Add(method, pattern, access,
                [this, name = method + " " + pattern](
                    const api::ApiRequest&, const RouteContext& context, api::Responder respond) {
                  called_ = name;
                  params_ = context.params;
                  principal_ = context.principal;
                  respond(api::JsonOk("{}"));
                });
  }

  // Dispatches and returns the response (the router answers synchronously here).
  api::ApiResponse Dispatch(const api::ApiRequest& request) {
    called_.reset();
    params_.clear();
    principal_.reset();
    std::vector<api::ApiResponse> responses;
    router_.Dispatch(request, [&](api::ApiResponse r) { responses.push_back(std::move(r)); });
    EXPECT_EQ(responses.size(), 1u) << request.method << " " << request.path;
    return responses.empty() ? api::ApiResponse{} : responses.front();
  }
  api::ApiResponse Dispatch(const std::string& method, const std::string& path) {
    return Dispatch(Req(method, path));
  }
  // Dispatches with `Authorization: Bearer <token>`.
  api::ApiResponse DispatchWithToken(const std::string& method, const std::string& path,
                                     const std::string& token) {
    api::ApiRequest request = Req(method, path);
    request.headers.emplace_back("authorization", "Bearer " + token);
    return Dispatch(request);
  }

  void SetUpApiRoutes() {
    Add("POST", "/webhooks/:source");
    Add("GET", "/healthz");
    Add("GET", "/api/v1/events");
    Add("GET", "/api/v1/events/:id");
    Add("GET", "/api/v1/events/:id/attempts");
    Add("POST", "/api/v1/events/:id/reprocess");
    Add("GET", "/api/v1/consumers/:name/events");
    Add("POST", "/api/v1/consumers/:name/ack");
  }

  api::Authenticator auth_{{{"ops", kOperatorToken, api::Role::kOperator},
                            {"warehouse", kConsumerToken, api::Role::kConsumer}}};
  Router router_{auth_};
  std::optional<std::string> called_;
  PathParams params_;
  std::optional<api::Principal> principal_;
};

TEST_F(RouterTest, MatchesLiteralRoute) {
  SetUpApiRoutes();
  api::ApiResponse r = Dispatch("GET", "/healthz");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(called_, "GET /healthz");
  EXPECT_TRUE(params_.empty());
}

TEST_F(RouterTest, ExtractsOneParameter) {
  SetUpApiRoutes();
  Dispatch("POST", "/webhooks/harmonics");
  EXPECT_EQ(called_, "POST /webhooks/:source");
  EXPECT_EQ(params_, PathParams{"harmonics"});
}

TEST_F(RouterTest, ExtractsParametersInOrder) {
  Add("GET", "/a/:first/b/:second");
  Dispatch("GET", "/a/one/b/two");
  EXPECT_EQ(params_, (PathParams{"one", "two"}));
}

TEST_F(RouterTest, DistinguishesRoutesBySegmentCount) {
  SetUpApiRoutes();
  Dispatch("GET", "/api/v1/events");
  EXPECT_EQ(called_, "GET /api/v1/events");
  Dispatch("GET", "/api/v1/events/01HZ");
  EXPECT_EQ(called_, "GET /api/v1/events/:id");
  EXPECT_EQ(params_, PathParams{"01HZ"});
  Dispatch("GET", "/api/v1/events/01HZ/attempts");
  EXPECT_EQ(called_, "GET /api/v1/events/:id/attempts");
  EXPECT_EQ(params_, PathParams{"01HZ"});
  Dispatch("POST", "/api/v1/consumers/warehouse/ack");
  EXPECT_EQ(called_, "POST /api/v1/consumers/:name/ack");
  EXPECT_EQ(params_, PathParams{"warehouse"});
}

TEST_F(RouterTest, ParameterTakesSegmentVerbatim) {
  SetUpApiRoutes();
  Dispatch("POST", "/webhooks/a.b-c_d%20e");
  EXPECT_EQ(params_, PathParams{"a.b-c_d%20e"});
}

TEST_F(RouterTest, LiteralSegmentsMustMatchExactly) {
  SetUpApiRoutes();
  EXPECT_EQ(Dispatch("GET", "/api/v1/events/x/attempt").status, 404);
  EXPECT_EQ(Dispatch("GET", "/api/v2/events").status, 404);
  EXPECT_EQ(Dispatch("GET", "/HEALTHZ").status, 404);
  EXPECT_FALSE(called_.has_value());
}

TEST_F(RouterTest, UnknownPathIs404Problem) {
  SetUpApiRoutes();
  api::ApiResponse r = Dispatch("GET", "/nope");
  EXPECT_FALSE(called_.has_value());
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(r.content_type, "application/problem+json");
  EXPECT_EQ(FindHeader(r, "Allow"), nullptr);
  rapidjson::Document doc;
  ASSERT_TRUE(api::ParseJson(r.body, doc).ok()) << r.body;
  EXPECT_STREQ(doc["type"].GetString(), "urn:hookvault:problem:not-found");
  EXPECT_EQ(doc["status"].GetInt(), 404);
  EXPECT_STREQ(doc["instance"].GetString(), "/nope");
}

TEST_F(RouterTest, EmptyTableAnswers404) {
  EXPECT_EQ(Dispatch("GET", "/").status, 404);
  EXPECT_EQ(Dispatch("GET", "/anything").status, 404);
}

TEST_F(RouterTest, RootRoute) {
  Add("GET", "/");
  Dispatch("GET", "/");
  EXPECT_EQ(called_, "GET /");
  EXPECT_EQ(Dispatch("GET", "/x").status, 404);
}

TEST_F(RouterTest, KnownPathWrongMethodIs405WithAllow) {
  SetUpApiRoutes();
  api::ApiResponse r = Dispatch("GET", "/webhooks/harmonics");
  EXPECT_FALSE(called_.has_value());
  EXPECT_EQ(r.status, 405);
  EXPECT_EQ(r.content_type, "application/problem+json");
  const std::string* allow = FindHeader(r, "Allow");
  ASSERT_NE(allow, nullptr);
  EXPECT_EQ(*allow, "POST");
  rapidjson::Document doc;
  ASSERT_TRUE(api::ParseJson(r.body, doc).ok()) << r.body;
  EXPECT_STREQ(doc["type"].GetString(), "urn:hookvault:problem:method-not-allowed");
  EXPECT_EQ(doc["status"].GetInt(), 405);
}

TEST_F(RouterTest, AllowListsEveryMethodOfThePath) {
  Add("GET", "/things/:id");
  Add("PUT", "/things/:id");
  Add("DELETE", "/things/:id");
  Add("POST", "/things");
  api::ApiResponse r = Dispatch("PATCH", "/things/7");
  EXPECT_EQ(r.status, 405);
  const std::string* allow = FindHeader(r, "Allow");
  ASSERT_NE(allow, nullptr);
  EXPECT_EQ(*allow, "GET, PUT, DELETE");
}

TEST_F(RouterTest, AllowCombinesLiteralAndParameterPatterns) {
  // Both patterns match /items/new; each contributes its method once.
  Add("GET", "/items/:id");
  Add("POST", "/items/new");
  Add("GET", "/items/new");
  api::ApiResponse r = Dispatch("DELETE", "/items/new");
  EXPECT_EQ(r.status, 405);
  const std::string* allow = FindHeader(r, "Allow");
  ASSERT_NE(allow, nullptr);
  EXPECT_EQ(*allow, "GET, POST");
}

TEST_F(RouterTest, FirstMatchingRouteWins) {
  Add("GET", "/items/:id");
  Add("GET", "/items/special");
  Dispatch("GET", "/items/special");
  EXPECT_EQ(called_, "GET /items/:id");
  EXPECT_EQ(params_, PathParams{"special"});
}

TEST_F(RouterTest, MethodIsCaseSensitive) {
  SetUpApiRoutes();
  EXPECT_EQ(Dispatch("get", "/healthz").status, 405);
}

TEST_F(RouterTest, HeadIsNotImplicitlyGet) {
  SetUpApiRoutes();
  api::ApiResponse r = Dispatch("HEAD", "/healthz");
  EXPECT_EQ(r.status, 405);
  ASSERT_NE(FindHeader(r, "Allow"), nullptr);
  EXPECT_EQ(*FindHeader(r, "Allow"), "GET");
}

// Trailing and repeated slashes: empty segments are ignored, so "/healthz/" and "//healthz"
// reach "/healthz", and a parameter never matches an empty segment.
TEST_F(RouterTest, TrailingSlashIsIgnored) {
  SetUpApiRoutes();
  Dispatch("GET", "/healthz/");
  EXPECT_EQ(called_, "GET /healthz");
  Dispatch("POST", "/webhooks/harmonics/");
  EXPECT_EQ(called_, "POST /webhooks/:source");
  EXPECT_EQ(params_, PathParams{"harmonics"});
}

TEST_F(RouterTest, RepeatedSlashesAreIgnored) {
  SetUpApiRoutes();
  Dispatch("GET", "//api//v1/events");
  EXPECT_EQ(called_, "GET /api/v1/events");
}

TEST_F(RouterTest, ParameterNeverMatchesEmptySegment) {
  SetUpApiRoutes();
  EXPECT_EQ(Dispatch("POST", "/webhooks/").status, 404);
  EXPECT_EQ(Dispatch("POST", "/webhooks//").status, 404);
  EXPECT_FALSE(called_.has_value());
}

// Because empty segments are dropped, an empty segment in the middle shifts the rest left:
// "/api/v1/events//attempts" is "/api/v1/events/attempts", the event whose id is "attempts".
TEST_F(RouterTest, EmptyMiddleSegmentCollapses) {
  SetUpApiRoutes();
  Dispatch("GET", "/api/v1/events//attempts");
  EXPECT_EQ(called_, "GET /api/v1/events/:id");
  EXPECT_EQ(params_, PathParams{"attempts"});
}

TEST_F(RouterTest, PassesTheRequestThrough) {
  std::string seen_body;
  router_.Add("POST", "/echo", kPublic,
              [&](const api::ApiRequest& req, const RouteContext&, api::Responder respond) {
                seen_body = req.body;
                respond(api::JsonOk(req.body));
              });
  api::ApiRequest req = Req("POST", "/echo");
  req.body = R"({"x":1})";
  std::optional<api::ApiResponse> got;
  router_.Dispatch(req, [&](api::ApiResponse r) { got = std::move(r); });
  EXPECT_EQ(seen_body, R"({"x":1})");
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->body, R"({"x":1})");
}

TEST_F(RouterTest, RoutesAreListed) {
  SetUpApiRoutes();
  ASSERT_EQ(router_.routes().size(), 8u);
  EXPECT_EQ(router_.routes()[0].method, "POST");
  EXPECT_EQ(router_.routes()[0].pattern, "/webhooks/:source");
  EXPECT_EQ(router_.routes()[0].segments, (std::vector<std::string>{"webhooks", ":source"}));
}

// --- Access ----------------------------------------------------------------------------------

TEST_F(RouterTest, PermissionRouteWithoutTokenIs401AndTheHandlerIsNotCalled) {
  Add("POST", "/api/v1/events/:id/reprocess", api::Permission::kReprocess);
  api::ApiResponse r = Dispatch("POST", "/api/v1/events/01HZ/reprocess");
  EXPECT_FALSE(called_.has_value());
  EXPECT_EQ(r.status, 401);
  EXPECT_EQ(r.content_type, "application/problem+json");
  const std::string* challenge = FindHeader(r, "WWW-Authenticate");
  ASSERT_NE(challenge, nullptr);
  EXPECT_EQ(*challenge, "Bearer realm=\"hookvault\"");
  rapidjson::Document doc;
  ASSERT_TRUE(api::ParseJson(r.body, doc).ok()) << r.body;
  EXPECT_STREQ(doc["type"].GetString(), "urn:hookvault:problem:unauthenticated");
  EXPECT_STREQ(doc["instance"].GetString(), "/api/v1/events/01HZ/reprocess");
}

TEST_F(RouterTest, PermissionRouteWithUnknownTokenIs401AndTheHandlerIsNotCalled) {
  Add("GET", "/api/v1/events", api::Permission::kRead);
  api::ApiResponse r = DispatchWithToken("GET", "/api/v1/events", "not-a-token-0123456789");
  EXPECT_FALSE(called_.has_value());
  EXPECT_EQ(r.status, 401);
  EXPECT_NE(FindHeader(r, "WWW-Authenticate"), nullptr);
}

TEST_F(RouterTest, PermissionRouteWithTheWrongRoleIs403AndTheHandlerIsNotCalled) {
  Add("POST", "/api/v1/reprocess", api::Permission::kReprocess);
  Add("GET", "/api/v1/feed", api::Permission::kConsume);
  api::ApiResponse r = DispatchWithToken("POST", "/api/v1/reprocess", kConsumerToken);
  EXPECT_FALSE(called_.has_value());
  EXPECT_EQ(r.status, 403);
  EXPECT_EQ(r.content_type, "application/problem+json");
  EXPECT_EQ(FindHeader(r, "WWW-Authenticate"), nullptr);
  rapidjson::Document doc;
  ASSERT_TRUE(api::ParseJson(r.body, doc).ok()) << r.body;
  EXPECT_STREQ(doc["type"].GetString(), "urn:hookvault:problem:forbidden");
  EXPECT_STREQ(doc["detail"].GetString(), "role consumer may not do this");

  EXPECT_EQ(DispatchWithToken("GET", "/api/v1/feed", kOperatorToken).status, 403);
  EXPECT_FALSE(called_.has_value());
}

// The router's refusals are the Authenticator's, byte for byte.
TEST_F(RouterTest, RefusalsAreThoseOfTheAuthenticator) {
  Add("POST", "/api/v1/reprocess", api::Permission::kReprocess);
  for (const std::string& token :
       {std::string(), std::string("nope"), std::string(kConsumerToken)}) {
    api::ApiRequest request = Req("POST", "/api/v1/reprocess");
    if (!token.empty()) request.headers.emplace_back("authorization", "Bearer " + token);
    api::ApiResponse expected;
    ASSERT_FALSE(auth_.Authorize(request, api::Permission::kReprocess, &expected).has_value());
    api::ApiResponse got = Dispatch(request);
    EXPECT_EQ(got.status, expected.status) << token;
    EXPECT_EQ(got.content_type, expected.content_type) << token;
    EXPECT_EQ(got.body, expected.body) << token;
    EXPECT_EQ(got.headers, expected.headers) << token;
  }
}

TEST_F(RouterTest, HandlerGetsThePrincipal) {
  Add("POST", "/api/v1/events/:id/reprocess", api::Permission::kReprocess);
  api::ApiResponse r = DispatchWithToken("POST", "/api/v1/events/01HZ/reprocess", kOperatorToken);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(called_, "POST /api/v1/events/:id/reprocess");
  EXPECT_EQ(params_, PathParams{"01HZ"});
  ASSERT_TRUE(principal_.has_value());
  EXPECT_EQ(principal_->name, "ops");
  EXPECT_EQ(principal_->role, api::Role::kOperator);
}

TEST_F(RouterTest, PublicAndSourceTokenRoutesCheckNoApiTokenAndGiveNoPrincipal) {
  Add("GET", "/healthz", kPublic);
  Add("POST", "/webhooks/:source", kSourceToken);
  Dispatch("GET", "/healthz");
  EXPECT_EQ(called_, "GET /healthz");
  EXPECT_FALSE(principal_.has_value());
  // A token is not even looked at: a wrong one is no reason to refuse a public route.
  EXPECT_EQ(DispatchWithToken("GET", "/healthz", "nope").status, 200);
  EXPECT_FALSE(principal_.has_value());
  EXPECT_EQ(DispatchWithToken("POST", "/webhooks/harmonics", kOperatorToken).status, 200);
  EXPECT_EQ(called_, "POST /webhooks/:source");
  EXPECT_FALSE(principal_.has_value());
}

// Routing comes first: an unknown path or a wrong method is answered as such, even without a
// token.
TEST_F(RouterTest, NotFoundAndMethodNotAllowedComeBeforeAuthorization) {
  Add("POST", "/api/v1/reprocess", api::Permission::kReprocess);
  EXPECT_EQ(Dispatch("GET", "/api/v1/reprocess").status, 405);
  EXPECT_EQ(Dispatch("GET", "/api/v1/nothing").status, 404);
  EXPECT_FALSE(called_.has_value());
}

TEST_F(RouterTest, RoutesKeepTheirAccess) {
  Add("GET", "/healthz", kPublic);
  Add("POST", "/webhooks/:source", kSourceToken);
  Add("GET", "/api/v1/feed", api::Permission::kConsume);
  ASSERT_EQ(router_.routes().size(), 3u);
  EXPECT_TRUE(std::holds_alternative<PublicAccess>(router_.routes()[0].access));
  EXPECT_TRUE(std::holds_alternative<SourceTokenAccess>(router_.routes()[1].access));
  EXPECT_EQ(std::get<api::Permission>(router_.routes()[2].access), api::Permission::kConsume);
}

}  // namespace
}  // namespace hookvault::server
