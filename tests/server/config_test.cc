#include "server/config.h"

#include <gtest/gtest.h>
#include <rapidjson/pointer.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <functional>
#include <map>
#include <string>

#include "api/json.h"

namespace hookvault::server {
namespace {

// The example config of the team's contract, verbatim (README "Forwarding" shows its parts).
constexpr char kExample[] = R"json({
  "listen": "127.0.0.1:8080",
  "threads": 2,
  "data_dir": "./data",
  "max_body_bytes": 1048576,
  "log": { "level": "info", "format": "text" },
  "writer": { "max_batch": 512 },
  "trusted_proxies": ["127.0.0.1/32"],
  "retention": { "delivered_days": 30, "failed_days": 90, "request_log_days": 14, "idempotency_days": 37 },
  "sources": [
    {
      "name": "harmonics",
      "tokens": ["${HARMONICS_TOKEN}"],
      "allow_ips": ["127.0.0.0/8"],
      "event_type": "/event",
      "idempotency": { "header": "Idempotency-Key", "pointer": "/id" },
      "required": ["/event"]
    }
  ],
  "destinations": [
    {
      "name": "billing",
      "url": "http://127.0.0.1:9000/hooks",
      "sources": ["harmonics"],
      "events": ["payment.*", "booking.created"],
      "timeout_ms": 5000,
      "max_attempts": 10,
      "backoff": { "initial_ms": 1000, "max_ms": 3600000, "multiplier": 2.0 },
      "concurrency": 8,
      "signing_secret": "${BILLING_SIGNING_SECRET}"
    }
  ],
  "api_tokens": [
    { "name": "audit-team", "token": "${AUDIT_TOKEN}", "role": "auditor" },
    { "name": "ops", "token": "${OPS_TOKEN}", "role": "operator" },
    { "name": "warehouse", "token": "${WAREHOUSE_TOKEN}", "role": "consumer" }
  ]
})json";

constexpr char kMinimal[] =
    R"json({"sources": [{"name": "s", "tokens": ["0123456789abcdef"]}]})json";

const std::map<std::string, std::string> kSecrets = {
    {"HARMONICS_TOKEN", "hv-secret-harmonics-aaaa"},
    {"BILLING_SIGNING_SECRET", "whsec_c2VjcmV0LWJpbGxpbmc="},
    {"AUDIT_TOKEN", "hv-secret-audit-bbbbbbbb"},
    {"OPS_TOKEN", "hv-secret-ops-cccccccccc"},
    {"WAREHOUSE_TOKEN", "hv-secret-warehouse-ddd"},
};

