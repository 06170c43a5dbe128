// Payload filters on destinations (destinations[].filter) end to end: the real binary, real
// HTTP, and one real sink per destination. Each sink receives exactly the events its filter
// selects; an event that no destination selects is stored and `delivered` with no deliveries;
// GET /api/v1/destinations lists the filters; check-config names a bad condition's key path.
#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "tests/testing/http_client.h"
#include "tests/testing/server_process.h"
#include "tests/testing/sink_server.h"
#include "tests/testing/temp_dir.h"

namespace hookvault::testing {
namespace {

constexpr char kSourceToken[] = "filter-source-token-0123456789";
constexpr char kAuditor[] = "filter-auditor-token-0123456789";

bool WaitFor(const std::function<bool()>& condition, int seconds = 20) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return condition();
}

// A string member's text, or a marker: GetString() on anything else would abort the test
// binary (RapidJSON asserts) and leave the server running.
std::string Text(const rapidjson::Value& v, const char* name) {
  if (!v.IsObject()) return "<not an object>";
  auto it = v.FindMember(name);
  if (it == v.MemberEnd() || !it->value.IsString()) return "<no string>";
  return std::string(it->value.GetString(), it->value.GetStringLength());
}

// The filters of the test, as configured (spaces and key order as an operator would write
// them) and as GET /api/v1/destinations lists them (normalised).
constexpr char kConfirmedFilter[] = R"([{"equals": "confirmed", "pointer": "/booking/status"},
                                        {"pointer": "/amount", "gte": 100}])";
constexpr char kConfirmedListed[] =
    R"([{"pointer":"/booking/status","equals":"confirmed"},{"pointer":"/amount","gte":100}])";
constexpr char kRegionsFilter[] = R"([{"pointer": "/region", "in": ["eu", "uk"]},
                                      {"pointer": "/test", "exists": false}])";
constexpr char kRegionsListed[] =
    R"([{"pointer":"/region","in":["eu","uk"]},{"pointer":"/test","exists":false}])";
constexpr char kSkusFilter[] = R"([{"pointer": "/items/0/sku", "prefix": "VIP-"}])";
constexpr char kSkusListed[] = R"([{"pointer":"/items/0/sku","prefix":"VIP-"}])";

class PayloadFilterHttpTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string config = R"({"listen": "127.0.0.1:0", "data_dir": ")" + dir_.path() + R"(",
      "sources": [{"name": "shop", "tokens": [")" +
                         kSourceToken + R"("], "event_type": "/type",
                   "idempotency": {"header": "", "pointer": "/id"}}],
      "destinations": [
        {"name": "confirmed", "url": ")" +
                         confirmed_.Url("/in") + R"(", "filter": )" + kConfirmedFilter + R"(},
        {"name": "regions", "url": ")" +
                         regions_.Url("/in") + R"(", "filter": )" + kRegionsFilter + R"(},
        {"name": "skus", "url": ")" +
                         skus_.Url("/in") + R"(", "filter": )" + kSkusFilter + R"(},
        {"name": "bookings", "url": ")" +
                         bookings_.Url("/in") + R"(", "events": ["booking.*"]}],
      "api_tokens": [{"name": "audit-team", "token": ")" +
                         kAuditor + R"(", "role": "auditor"}]})";
    std::string path = dir_.Write("config.json", config);
    server_ = std::make_unique<ServerProcess>(std::vector<std::string>{"serve", "--config", path},
                                              dir_.File("server.log"));
    ASSERT_TRUE(server_->started()) << server_->Log();
  }

  // Posts `body` to the source; returns the event's id ("" on failure, recorded).
  std::string Ingest(const std::string& body) {
    HttpResult r = client_.Request("POST", server_->Url("/webhooks/shop"),
                                   {{"x-auth-token", kSourceToken},
                                    {"Content-Type", "application/json"}},
                                   body);
    EXPECT_EQ(r.status, 200) << body << ": " << r.body << r.error;
    rapidjson::Document d;
    d.Parse(r.body.c_str());
    return Text(d, "id");
  }

  HttpResult Get(const std::string& path) {
    return client_.Request("GET", server_->Url(path), {{"Authorization", std::string("Bearer ") + kAuditor}});
  }

  rapidjson::Document GetJson(const std::string& path) {
    HttpResult r = Get(path);
    EXPECT_EQ(r.status, 200) << path << ": " << r.body << r.error;
    rapidjson::Document d;
    d.Parse(r.body.c_str());
    if (d.HasParseError() || !d.IsObject()) d.SetObject();
    return d;
  }

  // The event ids (webhook-id) a sink received, sorted; repeats kept.
  static std::vector<std::string> Received(const SinkServer& sink) {
    std::vector<std::string> ids;
    for (const SinkRequest& r : sink.Requests()) {
      auto it = r.headers.find("webhook-id");
      ids.push_back(it == r.headers.end() ? "<no webhook-id>" : it->second);
    }
    std::sort(ids.begin(), ids.end());
    return ids;
  }

  SinkServer confirmed_;
  SinkServer regions_;
  SinkServer skus_;
  SinkServer bookings_;
  TempDir dir_;
  std::unique_ptr<ServerProcess> server_;
  HttpClient client_;
};

