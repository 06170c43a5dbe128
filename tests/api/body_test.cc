// The JSON bodies of REST requests (api/body.h): nothing the operator did not ask for exactly
// is acted on. The cases are finding 13 of issue 14; tests/integration/input_strictness_test.cc
// shows the same over HTTP with the real binary.
#include "api/body.h"

#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <functional>
#include <initializer_list>
#include <string>
#include <string_view>

namespace hookvault::api {
namespace {

// The REST requests with a body, each with its members as its handler lists them.
enum class Route { kBulk, kEvent, kAck };

bool Parse(Route route, const ApiRequest& r, rapidjson::Document& doc, ApiResponse* problem) {
  switch (route) {
    case Route::kBulk:  // POST /api/v1/reprocess
      return ParseBody(
          r, {"destination", "status", "event_id", "after", "before", "dry_run", "reason"}, doc,
          problem);
    case Route::kEvent:  // POST /api/v1/events/{id}/reprocess
      return ParseBody(r, {"destinations", "all", "reason"}, doc, problem);
    case Route::kAck:  // POST /api/v1/consumers/{name}/ack
      return ParseBody(r, {"seq"}, doc, problem);
  }
  return false;
}
constexpr Route kBulk = Route::kBulk;

ApiRequest Post(std::string body, std::string content_type = "application/json") {
  ApiRequest r;
  r.method = "POST";
  r.path = "/api/v1/reprocess";
  if (!content_type.empty()) r.headers.emplace_back("content-type", std::move(content_type));
  r.body = std::move(body);
  return r;
}

std::string Detail(const ApiResponse& r) {
  rapidjson::Document d;
  d.Parse(r.body.c_str(), r.body.size());
  if (!d.IsObject() || !d.HasMember("detail") || !d["detail"].IsString()) return "";
  return d["detail"].GetString();
}

// Expects ParseBody to refuse `r` with `status`, its detail naming `named` ('named').
void ExpectRefused(const ApiRequest& r, int status, const std::string& named, Route route = kBulk) {
  rapidjson::Document doc;
  ApiResponse problem;
  ASSERT_FALSE(Parse(route, r, doc, &problem)) << r.body;
  EXPECT_EQ(problem.status, status) << r.body << ": " << problem.body;
  EXPECT_EQ(problem.content_type, "application/problem+json");
  if (!named.empty()) {
    EXPECT_NE(Detail(problem).find("'" + named + "'"), std::string::npos)
        << r.body << ": " << problem.body;
  }
}

// Runs `read` on the fields of a body that ParseBody accepts; expects a 400 naming `named`.
void ExpectFieldRefused(const std::string& body, const std::string& named,
                        const std::function<void(BodyFields&)>& read) {
  ApiRequest r = Post(body);
  rapidjson::Document doc;
  ApiResponse problem;
  ASSERT_TRUE(Parse(kBulk, r, doc, &problem)) << body << ": " << problem.body;
  BodyFields fields(doc, r);
  read(fields);
  ASSERT_FALSE(fields.ok()) << body;
  EXPECT_EQ(fields.error().status, 400);
  EXPECT_NE(Detail(fields.error()).find("'" + named + "'"), std::string::npos)
      << body << ": " << fields.error().body;
}

TEST(ParseBodyTest, AcceptsAnObjectOfKnownMembers) {
  ApiRequest r = Post(R"({"destination": "billing", "dry_run": true, "reason": "why"})");
  rapidjson::Document doc;
  ApiResponse problem;
  ASSERT_TRUE(Parse(kBulk, r, doc, &problem)) << problem.body;
  BodyFields fields(doc, r);
  EXPECT_EQ(fields.String("destination"), "billing");
  EXPECT_EQ(fields.Bool("dry_run"), true);
  EXPECT_EQ(fields.String("reason"), "why");
  EXPECT_EQ(fields.String("event_id"), std::nullopt);  // absent
  EXPECT_TRUE(fields.ok());
}

// The finding that opened it: {"destination": "bad", "dry_run": null} ran a real requeue.
TEST(ParseBodyTest, ANullMemberIsA400NamingItNeverAbsent) {
  ExpectRefused(Post(R"({"destination": "bad", "dry_run": null})"), 400, "dry_run");
  ExpectRefused(Post(R"({"destination": null})"), 400, "destination");
  ExpectRefused(Post(R"({"status": null, "dry_run": true})"), 400, "status");
  ExpectRefused(Post(R"({"seq": null})"), 400, "seq", Route::kAck);
  ExpectRefused(Post(R"({"destinations": null})"), 400, "destinations", Route::kEvent);
  rapidjson::Document doc;
  ApiResponse problem;
  ASSERT_FALSE(Parse(kBulk, Post(R"({"dry_run": null})"), doc, &problem));
  EXPECT_NE(Detail(problem).find("null"), std::string::npos) << problem.body;
}

TEST(ParseBodyTest, AnUnknownMemberIsA400NamingIt) {
  ExpectRefused(Post(R"({"destinaton": "bad"})"), 400, "destinaton");
  ExpectRefused(Post(R"({"dry_run": true, "dryrun": true})"), 400, "dryrun");
  ExpectRefused(Post(R"({"seq": 1, "consumer": "x"})"), 400, "consumer", Route::kAck);
  ExpectRefused(Post(R"({"": 1})"), 400, "");
}

// RapidJSON keeps both copies and FindMember finds the first: {"dry_run": false, "dry_run":
// true} would have run for real.
TEST(ParseBodyTest, ARepeatedMemberIsA400NamingIt) {
  ExpectRefused(Post(R"({"dry_run": false, "dry_run": true})"), 400, "dry_run");
  ExpectRefused(Post(R"({"destination": "a", "reason": "r", "destination": "a"})"), 400,
                "destination");
  ExpectRefused(Post(R"({"dry_run": true, "d\u0072y_run": false})"), 400, "dry_run");
  ExpectRefused(Post(R"({"seq": 5, "seq": 1})"), 400, "seq", Route::kAck);
  // Even one that the request would refuse anyway, and inside a member's value.
  ExpectRefused(Post(R"({"bogus": 1, "bogus": 2})"), 400, "bogus");
  ExpectRefused(Post(R"({"reason": {"x": 1, "x": 2}})"), 400, "x");
}

TEST(ParseBodyTest, ABodyThatIsNotJsonIsA415) {
  ExpectRefused(Post(R"({"dry_run": true})", "text/plain"), 415, "");
  ExpectRefused(Post(R"({"dry_run": true})", "application/x-www-form-urlencoded"), 415, "");
  ExpectRefused(Post(R"({"dry_run": true})", "application/jsonx"), 415, "");
  ExpectRefused(Post(R"({"dry_run": true})", "text/json"), 415, "");
  ExpectRefused(Post(R"({"dry_run": true})", ""), 415, "");  // no Content-Type at all
  // A Content-Type that is not JSON is refused even with no body.
  ExpectRefused(Post("", "text/plain"), 415, "");
  // Every Content-Type line counts, not only the first.
  ApiRequest two = Post(R"({"dry_run": true})");
  two.headers.emplace_back("content-type", "text/plain");
  ExpectRefused(two, 415, "");
  rapidjson::Document doc;
  ApiResponse problem;
  ASSERT_FALSE(Parse(kBulk, Post("{}", "text/plain"), doc, &problem));
  EXPECT_NE(Detail(problem).find("application/json"), std::string::npos) << problem.body;
}

TEST(ParseBodyTest, AcceptsJsonContentTypesWithParameters) {
  for (const char* type : {"application/json", "Application/JSON",
                           "application/json; charset=utf-8", " application/json ;charset=UTF-8"}) {
    rapidjson::Document doc;
    ApiResponse problem;
    EXPECT_TRUE(Parse(kBulk, Post(R"({"dry_run": true})", type), doc, &problem))
        << type << ": " << problem.body;
  }
}

// An empty body (zero bytes, with or without a JSON Content-Type) leaves every member out;
// anything else must be a JSON object.
TEST(ParseBodyTest, AnEmptyBodyIsAnEmptyObjectAndNothingElseIs) {
  for (const char* type : {"application/json", ""}) {
    rapidjson::Document doc;
    ApiResponse problem;
    ASSERT_TRUE(Parse(kBulk, Post("", type), doc, &problem)) << type << problem.body;
    EXPECT_TRUE(doc.IsObject() && doc.ObjectEmpty());
  }
  ExpectRefused(Post(" \r\n"), 400, "");
  ExpectRefused(Post("null"), 400, "");
  ExpectRefused(Post("[]"), 400, "");
  ExpectRefused(Post(R"("dry_run")"), 400, "");
  ExpectRefused(Post(R"({"dry_run": true)"), 400, "");
}

TEST(BodyFieldsTest, AWrongTypeIsA400NamingIt) {
  ExpectFieldRefused(R"({"dry_run": "true"})", "dry_run", [](BodyFields& f) { f.Bool("dry_run"); });
  ExpectFieldRefused(R"({"dry_run": 1})", "dry_run", [](BodyFields& f) { f.Bool("dry_run"); });
  ExpectFieldRefused(R"({"destination": 7})", "destination",
                     [](BodyFields& f) { f.String("destination"); });
  ExpectFieldRefused(R"({"destination": ["a"]})", "destination",
                     [](BodyFields& f) { f.String("destination"); });
  ExpectFieldRefused(R"({"event_id": 1.5})", "event_id", [](BodyFields& f) { f.Int("event_id"); });
  ExpectFieldRefused(R"({"event_id": "5"})", "event_id", [](BodyFields& f) { f.Int("event_id"); });
  ExpectFieldRefused(R"({"after": "yesterday"})", "after", [](BodyFields& f) { f.Time("after"); });
  ExpectFieldRefused(R"({"after": 1795872112})", "after", [](BodyFields& f) { f.Time("after"); });
  ExpectFieldRefused(R"({"reason": "x"})", "reason", [](BodyFields& f) { f.String("reason", 0); });
}

// An empty string or list would read as "every destination" where the storage layer treats it
// as unset; refused like "?destination=".
TEST(BodyFieldsTest, AnEmptyValueIsA400NamingIt) {
  ExpectFieldRefused(R"({"destination": ""})", "destination",
                     [](BodyFields& f) { f.String("destination"); });
  ExpectFieldRefused(R"({"reason": ""})", "reason", [](BodyFields& f) { f.String("reason"); });
  ExpectFieldRefused(R"({"after": ""})", "after", [](BodyFields& f) { f.Time("after"); });
  ExpectFieldRefused(R"({"event_id": []})", "event_id",
                     [](BodyFields& f) { f.Strings("event_id"); });
  ExpectFieldRefused(R"({"event_id": [""]})", "event_id",
                     [](BodyFields& f) { f.Strings("event_id"); });
  ExpectFieldRefused(R"({"event_id": ["a", null]})", "event_id",
                     [](BodyFields& f) { f.Strings("event_id"); });
}

// ParseBody refuses null members first; the getters refuse them too, so a handler that reads
// a document from elsewhere cannot take null for "not given" either.
TEST(BodyFieldsTest, GettersRefuseNullThemselves) {
  ApiRequest r = Post("{}");
  rapidjson::Document doc;
  doc.Parse(R"({"dry_run": null, "destination": null, "seq": null, "list": null})");
  for (const auto& [name, read] :
       std::initializer_list<std::pair<const char*, std::function<void(BodyFields&)>>>{
           {"dry_run", [](BodyFields& f) { f.Bool("dry_run"); }},
           {"destination", [](BodyFields& f) { f.String("destination"); }},
           {"seq", [](BodyFields& f) { f.Int("seq"); }},
           {"list", [](BodyFields& f) { f.Strings("list"); }}}) {
    BodyFields fields(doc, r);
    read(fields);
    ASSERT_FALSE(fields.ok()) << name;
    EXPECT_NE(Detail(fields.error()).find(std::string("'") + name + "' is null"), std::string::npos)
        << fields.error().body;
  }
}

TEST(BodyFieldsTest, ListsHoldOneToAHundredNonEmptyStrings) {
  ApiRequest r = Post(R"({"destination": ["a", "b"]})");
  rapidjson::Document doc;
  ApiResponse problem;
  ASSERT_TRUE(Parse(kBulk, r, doc, &problem));
  BodyFields fields(doc, r);
  EXPECT_EQ(fields.Strings("destination"), (std::vector<std::string>{"a", "b"}));
  EXPECT_TRUE(fields.Strings("reason").empty());  // absent
  EXPECT_TRUE(fields.ok());
  std::string hundred_and_one = R"({"destination": [)";
  for (int i = 0; i <= 100; ++i) hundred_and_one += (i ? ",\"d" : "\"d") + std::to_string(i) + "\"";
  ExpectFieldRefused(hundred_and_one + "]}", "destination",
                     [](BodyFields& f) { f.Strings("destination"); });
}

}  // namespace
}  // namespace hookvault::api