EnvLookup Env(std::map<std::string, std::string> vars = kSecrets) {
  return [vars = std::move(vars)](const std::string& name) -> std::optional<std::string> {
    auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

// Returns `json` after `edit` changed its parsed form.
std::string Edit(std::string_view json, const std::function<void(rapidjson::Document&)>& edit) {
  rapidjson::Document doc;
  storage::Status s = api::ParseJson(json, doc);
  EXPECT_TRUE(s.ok()) << s.message();
  edit(doc);
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  doc.Accept(w);
  return std::string(buf.GetString(), buf.GetSize());
}

// Returns `json` with the value at `pointer` replaced by (or set to) the JSON text `value`.
std::string With(std::string_view json, const char* pointer, std::string_view value) {
  return Edit(json, [&](rapidjson::Document& doc) {
    rapidjson::Document v(&doc.GetAllocator());
    storage::Status s = api::ParseJson(value, v);
    ASSERT_TRUE(s.ok()) << value;
    rapidjson::Value copy(v, doc.GetAllocator());
    rapidjson::Pointer(pointer).Set(doc, copy);
  });
}

std::string Without(std::string_view json, const char* pointer) {
  return Edit(json, [&](rapidjson::Document& doc) {
    ASSERT_TRUE(rapidjson::Pointer(pointer).Erase(doc)) << pointer;
  });
}

// Expects ParseConfig to refuse `json` with a message starting with "<path>: ".
void ExpectError(const std::string& json, const std::string& path, const EnvLookup& env = Env()) {
  auto config = ParseConfig(json, env);
  ASSERT_FALSE(config.ok()) << "accepted: " << json;
  EXPECT_EQ(config.status().code(), storage::StatusCode::kInvalidArgument);
  const std::string& m = config.status().message();
  EXPECT_EQ(m.rfind(path + ": ", 0), 0u) << "expected path \"" << path << "\" in: " << m;
}

// --- The example ------------------------------------------------------------------------------

TEST(ParseConfigTest, ContractExampleParses) {
  auto config = ParseConfig(kExample, Env());
  ASSERT_TRUE(config.ok()) << config.status().message();
  const Config& c = *config;
  EXPECT_EQ(c.listen, "127.0.0.1:8080");
  EXPECT_EQ(c.threads, 2);
  EXPECT_EQ(c.data_dir, "./data");
  EXPECT_EQ(c.max_body_bytes, 1048576);
  EXPECT_EQ(c.log.level, "info");
  EXPECT_EQ(c.log.format, "text");
  EXPECT_EQ(c.writer_max_batch, 512);
  ASSERT_EQ(c.trusted_proxies.size(), 1u);
  EXPECT_EQ(c.trusted_proxies[0].text(), "127.0.0.1/32");
  EXPECT_EQ(c.retention.delivered_days, 30);
  EXPECT_EQ(c.retention.failed_days, 90);
  EXPECT_EQ(c.retention.request_log_days, 14);
  EXPECT_EQ(c.retention.idempotency_days, 37);
  EXPECT_EQ(c.retention.attempts_days, 90);  // unset: failed_days

  ASSERT_EQ(c.sources.size(), 1u);
  const api::SourcePolicy& s = c.sources[0];
  EXPECT_EQ(s.name, "harmonics");
  EXPECT_EQ(s.tokens, std::vector<std::string>{"hv-secret-harmonics-aaaa"});
  ASSERT_EQ(s.allow_ips.size(), 1u);
  EXPECT_EQ(s.allow_ips[0].text(), "127.0.0.0/8");
  ASSERT_TRUE(s.event_type.has_value());
  EXPECT_TRUE(s.event_type->IsValid());
  EXPECT_EQ(s.idempotency_header, "idempotency-key");  // lower-cased
  ASSERT_TRUE(s.idempotency_pointer.has_value());
  EXPECT_EQ(s.required, std::vector<std::string>{"/event"});
  ASSERT_EQ(s.required_pointers.size(), 1u);

  // The pointers point where the config says.
  rapidjson::Document payload;
  ASSERT_TRUE(api::ParseJson(R"({"event":"booking.created","id":"e1"})", payload).ok());
  const rapidjson::Value* type = s.event_type->Get(payload);
  ASSERT_NE(type, nullptr);
  EXPECT_STREQ(type->GetString(), "booking.created");
  const rapidjson::Value* id = s.idempotency_pointer->Get(payload);
  ASSERT_NE(id, nullptr);
  EXPECT_STREQ(id->GetString(), "e1");
  EXPECT_NE(s.required_pointers[0].Get(payload), nullptr);

  ASSERT_EQ(c.destinations.size(), 1u);
  const DestinationConfig& d = c.destinations[0];
  EXPECT_EQ(d.filter.name, "billing");
  EXPECT_EQ(d.url, "http://127.0.0.1:9000/hooks");
  EXPECT_EQ(d.filter.sources, std::vector<std::string>{"harmonics"});
  EXPECT_EQ(d.filter.events, (std::vector<std::string>{"payment.*", "booking.created"}));
  EXPECT_EQ(d.timeout_ms, 5000);
  EXPECT_EQ(d.max_attempts, 10);
  EXPECT_EQ(d.backoff.initial_ms, 1000);
  EXPECT_EQ(d.backoff.max_ms, 3600000);
  EXPECT_DOUBLE_EQ(d.backoff.multiplier, 2.0);
  EXPECT_EQ(d.concurrency, 8);
  EXPECT_EQ(d.signing_secret, "whsec_c2VjcmV0LWJpbGxpbmc=");

  ASSERT_EQ(c.api_tokens.size(), 3u);
  EXPECT_EQ(c.api_tokens[0].name, "audit-team");
  EXPECT_EQ(c.api_tokens[0].token, "hv-secret-audit-bbbbbbbb");
  EXPECT_EQ(c.api_tokens[0].role, "auditor");
  EXPECT_EQ(c.api_tokens[1].role, "operator");
  EXPECT_EQ(c.api_tokens[1].token, "hv-secret-ops-cccccccccc");
  EXPECT_EQ(c.api_tokens[2].name, "warehouse");
  EXPECT_EQ(c.api_tokens[2].role, "consumer");
}

TEST(ParseConfigTest, AcceptsAdminRoleAndOptionalKeys) {
  std::string json = With(kMinimal, "/api_tokens",
                          R"([{"name":"root","token":"0123456789abcdef","role":"admin"}])");
  json = With(json, "/max_db_bytes", "1000000");
  json = With(json, "/writer", R"({"max_batch": 1, "max_queue": 100, "commit_interval_us": 0})");
  json = With(json, "/log", R"({"level": "debug", "format": "json"})");
  auto config = ParseConfig(json, Env());
  ASSERT_TRUE(config.ok()) << config.status().message();
  EXPECT_EQ(config->api_tokens.at(0).role, "admin");
  EXPECT_EQ(config->max_db_bytes, 1000000);
  EXPECT_EQ(config->writer_max_batch, 1);
  EXPECT_EQ(config->writer_max_queue, 100);
  EXPECT_EQ(config->writer_commit_interval_us, 0);
  ExpectError(With(kMinimal, "/writer", R"({"commit_interval_us": -1})"),
              "writer.commit_interval_us");
  ExpectError(With(kMinimal, "/writer", R"({"commit_interval_us": 100001})"),
              "writer.commit_interval_us");
  EXPECT_EQ(config->log.level, "debug");
  EXPECT_EQ(config->log.format, "json");
}

// --- Environment variables --------------------------------------------------------------------

TEST(ParseConfigTest, SubstitutesVariablesInsideStrings) {
  std::string json = With(kMinimal, "/data_dir", R"("/var/${APP}/data-${ENV}")");
  auto config = ParseConfig(json, Env({{"APP", "hv"}, {"ENV", "prod"}}));
  ASSERT_TRUE(config.ok()) << config.status().message();
  EXPECT_EQ(config->data_dir, "/var/hv/data-prod");
}

TEST(ParseConfigTest, SubstitutesInArraysAndNestedObjects) {
  std::string json =
      With(kMinimal, "/sources/0/tokens", R"(["${T1}", "static-token-0123456", "${T2}"])");
  json = With(json, "/trusted_proxies", R"(["${PROXY}"])");
  json = With(json, "/sources/0/idempotency", R"({"header": "${HDR}"})");
  auto config = ParseConfig(json, Env({{"T1", "first-token-abcdefg"},
                                       {"T2", "second-token-abcdef"},
                                       {"PROXY", "10.0.0.0/8"},
                                       {"HDR", "X-Delivery"}}));
  ASSERT_TRUE(config.ok()) << config.status().message();
  EXPECT_EQ(config->sources[0].tokens,
            (std::vector<std::string>{"first-token-abcdefg", "static-token-0123456",
                                      "second-token-abcdef"}));
  EXPECT_EQ(config->trusted_proxies.at(0).text(), "10.0.0.0/8");
  EXPECT_EQ(config->sources[0].idempotency_header, "x-delivery");
}

TEST(ParseConfigTest, DoesNotExpandVariablesInsideValues) {
  std::string json = With(kMinimal, "/data_dir", R"("${A}")");
  auto config = ParseConfig(json, Env({{"A", "${B}"}, {"B", "nope"}}));
  ASSERT_TRUE(config.ok()) << config.status().message();
  EXPECT_EQ(config->data_dir, "${B}");
}

TEST(ParseConfigTest, LeavesPlainDollarsAlone) {
  std::string json = With(kMinimal, "/data_dir", R"("/data/$HOME/x$")");
  auto config = ParseConfig(json, Env({}));
  ASSERT_TRUE(config.ok()) << config.status().message();
  EXPECT_EQ(config->data_dir, "/data/$HOME/x$");
}

TEST(ParseConfigTest, UnsetVariableNamesKeyAndVariableButNoSecret) {
  std::map<std::string, std::string> env = kSecrets;
  env.erase("HARMONICS_TOKEN");
  auto config = ParseConfig(kExample, Env(env));
  ASSERT_FALSE(config.ok());
  const std::string& m = config.status().message();
  EXPECT_EQ(m.rfind("sources[0].tokens[0]: ", 0), 0u) << m;
  EXPECT_NE(m.find("HARMONICS_TOKEN"), std::string::npos) << m;
  for (const auto& [name, secret] : kSecrets) {
    EXPECT_EQ(m.find(secret), std::string::npos) << "secret of " << name << " in: " << m;
  }
}

TEST(ParseConfigTest, UnsetVariableInDestinationAndApiTokens) {
  std::map<std::string, std::string> env = kSecrets;
  env.erase("BILLING_SIGNING_SECRET");
  auto config = ParseConfig(kExample, Env(env));
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.status().message().rfind("destinations[0].signing_secret: ", 0), 0u)
      << config.status().message();
  EXPECT_NE(config.status().message().find("BILLING_SIGNING_SECRET"), std::string::npos);

  env = kSecrets;
  env.erase("OPS_TOKEN");
  config = ParseConfig(kExample, Env(env));
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.status().message().rfind("api_tokens[1].token: ", 0), 0u)
      << config.status().message();
  EXPECT_NE(config.status().message().find("OPS_TOKEN"), std::string::npos);
}

