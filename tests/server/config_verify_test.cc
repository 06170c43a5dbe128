// The config keys of provider verification and routing on the payload: sources[].verify,
// sources[].schemas and destinations[].filter, with the key path in every error.
#include <gtest/gtest.h>

#include <fstream>
#include <string>

#include "server/config.h"
#include "tests/testing/temp_dir.h"

namespace hookvault::server {
namespace {

EnvLookup NoEnv() {
  return [](const std::string&) -> std::optional<std::string> { return std::nullopt; };
}

// A config with one source whose members are `source_members` (after its name) and, when not
// empty, one destination whose members are `destination_members` (after its name and url).
std::string ConfigWith(const std::string& source_members,
                       const std::string& destination_members = "") {
  std::string json = R"({"sources": [{"name": "s")";
  if (!source_members.empty()) json += ", " + source_members;
  json += "}]";
  if (!destination_members.empty()) {
    json += R"(, "destinations": [{"name": "d", "url": "http://127.0.0.1:9/h", )" +
            destination_members + "}]";
  }
  return json + "}";
}

// Expects ParseConfig to refuse `json` with a message starting with "<path>: " and holding
// `also` (when not empty).
void ExpectError(const std::string& json, const std::string& path, const std::string& also = "",
                 const std::string& base_dir = "") {
  auto config = ParseConfig(json, NoEnv(), base_dir);
  ASSERT_FALSE(config.ok()) << "accepted: " << json;
  const std::string& m = config.status().message();
  EXPECT_EQ(m.rfind(path + ": ", 0), 0u) << "expected path \"" << path << "\" in: " << m;
  if (!also.empty()) {
    EXPECT_NE(m.find(also), std::string::npos) << m;
  }
}

constexpr char kToken[] = R"("tokens": ["0123456789abcdef"])";

TEST(ConfigVerifyTest, AVerifiedSourceNeedsNoToken) {
  auto config = ParseConfig(
      ConfigWith(R"("verify": {"scheme": "github", "secrets": ["gh-secret", "gh-old"]})"),
      NoEnv());
  ASSERT_TRUE(config.ok()) << config.status().message();
  const api::SourcePolicy& s = config->sources[0];
  EXPECT_TRUE(s.tokens.empty());
  ASSERT_TRUE(s.verify.has_value());
  EXPECT_EQ(s.verify->scheme, api::SignatureScheme::kGithub);
  EXPECT_EQ(s.verify->keys, (std::vector<std::string>{"gh-secret", "gh-old"}));
  EXPECT_EQ(s.idempotency_header, "idempotency-key");
}

TEST(ConfigVerifyTest, ASourceNeedsATokenOrASignature) {
  ExpectError(ConfigWith(""), "sources[0].tokens", "verify");
}

TEST(ConfigVerifyTest, TokenAndSignatureTogether) {
  auto config = ParseConfig(
      ConfigWith(std::string(kToken) + R"(, "verify": {"scheme": "shopify", "secrets": ["x"]})"),
      NoEnv());
  ASSERT_TRUE(config.ok()) << config.status().message();
  EXPECT_EQ(config->sources[0].tokens.size(), 1u);
  EXPECT_EQ(config->sources[0].verify->scheme, api::SignatureScheme::kShopify);
}

TEST(ConfigVerifyTest, UnknownSchemeNamesTheKeyPathAndTheScheme) {
  ExpectError(ConfigWith(R"("verify": {"scheme": "gitlab", "secrets": ["x"]})"),
              "sources[0].verify.scheme", "unknown scheme \"gitlab\"");
}

TEST(ConfigVerifyTest, BadVerifyValuesNameTheirKeys) {
  ExpectError(ConfigWith(R"("verify": {"secrets": ["x"]})"), "sources[0].verify.scheme");
  ExpectError(ConfigWith(R"("verify": {"scheme": "github"})"), "sources[0].verify.secrets");
  ExpectError(ConfigWith(R"("verify": {"scheme": "github", "secrets": [""]})"),
              "sources[0].verify.secrets[0]");
  ExpectError(ConfigWith(R"("verify": {"scheme": "github", "secrets": ["x"], "color": 1})"),
              "sources[0].verify.color", "unknown key");
  ExpectError(ConfigWith(R"("verify": {"scheme": "github", "secrets": ["x"], "tolerance_s": 60})"),
              "sources[0].verify.tolerance_s", "no timestamp");
  ExpectError(ConfigWith(R"("verify": {"scheme": "stripe", "secrets": ["x"], "tolerance_s": 0})"),
              "sources[0].verify.tolerance_s");
  ExpectError(ConfigWith(R"("verify": {"scheme": "github", "secrets": ["x"], "header": "X-S"})"),
              "sources[0].verify.header", "hmac only");
  ExpectError(ConfigWith(R"("verify": {"scheme": "hmac", "secrets": ["x"]})"),
              "sources[0].verify.header", "required");
  ExpectError(ConfigWith(R"("verify": {"scheme": "hmac", "secrets": ["x"], "header": "X-S",
                                       "algorithm": "md5"})"),
              "sources[0].verify.algorithm");
  ExpectError(ConfigWith(R"("verify": {"scheme": "hmac", "secrets": ["x"], "header": "X-S",
                                       "encoding": "base32"})"),
              "sources[0].verify.encoding");
}