TEST_F(PayloadFilterHttpTest, EachSinkReceivesExactlyTheEventsItsFilterSelects) {
  // name → {body, the destinations that take it}
  struct Case {
    std::string body;
    std::set<std::string> destinations;
  };
  const std::map<std::string, Case> cases = {
      {"e1",
       {R"({"id":"e1","type":"booking.created","booking":{"status":"confirmed"},"amount":150,
            "region":"us","items":[{"sku":"STD-1"}]})",
        {"confirmed", "bookings"}}},
      // 99.5 < 100; the region is one of the list.
      {"e2",
       {R"({"id":"e2","type":"booking.created","booking":{"status":"confirmed"},"amount":99.5,
            "region":"eu"})",
        {"regions", "bookings"}}},
      // A test event (exists false fails) that is not confirmed.
      {"e3",
       {R"({"id":"e3","type":"booking.updated","booking":{"status":"pending"},"amount":500,
            "region":"uk","test":true})",
        {"bookings"}}},
      // 100 gte 100; the first item's SKU starts with VIP-; no region.
      {"e4",
       {R"({"id":"e4","type":"order.paid","booking":{"status":"confirmed"},"amount":100,
            "items":[{"sku":"VIP-7"},{"sku":"STD"}]})",
        {"confirmed", "skus"}}},
      // Selected by nobody: a string amount is no number, "Confirmed" is not "confirmed", "fr"
      // is not in the list, and only the second item is a VIP one.
      {"e5",
       {R"({"id":"e5","type":"ping","booking":{"status":"Confirmed"},"amount":"1000",
            "region":"fr","items":[{"sku":"STD"},{"sku":"VIP-2"}]})",
        {}}},
      // test: null exists.
      {"e6", {R"({"id":"e6","type":"order.paid","region":"eu","test":null})", {}}},
      // 100.0 equals 100 by value; an empty list has no item 0.
      {"e7",
       {R"({"id":"e7","type":"booking.created","booking":{"status":"confirmed"},"amount":100.0,
            "region":"uk","items":[]})",
        {"confirmed", "regions", "bookings"}}},
  };

  std::map<std::string, std::string> ids;  // name → event id
  std::map<std::string, std::vector<std::string>> expected;
  for (const auto& [name, c] : cases) {
    std::string id = Ingest(c.body);
    ASSERT_FALSE(id.empty()) << name;
    ids[name] = id;
    for (const std::string& d : c.destinations) expected[d].push_back(id);
  }
  for (auto& [d, list] : expected) std::sort(list.begin(), list.end());

  // Every event reaches its final status: all its deliveries succeeded (the sinks answer 200),
  // or it had none. Then nothing more is on its way, and the sinks' records are complete.
  for (const auto& [name, id] : ids) {
    EXPECT_TRUE(WaitFor([&] {
      return Text(GetJson("/api/v1/events/" + id), "status") == "delivered";
    })) << name;
  }
  const std::map<std::string, const SinkServer*> sinks = {
      {"confirmed", &confirmed_}, {"regions", &regions_}, {"skus", &skus_}, {"bookings", &bookings_}};
  for (const auto& [d, sink] : sinks) {
    EXPECT_EQ(Received(*sink), expected[d]) << d;
  }

  // Each event's deliveries name exactly its destinations; the ones nobody selects are stored,
  // `delivered`, with none (as an event with no destination ever was).
  for (const auto& [name, c] : cases) {
    rapidjson::Document e = GetJson("/api/v1/events/" + ids[name]);
    ASSERT_TRUE(e.HasMember("deliveries") && e["deliveries"].IsArray()) << name;
    std::set<std::string> got;
    for (const auto& delivery : e["deliveries"].GetArray()) {
      got.insert(Text(delivery, "destination"));
      EXPECT_EQ(Text(delivery, "status"), "succeeded") << name;
    }
    EXPECT_EQ(got, c.destinations) << name;
    EXPECT_EQ(Text(e, "status"), "delivered") << name;
  }
  rapidjson::Document e5 = GetJson("/api/v1/events/" + ids["e5"]);
  EXPECT_EQ(Text(e5, "event_type"), "ping");
  ASSERT_TRUE(e5.HasMember("payload") && e5["payload"].IsObject());
  EXPECT_EQ(Text(e5["payload"], "region"), "fr");
}