TEST(ParseConfigTest, MalformedVariableReferences) {
  ExpectError(With(kMinimal, "/data_dir", R"("${UNTERMINATED")"), "data_dir");
  ExpectError(With(kMinimal, "/data_dir", R"("x${}y")"), "data_dir");
}

TEST(ParseConfigTest, ShortTokenErrorDoesNotShowTheToken) {
  std::string json = With(kMinimal, "/sources/0/tokens", R"(["${T}"])");
  auto config = ParseConfig(json, Env({{"T", "sekrit-15-chars"}}));
  ASSERT_FALSE(config.ok());
  const std::string& m = config.status().message();
  EXPECT_EQ(m.rfind("sources[0].tokens[0]: ", 0), 0u) << m;
  EXPECT_EQ(m.find("sekrit"), std::string::npos) << m;

  json = With(kMinimal, "/api_tokens", R"([{"name":"x","token":"${T}","role":"admin"}])");
  config = ParseConfig(json, Env({{"T", "sekrit-15-chars"}}));
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.status().message().rfind("api_tokens[0].token: ", 0), 0u);
  EXPECT_EQ(config.status().message().find("sekrit"), std::string::npos);
}

TEST(ParseConfigTest, AuditKeyFromTheEnvironmentWithAMinimumLength) {
  std::string json = With(kMinimal, "/audit", R"({"key": "${HOOKVAULT_AUDIT_KEY}"})");
  auto config = ParseConfig(json, Env({{"HOOKVAULT_AUDIT_KEY", std::string(32, 'k')}}));
  ASSERT_TRUE(config.ok()) << config.status().message();
  EXPECT_EQ(config->audit.key, std::string(32, 'k'));
  EXPECT_TRUE(ParseConfig(kMinimal, Env())->audit.key.empty());  // unkeyed by default

  config = ParseConfig(json, Env({{"HOOKVAULT_AUDIT_KEY", "short-audit-key-sekrit-31-chars"}}));
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.status().message().rfind("audit.key: ", 0), 0u) << config.status().message();
  EXPECT_EQ(config.status().message().find("sekrit"), std::string::npos);
  ExpectError(With(kMinimal, "/audit", R"({})"), "audit.key");
  ExpectError(With(kMinimal, "/audit", R"({"key": "0123456789abcdef0123456789abcdef", "k": 1})"),
              "audit.k");
}

// --- Unknown keys -----------------------------------------------------------------------------

TEST(ParseConfigTest, UnknownTopLevelKey) {
  ExpectError(With(kExample, "/listne", R"("127.0.0.1:1")"), "listne");
}

TEST(ParseConfigTest, UnknownSourceKey) {
  ExpectError(With(kExample, "/sources/0/tokenz", R"(["0123456789abcdef"])"), "sources[0].tokenz");
}

TEST(ParseConfigTest, UnknownIdempotencyKey) {
  ExpectError(With(kExample, "/sources/0/idempotency/headr", R"("X")"),
              "sources[0].idempotency.headr");
}

TEST(ParseConfigTest, UnknownBackoffKey) {
  ExpectError(With(kExample, "/destinations/0/backoff/jitter", "true"),
              "destinations[0].backoff.jitter");
}

TEST(ParseConfigTest, UnknownKeysElsewhere) {
  ExpectError(With(kExample, "/destinations/0/retries", "3"), "destinations[0].retries");
  ExpectError(With(kExample, "/log/colour", "true"), "log.colour");
  ExpectError(With(kExample, "/writer/batch", "1"), "writer.batch");
  ExpectError(With(kExample, "/retention/events_days", "1"), "retention.events_days");
  ExpectError(With(kExample, "/api_tokens/2/scopes", "[]"), "api_tokens[2].scopes");
}

TEST(ParseConfigTest, UnknownKeyInSecondSource) {
  std::string json =
      With(kExample, "/sources/1", R"({"name":"b","tokens":["0123456789abcdef"],"allow_ip":[]})");
  ExpectError(json, "sources[1].allow_ip");
}

// --- Types and values -------------------------------------------------------------------------

TEST(ParseConfigTest, WrongTypes) {
  ExpectError(With(kExample, "/threads", R"("2")"), "threads");
  ExpectError(With(kExample, "/threads", "2.5"), "threads");
  ExpectError(With(kExample, "/query_threads", R"("2")"), "query_threads");
  ExpectError(With(kExample, "/query_threads", "0"), "query_threads");
  ExpectError(With(kExample, "/query_threads", "65"), "query_threads");
  ExpectError(With(kExample, "/listen", "8080"), "listen");
  ExpectError(With(kExample, "/log", R"("info")"), "log");
  ExpectError(With(kExample, "/sources", R"({"name":"x"})"), "sources");
  ExpectError(With(kExample, "/sources/0/tokens", R"("0123456789abcdef")"), "sources[0].tokens");
  ExpectError(With(kExample, "/sources/0/tokens", "[12345678901234567]"), "sources[0].tokens[0]");
  ExpectError(With(kExample, "/sources/0/idempotency", R"("/id")"), "sources[0].idempotency");
  ExpectError(With(kExample, "/destinations/0/backoff/multiplier", R"("2")"),
              "destinations[0].backoff.multiplier");
  ExpectError(With(kExample, "/destinations/0/events", R"("payment.*")"), "destinations[0].events");
  ExpectError(With(kExample, "/trusted_proxies", R"("127.0.0.1/32")"), "trusted_proxies");
  ExpectError(With(kExample, "/sources/0", "42"), "sources[0]");
}

TEST(ParseConfigTest, TopLevelMustBeAnObject) {
  auto config = ParseConfig("[]", Env());
  ASSERT_FALSE(config.ok());
  EXPECT_NE(config.status().message().find("must be an object"), std::string::npos);
}