TEST(ConfigVerifyTest, GenericHmacReadsAllItsKeys) {
  auto config = ParseConfig(ConfigWith(R"("verify": {"scheme": "hmac", "secrets": ["k"],
      "header": "X-Signature", "algorithm": "sha512", "encoding": "base64", "prefix": "v1="})"),
                            NoEnv());
  ASSERT_TRUE(config.ok()) << config.status().message();
  const api::SignaturePolicy& p = *config->sources[0].verify;
  EXPECT_EQ(p.header, "x-signature");
  EXPECT_EQ(p.algorithm, base::HmacDigest::kSha512);
  EXPECT_EQ(p.encoding, api::SignatureEncoding::kBase64);
  EXPECT_EQ(p.prefix, "v1=");
}

TEST(ConfigVerifyTest, StandardWebhooksSecretsAreDecodedAndTheirIdIsTheKey) {
  // "whsec_" + base64("secret-bytes!"), and the same without the prefix (the reference
  // libraries accept both).
  auto config = ParseConfig(ConfigWith(R"("verify": {"scheme": "standard-webhooks",
      "secrets": ["whsec_c2VjcmV0LWJ5dGVzIQ==", "c2VjcmV0LWJ5dGVzIQ=="], "tolerance_s": 60})"),
                            NoEnv());
  ASSERT_TRUE(config.ok()) << config.status().message();
  const api::SourcePolicy& s = config->sources[0];
  EXPECT_EQ(s.verify->keys, (std::vector<std::string>{"secret-bytes!", "secret-bytes!"}));
  EXPECT_EQ(s.verify->tolerance_s, 60);
  EXPECT_EQ(s.idempotency_header, "webhook-id");

  // A source that names its own idempotency header keeps it.
  auto own = ParseConfig(ConfigWith(R"("verify": {"scheme": "standard-webhooks",
      "secrets": ["whsec_c2VjcmV0LWJ5dGVzIQ=="]}, "idempotency": {"pointer": "/id"})"),
                         NoEnv());
  ASSERT_TRUE(own.ok()) << own.status().message();
  EXPECT_EQ(own->sources[0].idempotency_header, "idempotency-key");
}

TEST(ConfigVerifyTest, AStandardWebhooksSecretThatIsNotBase64IsRefusedWithoutShowingIt) {
  auto config = ParseConfig(ConfigWith(R"("verify": {"scheme": "standard-webhooks",
      "secrets": ["whsec_not base64 at all!"]})"),
                            NoEnv());
  ASSERT_FALSE(config.ok());
  const std::string& m = config.status().message();
  EXPECT_EQ(m.rfind("sources[0].verify.secrets[0]: ", 0), 0u) << m;
  EXPECT_EQ(m.find("not base64 at all"), std::string::npos) << m;
}

