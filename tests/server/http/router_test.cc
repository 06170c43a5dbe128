#include "server/http/router.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <future>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "api/auth.h"
#include "api/json.h"
#include "server/http/query_pool.h"
#include "server/http/route_table.h"

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
// A path is the pattern exactly: "/api/v1/events/" or "/healthz/" answered 200 as if the
// slash were not there, so a URL an operator got wrong looked right.
TEST_F(RouterTest, TrailingSlashIsNotFound) {
  SetUpApiRoutes();
  for (const char* path :
       {"/healthz/", "/api/v1/events/", "/api/v1/events/abc/", "/webhooks/harmonics/"}) {
    EXPECT_EQ(Dispatch(path == std::string("/webhooks/harmonics/") ? "POST" : "GET", path).status,
              404)
        << path;
  }
  EXPECT_FALSE(called_.has_value());
  Dispatch("GET", "/healthz");
  EXPECT_EQ(called_, "GET /healthz");
}

TEST_F(RouterTest, RepeatedSlashesAreNotFound) {
  SetUpApiRoutes();
  EXPECT_EQ(Dispatch("GET", "//api//v1/events").status, 404);
  EXPECT_EQ(Dispatch("GET", "//healthz").status, 404);
  EXPECT_FALSE(called_.has_value());
}

TEST_F(RouterTest, ParameterNeverMatchesEmptySegment) {
  SetUpApiRoutes();
  EXPECT_EQ(Dispatch("POST", "/webhooks/").status, 404);
  EXPECT_EQ(Dispatch("POST", "/webhooks//").status, 404);
  EXPECT_FALSE(called_.has_value());
}