TEST(ParseConfigTest, InvalidJsonIsRefused) {
  auto config = ParseConfig(R"({"sources": [}")", Env());
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.status().code(), storage::StatusCode::kInvalidArgument);
  EXPECT_NE(config.status().message().find("not valid JSON"), std::string::npos);
}

TEST(ParseConfigTest, InvalidCidrNamesTheElement) {
  ExpectError(With(kExample, "/sources/0/allow_ips", R"(["10.0.0.0/8", "10.0.0.1/8"])"),
              "sources[0].allow_ips[1]");
  ExpectError(With(kExample, "/sources/0/allow_ips", R"(["10.0.0.0/8", "nonsense"])"),
              "sources[0].allow_ips[1]");
  ExpectError(With(kExample, "/trusted_proxies", R"(["127.0.0.1/33"])"), "trusted_proxies[0]");
}

// Caught by the config fuzz target's as-written check (tests/fuzz/regressions/config/): strings
// in arrays were read up to a NUL, so a token loaded shorter than written and
// "10.0.0.0/8\u0000junk" loaded as 10.0.0.0/8.
TEST(ParseConfigTest, ArrayStringsKeepNulBytes) {
  auto config = ParseConfig(
      R"json({"sources": [{"name": "s", "tokens": ["0123456789abcdef\u0000tail"]}]})json", Env());
  ASSERT_TRUE(config.ok()) << config.status().message();
  EXPECT_EQ(config->sources[0].tokens[0], std::string("0123456789abcdef\0tail", 21));
  ExpectError(With(kMinimal, "/sources/0/allow_ips", R"(["10.0.0.0/8\u0000junk"])"),
              "sources[0].allow_ips[0]");
}

// Found by tests/fuzz (config; tests/fuzz/regressions/config/unpaired_surrogate.json): a token
// holding an unpaired "\uDE00" loaded as bytes that are not UTF-8.
TEST(ParseConfigTest, RefusesUnpairedSurrogateEscapes) {
  auto config = ParseConfig(
      R"json({"sources": [{"name": "s", "tokens": ["0123456789abcdef\ude00"]}]})json", Env());
  ASSERT_FALSE(config.ok());
  EXPECT_NE(config.status().message().find("not valid JSON"), std::string::npos);
}

