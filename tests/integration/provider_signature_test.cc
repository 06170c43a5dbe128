// Signed webhooks from the senders' own libraries, over real HTTP to the real binary: GitHub
// (@octokit/webhooks-methods), Stripe (stripe's generateTestHeaderString) and Standard Webhooks
// (standardwebhooks) sign with tests/providers/sign.mjs; Shopify and the generic hmac scheme
// are checked against published examples and against `openssl dgst` as the signer.
//
// Needs node and tests/providers/node_modules (scripts/setup installs both): without them the
// tests fail, never skip, so a machine that cannot run them cannot pass for one that did.
#include <gtest/gtest.h>
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "tests/testing/http_client.h"
#include "tests/testing/server_process.h"
#include "tests/testing/temp_dir.h"

namespace hookvault::testing {
namespace {

using Headers = std::vector<std::pair<std::string, std::string>>;

constexpr char kAuditor[] = "provider-test-auditor-token-0001";
constexpr char kGithubSecret[] = "gh-secret-for-provider-tests";
constexpr char kGithubOldSecret[] = "gh-secret-being-rotated-out";
constexpr char kStripeSecret[] = "whsec_stripe_provider_test_secret";
// Standard Webhooks secrets are "whsec_" + base64 of the key bytes.
constexpr char kSwSecret[] = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
constexpr char kSwWrongSecret[] = "whsec_c2VjcmV0LW9mLWFub3RoZXItZW5kcG9pbnQ=";

// Shopify's own library's test values: https://github.com/Shopify/shopify-api-php,
// tests/Webhooks/RegistryTest.php ($processHeaders, X-Shopify-Hmac-Sha256 for the body
// json_encode(['foo' => 'bar'])) with the API secret key "steffi" of tests/BaseTestCase.php.
constexpr char kShopifySecret[] = "steffi";
constexpr char kShopifyBody[] = R"({"foo":"bar"})";
constexpr char kShopifyHmac[] = "/Redz4YXHLnSmmSN8grr5/Jl/Ua3d7yX3iWbjb8R8wo=";

// RFC 4231 section 4.3, test case 2: HMAC-SHA-256 of "what do ya want for nothing?" under
// the key "Jefe".
constexpr char kRfcKey[] = "Jefe";
constexpr char kRfcData[] = "what do ya want for nothing?";
constexpr char kRfcSha256[] = "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843";

std::string SourceDir() { return HOOKVAULT_SOURCE_DIR; }

rapidjson::Document Json(const std::string& body) {
  rapidjson::Document d;
  d.Parse(body.c_str(), body.size());
  return d;
}

std::string Quote(const std::string& s) {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  w.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
  return buf.GetString();
}

int64_t Now() { return static_cast<int64_t>(std::time(nullptr)); }

// A request for sign.mjs.
struct SignRequest {
  std::string scheme;
  std::string secret;
  std::string payload;
  int64_t timestamp = 0;
  std::string id;
};

SignRequest Github(std::string secret, std::string payload) {
  return SignRequest{"github", std::move(secret), std::move(payload), 0, ""};
}
SignRequest Stripe(std::string secret, std::string payload, int64_t timestamp) {
  return SignRequest{"stripe", std::move(secret), std::move(payload), timestamp, ""};
}
SignRequest Sw(std::string secret, std::string payload, int64_t timestamp, std::string id) {
  return SignRequest{"standard-webhooks", std::move(secret), std::move(payload), timestamp,
                     std::move(id)};
}

// Polls `condition` for up to five seconds.
bool WaitFor(const std::function<bool()>& condition) {
  for (int i = 0; i < 250; ++i) {
    if (condition()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return condition();
}

class ProviderSignatureTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // Fail, never skip: the whole point is the senders' own code.
    CommandResult node = RunCommand("node --version");
    ASSERT_EQ(node.exit_code, 0) << "node is not installed (scripts/setup installs it): "
                                 << node.output;
    ASSERT_TRUE(std::filesystem::exists(SourceDir() + "/tests/providers/node_modules/stripe"))
        << "tests/providers/node_modules is missing: run scripts/setup";

    std::string config = R"({"listen": "127.0.0.1:0", "data_dir": )" + Quote(dir_.path()) + R"(,
      "log": {"level": "info"},
      "sources": [
        {"name": "github", "verify": {"scheme": "github",
           "secrets": [")" +
                         std::string(kGithubOldSecret) + R"(", ")" + kGithubSecret + R"("]}},
        {"name": "stripe", "verify": {"scheme": "stripe", "secrets": [")" +
                         kStripeSecret +
                         R"("], "tolerance_s": 300}},
        {"name": "sw", "verify": {"scheme": "standard-webhooks", "secrets": [")" +
                         kSwSecret +
                         R"("], "tolerance_s": 300}},
        {"name": "shopify", "verify": {"scheme": "shopify", "secrets": [")" +
                         kShopifySecret +
                         R"("]}},
        {"name": "hmac", "verify": {"scheme": "hmac", "secrets": [")" +
                         kRfcKey + R"("],
           "header": "X-Signature", "algorithm": "sha256", "encoding": "hex",
           "prefix": "sha256="}}],
      "api_tokens": [{"name": "audit", "token": ")" +
                         kAuditor + R"(", "role": "auditor"}]})";
    std::string path = dir_.Write("config.json", config);
    server_ = std::make_unique<ServerProcess>(std::vector<std::string>{"serve", "--config", path},
                                              dir_.File("server.log"));
    ASSERT_TRUE(server_->started()) << server_->Log();
  }