TEST_F(PayloadFilterHttpTest, DestinationsListTheNormalisedFilters) {
  HttpResult r = Get("/api/v1/destinations");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_NE(r.body.find(std::string(R"("filter":)") + kConfirmedListed), std::string::npos)
      << r.body;
  EXPECT_NE(r.body.find(std::string(R"("filter":)") + kRegionsListed), std::string::npos)
      << r.body;
  EXPECT_NE(r.body.find(std::string(R"("filter":)") + kSkusListed), std::string::npos) << r.body;
  rapidjson::Document d;
  d.Parse(r.body.c_str());
  ASSERT_TRUE(d.IsObject() && d.HasMember("data") && d["data"].IsArray()) << r.body;
  ASSERT_EQ(d["data"].Size(), 4u);
  std::vector<size_t> sizes;
  for (const auto& dest : d["data"].GetArray()) {
    ASSERT_TRUE(dest.HasMember("filter") && dest["filter"].IsArray()) << r.body;
    sizes.push_back(dest["filter"].Size());
  }
  EXPECT_EQ(sizes, (std::vector<size_t>{2, 2, 1, 0}));  // the config's order; "bookings" has none
  EXPECT_EQ(Text(d["data"][3], "name"), "bookings");
}

TEST(PayloadFilterConfigTest, CheckConfigNamesTheBadCondition) {
  TempDir dir;
  std::string bad = dir.Write("bad.json", R"({
    "sources": [{"name": "s", "tokens": ["0123456789abcdef"]}],
    "destinations": [
      {"name": "ok", "url": "http://127.0.0.1:9/a", "filter": [{"pointer": "/a", "exists": true}]},
      {"name": "bad", "url": "http://127.0.0.1:9/b",
       "filter": [{"pointer": "/a", "gte": 1}, {"pointer": "/b", "gte": true}]}]})");
  CommandResult refused = RunHookvault("check-config --config " + bad);
  EXPECT_NE(refused.exit_code, 0);
  EXPECT_NE(refused.output.find("destinations[1].filter[1].gte: must be a number or a string"),
            std::string::npos)
      << refused.output;

  std::string two = dir.Write("two.json", R"({
    "sources": [{"name": "s", "tokens": ["0123456789abcdef"]}],
    "destinations": [{"name": "d", "url": "http://127.0.0.1:9/a",
                      "filter": [{"pointer": "/a", "gte": 1, "lte": 5}]}]})");
  CommandResult refused_two = RunHookvault("check-config --config " + two);
  EXPECT_NE(refused_two.exit_code, 0);
  EXPECT_NE(refused_two.output.find("destinations[0].filter[0]: names more than one operator"),
            std::string::npos)
      << refused_two.output;

  std::string good = dir.Write("good.json", R"({
    "sources": [{"name": "s", "tokens": ["0123456789abcdef"]}],
    "destinations": [{"name": "d", "url": "http://127.0.0.1:9/a",
                      "filter": [{"pointer": "/a", "gte": 1}, {"pointer": "/b", "lte": "z"}]}]})");
  CommandResult ok = RunHookvault("check-config --config " + good);
  EXPECT_EQ(ok.exit_code, 0) << ok.output;
}

}  // namespace
}  // namespace hookvault::testing