TEST(ParseConfigTest, BadJsonPointers) {
  ExpectError(With(kExample, "/sources/0/event_type", R"("event")"), "sources[0].event_type");
  ExpectError(With(kExample, "/sources/0/idempotency/pointer", R"("id")"),
              "sources[0].idempotency.pointer");
  ExpectError(With(kExample, "/sources/0/required", R"(["/event", "/a~2"])"),
              "sources[0].required[1]");
  ExpectError(With(kExample, "/sources/0/event_type", R"("#/event")"), "sources[0].event_type");
}

TEST(ParseConfigTest, DestinationUrlMustBeHttp) {
  for (const char* url : {R"("ftp://example.com/x")", R"("127.0.0.1:9000/hooks")", R"("http://")",
                          R"("")", R"("file:///etc/passwd")", R"("httpx://a")"}) {
    SCOPED_TRACE(url);
    ExpectError(With(kExample, "/destinations/0/url", url), "destinations[0].url");
  }
  ExpectError(Without(kExample, "/destinations/0/url"), "destinations[0].url");
  auto https =
      ParseConfig(With(kExample, "/destinations/0/url", R"("https://example.com/h")"), Env());
  EXPECT_TRUE(https.ok()) << https.status().message();
}

TEST(ParseConfigTest, ZeroAndNegativeNumbersAreRefused) {
  struct Case {
    const char* pointer;
    const char* path;
  };
  for (const Case& c :
       {Case{"/threads", "threads"}, Case{"/max_body_bytes", "max_body_bytes"},
        Case{"/writer/max_batch", "writer.max_batch"},
        Case{"/retention/delivered_days", "retention.delivered_days"},
        Case{"/retention/idempotency_days", "retention.idempotency_days"},
        Case{"/retention/attempts_days", "retention.attempts_days"},
        Case{"/destinations/0/timeout_ms", "destinations[0].timeout_ms"},
        Case{"/destinations/0/max_attempts", "destinations[0].max_attempts"},
        Case{"/destinations/0/concurrency", "destinations[0].concurrency"},
        Case{"/destinations/0/backoff/initial_ms", "destinations[0].backoff.initial_ms"}}) {
    SCOPED_TRACE(c.pointer);
    ExpectError(With(kExample, c.pointer, "0"), c.path);
    ExpectError(With(kExample, c.pointer, "-1"), c.path);
  }
  ExpectError(With(kExample, "/max_db_bytes", "-1"), "max_db_bytes");
}

TEST(ParseConfigTest, MultiplierBelowOneIsRefused) {
  ExpectError(With(kExample, "/destinations/0/backoff/multiplier", "0.5"),
              "destinations[0].backoff.multiplier");
  ExpectError(With(kExample, "/destinations/0/backoff/multiplier", "-2"),
              "destinations[0].backoff.multiplier");
  auto one = ParseConfig(With(kExample, "/destinations/0/backoff/multiplier", "1"), Env());
  ASSERT_TRUE(one.ok()) << one.status().message();
  EXPECT_DOUBLE_EQ(one->destinations[0].backoff.multiplier, 1.0);
}

TEST(ParseConfigTest, BackoffMaxBelowInitialIsRefused) {
  ExpectError(With(kExample, "/destinations/0/backoff/max_ms", "999"),
              "destinations[0].backoff.max_ms");
}

TEST(ParseConfigTest, OtherInvalidValues) {
  ExpectError(With(kExample, "/listen", R"("8080")"), "listen");
  ExpectError(With(kExample, "/data_dir", R"("")"), "data_dir");
  ExpectError(With(kExample, "/log/level", R"("verbose")"), "log.level");
  ExpectError(With(kExample, "/log/format", R"("xml")"), "log.format");
  ExpectError(With(kExample, "/api_tokens/0/role", R"("root")"), "api_tokens[0].role");
  ExpectError(With(kExample, "/sources/0/name", R"("a/b")"), "sources[0].name");
  ExpectError(With(kExample, "/sources/0/name", R"("")"), "sources[0].name");
  ExpectError(With(kExample, "/sources/0/tokens", "[]"), "sources[0].tokens");
  ExpectError(Without(kExample, "/sources/0/tokens"), "sources[0].tokens");
  ExpectError(With(kExample, "/destinations/0/name", R"("")"), "destinations[0].name");
}

TEST(ParseConfigTest, DuplicateSourceNames) {
  std::string json =
      With(kExample, "/sources/1", R"({"name":"harmonics","tokens":["0123456789abcdef"]})");
  ExpectError(json, "sources[1].name");
}

TEST(ParseConfigTest, DuplicateDestinationNames) {
  std::string json =
      With(kExample, "/destinations/1", R"({"name":"billing","url":"http://127.0.0.1:9001/"})");
  ExpectError(json, "destinations[1].name");
}

TEST(ParseConfigTest, AtLeastOneSource) {
  ExpectError(Without(kExample, "/sources"), "sources");
  ExpectError(With(kExample, "/sources", "[]"), "sources");
  ExpectError("{}", "sources");
}

// --- Defaults ---------------------------------------------------------------------------------

TEST(ParseConfigTest, DefaultsWhenKeysAbsent) {
  auto config = ParseConfig(kMinimal, Env({}));
  ASSERT_TRUE(config.ok()) << config.status().message();
  const Config& c = *config;
  EXPECT_EQ(c.listen, "127.0.0.1:8080");
  EXPECT_EQ(c.threads, 2);
  EXPECT_EQ(c.query_threads, 2);
  EXPECT_EQ(c.data_dir, "./data");
  EXPECT_EQ(c.max_body_bytes, 1048576);
  EXPECT_EQ(c.max_db_bytes, 0);
  EXPECT_EQ(c.log.level, "info");
  EXPECT_EQ(c.log.format, "text");
  EXPECT_EQ(c.writer_max_batch, 512);
  EXPECT_EQ(c.writer_max_queue, 8192);
  EXPECT_TRUE(c.trusted_proxies.empty());
  EXPECT_EQ(c.retention.delivered_days, 30);
  EXPECT_EQ(c.retention.failed_days, 90);
  EXPECT_EQ(c.retention.request_log_days, 14);
  EXPECT_EQ(c.retention.attempts_days, 90);
  EXPECT_EQ(c.retention.idempotency_days, 97);  // a week past the longest-kept events
  EXPECT_TRUE(c.destinations.empty());
  EXPECT_TRUE(c.api_tokens.empty());

  ASSERT_EQ(c.sources.size(), 1u);
  const api::SourcePolicy& s = c.sources[0];
  EXPECT_TRUE(s.allow_ips.empty());
  EXPECT_FALSE(s.event_type.has_value());
  EXPECT_EQ(s.idempotency_header, "idempotency-key");
  EXPECT_FALSE(s.idempotency_pointer.has_value());
  EXPECT_TRUE(s.required.empty());
  EXPECT_TRUE(s.required_pointers.empty());
}

TEST(ParseConfigTest, PartialObjectsKeepOtherDefaults) {
  std::string json = With(kMinimal, "/retention", R"({"failed_days": 7})");
  json = With(json, "/log", R"({"format": "json"})");
  auto config = ParseConfig(json, Env({}));
  ASSERT_TRUE(config.ok()) << config.status().message();
  EXPECT_EQ(config->retention.failed_days, 7);
  EXPECT_EQ(config->retention.delivered_days, 30);
  EXPECT_EQ(config->retention.idempotency_days, 37);
  EXPECT_EQ(config->log.format, "json");
  EXPECT_EQ(config->log.level, "info");
}

TEST(ParseConfigTest, RetentionAttemptsAndIdempotencyDays) {
  auto config = ParseConfig(
      With(kMinimal, "/retention",
           R"({"delivered_days": 10, "failed_days": 20, "attempts_days": 5,
               "request_log_days": 3, "idempotency_days": 11})"),
      Env({}));
  ASSERT_TRUE(config.ok()) << config.status().message();
  EXPECT_EQ(config->retention.delivered_days, 10);
  EXPECT_EQ(config->retention.failed_days, 20);
  EXPECT_EQ(config->retention.attempts_days, 5);
  EXPECT_EQ(config->retention.request_log_days, 3);
  EXPECT_EQ(config->retention.idempotency_days, 11);

  // Unset, keys outlive the longest-kept events by a week, and attempts follow failed_days.
  config = ParseConfig(
      With(kMinimal, "/retention", R"({"delivered_days": 60, "failed_days": 20})"), Env({}));
  ASSERT_TRUE(config.ok()) << config.status().message();
  EXPECT_EQ(config->retention.idempotency_days, 67);
  EXPECT_EQ(config->retention.attempts_days, 20);
}

TEST(ParseConfigTest, IdempotencyDaysBelowDeliveredDaysIsRefused) {
  ExpectError(With(kMinimal, "/retention", R"({"delivered_days": 30, "idempotency_days": 29})"),
              "retention.idempotency_days");
  // Equal is allowed, and so is less than failed_days (the contract's example does it).
  EXPECT_TRUE(ParseConfig(With(kMinimal, "/retention",
                               R"({"delivered_days": 30, "idempotency_days": 30})"),
                          Env({}))
                  .ok());
  ExpectError(With(kMinimal, "/retention/attempt_days", "3"), "retention.attempt_days");
}

// A consumer token names the consumers it may use (default: its own name); only those exist.
TEST(ParseConfigTest, ConsumerTokensListTheirConsumers) {
  auto config = ParseConfig(kExample, Env());
  ASSERT_TRUE(config.ok()) << config.status().message();
  EXPECT_EQ(config->api_tokens[2].consumers, std::vector<std::string>{"warehouse"});
  EXPECT_TRUE(config->api_tokens[0].consumers.empty());  // not a consumer token
  EXPECT_EQ(ConsumerNames(*config), std::vector<std::string>{"warehouse"});

  config = ParseConfig(With(kExample, "/api_tokens/2/consumers", R"(["wh-b", "wh-a", "wh-b"])"),
                       Env());
  ASSERT_TRUE(config.ok()) << config.status().message();
  EXPECT_EQ(ConsumerNames(*config), (std::vector<std::string>{"wh-a", "wh-b"}));

  ExpectError(With(kExample, "/api_tokens/0/consumers", R"(["warehouse"])"),
              "api_tokens[0].consumers");
  ExpectError(With(kExample, "/api_tokens/2/consumers", "[]"), "api_tokens[2].consumers");
  ExpectError(With(kExample, "/api_tokens/2/consumers", R"(["a b"])"),
              "api_tokens[2].consumers[0]");
  ExpectError(With(kExample, "/api_tokens/2/consumers", R"("warehouse")"),
              "api_tokens[2].consumers");
  // A token name that cannot name a consumer needs its list.
  ExpectError(With(kExample, "/api_tokens/2/name", R"("ware house")"), "api_tokens[2].name");
  EXPECT_TRUE(ParseConfig(With(With(kExample, "/api_tokens/2/name", R"("ware house")"),
                               "/api_tokens/2/consumers", R"(["warehouse"])"),
                          Env())
                  .ok());
}

TEST(ParseConfigTest, MaxConsumerLagDays) {
  auto config = ParseConfig(kMinimal, Env({}));
  ASSERT_TRUE(config.ok());
  EXPECT_EQ(config->retention.max_consumer_lag_days, 7);
  config = ParseConfig(With(kMinimal, "/retention", R"({"max_consumer_lag_days": 30})"), Env({}));
  ASSERT_TRUE(config.ok()) << config.status().message();
  EXPECT_EQ(config->retention.max_consumer_lag_days, 30);
  ExpectError(With(kMinimal, "/retention", R"({"max_consumer_lag_days": 0})"),
              "retention.max_consumer_lag_days");
  ExpectError(With(kMinimal, "/retention", R"({"max_consumer_lag_days": "7"})"),
              "retention.max_consumer_lag_days");
}

TEST(ParseConfigTest, DestinationDefaults) {
  std::string json =
      With(kMinimal, "/destinations", R"([{"name":"d","url":"http://127.0.0.1:9/"}])");
  auto config = ParseConfig(json, Env({}));
  ASSERT_TRUE(config.ok()) << config.status().message();
  const DestinationConfig& d = config->destinations.at(0);
  EXPECT_TRUE(d.filter.sources.empty());
  EXPECT_TRUE(d.filter.events.empty());
  EXPECT_EQ(d.timeout_ms, 5000);
  EXPECT_EQ(d.max_attempts, 10);
  EXPECT_EQ(d.backoff.initial_ms, 1000);
  EXPECT_EQ(d.backoff.max_ms, 3600000);
  EXPECT_DOUBLE_EQ(d.backoff.multiplier, 2.0);
  EXPECT_EQ(d.concurrency, 8);
  EXPECT_EQ(d.signing_secret, "");
}

// The README and the OpenAPI description call Idempotency-Key the default header: naming only a
// pointer keeps it (the pointer is the fallback); only "header": "" turns it off.
TEST(ParseConfigTest, IdempotencyObjectWithoutHeaderKeepsTheDefaultHeader) {
  std::string json = With(kMinimal, "/sources/0/idempotency", R"({"pointer": "/id"})");
  auto config = ParseConfig(json, Env({}));
  ASSERT_TRUE(config.ok()) << config.status().message();
  EXPECT_EQ(config->sources[0].idempotency_header, "idempotency-key");
  EXPECT_TRUE(config->sources[0].idempotency_pointer.has_value());

  json = With(kMinimal, "/sources/0/idempotency", R"({"header": "", "pointer": "/id"})");
  config = ParseConfig(json, Env({}));
  ASSERT_TRUE(config.ok()) << config.status().message();
  EXPECT_EQ(config->sources[0].idempotency_header, "");

  json = With(kMinimal, "/sources/0/idempotency", R"({"header": "X Bad:Name"})");
  config = ParseConfig(json, Env({}));
  ASSERT_FALSE(config.ok());
  EXPECT_NE(config.status().message().find("sources[0].idempotency.header"), std::string::npos)
      << config.status().message();
}

// request_log's budget keys: defaults, values, ranges, and a per-address budget above the
// global one refused.
TEST(ParseConfigTest, RequestLogBudgetKeys) {
  auto defaults = ParseConfig(kMinimal, Env({}));
  ASSERT_TRUE(defaults.ok()) << defaults.status().message();
  EXPECT_EQ(defaults->request_log.budget.rows_per_minute, 600);
  EXPECT_EQ(defaults->request_log.budget.bytes_per_minute, 131072);
  EXPECT_EQ(defaults->request_log.budget.rows_per_address_per_minute, 60);
  EXPECT_EQ(defaults->request_log.budget.bytes_per_address_per_minute, 32768);
  EXPECT_EQ(defaults->request_log.budget.max_tracked_addresses, 4096u);
  EXPECT_EQ(defaults->writer_max_queue_bytes, 64 << 20);

  std::string json = With(kMinimal, "/request_log",
                          R"({"rejected_rows_per_minute": 100, "rejected_bytes_per_minute": 9000,
                              "rejected_rows_per_address_per_minute": 10,
                              "rejected_bytes_per_address_per_minute": 900,
                              "tracked_addresses": 50})");
  json = With(json, "/writer", R"({"max_queue_bytes": 2097152})");
  auto config = ParseConfig(json, Env({}));
  ASSERT_TRUE(config.ok()) << config.status().message();
  EXPECT_EQ(config->request_log.budget.rows_per_minute, 100);
  EXPECT_EQ(config->request_log.budget.bytes_per_minute, 9000);
  EXPECT_EQ(config->request_log.budget.rows_per_address_per_minute, 10);
  EXPECT_EQ(config->request_log.budget.bytes_per_address_per_minute, 900);
  EXPECT_EQ(config->request_log.budget.max_tracked_addresses, 50u);
  EXPECT_EQ(config->writer_max_queue_bytes, 2097152);

  for (const char* bad :
       {R"({"rejected_rows_per_minute": -1})", R"({"tracked_addresses": 0})",
        R"({"rejected_rows_per_minute": 5})",  // below the per-address 60
        R"({"rejected_bytes_per_address_per_minute": 999999999})", R"({"rejected_rows": 5})"}) {
    auto refused = ParseConfig(With(kMinimal, "/request_log", bad), Env({}));
    EXPECT_FALSE(refused.ok()) << bad;
    if (!refused.ok()) {
      EXPECT_NE(refused.status().message().find("request_log."), std::string::npos)
          << refused.status().message();
    }
  }
  EXPECT_FALSE(
      ParseConfig(With(kMinimal, "/writer", R"({"max_queue_bytes": 1000})"), Env({})).ok());
}

// --- LoadConfigFile ---------------------------------------------------------------------------

TEST(LoadConfigFileTest, MissingFile) {
  auto config = LoadConfigFile("/nonexistent/hookvault.json", Env());
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.status().code(), storage::StatusCode::kInvalidArgument);
  EXPECT_NE(config.status().message().find("/nonexistent/hookvault.json"), std::string::npos);
}

TEST(LoadConfigFileTest, ReadsFileAndPrefixesErrorsWithItsPath) {
  char path[] = "/tmp/hookvault-config-test-XXXXXX";
  int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  close(fd);
  { std::ofstream(path) << kExample; }
  auto config = LoadConfigFile(path, Env());
  EXPECT_TRUE(config.ok()) << config.status().message();
  { std::ofstream(path) << With(kExample, "/bogus", "1"); }
  config = LoadConfigFile(path, Env());
  std::remove(path);
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.status().message(), std::string(path) + ": bogus: unknown key");
}

// --- DefaultConfig ----------------------------------------------------------------------------

TEST(DefaultConfigTest, OneDefaultSourceAndOneAdminTokenWithTheGivenTokens) {
  Config c = DefaultConfig("generated-token-0123456789", "generated-admin-0123456789");
  EXPECT_EQ(c.listen, "127.0.0.1:8080");
  EXPECT_EQ(c.data_dir, "./data");
  ASSERT_EQ(c.sources.size(), 1u);
  EXPECT_EQ(c.sources[0].name, "default");
  EXPECT_EQ(c.sources[0].tokens, std::vector<std::string>{"generated-token-0123456789"});
  EXPECT_TRUE(c.sources[0].allow_ips.empty());
  EXPECT_TRUE(c.destinations.empty());
  ASSERT_EQ(c.api_tokens.size(), 1u);
  EXPECT_EQ(c.api_tokens[0].name, "default-admin");
  EXPECT_EQ(c.api_tokens[0].token, "generated-admin-0123456789");
  EXPECT_EQ(c.api_tokens[0].role, "admin");
  EXPECT_TRUE(c.trusted_proxies.empty());
}

// --- SplitHostPort ----------------------------------------------------------------------------

TEST(SplitHostPortTest, SplitsValidAddresses) {
  auto a = SplitHostPort("127.0.0.1:8080");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->first, "127.0.0.1");
  EXPECT_EQ(a->second, 8080);

  auto b = SplitHostPort("[::1]:9");
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->first, "::1");
  EXPECT_EQ(b->second, 9);

  auto c = SplitHostPort("localhost:0");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->first, "localhost");
  EXPECT_EQ(c->second, 0);

  auto d = SplitHostPort("0.0.0.0:65535");
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->second, 65535);
}