  // Returns, for each request, the headers the provider's library signs it with.
  std::vector<Headers> Sign(const std::vector<SignRequest>& requests) {
    std::string json = "[";
    for (const SignRequest& r : requests) {
      if (json.size() > 1) json += ",";
      json += R"({"scheme":)" + Quote(r.scheme) + R"(,"secret":)" + Quote(r.secret) +
              R"(,"payload":)" + Quote(r.payload) + R"(,"timestamp":)" +
              std::to_string(r.timestamp) + R"(,"id":)" + Quote(r.id) + "}";
    }
    json += "]";
    std::string file = dir_.Write("sign-" + std::to_string(++sign_runs_) + ".json", json);
    CommandResult run =
        RunCommand("node " + SourceDir() + "/tests/providers/sign.mjs " + file + " 2>&1");
    EXPECT_EQ(run.exit_code, 0) << run.output;
    rapidjson::Document d = Json(run.output);
    std::vector<Headers> out;
    if (!d.IsArray()) {
      ADD_FAILURE() << "sign.mjs printed: " << run.output;
      return std::vector<Headers>(requests.size());
    }
    for (const auto& entry : d.GetArray()) {
      Headers h;
      for (const auto& m : entry.GetObject())
        h.emplace_back(m.name.GetString(), m.value.GetString());
      out.push_back(std::move(h));
    }
    return out;
  }

  Headers SignOne(SignRequest r) { return Sign({std::move(r)})[0]; }

  HttpResult Post(const std::string& source, Headers headers, const std::string& body) {
    headers.emplace_back("Content-Type", "application/json");
    return client_.Request("POST", server_->Url("/webhooks/" + source), headers, body);
  }

  // Expects a 401 problem whose detail contains `needle` and none of `hidden`.
  void Expect401(const HttpResult& r, const std::string& needle,
                 const std::vector<std::string>& hidden = {}) {
    EXPECT_EQ(r.status, 401) << r.body;
    rapidjson::Document d = Json(r.body);
    ASSERT_TRUE(d.IsObject() && d.HasMember("detail") && d["detail"].IsString()) << r.body;
    EXPECT_NE(std::string(d["detail"].GetString()).find(needle), std::string::npos) << r.body;
    for (const std::string& h : hidden) {
      if (h.empty()) continue;
      EXPECT_EQ(r.body.find(h), std::string::npos) << "shows " << h << ": " << r.body;
    }
  }

  // The value of `name` in `headers` with the scheme's prefix or entry syntax removed: the
  // bare signature text, which a 401 must never show.
  static std::string Bare(const Headers& headers, const std::string& name) {
    for (const auto& [k, v] : headers) {
      if (k != name) continue;
      if (name == "Stripe-Signature") return v.substr(v.rfind("v1=") + 3);
      if (name == "X-Hub-Signature-256") return v.substr(v.find('=') + 1);
      if (name == "webhook-signature") return v.substr(v.find(',') + 1);
      return v;
    }
    return "";
  }

  HttpResult Get(const std::string& path) {
    return client_.Request("GET", server_->Url(path),
                           {{"Authorization", std::string("Bearer ") + kAuditor}});
  }

  // Returns the request log's rejected rows of `source` as "status reason" strings, once there
  // are `count` of them (the log is written in the background).
  std::vector<std::string> RejectedReasons(const std::string& source, size_t count) {
    std::vector<std::string> reasons;
    WaitFor([&] {
      reasons.clear();
      HttpResult r = Get("/api/v1/requests?rejected=true&limit=1000&source=" + source);
      rapidjson::Document d = Json(r.body);
      if (r.status != 200 || !d.IsObject() || !d.HasMember("data")) return false;
      for (const auto& row : d["data"].GetArray()) {
        reasons.push_back(std::to_string(row["status"].GetInt()) + " " +
                          (row["reason"].IsString() ? row["reason"].GetString() : "null"));
      }
      return reasons.size() >= count;
    });
    std::sort(reasons.begin(), reasons.end());
    return reasons;
  }

