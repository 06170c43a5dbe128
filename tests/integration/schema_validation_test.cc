// JSON Schema per event type (a source's "schemas"), through the real binary over real HTTP:
// a payload that breaks its type's schema is a 422 naming the pointer and the keyword and is
// not stored; a type no glob matches is not validated; check-config refuses a schema that does
// not load, naming the key path and the file.
#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "tests/testing/http_client.h"
#include "tests/testing/server_process.h"
#include "tests/testing/temp_dir.h"

namespace hookvault::testing {
namespace {

constexpr char kToken[] = "schema-test-token-0123456789";
constexpr char kAuditor[] = "schema-test-auditor-0123456789";

constexpr char kBookingSchema[] = R"({
  "type": "object",
  "required": ["id", "event", "booking"],
  "properties": {
    "booking": {
      "type": "object",
      "required": ["ref", "guests"],
      "properties": {
        "ref": {"type": "string", "pattern": "^B-[0-9]{4}$"},
        "guests": {"type": "integer", "minimum": 1}
      }
    }
  }
})";

constexpr char kPaymentSchema[] = R"({
  "type": "object",
  "required": ["id", "amount"],
  "properties": {"amount": {"type": "integer", "minimum": 1}, "currency": {"enum": ["EUR"]}}
})";

// The config's "schemas" value for the harmonics source; paths relative to the config file.
std::string Config(const std::string& data_dir, const std::string& schemas) {
  return R"({
    "listen": "127.0.0.1:0",
    "threads": 2,
    "data_dir": ")" +
         data_dir + R"(",
    "log": {"level": "info"},
    "sources": [
      {"name": "harmonics", "tokens": [")" +
         kToken + R"("], "event_type": "/event",
       "idempotency": {"header": "Idempotency-Key", "pointer": "/id"},
       "schemas": )" +
         schemas + R"(}
    ],
    "api_tokens": [{"name": "audit", "token": ")" +
         kAuditor + R"(", "role": "auditor"}]
  })";
}

constexpr char kSchemas[] =
    R"({"booking.*": "schemas/booking.json", "payment.*": "schemas/payment.json"})";

rapidjson::Document Json(const std::string& body) {
  rapidjson::Document d;
  d.Parse(body.c_str());
  return d;
}

class SchemaValidationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::filesystem::create_directories(dir_.File("schemas"));
    dir_.Write("schemas/booking.json", kBookingSchema);
    dir_.Write("schemas/payment.json", kPaymentSchema);
  }

  void Start() {
    std::string config = dir_.Write("config.json", Config(dir_.File("data"), kSchemas));
    server_ = std::make_unique<ServerProcess>(std::vector<std::string>{"serve", "--config", config},
                                              dir_.File("server.log"));
    ASSERT_TRUE(server_->started()) << server_->Log();
  }

  HttpResult Post(const std::string& body) {
    return client_.Request("POST", server_->Url("/webhooks/harmonics"),
                           {{"x-auth-token", kToken}, {"Content-Type", "application/json"}}, body);
  }

  HttpResult Get(const std::string& path) {
    return client_.Request("GET", server_->Url(path),
                           {{"Authorization", "Bearer " + std::string(kAuditor)}});
  }

  // The idempotency keys ("id") of the stored events, newest first.
  std::vector<std::string> StoredIds() {
    HttpResult r = Get("/api/v1/events?limit=100");
    EXPECT_EQ(r.status, 200) << r.body;
    rapidjson::Document d = Json(r.body);
    std::vector<std::string> ids;
    if (!d.IsObject() || !d.HasMember("data")) return ids;
    for (const auto& event : d["data"].GetArray()) {
      ids.emplace_back(event["idempotency_key"].GetString());
    }
    return ids;
  }

  // Checks a 422 problem whose errors[0] names `pointer` and `keyword`; returns its slug.
  static std::string Expect422(const HttpResult& r, const std::string& pointer,
                               const std::string& keyword) {
    EXPECT_EQ(r.status, 422) << r.body << r.error;
    EXPECT_EQ(r.headers.count("content-type") ? r.headers.at("content-type") : "",
              "application/problem+json");
    rapidjson::Document d = Json(r.body);
    if (!d.IsObject() || !d.HasMember("errors") || !d["errors"].IsArray() || d["errors"].Empty()) {
      ADD_FAILURE() << "no errors[]: " << r.body;
      return "";
    }
    const rapidjson::Value& error = d["errors"][0];
    EXPECT_EQ(std::string(error["pointer"].GetString()), pointer) << r.body;
    EXPECT_EQ(std::string(error["keyword"].GetString()), keyword) << r.body;
    EXPECT_GT(error["message"].GetStringLength(), 0u) << r.body;
    std::string type = d["type"].GetString();
    return type.substr(type.rfind(':') + 1);
  }

  TempDir dir_;
  std::unique_ptr<ServerProcess> server_;
  HttpClient client_;
};