TEST(SplitHostPortTest, RefusesMalformed) {
  for (const char* text : {"8080", ":80", "h:99999", "h:x", "h:", "", "h:65536", "h:-1", "h:8 0",
                           "::1:80", "[::1:80", "[]:80", "[::1]", "h:123456"}) {
    auto r = SplitHostPort(text);
    EXPECT_FALSE(r.ok()) << "\"" << text << "\"";
    if (!r.ok()) {
      EXPECT_EQ(r.status().code(), storage::StatusCode::kInvalidArgument);
    }
  }
}

TEST(ParseConfigTest, KeyThatAppearsTwiceIsRefused) {
  ExpectError(
      R"json({"threads": 2, "threads": 4, "sources": [{"name": "s", "tokens": ["0123456789abcdef"]}]})json",
      "threads");
  ExpectError(
      R"json({"sources": [{"name": "s", "name": "t", "tokens": ["0123456789abcdef"]}]})json",
      "sources[0].name");
}

TEST(ParseConfigTest, DestinationSourcesMustMatchAConfiguredSource) {
  std::string json = With(kExample, "/destinations/0/sources", R"(["harmonics", "nope"])");
  ExpectError(json, "destinations[0].sources[1]");
  EXPECT_TRUE(ParseConfig(With(kExample, "/destinations/0/sources", R"(["harm*"])"), Env()).ok());
}