  TempDir dir_;
  std::unique_ptr<ServerProcess> server_;
  HttpClient client_;
  int sign_runs_ = 0;
};

TEST_F(ProviderSignatureTest, GithubSignedByOctokit) {
  const std::string body = R"({"action":"opened","number":17})";
  std::vector<Headers> signed_ =
      Sign({Github(kGithubSecret, body), Github(kGithubOldSecret, body),
            Github("not-the-secret", body), Github(kGithubSecret, body + " ")});
  HttpResult ok = Post("github", signed_[0], body);
  EXPECT_EQ(ok.status, 200) << ok.body;
  // The secret being rotated out still verifies.
  EXPECT_EQ(Post("github", signed_[1], body).status, 200);

  const std::string tampered = R"({"action":"closed","number":17})";
  Headers for_tampered = SignOne(Github(kGithubSecret, tampered));
  Expect401(Post("github", signed_[0], tampered), "X-Hub-Signature-256 does not match",
            {Bare(for_tampered, "X-Hub-Signature-256")});
  Expect401(Post("github", signed_[2], body), "does not match",
            {Bare(signed_[0], "X-Hub-Signature-256")});
  // A trailing space is a different body.
  Expect401(Post("github", signed_[0], body + " "), "does not match",
            {Bare(signed_[3], "X-Hub-Signature-256")});
  Expect401(Post("github", {}, body), "X-Hub-Signature-256 header is missing");
  Expect401(Post("github", {{"X-Hub-Signature-256", "sha1=abc"}}, body), "X-Hub-Signature-256");

  EXPECT_EQ(RejectedReasons("github", 5),
            (std::vector<std::string>{"401 signature-malformed", "401 signature-mismatch",
                                      "401 signature-mismatch", "401 signature-mismatch",
                                      "401 signature-missing"}));
}

TEST_F(ProviderSignatureTest, StripeSignedByStripeNode) {
  const std::string body = R"({"id":"evt_1","object":"event","type":"payment_intent.succeeded"})";
  const int64_t now = Now();
  std::vector<Headers> signed_ =
      Sign({Stripe(kStripeSecret, body, now), Stripe("whsec_wrong", body, now),
            Stripe(kStripeSecret, body, now - 600), Stripe(kStripeSecret, body, now + 600)});
  HttpResult ok = Post("stripe", signed_[0], body);
  EXPECT_EQ(ok.status, 200) << ok.body;

  const std::string tampered = R"({"id":"evt_1","object":"event","type":"charge.refunded"})";
  Headers for_tampered = SignOne(Stripe(kStripeSecret, tampered, now));
  Expect401(Post("stripe", signed_[0], tampered), "Stripe-Signature does not match",
            {Bare(for_tampered, "Stripe-Signature")});
  Expect401(Post("stripe", signed_[1], body), "does not match",
            {Bare(signed_[0], "Stripe-Signature")});
  Expect401(Post("stripe", signed_[2], body), "outside the 300 s tolerance");
  Expect401(Post("stripe", signed_[3], body), "outside the 300 s tolerance");
  Expect401(
      Post("stripe", {{"Stripe-Signature", "v1=" + Bare(signed_[0], "Stripe-Signature")}}, body),
      "Stripe-Signature has no t=");

  EXPECT_EQ(RejectedReasons("stripe", 5),
            (std::vector<std::string>{"401 signature-malformed", "401 signature-mismatch",
                                      "401 signature-mismatch", "401 signature-timestamp",
                                      "401 signature-timestamp"}));
}