TEST_F(SchemaValidationTest, ValidatesEachTypeAgainstTheSchemaOfItsGlob) {
  Start();
  // Valid against their schemas: stored.
  HttpResult ok = Post(R"({"id": "bk-ok", "event": "booking.created",
                           "booking": {"ref": "B-1042", "guests": 2}})");
  EXPECT_EQ(ok.status, 200) << ok.body;
  HttpResult paid = Post(R"({"id": "pay-ok", "event": "payment.settled", "amount": 5})");
  EXPECT_EQ(paid.status, 200) << paid.body;

  // Invalid: 422 naming where and which keyword; nothing stored.
  std::string slug = Expect422(Post(R"({"id": "bk-bad", "event": "booking.created",
                                        "booking": {"ref": 1042, "guests": 2}})"),
                               "/booking/ref", "type");
  EXPECT_NE(slug.find("schema"), std::string::npos) << slug;
  Expect422(Post(R"({"id": "bk-bad2", "event": "booking.updated",
                     "booking": {"ref": "B-10420", "guests": 2}})"),
            "/booking/ref", "pattern");
  // RapidJSON matches a pattern only up to U+0000: "B-1042\u0000<script>" passed "^B-[0-9]{4}$".
  Expect422(Post(R"({"id": "bk-nul", "event": "booking.created",
                     "booking": {"ref": "B-1042\u0000<script>", "guests": 2}})"),
            "/booking/ref", "pattern");
  Expect422(Post(R"({"id": "bk-bad3", "event": "booking.created", "booking": {"ref": "B-1042"}})"),
            "/booking", "required");
  Expect422(Post(R"({"id": "pay-bad", "event": "payment.settled", "amount": 0})"), "/amount",
            "minimum");

  // A type that no glob matches is not validated (this body breaks both schemas).
  HttpResult other = Post(R"({"id": "inv-1", "event": "invoice.paid", "amount": "lots"})");
  EXPECT_EQ(other.status, 200) << other.body;

  EXPECT_EQ(StoredIds(), (std::vector<std::string>{"inv-1", "pay-ok", "bk-ok"}));

  // The request log names the reason of each 422: the problem's slug.
  int logged = 0;
  for (int i = 0; i < 100 && logged < 5; ++i) {
    HttpResult log = Get("/api/v1/requests?rejected=true&limit=100");
    rapidjson::Document d = Json(log.body);
    logged = 0;
    if (log.status == 200 && d.IsObject() && d.HasMember("data")) {
      for (const auto& row : d["data"].GetArray()) {
        if (row["status"].GetInt() != 422) continue;
        EXPECT_EQ(std::string(row["reason"].GetString()), slug) << log.body;
        ++logged;
      }
    }
    if (logged < 5) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_EQ(logged, 5);
}

TEST_F(SchemaValidationTest, CheckConfigRefusesASchemaThatDoesNotLoad) {
  std::string good = dir_.Write("good.json", Config(dir_.File("data"), kSchemas));
  CommandResult accepted = RunHookvault("check-config --config " + good);
  EXPECT_EQ(accepted.exit_code, 0) << accepted.output;

  // A file that is not there.
  std::string missing =
      dir_.Write("missing.json",
                 Config(dir_.File("data"),
                        R"({"booking.*": "schemas/booking.json", "x.*": "schemas/gone.json"})"));
  CommandResult refused = RunHookvault("check-config --config " + missing);
  EXPECT_NE(refused.exit_code, 0);
  EXPECT_NE(refused.output.find("sources[0].schemas"), std::string::npos) << refused.output;
  EXPECT_NE(refused.output.find("gone.json"), std::string::npos) << refused.output;
  EXPECT_NE(refused.output.find("cannot read"), std::string::npos) << refused.output;

  // A file that is not JSON: the offset.
  dir_.Write("schemas/broken.json", R"({"type": "object",, })");
  std::string broken = dir_.Write(
      "broken.json", Config(dir_.File("data"), R"({"booking.*": "schemas/broken.json"})"));
  refused = RunHookvault("check-config --config " + broken);
  EXPECT_NE(refused.exit_code, 0);
  EXPECT_NE(refused.output.find("sources[0].schemas"), std::string::npos) << refused.output;
  EXPECT_NE(refused.output.find("broken.json"), std::string::npos) << refused.output;
  EXPECT_NE(refused.output.find("not JSON at offset 18"), std::string::npos) << refused.output;

  // A schema RapidJSON would load and then not check: a $ref that does not resolve.
  dir_.Write("schemas/dangling.json", R"({"properties": {"ref": {"$ref": "#/definitions/ref"}}})");
  std::string dangling = dir_.Write(
      "dangling.json", Config(dir_.File("data"), R"({"booking.*": "schemas/dangling.json"})"));
  refused = RunHookvault("check-config --config " + dangling);
  EXPECT_NE(refused.exit_code, 0);
  EXPECT_NE(refused.output.find("dangling.json"), std::string::npos) << refused.output;
  EXPECT_NE(refused.output.find("does not resolve"), std::string::npos) << refused.output;

  // A left-recursive schema loaded and then crashed the gateway on its first event (review):
  // refused, naming the file and the cycle.
  dir_.Write("schemas/loop.json", R"({"anyOf": [{"$ref": "#"}, {"type": "null"}]})");
  std::string loop =
      dir_.Write("loop.json", Config(dir_.File("data"), R"({"booking.*": "schemas/loop.json"})"));
  refused = RunHookvault("check-config --config " + loop);
  EXPECT_NE(refused.exit_code, 0);
  EXPECT_NE(refused.output.find("loop.json"), std::string::npos) << refused.output;
  EXPECT_NE(refused.output.find("cycle"), std::string::npos) << refused.output;

  // `serve` refuses it too, before it listens.
  ServerProcess server({"serve", "--config", dangling}, dir_.File("dangling.log"));
  EXPECT_FALSE(server.started());
  EXPECT_NE(server.Log().find("does not resolve"), std::string::npos) << server.Log();
}

}  // namespace
}  // namespace hookvault::testing