TEST(ParseConfigTest, SigningSecretMustDecode) {
  ExpectError(With(kExample, "/destinations/0/signing_secret", R"("whsec_not base64!")"),
              "destinations[0].signing_secret");
}

// --- request_log --------------------------------------------------------------------------------

TEST(ParseConfigTest, RejectedBodiesAreNotKeptByDefault) {
  auto config = ParseConfig(kMinimal, Env({}));
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  EXPECT_FALSE(config->request_log.keep_rejected_bodies);
  EXPECT_EQ(config->request_log.kept_body_bytes, 4096);
}

TEST(ParseConfigTest, RequestLogKeepsRejectedBodiesWhenSwitchedOn) {
  auto config = ParseConfig(
      With(kMinimal, "/request_log", R"({"keep_rejected_bodies": true, "kept_body_bytes": 512})"),
      Env({}));
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  EXPECT_TRUE(config->request_log.keep_rejected_bodies);
  EXPECT_EQ(config->request_log.kept_body_bytes, 512);
}

TEST(ParseConfigTest, RequestLogRefusesUnknownKeysWrongTypesAndSizes) {
  ExpectError(With(kMinimal, "/request_log", R"({"keep_bodies": true})"),
              "request_log.keep_bodies");
  ExpectError(With(kMinimal, "/request_log", R"({"keep_rejected_bodies": "yes"})"),
              "request_log.keep_rejected_bodies");
  ExpectError(With(kMinimal, "/request_log", R"({"kept_body_bytes": 0})"),
              "request_log.kept_body_bytes");
  ExpectError(With(kMinimal, "/request_log", R"({"kept_body_bytes": 2097152})"),
              "request_log.kept_body_bytes");
  ExpectError(With(kMinimal, "/request_log", "true"), "request_log");
}

// --- postgres ---------------------------------------------------------------------------------

TEST(ParseConfigTest, PostgresIsAbsentByDefaultAndTakesItsDefaults) {
  EXPECT_FALSE(ParseConfig(kMinimal, Env())->postgres.has_value());  // SQLite in data_dir

  auto config = ParseConfig(With(kMinimal, "/postgres", R"({"url": "${HV_PG_URL}"})"),
                            Env({{"HV_PG_URL", "postgresql://hv:sekrit@db.internal:5432/hv"}}));
  ASSERT_TRUE(config.ok()) << config.status().message();
  ASSERT_TRUE(config->postgres.has_value());
  EXPECT_EQ(config->postgres->url, "postgresql://hv:sekrit@db.internal:5432/hv");
  EXPECT_EQ(config->postgres->pool_size, 8);
  EXPECT_EQ(config->postgres->lease_margin_ms, 30000);
  EXPECT_EQ(config->postgres->listen_poll_ms, 1000);

  config = ParseConfig(With(kMinimal, "/postgres",
                            R"({"url": "postgres://h/db", "pool_size": 64,
                                "lease_margin_ms": 1000, "listen_poll_ms": 60000})"),
                       Env());
  ASSERT_TRUE(config.ok()) << config.status().message();
  EXPECT_EQ(config->postgres->pool_size, 64);
  EXPECT_EQ(config->postgres->lease_margin_ms, 1000);
  EXPECT_EQ(config->postgres->listen_poll_ms, 60000);
}