TEST_F(ProviderSignatureTest, StandardWebhooksSignedByTheReferenceLibrary) {
  const std::string body = R"({"type":"booking.created","data":{"ref":"B-17"}})";
  const int64_t now = Now();
  std::vector<Headers> signed_ = Sign(
      {Sw(kSwSecret, body, now, "msg_provider_1"), Sw(kSwWrongSecret, body, now, "msg_provider_2"),
       Sw(kSwSecret, body, now - 600, "msg_provider_3"),
       // The sender's retry: the same webhook-id, a fresh timestamp and signature.
       Sw(kSwSecret, body, now + 1, "msg_provider_1")});
  HttpResult first = Post("sw", signed_[0], body);
  ASSERT_EQ(first.status, 200) << first.body;
  rapidjson::Document d1 = Json(first.body);
  EXPECT_FALSE(d1["duplicate"].GetBool()) << first.body;

  // The webhook-id is the idempotency key: a retry, and a replay of the very same request
  // inside the tolerance, are the same event.
  for (const Headers& again : {signed_[3], signed_[0]}) {
    HttpResult r = Post("sw", again, body);
    ASSERT_EQ(r.status, 200) << r.body;
    rapidjson::Document d = Json(r.body);
    EXPECT_TRUE(d["duplicate"].GetBool()) << r.body;
    EXPECT_EQ(std::string(d["id"].GetString()), d1["id"].GetString());
  }

  const std::string tampered = R"({"type":"booking.created","data":{"ref":"B-18"}})";
  Headers for_tampered = SignOne(Sw(kSwSecret, tampered, now, "msg_provider_1"));
  Expect401(Post("sw", signed_[0], tampered), "webhook-signature does not match",
            {Bare(for_tampered, "webhook-signature")});
  Headers for_wrong = SignOne(Sw(kSwSecret, body, now, "msg_provider_2"));
  Expect401(Post("sw", signed_[1], body), "does not match", {Bare(for_wrong, "webhook-signature")});
  Expect401(Post("sw", signed_[2], body), "webhook-timestamp is outside the 300 s tolerance");
  Headers no_id = signed_[0];
  std::erase_if(no_id, [](const auto& h) { return h.first == "webhook-id"; });
  Expect401(Post("sw", no_id, body), "webhook-id header is missing");

  EXPECT_EQ(RejectedReasons("sw", 4),
            (std::vector<std::string>{"401 signature-mismatch", "401 signature-mismatch",
                                      "401 signature-missing", "401 signature-timestamp"}));
  // One event for the three accepted requests.
  HttpResult events = Get("/api/v1/events?source=sw");
  ASSERT_EQ(events.status, 200) << events.body;
  EXPECT_EQ(Json(events.body)["data"].Size(), 1u) << events.body;
}

TEST_F(ProviderSignatureTest, ShopifyPublishedExampleAndOpenssl) {
  HttpResult ok = Post("shopify", {{"X-Shopify-Hmac-Sha256", kShopifyHmac}}, kShopifyBody);
  EXPECT_EQ(ok.status, 200) << ok.body;
  Expect401(Post("shopify", {{"X-Shopify-Hmac-Sha256", kShopifyHmac}}, R"({"foo":"baz"})"),
            "X-Shopify-Hmac-Sha256 does not match");
  Expect401(Post("shopify", {{"X-Shopify-Hmac-Sha256", "whoops_this_is_wrong"}}, kShopifyBody),
            "X-Shopify-Hmac-Sha256 is not the base64");

  // Signed by openssl as the README shows, not by our code.
  const std::string body = R"({"id":820982911946154508,"email":"jon@example.com"})";
  std::string file = dir_.Write("shopify-body.json", body);
  CommandResult mac =
      RunCommand("openssl dgst -sha256 -hmac steffi -binary < " + file + " | base64 -w0");
  ASSERT_EQ(mac.exit_code, 0) << mac.output;
  EXPECT_EQ(Post("shopify", {{"X-Shopify-Hmac-Sha256", mac.output}}, body).status, 200);
  EXPECT_EQ(RejectedReasons("shopify", 2),
            (std::vector<std::string>{"401 signature-malformed", "401 signature-mismatch"}));
}

TEST_F(ProviderSignatureTest, GenericHmacRfcVectorAndOpenssl) {
  // The RFC's data is not JSON: past the signature (checked first), it is refused as such, a
  // 400, where a wrong MAC is a 401.
  HttpResult rfc = Post("hmac", {{"X-Signature", std::string("sha256=") + kRfcSha256}}, kRfcData);
  EXPECT_EQ(rfc.status, 400) << rfc.body;
  EXPECT_NE(rfc.body.find("JSON"), std::string::npos) << rfc.body;
  std::string other = dir_.Write("other.txt", "what do ya want for something?");
  CommandResult expected = RunCommand("openssl dgst -sha256 -hmac Jefe -r < " + other);
  ASSERT_EQ(expected.exit_code, 0) << expected.output;
  // Neither the MAC that would pass nor the one received is shown.
  Expect401(Post("hmac", {{"X-Signature", std::string("sha256=") + kRfcSha256}},
                 "what do ya want for something?"),
            "x-signature does not match", {expected.output.substr(0, 64), kRfcSha256});

  const std::string body = R"({"event":"stock.low","sku":"A-1"})";
  std::string file = dir_.Write("hmac-body.json", body);
  CommandResult mac = RunCommand("openssl dgst -sha256 -hmac Jefe -r < " + file + " | cut -c1-64");
  ASSERT_EQ(mac.exit_code, 0) << mac.output;
  std::string hex = mac.output.substr(0, 64);
  EXPECT_EQ(Post("hmac", {{"X-Signature", "sha256=" + hex}}, body).status, 200);
  Expect401(Post("hmac", {{"X-Signature", hex}}, body), "does not start with \"sha256=\"");
}

}  // namespace
}  // namespace hookvault::testing
