#include "server/http/router.h"

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

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

// A route table whose handlers record which route ran and with which parameters.
class RouterTest : public ::testing::Test {
 protected:
  void Add(const std::string& method, const std::string& pattern) {
    router_.Add(method, pattern,
                [this, name = method + " " + pattern](
                    const api::ApiRequest&, const PathParams& params, api::Responder respond) {
                  called_ = name;
                  params_ = params;
                  respond(api::JsonOk("{}"));
                });
  }

  // Dispatches and returns the response (the router answers synchronously here).
  api::ApiResponse Dispatch(const std::string& method, const std::string& path) {
    called_.reset();
    params_.clear();
    std::vector<api::ApiResponse> responses;
    router_.Dispatch(Req(method, path),
                     [&](api::ApiResponse r) { responses.push_back(std::move(r)); });
    EXPECT_EQ(responses.size(), 1u) << method << " " << path;
    return responses.empty() ? api::ApiResponse{} : responses.front();
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

  Router router_;
  std::optional<std::string> called_;
  PathParams params_;
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
  router_.Add("POST", "/echo",
              [&](const api::ApiRequest& req, const PathParams&, api::Responder respond) {
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

}  // namespace
}  // namespace hookvault::server