TEST(ParseConfigTest, PostgresRefusesBadValuesNamingTheKey) {
  const std::string kUrl = R"("url": "postgresql://h/db")";
  ExpectError(With(kMinimal, "/postgres", R"({})"), "postgres.url");
  ExpectError(With(kMinimal, "/postgres", R"({"url": ""})"), "postgres.url");
  ExpectError(With(kMinimal, "/postgres", R"({"url": "host=db dbname=hv"})"), "postgres.url");
  ExpectError(With(kMinimal, "/postgres", R"({"url": "mysql://h/db"})"), "postgres.url");
  ExpectError(With(kMinimal, "/postgres", R"({"url": 5})"), "postgres.url");
  ExpectError(With(kMinimal, "/postgres", "{" + kUrl + R"(, "pool_size": 0})"),
              "postgres.pool_size");
  ExpectError(With(kMinimal, "/postgres", "{" + kUrl + R"(, "pool_size": 65})"),
              "postgres.pool_size");
  ExpectError(With(kMinimal, "/postgres", "{" + kUrl + R"(, "lease_margin_ms": 999})"),
              "postgres.lease_margin_ms");
  ExpectError(With(kMinimal, "/postgres", "{" + kUrl + R"(, "lease_margin_ms": 3600001})"),
              "postgres.lease_margin_ms");
  ExpectError(With(kMinimal, "/postgres", "{" + kUrl + R"(, "listen_poll_ms": 99})"),
              "postgres.listen_poll_ms");
  ExpectError(With(kMinimal, "/postgres", "{" + kUrl + R"(, "listen_poll_ms": 60001})"),
              "postgres.listen_poll_ms");
  ExpectError(With(kMinimal, "/postgres", "{" + kUrl + R"(, "pool": 4})"), "postgres.pool");
  ExpectError(With(kMinimal, "/postgres", R"("postgresql://h/db")"), "postgres");
  // The SQLite file's cap has no meaning there.
  ExpectError(With(With(kMinimal, "/postgres", "{" + kUrl + "}"), "/max_db_bytes", "1048576"),
              "max_db_bytes");
  // An unset variable names the key and the variable, never a value.
  ExpectError(With(kMinimal, "/postgres", R"({"url": "${HV_UNSET_PG_URL}"})"), "postgres.url");
}

TEST(ParseConfigTest, PostgresUrlErrorsNeverShowThePassword) {
  auto config = ParseConfig(With(kMinimal, "/postgres", R"({"url": "${U}", "pool_size": 0})"),
                            Env({{"U", "postgresql://hv:sekrit@h/db"}}));
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.status().message().find("sekrit"), std::string::npos)
      << config.status().message();
}

TEST(MaskPostgresUrlTest, HidesThePasswordAndKeepsTheRest) {
  EXPECT_EQ(MaskPostgresUrl("postgresql://hv:sekrit@db:5432/hv"), "postgresql://hv:***@db:5432/hv");
  EXPECT_EQ(MaskPostgresUrl("postgres://hv:s%40k:r/t@db/hv?sslmode=require"),
            "postgres://hv:***@db/hv?sslmode=require");
  EXPECT_EQ(MaskPostgresUrl("postgresql://hv:p@ss@db/hv"), "postgresql://hv:***@db/hv");
  EXPECT_EQ(MaskPostgresUrl("postgresql://db/hv?user=hv&password=sekrit&sslmode=require"),
            "postgresql://db/hv?user=hv&password=***&sslmode=require");
  EXPECT_EQ(MaskPostgresUrl("postgresql://db/hv?password=sekrit"),
            "postgresql://db/hv?password=***");
  // Nothing to hide: unchanged, the port and the user included.
  EXPECT_EQ(MaskPostgresUrl("postgresql://hv@db:5432/hv"), "postgresql://hv@db:5432/hv");
  EXPECT_EQ(MaskPostgresUrl("postgresql://db:5432/hv"), "postgresql://db:5432/hv");
  EXPECT_EQ(MaskPostgresUrl("postgresql:///hv?host=/run/postgresql"),
            "postgresql:///hv?host=/run/postgresql");
}

// Review finding: libpq ends the user info at the first '@' before any '/', so a password may
// hold '?'; the masker took that '?' as the query's start and masked nothing. The query's
// sslpassword and percent-encoded keywords (libpq decodes them) went unmasked too.
TEST(MaskPostgresUrlTest, FollowsLibpqWhereThePasswordEndsAndWhatAKeywordIs) {
  EXPECT_EQ(MaskPostgresUrl("postgresql://postgres:top?secret@127.0.0.1:5432/postgres"),
            "postgresql://postgres:***@127.0.0.1:5432/postgres");
  EXPECT_EQ(MaskPostgresUrl("postgresql://hv:a?b@db/hv?password=c&sslmode=require"),
            "postgresql://hv:***@db/hv?password=***&sslmode=require");
  EXPECT_EQ(MaskPostgresUrl("postgresql://hv@db/hv?sslpassword=keypass&sslmode=verify-full"),
            "postgresql://hv@db/hv?sslpassword=***&sslmode=verify-full");
  EXPECT_EQ(MaskPostgresUrl("postgresql://db/hv?pass%77ord=sekrit"),
            "postgresql://db/hv?pass%77ord=***");
  EXPECT_EQ(MaskPostgresUrl("postgresql://db/hv?user=hv&%73slpassword=k&%70ASSWORD=s"),
            "postgresql://db/hv?user=hv&%73slpassword=***&%70ASSWORD=***");
  // A '@' after the host is not user info: the dbname and the rest stay.
  EXPECT_EQ(MaskPostgresUrl("postgresql://db/hv?application_name=a@b"),
            "postgresql://db/hv?application_name=a@b");
  // libpq's key=value form.
  EXPECT_EQ(MaskPostgresUrl("host=db user=hv password=sekrit dbname=hv"),
            "host=db user=hv password=*** dbname=hv");
  EXPECT_EQ(MaskPostgresUrl("host=db password = 'se cr\\'et' sslpassword=k"),
            "host=db password = '***' sslpassword=***");
  for (const char* url : {"postgresql://postgres:top?secret@127.0.0.1:5432/postgres",
                          "postgresql://db/hv?pass%77ord=secret",
                          "postgresql://db/hv?sslpassword=secret",
                          "host=db password='a secret' user=hv"}) {
    EXPECT_EQ(MaskPostgresUrl(url).find("secret"), std::string::npos) << url;
  }
}

}  // namespace
}  // namespace hookvault::server