// An empty segment in the middle is not dropped: "/api/v1/events//attempts" is not the event
// whose id is "attempts", nor the attempts of an event with an empty id.
TEST_F(RouterTest, EmptyMiddleSegmentIsNotFound) {
  SetUpApiRoutes();
  EXPECT_EQ(Dispatch("GET", "/api/v1/events//attempts").status, 404);
  EXPECT_FALSE(called_.has_value());
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

// --- Where handlers run ------------------------------------------------------------------------

// Every handler that reads the database runs on the query pool; ingest (which hands its work to
// the writer) and the probes stay on the reactor.
TEST(RouteTableTest, DatabaseReadsRunOnTheQueryPool) {
  for (const RouteSpec& route : kRouteTable) {
    const bool api_read =
        route.pattern.substr(0, 8) == "/api/v1/" && route.pattern != "/api/v1/openapi.json";
    const bool expect_pool = api_read || route.pattern == "/metrics";
    EXPECT_EQ(route.runs, expect_pool ? Runs::kQueryPool : Runs::kReactor)
        << route.method << " " << route.pattern;
  }
}

// A gate a handler waits at until the test opens it.
class Gate {
 public:
  void Open() { opened_.set_value(); }
  void Wait() { opened_future_.wait(); }

 private:
  std::promise<void> opened_;
  std::shared_future<void> opened_future_ = opened_.get_future().share();
};

class RouterPoolTest : public ::testing::Test {
 protected:
  void TearDown() override {
    if (!gate_opened_) gate_.Open();
    pool_.Stop();
  }
  void OpenGate() {
    gate_opened_ = true;
    gate_.Open();
  }

  api::Authenticator auth_{{{"ops", kOperatorToken, api::Role::kOperator}}};
  QueryPool pool_{1, 1};  // one thread, one waiting
  Router router_{auth_, &pool_};
  Gate gate_;
  bool gate_opened_ = false;
};

// A handler on the pool runs on a pool thread; the dispatching thread (a reactor) goes on to
// answer others meanwhile: here /healthz is answered while the slow read still waits.
TEST_F(RouterPoolTest, SlowPoolHandlerDoesNotHoldTheDispatchingThread) {
  std::promise<std::thread::id> ran_on;
  std::promise<void> started;
  router_.Add(
      "GET", "/slow", kPublic,
      [&](const api::ApiRequest&, const RouteContext&, api::Responder respond) {
        ran_on.set_value(std::this_thread::get_id());
        started.set_value();
        gate_.Wait();
        respond(api::JsonOk("{}"));
      },
      Runs::kQueryPool);
  router_.Add("GET", "/healthz", kPublic,
              [](const api::ApiRequest&, const RouteContext&, api::Responder respond) {
                respond(api::JsonOk("{}"));
              });
  std::promise<int> slow_status;
  router_.Dispatch(Req("GET", "/slow"),
                   [&](api::ApiResponse r) { slow_status.set_value(r.status); });
  started.get_future().wait();
  EXPECT_NE(ran_on.get_future().get(), std::this_thread::get_id());
  std::optional<int> health;
  router_.Dispatch(Req("GET", "/healthz"), [&](api::ApiResponse r) { health = r.status; });
  EXPECT_EQ(health, 200);  // answered on this thread, before the slow read returned
  auto slow = slow_status.get_future();
  EXPECT_EQ(slow.wait_for(std::chrono::seconds(0)), std::future_status::timeout);
  OpenGate();
  EXPECT_EQ(slow.get(), 200);
}

// Public reads on the pool (/metrics) hold at most Router::kMaxPublicInPool of its places:
// beyond them an unauthenticated read is 503 at once, while authenticated reads still queue, so a
// flood of /metrics never locks operators and consumers out of the API.
TEST(RouterPublicPoolTest, UnauthenticatedReadsCannotFillThePool) {
  api::Authenticator auth{{{"ops", kOperatorToken, api::Role::kOperator}}};
  QueryPool pool{1, 16};
  Router router{auth, &pool};
  Gate gate;
  router.Add(
      "GET", "/metrics", kPublic,
      [&](const api::ApiRequest&, const RouteContext&, api::Responder respond) {
        gate.Wait();
        respond(api::JsonOk("{}"));
      },
      Runs::kQueryPool);
  router.Add(
      "GET", "/api/v1/events", api::Permission::kRead,
      [&](const api::ApiRequest&, const RouteContext&, api::Responder respond) {
        respond(api::JsonOk("{}"));
      },
      Runs::kQueryPool);
  std::mutex mu;
  std::vector<int> metrics;  // guarded by mu
  for (int i = 0; i < Router::kMaxPublicInPool + 3; ++i) {
    router.Dispatch(Req("GET", "/metrics"), [&](api::ApiResponse r) {
      std::lock_guard<std::mutex> lock(mu);
      metrics.push_back(r.status);
    });
  }
  {
    std::lock_guard<std::mutex> lock(mu);
    EXPECT_EQ(metrics, std::vector<int>(3, 503)) << "public reads beyond the cap were queued";
  }
  api::ApiRequest events = Req("GET", "/api/v1/events");
  events.headers.emplace_back("authorization", std::string("Bearer ") + kOperatorToken);
  std::promise<int> authenticated;
  router.Dispatch(events, [&](api::ApiResponse r) { authenticated.set_value(r.status); });
  gate.Open();
  EXPECT_EQ(authenticated.get_future().get(), 200);
  pool.Stop();
  std::lock_guard<std::mutex> lock(mu);
  EXPECT_EQ(std::count(metrics.begin(), metrics.end(), 200), Router::kMaxPublicInPool);
}

// The queue is bounded in count: a read beyond it is answered 503 with Retry-After at once, not
// queued. Authorization comes first, on the dispatching thread: a caller without a token is
// refused without taking a place in the queue.
TEST_F(RouterPoolTest, FullQueueAnswers503WithRetryAfter) {
  std::promise<void> started;
  router_.Add(
      "GET", "/api/v1/events", api::Permission::kRead,
      [&](const api::ApiRequest&, const RouteContext&, api::Responder respond) {
        static std::atomic<int> calls{0};
        if (calls++ == 0) started.set_value();
        gate_.Wait();
        respond(api::JsonOk("{}"));
      },
      Runs::kQueryPool);
  api::ApiRequest req = Req("GET", "/api/v1/events");
  req.headers.emplace_back("authorization", std::string("Bearer ") + kOperatorToken);
  std::promise<int> first, second;
  router_.Dispatch(req, [&](api::ApiResponse r) { first.set_value(r.status); });
  started.get_future().wait();  // running: the one place in the queue is free again
  router_.Dispatch(req, [&](api::ApiResponse r) { second.set_value(r.status); });
  std::optional<api::ApiResponse> third;
  router_.Dispatch(req, [&](api::ApiResponse r) { third = std::move(r); });
  ASSERT_TRUE(third.has_value());
  EXPECT_EQ(third->status, 503);
  EXPECT_EQ(third->content_type, "application/problem+json");
  ASSERT_NE(FindHeader(*third, "Retry-After"), nullptr);
  std::optional<int> anonymous;
  router_.Dispatch(Req("GET", "/api/v1/events"), [&](api::ApiResponse r) { anonymous = r.status; });
  EXPECT_EQ(anonymous, 401);
  OpenGate();
  EXPECT_EQ(first.get_future().get(), 200);
  EXPECT_EQ(second.get_future().get(), 200);
}

// A handler that throws on a pool thread is answered 500, and the pool goes on.
TEST_F(RouterPoolTest, ThrowingPoolHandlerIsAnswered500) {
  router_.Add(
      "GET", "/boom", kPublic,
      [](const api::ApiRequest&, const RouteContext&, api::Responder) -> void {
        throw std::runtime_error("boom");
      },
      Runs::kQueryPool);
  for (int i = 0; i < 2; ++i) {
    std::promise<int> status;
    router_.Dispatch(Req("GET", "/boom"), [&](api::ApiResponse r) { status.set_value(r.status); });
    EXPECT_EQ(status.get_future().get(), 500);
  }
}

TEST(QueryPoolTest, StopRunsWhatIsQueuedAndRefusesMore) {
  QueryPool pool(1, 8);
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  std::atomic<int> ran{0};
  ASSERT_TRUE(pool.TrySubmit([&] {
    released.wait();
    ++ran;
  }));
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(pool.TrySubmit([&] { ++ran; }));
  std::thread stopper([&] { pool.Stop(); });
  release.set_value();
  stopper.join();
  EXPECT_EQ(ran.load(), 4);
  EXPECT_FALSE(pool.TrySubmit([&] { ++ran; }));
  EXPECT_EQ(ran.load(), 4);
}

}  // namespace
}  // namespace hookvault::server
