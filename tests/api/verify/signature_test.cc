#include "api/verify/signature.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <initializer_list>
#include <string>
#include <utility>
#include <vector>

#include "storage/base/crypto.h"
#include "storage/base/encoding.h"

namespace hookvault::api {
namespace {

constexpr int64_t kNow = 1700000000;

ApiRequest Request(HeaderList headers, std::string body) {
  ApiRequest r;
  r.method = "POST";
  r.path = "/webhooks/test";
  r.headers = std::move(headers);
  r.body = std::move(body);
  return r;
}

SignaturePolicy Policy(SignatureScheme scheme, std::vector<std::string> keys) {
  SignaturePolicy p;
  p.scheme = scheme;
  p.keys = std::move(keys);
  return p;
}

std::string HexMac(std::string_view key, std::initializer_list<std::string_view> parts) {
  return base::HexEncode(base::Hmac(base::HmacDigest::kSha256, key, parts));
}

std::string Base64Mac(std::string_view key, std::initializer_list<std::string_view> parts) {
  return base::Base64Encode(base::Hmac(base::HmacDigest::kSha256, key, parts));
}

std::string Upper(std::string s) {
  for (char& c : s) c = (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c;
  return s;
}

// A failure's detail must never carry the signature that would have passed, in any encoding.
void ExpectDetailHidesMac(const SignatureResult& r, std::string_view mac_bytes) {
  EXPECT_EQ(r.detail.find(base::HexEncode(mac_bytes)), std::string::npos) << r.detail;
  EXPECT_EQ(r.detail.find(Upper(base::HexEncode(mac_bytes))), std::string::npos) << r.detail;
  EXPECT_EQ(r.detail.find(base::Base64Encode(mac_bytes)), std::string::npos) << r.detail;
}

// --- names and reasons ------------------------------------------------------------------------

TEST(SignatureSchemeTest, NamesRoundTrip) {
  for (SignatureScheme s :
       {SignatureScheme::kGithub, SignatureScheme::kStripe, SignatureScheme::kShopify,
        SignatureScheme::kStandardWebhooks, SignatureScheme::kHmac}) {
    EXPECT_EQ(ParseSignatureScheme(SignatureSchemeName(s)), s);
  }
  EXPECT_EQ(SignatureSchemeName(SignatureScheme::kStandardWebhooks), "standard-webhooks");
  EXPECT_FALSE(ParseSignatureScheme("gitlab").has_value());
  EXPECT_FALSE(ParseSignatureScheme("GitHub").has_value());
  EXPECT_FALSE(ParseSignatureScheme("").has_value());
}

TEST(SignatureSchemeTest, CheckReasons) {
  EXPECT_EQ(SignatureCheckReason(SignatureCheck::kOk), "");
  EXPECT_EQ(SignatureCheckReason(SignatureCheck::kMissingHeader), "signature-missing");
  EXPECT_EQ(SignatureCheckReason(SignatureCheck::kMalformedHeader), "signature-malformed");
  EXPECT_EQ(SignatureCheckReason(SignatureCheck::kTimestampOutsideTolerance),
            "signature-timestamp");
  EXPECT_EQ(SignatureCheckReason(SignatureCheck::kMismatch), "signature-mismatch");
}

// --- github -----------------------------------------------------------------------------------

// GitHub's published test values, "Testing the webhook payload validation" in
// https://docs.github.com/en/webhooks/using-webhooks/validating-webhook-deliveries
constexpr std::string_view kGithubDocsSecret = "It's a Secret to Everybody";
constexpr std::string_view kGithubDocsBody = "Hello, World!";
constexpr std::string_view kGithubDocsHeader =
    "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";

ApiRequest GithubRequest(std::string value, std::string body = std::string(kGithubDocsBody)) {
  return Request({{"x-hub-signature-256", std::move(value)}}, std::move(body));
}

TEST(GithubSignatureTest, AcceptsTheDocsExample) {
  auto p = Policy(SignatureScheme::kGithub, {std::string(kGithubDocsSecret)});
  SignatureResult r = VerifySignature(p, GithubRequest(std::string(kGithubDocsHeader)), kNow);
  EXPECT_TRUE(r.ok()) << r.detail;
  EXPECT_TRUE(r.detail.empty());
}

TEST(GithubSignatureTest, TamperedBodyIsAMismatch) {
  auto p = Policy(SignatureScheme::kGithub, {std::string(kGithubDocsSecret)});
  SignatureResult r =
      VerifySignature(p, GithubRequest(std::string(kGithubDocsHeader), "Hello, World?"), kNow);
  EXPECT_EQ(r.check, SignatureCheck::kMismatch);
  EXPECT_NE(r.detail.find("X-Hub-Signature-256"), std::string::npos) << r.detail;
  ExpectDetailHidesMac(r, base::Hmac(base::HmacDigest::kSha256, kGithubDocsSecret,
                                     {std::string_view("Hello, World?")}));
}

TEST(GithubSignatureTest, WrongKeyIsAMismatch) {
  auto p = Policy(SignatureScheme::kGithub, {"It's a Secret to Nobody"});
  SignatureResult r = VerifySignature(p, GithubRequest(std::string(kGithubDocsHeader)), kNow);
  EXPECT_EQ(r.check, SignatureCheck::kMismatch);
  ExpectDetailHidesMac(
      r, base::Hmac(base::HmacDigest::kSha256, "It's a Secret to Nobody", {kGithubDocsBody}));
}

TEST(GithubSignatureTest, AnyOfSeveralKeysVerifies) {
  auto p = Policy(SignatureScheme::kGithub, {"old-secret", std::string(kGithubDocsSecret)});
  EXPECT_TRUE(VerifySignature(p, GithubRequest(std::string(kGithubDocsHeader)), kNow).ok());
  auto reversed = Policy(SignatureScheme::kGithub, {std::string(kGithubDocsSecret), "new"});
  EXPECT_TRUE(VerifySignature(reversed, GithubRequest(std::string(kGithubDocsHeader)), kNow).ok());
}

TEST(GithubSignatureTest, NoKeysVerifyNothing) {
  auto p = Policy(SignatureScheme::kGithub, {});
  EXPECT_EQ(VerifySignature(p, GithubRequest(std::string(kGithubDocsHeader)), kNow).check,
            SignatureCheck::kMismatch);
}

TEST(GithubSignatureTest, MissingHeader) {
  auto p = Policy(SignatureScheme::kGithub, {std::string(kGithubDocsSecret)});
  // GitHub's older SHA-1 header alone is not enough.
  SignatureResult r = VerifySignature(
      p, Request({{"x-hub-signature", "sha1=0123"}}, std::string(kGithubDocsBody)), kNow);
  EXPECT_EQ(r.check, SignatureCheck::kMissingHeader);
  EXPECT_EQ(r.detail, "X-Hub-Signature-256 header is missing");
  EXPECT_EQ(VerifySignature(p, GithubRequest(""), kNow).check, SignatureCheck::kMissingHeader);
}

TEST(GithubSignatureTest, MalformedHeaders) {
  auto p = Policy(SignatureScheme::kGithub, {std::string(kGithubDocsSecret)});
  std::string hex(kGithubDocsHeader.substr(7));
  for (const std::string& value : std::initializer_list<std::string>{
           hex,                            // no prefix
           "sha1=" + hex,                  // other digest
           "SHA256=" + hex,                // octokit compares exactly
           "sha256=" + hex.substr(0, 63),  // short
           "sha256=" + hex + "0",          // long
           "sha256=" + hex.substr(0, 62) + "zz",
           // octokit's verify compares the hex text with the lower-case hex it
           // computes, so GitHub's own library refuses upper case: so do we.
           "sha256=" + Upper(hex)}) {
    SignatureResult r = VerifySignature(p, GithubRequest(value), kNow);
    EXPECT_EQ(r.check, SignatureCheck::kMalformedHeader) << value;
    EXPECT_NE(r.detail.find("X-Hub-Signature-256"), std::string::npos);
  }
}

TEST(GithubSignatureTest, SurroundingWhitespaceIsNotPartOfTheValue) {
  auto p = Policy(SignatureScheme::kGithub, {std::string(kGithubDocsSecret)});
  EXPECT_TRUE(
      VerifySignature(p, GithubRequest(" " + std::string(kGithubDocsHeader) + "\t"), kNow).ok());
}

TEST(SignatureSchemeTest, TheGenericAlgorithmDoesNotChangeAProvidersDigest) {
  // Found by the signature fuzz target: `algorithm` is the generic scheme's alone, yet it once
  // chose the digest of every scheme, so a github source with "algorithm" set (or a policy
  // built with another default) computed HMAC-SHA1 and refused every GitHub delivery.
  for (base::HmacDigest digest : {base::HmacDigest::kSha1, base::HmacDigest::kSha512}) {
    SignaturePolicy github = Policy(SignatureScheme::kGithub, {std::string(kGithubDocsSecret)});
    github.algorithm = digest;
    EXPECT_TRUE(VerifySignature(github, GithubRequest(std::string(kGithubDocsHeader)), kNow).ok());
  }
}

// --- stripe -----------------------------------------------------------------------------------

constexpr std::string_view kStripeSecret = "whsec_test_secret";
constexpr std::string_view kStripeBody = R"({"id":"evt_1","object":"event"})";
// `printf '%s' '1700000000.{"id":"evt_1","object":"event"}' |
//  openssl dgst -sha256 -hmac whsec_test_secret`: computed outside our code.
constexpr std::string_view kStripeSignature =
    "0c8670ed117751cc551a20e35839447075c42800ea3cf3e8a2fbda99cd1e6edd";

std::string StripeSign(std::string_view key, int64_t t, std::string_view body) {
  std::string ts = std::to_string(t);
  return HexMac(key, {ts, ".", body});
}

ApiRequest StripeRequest(std::string value, std::string body = std::string(kStripeBody)) {
  return Request({{"stripe-signature", std::move(value)}}, std::move(body));
}

// Overloads, not a default argument: GCC 12 evaluated one braced default argument of a
// std::vector in place of another's (SwPolicy() got StripePolicy()'s key).
SignaturePolicy StripePolicy(std::vector<std::string> keys) {
  return Policy(SignatureScheme::kStripe, std::move(keys));
}
SignaturePolicy StripePolicy() { return StripePolicy({std::string(kStripeSecret)}); }

TEST(StripeSignatureTest, AcceptsAnOpensslComputedSignature) {
  std::string header = "t=1700000000,v1=" + std::string(kStripeSignature);
  SignatureResult r = VerifySignature(StripePolicy(), StripeRequest(header), kNow);
  EXPECT_TRUE(r.ok()) << r.detail;
  EXPECT_EQ(StripeSign(kStripeSecret, kNow, kStripeBody), kStripeSignature);
}

TEST(StripeSignatureTest, AnyV1EntryVerifiesAndOtherSchemesAreIgnored) {
  // Stripe sends one v1 per active secret while an endpoint's secret is being rolled, and a v0
  // test-mode signature; only v1 counts.
  std::string header = "t=1700000000,v1=" + std::string(64, 'a') +
                       ",v0=" + std::string(kStripeSignature) +
                       ",v1=" + std::string(kStripeSignature);
  EXPECT_TRUE(VerifySignature(StripePolicy(), StripeRequest(header), kNow).ok());
  std::string v0_only = "t=1700000000,v0=" + std::string(kStripeSignature);
  EXPECT_EQ(VerifySignature(StripePolicy(), StripeRequest(v0_only), kNow).check,
            SignatureCheck::kMalformedHeader);
}

TEST(StripeSignatureTest, TamperedBodyAndWrongKeyAreMismatches) {
  std::string header = "t=1700000000,v1=" + std::string(kStripeSignature);
  SignatureResult tampered = VerifySignature(
      StripePolicy(), StripeRequest(header, R"({"id":"evt_2","object":"event"})"), kNow);
  EXPECT_EQ(tampered.check, SignatureCheck::kMismatch);
  EXPECT_NE(tampered.detail.find("Stripe-Signature"), std::string::npos);
  ExpectDetailHidesMac(tampered, base::Hmac(base::HmacDigest::kSha256, kStripeSecret,
                                            {"1700000000.", R"({"id":"evt_2","object":"event"})"}));

  SignatureResult wrong_key =
      VerifySignature(StripePolicy({"whsec_other"}), StripeRequest(header), kNow);
  EXPECT_EQ(wrong_key.check, SignatureCheck::kMismatch);
  ExpectDetailHidesMac(wrong_key, base::Hmac(base::HmacDigest::kSha256, "whsec_other",
                                             {"1700000000.", kStripeBody}));

  // The timestamp is signed: moving it breaks the signature.
  std::string moved = "t=1700000001,v1=" + std::string(kStripeSignature);
  EXPECT_EQ(VerifySignature(StripePolicy(), StripeRequest(moved), kNow).check,
            SignatureCheck::kMismatch);
}

TEST(StripeSignatureTest, RotatedKeyVerifies) {
  std::string header = "t=1700000000,v1=" + StripeSign("whsec_new", kNow, kStripeBody);
  EXPECT_TRUE(
      VerifySignature(StripePolicy({"whsec_old", "whsec_new"}), StripeRequest(header), kNow).ok());
  EXPECT_EQ(VerifySignature(StripePolicy({"whsec_old"}), StripeRequest(header), kNow).check,
            SignatureCheck::kMismatch);
}

TEST(StripeSignatureTest, MissingAndMalformedHeaders) {
  SignatureResult missing =
      VerifySignature(StripePolicy(), Request({}, std::string(kStripeBody)), kNow);
  EXPECT_EQ(missing.check, SignatureCheck::kMissingHeader);
  EXPECT_EQ(missing.detail, "Stripe-Signature header is missing");

  std::string sig(kStripeSignature);
  for (const std::string& value : std::initializer_list<std::string>{
           "v1=" + sig,                         // no t
           "t=abc,v1=" + sig,                   // t not a number
           "t=-1700000000,v1=" + sig,           // nor signed
           "t=1700000000",                      // no v1
           "t=1700000000,v1=" + sig.substr(1),  // 63 digits
           "t=1700000000,v1=" + Upper(sig),     // stripe-node compares text
           "garbage", ",,,", "t=1700000000,v1"}) {
    SignatureResult r = VerifySignature(StripePolicy(), StripeRequest(value), kNow);
    EXPECT_EQ(r.check, SignatureCheck::kMalformedHeader) << value;
    EXPECT_NE(r.detail.find("Stripe-Signature"), std::string::npos) << r.detail;
  }
}

TEST(StripeSignatureTest, TimestampToleranceBothWays) {
  auto signed_at = [](int64_t t) {
    return StripeRequest("t=" + std::to_string(t) +
                         ",v1=" + StripeSign(kStripeSecret, t, kStripeBody));
  };
  SignaturePolicy p = StripePolicy();
  p.tolerance_s = 300;
  EXPECT_TRUE(VerifySignature(p, signed_at(kNow - 300), kNow).ok());
  EXPECT_TRUE(VerifySignature(p, signed_at(kNow + 300), kNow).ok());

  SignatureResult stale = VerifySignature(p, signed_at(kNow - 301), kNow);
  EXPECT_EQ(stale.check, SignatureCheck::kTimestampOutsideTolerance);
  EXPECT_EQ(stale.detail, "Stripe-Signature timestamp is outside the 300 s tolerance (too old)");
  SignatureResult future = VerifySignature(p, signed_at(kNow + 301), kNow);
  EXPECT_EQ(future.check, SignatureCheck::kTimestampOutsideTolerance);
  EXPECT_EQ(future.detail,
            "Stripe-Signature timestamp is outside the 300 s tolerance (in the future)");

  p.tolerance_s = 10;
  EXPECT_EQ(VerifySignature(p, signed_at(kNow - 11), kNow).check,
            SignatureCheck::kTimestampOutsideTolerance);
}

TEST(StripeSignatureTest, AStaleForgeryIsAMismatchNotATimestampFailure) {
  // The signature is checked first (as Stripe's libraries do), so "signature-timestamp" in the
  // request log always means an authentic request that arrived late or was replayed.
  std::string forged = "t=1600000000,v1=" + std::string(64, '0');
  EXPECT_EQ(VerifySignature(StripePolicy(), StripeRequest(forged), kNow).check,
            SignatureCheck::kMismatch);
}

TEST(StripeSignatureTest, OnlyTheFirstSixteenSignaturesAreRead) {
  std::string header = "t=1700000000";
  for (size_t i = 0; i < kMaxSignaturesPerHeader; ++i) header += ",v1=" + std::string(64, 'b');
  std::string good = ",v1=" + std::string(kStripeSignature);
  EXPECT_EQ(VerifySignature(StripePolicy(), StripeRequest(header + good), kNow).check,
            SignatureCheck::kMismatch);
  std::string fifteen = "t=1700000000";
  for (size_t i = 0; i + 1 < kMaxSignaturesPerHeader; ++i) {
    fifteen += ",v1=" + std::string(64, 'b');
  }
  EXPECT_TRUE(VerifySignature(StripePolicy(), StripeRequest(fifteen + good), kNow).ok());
}

TEST(StripeHeaderParserTest, ReadsTimestampAndV1Signatures) {
  std::string sig(kStripeSignature);
  auto h = ParseStripeSignatureHeader("t=1700000000,v1=" + sig + ",v0=" + sig +
                                      ",v1=" + std::string(64, 'f'));
  ASSERT_TRUE(h.has_value());
  EXPECT_EQ(h->timestamp, 1700000000);
  ASSERT_EQ(h->v1.size(), 2u);
  EXPECT_EQ(base::HexEncode(h->v1[0]), sig);
  EXPECT_EQ(h->v1[1], std::string(32, '\xff'));
}

TEST(StripeHeaderParserTest, RefusesHeadersWithoutTimestampOrV1) {
  std::string sig(kStripeSignature);
  EXPECT_FALSE(ParseStripeSignatureHeader("").has_value());
  EXPECT_FALSE(ParseStripeSignatureHeader("v1=" + sig).has_value());
  EXPECT_FALSE(ParseStripeSignatureHeader("t=,v1=" + sig).has_value());
  EXPECT_FALSE(ParseStripeSignatureHeader("t=12x,v1=" + sig).has_value());
  EXPECT_FALSE(ParseStripeSignatureHeader("t=1234567890123456789,v1=" + sig).has_value());
  EXPECT_FALSE(ParseStripeSignatureHeader("t=1700000000,v0=" + sig).has_value());
  EXPECT_FALSE(ParseStripeSignatureHeader("t=1700000000").has_value());
}

TEST(StripeHeaderParserTest, DropsV1EntriesThatAreNotSixtyFourHexDigits) {
  auto h = ParseStripeSignatureHeader("t=1,v1=abc,v1=" + std::string(64, 'G') +
                                      ",v1=" + std::string(kStripeSignature) + "=");
  ASSERT_TRUE(h.has_value());
  EXPECT_EQ(h->timestamp, 1);
  EXPECT_TRUE(h->v1.empty());
}

TEST(StripeHeaderParserTest, KeepsAtMostSixteenSignatures) {
  std::string header = "t=5";
  for (int i = 0; i < 1000; ++i) header += ",v1=" + std::string(64, 'c');
  auto h = ParseStripeSignatureHeader(header);
  ASSERT_TRUE(h.has_value());
  EXPECT_EQ(h->v1.size(), kMaxSignaturesPerHeader);
}

TEST(StripeHeaderParserTest, ToleratesSpacesAroundEntries) {
  auto h = ParseStripeSignatureHeader(" t=7 , v1=" + std::string(kStripeSignature) + " ");
  ASSERT_TRUE(h.has_value());
  EXPECT_EQ(h->timestamp, 7);
  EXPECT_EQ(h->v1.size(), 1u);
}

// --- shopify ----------------------------------------------------------------------------------

// Shopify's own library's test: https://github.com/Shopify/shopify-api-php,
// tests/Webhooks/RegistryTest.php ($processHeaders, $processBody = {"foo":"bar"} as
// json_encode writes it) with the API secret key "steffi" of tests/BaseTestCase.php.
constexpr std::string_view kShopifySecret = "steffi";
constexpr std::string_view kShopifyBody = R"({"foo":"bar"})";
constexpr std::string_view kShopifyHmac = "/Redz4YXHLnSmmSN8grr5/Jl/Ua3d7yX3iWbjb8R8wo=";

ApiRequest ShopifyRequest(std::string value, std::string body = std::string(kShopifyBody)) {
  return Request({{"x-shopify-hmac-sha256", std::move(value)}}, std::move(body));
}

TEST(ShopifySignatureTest, AcceptsShopifysLibraryExample) {
  auto p = Policy(SignatureScheme::kShopify, {std::string(kShopifySecret)});
  SignatureResult r = VerifySignature(p, ShopifyRequest(std::string(kShopifyHmac)), kNow);
  EXPECT_TRUE(r.ok()) << r.detail;
}

TEST(ShopifySignatureTest, TamperedWrongKeyAndRotated) {
  auto p = Policy(SignatureScheme::kShopify, {std::string(kShopifySecret)});
  SignatureResult tampered =
      VerifySignature(p, ShopifyRequest(std::string(kShopifyHmac), R"({"foo":"baz"})"), kNow);
  EXPECT_EQ(tampered.check, SignatureCheck::kMismatch);
  EXPECT_NE(tampered.detail.find("X-Shopify-Hmac-Sha256"), std::string::npos);
  ExpectDetailHidesMac(tampered, base::Hmac(base::HmacDigest::kSha256, kShopifySecret,
                                            {std::string_view(R"({"foo":"baz"})")}));

  auto wrong = Policy(SignatureScheme::kShopify, {"kitty"});
  EXPECT_EQ(VerifySignature(wrong, ShopifyRequest(std::string(kShopifyHmac)), kNow).check,
            SignatureCheck::kMismatch);
  auto rotated = Policy(SignatureScheme::kShopify, {"kitty", std::string(kShopifySecret)});
  EXPECT_TRUE(VerifySignature(rotated, ShopifyRequest(std::string(kShopifyHmac)), kNow).ok());
}

TEST(ShopifySignatureTest, MissingAndMalformed) {
  auto p = Policy(SignatureScheme::kShopify, {std::string(kShopifySecret)});
  EXPECT_EQ(VerifySignature(p, Request({}, std::string(kShopifyBody)), kNow).check,
            SignatureCheck::kMissingHeader);
  std::string hex = base::HexEncode(*base::Base64Decode(kShopifyHmac));
  for (const std::string& value :
       std::initializer_list<std::string>{hex,  // hex, not base64
                                          std::string(kShopifyHmac.substr(0, 43)),  // unpadded
                                          std::string(kShopifyHmac) + "AAAA",       // too long
                                          "whoops_this_is_wrong", "===="}) {
    SignatureResult r = VerifySignature(p, ShopifyRequest(value), kNow);
    EXPECT_EQ(r.check, SignatureCheck::kMalformedHeader) << value;
  }
}

// --- standard-webhooks ------------------------------------------------------------------------

// The Standard Webhooks reference library's test "sign function works":
// https://github.com/standard-webhooks/standard-webhooks,
// libraries/javascript/src/webhook.test.ts (the same values appear in every library's tests).
constexpr std::string_view kSwSecretBase64 = "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";  // after whsec_
constexpr std::string_view kSwId = "msg_p5jXN8AQM9LWM0D4loKWxJek";
constexpr int64_t kSwTimestamp = 1614265330;
constexpr std::string_view kSwBody = R"({"test": 2432232314})";
constexpr std::string_view kSwSignature = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

std::string SwKey() { return *base::Base64Decode(kSwSecretBase64); }

ApiRequest SwRequest(std::string signature, int64_t timestamp = kSwTimestamp,
                     std::string body = std::string(kSwBody), std::string id = std::string(kSwId)) {
  return Request({{"webhook-id", std::move(id)},
                  {"webhook-timestamp", std::to_string(timestamp)},
                  {"webhook-signature", std::move(signature)}},
                 std::move(body));
}

std::string SwSign(std::string_view key, std::string_view id, int64_t t, std::string_view body) {
  std::string ts = std::to_string(t);
  return "v1," + Base64Mac(key, {id, ".", ts, ".", body});
}

SignaturePolicy SwPolicy(std::vector<std::string> keys) {
  return Policy(SignatureScheme::kStandardWebhooks, std::move(keys));
}
SignaturePolicy SwPolicy() { return SwPolicy({SwKey()}); }

TEST(StandardWebhooksSignatureTest, AcceptsTheReferenceVector) {
  SignatureResult r =
      VerifySignature(SwPolicy(), SwRequest(std::string(kSwSignature)), kSwTimestamp);
  EXPECT_TRUE(r.ok()) << r.detail;
}

TEST(StandardWebhooksSignatureTest, AcceptsAListWithOtherVersionsAndStaleEntries) {
  // The shape of the reference tests' "multi sig payload is valid".
  std::string list =
      "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc= "
      "v2,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc= " +
      std::string(kSwSignature) + " v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc=";
  EXPECT_TRUE(VerifySignature(SwPolicy(), SwRequest(list), kSwTimestamp).ok());
  // A v2 entry carrying the right MAC is not a v1 signature.
  std::string v2 = "v2," + std::string(kSwSignature.substr(3));
  EXPECT_EQ(VerifySignature(SwPolicy(), SwRequest(v2), kSwTimestamp).check,
            SignatureCheck::kMalformedHeader);
}

TEST(StandardWebhooksSignatureTest, TamperedIdBodyTimestampAndWrongKey) {
  std::string sig(kSwSignature);
  SignatureResult body = VerifySignature(
      SwPolicy(), SwRequest(sig, kSwTimestamp, R"({"test": 2432232315})"), kSwTimestamp);
  EXPECT_EQ(body.check, SignatureCheck::kMismatch);
  EXPECT_NE(body.detail.find("webhook-signature"), std::string::npos);
  ExpectDetailHidesMac(
      body, *base::Base64Decode(
                SwSign(SwKey(), kSwId, kSwTimestamp, R"({"test": 2432232315})").substr(3)));
  EXPECT_EQ(
      VerifySignature(SwPolicy(), SwRequest(sig, kSwTimestamp, std::string(kSwBody), "msg_other"),
                      kSwTimestamp)
          .check,
      SignatureCheck::kMismatch);
  EXPECT_EQ(VerifySignature(SwPolicy(), SwRequest(sig, kSwTimestamp + 1), kSwTimestamp).check,
            SignatureCheck::kMismatch);
  std::string other_key(32, 'k');
  EXPECT_EQ(VerifySignature(SwPolicy({other_key}), SwRequest(sig), kSwTimestamp).check,
            SignatureCheck::kMismatch);
}

TEST(StandardWebhooksSignatureTest, RotatedKeyVerifies) {
  std::string new_key(24, 'n');
  std::string sig = SwSign(new_key, kSwId, kNow, kSwBody);
  EXPECT_TRUE(VerifySignature(SwPolicy({SwKey(), new_key}), SwRequest(sig, kNow), kNow).ok());
}

TEST(StandardWebhooksSignatureTest, EachMissingHeaderIsNamed) {
  for (std::string_view name : {"webhook-id", "webhook-timestamp", "webhook-signature"}) {
    ApiRequest r = SwRequest(std::string(kSwSignature));
    std::erase_if(r.headers, [&](const auto& h) { return h.first == name; });
    SignatureResult result = VerifySignature(SwPolicy(), r, kSwTimestamp);
    EXPECT_EQ(result.check, SignatureCheck::kMissingHeader) << name;
    EXPECT_EQ(result.detail, std::string(name) + " header is missing");
  }
}

TEST(StandardWebhooksSignatureTest, MalformedHeaders) {
  ApiRequest bad_time = SwRequest(std::string(kSwSignature));
  bad_time.headers[1].second = "hello";  // the reference tests' "invalid timestamp"
  SignatureResult r = VerifySignature(SwPolicy(), bad_time, kSwTimestamp);
  EXPECT_EQ(r.check, SignatureCheck::kMalformedHeader);
  EXPECT_EQ(r.detail, "webhook-timestamp is not a decimal Unix time");

  // The reference tests' "invalid signature" and "partial signature", and ours.
  for (const std::string& value : std::initializer_list<std::string>{
           "v1,dawfeoifkpqwoekfpqoekf", std::string(kSwSignature.substr(0, 8)), "v1,",
           "g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
           "v1 g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="}) {
    SignatureResult m = VerifySignature(SwPolicy(), SwRequest(value), kSwTimestamp);
    EXPECT_EQ(m.check, SignatureCheck::kMalformedHeader) << value;
    EXPECT_NE(m.detail.find("webhook-signature"), std::string::npos);
  }
}

TEST(StandardWebhooksSignatureTest, TheTimestampIsSignedAsItsNumber) {
  // The reference libraries parse webhook-timestamp and sign the number re-printed: a sender
  // that pads it with zeros signs "<id>.1614265330.<body>" all the same.
  ApiRequest padded = SwRequest(std::string(kSwSignature));
  padded.headers[1].second = "0001614265330";
  EXPECT_TRUE(VerifySignature(SwPolicy(), padded, kSwTimestamp).ok());
  padded.headers[1].second = "+1614265330";
  EXPECT_EQ(VerifySignature(SwPolicy(), padded, kSwTimestamp).check,
            SignatureCheck::kMalformedHeader);
}

TEST(StandardWebhooksSignatureTest, TimestampToleranceBothWays) {
  SignaturePolicy p = SwPolicy();
  auto at = [](int64_t t) { return SwRequest(SwSign(SwKey(), kSwId, t, kSwBody), t); };
  EXPECT_TRUE(VerifySignature(p, at(kNow - 300), kNow).ok());
  EXPECT_TRUE(VerifySignature(p, at(kNow + 300), kNow).ok());
  SignatureResult old = VerifySignature(p, at(kNow - 301), kNow);
  EXPECT_EQ(old.check, SignatureCheck::kTimestampOutsideTolerance);
  EXPECT_EQ(old.detail, "webhook-timestamp is outside the 300 s tolerance (too old)");
  EXPECT_EQ(VerifySignature(p, at(kNow + 301), kNow).check,
            SignatureCheck::kTimestampOutsideTolerance);
  // The reference vector itself, five years on, is stale.
  EXPECT_EQ(VerifySignature(p, SwRequest(std::string(kSwSignature)), kNow).check,
            SignatureCheck::kTimestampOutsideTolerance);
}

TEST(StandardWebhooksParserTest, ReadsV1EntriesOnly) {
  auto sigs = ParseStandardWebhooksSignatures(
      "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=  v1a,AAAA v2,AAAA v1,!!!! v1,Zg==");
  ASSERT_EQ(sigs.size(), 2u);
  EXPECT_EQ(base::Base64Encode(sigs[0]), "g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
  EXPECT_EQ(sigs[1], "f");
  EXPECT_TRUE(ParseStandardWebhooksSignatures("").empty());
  EXPECT_TRUE(ParseStandardWebhooksSignatures("v1, v1,Zg v1,Zg=").empty());
}

TEST(StandardWebhooksParserTest, KeepsAtMostSixteen) {
  std::string list;
  for (int i = 0; i < 1000; ++i) list += "v1,Zm9v ";
  EXPECT_EQ(ParseStandardWebhooksSignatures(list).size(), kMaxSignaturesPerHeader);
}

TEST(StandardWebhooksSignatureTest, OnlyTheFirstSixteenSignaturesAreRead) {
  std::string list;
  for (size_t i = 0; i < kMaxSignaturesPerHeader; ++i) {
    list += "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc= ";
  }
  EXPECT_EQ(
      VerifySignature(SwPolicy(), SwRequest(list + std::string(kSwSignature)), kSwTimestamp).check,
      SignatureCheck::kMismatch);
}

// --- hmac (generic) ---------------------------------------------------------------------------

// RFC 4231 section 4.3 (test case 2): key "Jefe", data "what do ya want for nothing?".
constexpr std::string_view kRfcKey = "Jefe";
constexpr std::string_view kRfcData = "what do ya want for nothing?";
constexpr std::string_view kRfc4231Case2Sha256 =
    "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843";
constexpr std::string_view kRfc4231Case2Sha512 =
    "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea250554"
    "9758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737";
// RFC 2202 section 3 (HMAC-SHA-1, test case 2): the same key and data.
constexpr std::string_view kRfc2202Case2Sha1 = "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79";

SignaturePolicy HmacPolicy(base::HmacDigest digest, SignatureEncoding encoding, std::string prefix,
                           std::vector<std::string> keys) {
  SignaturePolicy p = Policy(SignatureScheme::kHmac, std::move(keys));
  p.header = "x-signature";
  p.algorithm = digest;
  p.encoding = encoding;
  p.prefix = std::move(prefix);
  return p;
}
SignaturePolicy HmacPolicy(base::HmacDigest digest, SignatureEncoding encoding,
                           std::string prefix = "") {
  return HmacPolicy(digest, encoding, std::move(prefix), {std::string(kRfcKey)});
}

ApiRequest HmacRequest(std::string value, std::string body = std::string(kRfcData)) {
  return Request({{"x-signature", std::move(value)}}, std::move(body));
}

TEST(HmacSignatureTest, RfcVectorsInHex) {
  EXPECT_TRUE(VerifySignature(HmacPolicy(base::HmacDigest::kSha256, SignatureEncoding::kHex),
                              HmacRequest(std::string(kRfc4231Case2Sha256)), kNow)
                  .ok());
  EXPECT_TRUE(VerifySignature(HmacPolicy(base::HmacDigest::kSha512, SignatureEncoding::kHex),
                              HmacRequest(std::string(kRfc4231Case2Sha512)), kNow)
                  .ok());
  EXPECT_TRUE(VerifySignature(HmacPolicy(base::HmacDigest::kSha1, SignatureEncoding::kHex),
                              HmacRequest(std::string(kRfc2202Case2Sha1)), kNow)
                  .ok());
}

TEST(HmacSignatureTest, RfcVectorWithABinaryKeyLongerThanABlock) {
  // RFC 4231 section 4.7 (test case 6): 131 bytes of 0xaa, hashed before use.
  SignaturePolicy p = HmacPolicy(base::HmacDigest::kSha256, SignatureEncoding::kHex, "",
                                 {std::string(131, '\xaa')});
  EXPECT_TRUE(VerifySignature(
                  p,
                  HmacRequest("60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
                              "Test Using Larger Than Block-Size Key - Hash Key First"),
                  kNow)
                  .ok());
}

TEST(HmacSignatureTest, HexInEitherCaseAndBase64WithPrefix) {
  EXPECT_TRUE(VerifySignature(HmacPolicy(base::HmacDigest::kSha256, SignatureEncoding::kHex),
                              HmacRequest(Upper(std::string(kRfc4231Case2Sha256))), kNow)
                  .ok());
  std::string b64 = base::Base64Encode(*base::Base64Decode(
      "W9zBRr9gdU5qBCQmCJV1x1oAPwidJzmDnexYuWTsOEM="));  // the same MAC, `openssl ... | base64`
  EXPECT_TRUE(
      VerifySignature(HmacPolicy(base::HmacDigest::kSha256, SignatureEncoding::kBase64, "sha256="),
                      HmacRequest("sha256=" + b64), kNow)
          .ok());
  EXPECT_EQ(
      VerifySignature(HmacPolicy(base::HmacDigest::kSha256, SignatureEncoding::kBase64, "sha256="),
                      HmacRequest(b64), kNow)
          .check,
      SignatureCheck::kMalformedHeader);
}

TEST(HmacSignatureTest, TamperedWrongKeyRotatedMissingMalformed) {
  auto p = HmacPolicy(base::HmacDigest::kSha256, SignatureEncoding::kHex);
  std::string sig(kRfc4231Case2Sha256);
  SignatureResult tampered =
      VerifySignature(p, HmacRequest(sig, "what do ya want for something?"), kNow);
  EXPECT_EQ(tampered.check, SignatureCheck::kMismatch);
  EXPECT_NE(tampered.detail.find("x-signature"), std::string::npos);
  ExpectDetailHidesMac(tampered, base::Hmac(base::HmacDigest::kSha256, kRfcKey,
                                            {std::string_view("what do ya want for something?")}));

  auto wrong = HmacPolicy(base::HmacDigest::kSha256, SignatureEncoding::kHex, "", {"Jeff"});
  EXPECT_EQ(VerifySignature(wrong, HmacRequest(sig), kNow).check, SignatureCheck::kMismatch);
  auto rotated =
      HmacPolicy(base::HmacDigest::kSha256, SignatureEncoding::kHex, "", {"Jeff", "Jefe"});
  EXPECT_TRUE(VerifySignature(rotated, HmacRequest(sig), kNow).ok());

  SignatureResult missing = VerifySignature(p, Request({}, std::string(kRfcData)), kNow);
  EXPECT_EQ(missing.check, SignatureCheck::kMissingHeader);
  EXPECT_EQ(missing.detail, "x-signature header is missing");

  // A SHA-1 MAC where SHA-256 is configured, and text that is not hex.
  EXPECT_EQ(VerifySignature(p, HmacRequest(std::string(kRfc2202Case2Sha1)), kNow).check,
            SignatureCheck::kMalformedHeader);
  EXPECT_EQ(VerifySignature(p, HmacRequest(std::string(64, 'x')), kNow).check,
            SignatureCheck::kMalformedHeader);
}

}  // namespace
}  // namespace hookvault::api