TEST(ConfigVerifyTest, SchemasLoadRelativeToTheBaseDirectoryInConfigOrder) {
  testing::TempDir dir;
  std::ofstream(dir.path() + "/booking.json") << R"({"type": "object", "required": ["ref"]})";
  std::ofstream(dir.path() + "/any.json") << R"({"type": "object"})";
  auto config = ParseConfig(
      ConfigWith(std::string(kToken) +
                 R"(, "schemas": {"booking.*": "booking.json", "*": ")" + dir.path() +
                 R"(/any.json"})"),
      NoEnv(), dir.path());
  ASSERT_TRUE(config.ok()) << config.status().message();
  const std::vector<api::SchemaRule>& rules = config->sources[0].schemas;
  ASSERT_EQ(rules.size(), 2u);
  EXPECT_EQ(rules[0].glob, "booking.*");
  EXPECT_EQ(rules[0].file, "booking.json");
  ASSERT_NE(rules[0].schema, nullptr);
  EXPECT_EQ(rules[1].glob, "*");
}

TEST(ConfigVerifyTest, ASchemaThatDoesNotLoadIsAConfigErrorNamingTheFile) {
  testing::TempDir dir;
  std::ofstream(dir.path() + "/broken.json") << R"({"type": )";
  ExpectError(ConfigWith(std::string(kToken) + R"(, "schemas": {"booking.*": "missing.json"})"),
              "sources[0].schemas[\"booking.*\"]", "missing.json", dir.path());
  ExpectError(ConfigWith(std::string(kToken) + R"(, "schemas": {"*": "broken.json"})"),
              "sources[0].schemas[\"*\"]", "broken.json", dir.path());
  ExpectError(ConfigWith(std::string(kToken) + R"(, "schemas": ["a.json"])"),
              "sources[0].schemas");
}

TEST(ConfigVerifyTest, LoadConfigFileResolvesSchemasAgainstTheConfigsDirectory) {
  testing::TempDir dir;
  std::ofstream(dir.path() + "/any.json") << R"({"type": "object"})";
  std::string file = dir.path() + "/hookvault.json";
  std::ofstream(file) << ConfigWith(std::string(kToken) + R"(, "schemas": {"*": "any.json"})");
  auto config = LoadConfigFile(file, NoEnv());
  ASSERT_TRUE(config.ok()) << config.status().message();
  EXPECT_EQ(config->sources[0].schemas.size(), 1u);
}

TEST(ConfigVerifyTest, DestinationFilterParsesAndErrorsNameTheCondition) {
  auto config = ParseConfig(
      ConfigWith(kToken, R"("filter": [{"pointer": "/amount", "gte": 100},
                                       {"pointer": "/status", "equals": "confirmed"}])"),
      NoEnv());
  ASSERT_TRUE(config.ok()) << config.status().message();
  EXPECT_EQ(config->destinations[0].filter.payload.conditions().size(), 2u);

  ExpectError(ConfigWith(kToken, R"("filter": [{"pointer": "/a", "equals": 1},
                                               {"pointer": "/b", "gte": true}])"),
              "destinations[0].filter[1].gte");
  ExpectError(ConfigWith(kToken, R"("filter": {"pointer": "/a"})"), "destinations[0].filter");
}

// Review finding: "${NAME}" was left as written inside a filter, so the condition silently
// never held.
TEST(ConfigVerifyTest, FilterStringsAreSubstitutedFromTheEnvironment) {
  EnvLookup env = [](const std::string& name) -> std::optional<std::string> {
    if (name == "REGION") return std::string("eu-west");
    return std::nullopt;
  };
  auto config = ParseConfig(
      ConfigWith(kToken, R"("filter": [{"pointer": "/region", "in": ["${REGION}", "us"]}])"),
      env);
  ASSERT_TRUE(config.ok()) << config.status().message();
  EXPECT_NE(config->destinations[0].filter.payload.json().find("eu-west"), std::string::npos)
      << config->destinations[0].filter.payload.json();
  auto unset = ParseConfig(
      ConfigWith(kToken, R"("filter": [{"pointer": "/region", "in": ["${NOPE}"]}])"), env);
  ASSERT_FALSE(unset.ok());
  EXPECT_EQ(unset.status().message().rfind("destinations[0].filter[0].in[0]: ", 0), 0u)
      << unset.status().message();
}

TEST(ConfigVerifyTest, AGlobTwiceInSchemasIsRefused) {
  testing::TempDir dir;
  std::ofstream(dir.path() + "/any.json") << R"({"type": "object"})";
  ExpectError(ConfigWith(std::string(kToken) +
                         R"(, "schemas": {"a.*": "any.json", "a.*": "any.json"})"),
              "sources[0].schemas[\"a.*\"]", "twice", dir.path());
}

}  // namespace
}  // namespace hookvault::server
