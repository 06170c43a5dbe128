#include "server/delivery/webhook_signature.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/provider.h>

#include <string>

namespace hookvault::server {
namespace {

// The Standard Webhooks reference test vector, as asserted by the spec's own JavaScript
// library: standard-webhooks/standard-webhooks, libraries/javascript/src/webhook.test.ts
// ("sign function works"). Svix's libraries assert the same value.
constexpr std::string_view kSpecSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
constexpr std::string_view kSpecMsgId = "msg_p5jXN8AQM9LWM0D4loKWxJek";
constexpr int64_t kSpecTimestamp = 1614265330;
constexpr std::string_view kSpecPayload = R"({"test": 2432232314})";
constexpr std::string_view kSpecSignature = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

// An independent HMAC-SHA256 (OpenSSL's EVP_MAC API rather than HMAC()) over exactly
// `content`, base64 via EVP_EncodeBlock, to check what SignWebhook feeds the MAC.
std::string ExpectedSignature(std::string_view key, std::string_view content) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  size_t mac_len = 0;
  EVP_Q_mac(nullptr, "HMAC", nullptr, "SHA256", nullptr, key.data(), key.size(),
            reinterpret_cast<const unsigned char*>(content.data()), content.size(), mac,
            sizeof(mac), &mac_len);
  unsigned char b64[128];
  int n = EVP_EncodeBlock(b64, mac, static_cast<int>(mac_len));
  return "v1," + std::string(reinterpret_cast<char*>(b64), n);
}

// SignWebhook's value, or a text no signature can equal.
std::string Sign(std::string_view key, std::string_view msg_id, int64_t timestamp,
                 std::string_view body) {
  storage::StatusOr<std::string> signature = SignWebhook(key, msg_id, timestamp, body);
  return signature.ok() ? *signature : "<error: " + signature.status().ToString() + ">";
}

TEST(SignatureTest, MatchesStandardWebhooksTestVector) {
  storage::StatusOr<std::string> key = DecodeSigningSecret(kSpecSecret);
  ASSERT_TRUE(key.ok()) << key.status().ToString();
  EXPECT_EQ(key->size(), 24u);  // 32 base64 characters, no padding
  EXPECT_EQ(Sign(*key, kSpecMsgId, kSpecTimestamp, kSpecPayload), kSpecSignature);
}

TEST(SignatureTest, EveryInputChangesTheSignature) {
  std::string key = *DecodeSigningSecret(kSpecSecret);
  EXPECT_NE(Sign(key, "msg_other", kSpecTimestamp, kSpecPayload), kSpecSignature);
  EXPECT_NE(Sign(key, kSpecMsgId, kSpecTimestamp + 1, kSpecPayload), kSpecSignature);
  EXPECT_NE(Sign(key, kSpecMsgId, kSpecTimestamp, R"({"test": 2432232315})"),
            kSpecSignature);
  EXPECT_NE(Sign(key + "x", kSpecMsgId, kSpecTimestamp, kSpecPayload), kSpecSignature);
}

TEST(SignatureTest, SignsEveryBodyByteIncludingNul) {
  const std::string key = "raw-key";
  const std::string body("{\"a\":\"x\0y\"}\0tail", 16);
  ASSERT_EQ(body.size(), 16u);
  const std::string signature = Sign(key, "msg_1", 1700000000, body);
  EXPECT_EQ(signature, ExpectedSignature(key, "msg_1.1700000000." + body));
  // Stopping at the first NUL would sign this prefix instead.
  EXPECT_NE(signature, Sign(key, "msg_1", 1700000000, body.substr(0, body.find('\0'))));
  EXPECT_NE(signature, Sign(key, "msg_1", 1700000000, body.substr(0, 15)));
}

TEST(SignatureTest, SignsEmptyBodyAndNegativeTimestampAsDecimal) {
  EXPECT_EQ(Sign("k", "id", 0, ""), ExpectedSignature("k", "id.0."));
  EXPECT_EQ(Sign("k", "id", -5, "b"), ExpectedSignature("k", "id.-5.b"));
}

// With no provider of SHA-256 (here: this thread's default OpenSSL library context holds only
// the "null" provider) HMAC fails; the caller gets an error, never an empty signature to send.
TEST(SignatureTest, AFailedHmacIsAnErrorNotAnEmptySignature) {
  OSSL_LIB_CTX* empty = OSSL_LIB_CTX_new();
  ASSERT_NE(empty, nullptr);
  OSSL_PROVIDER* null_provider = OSSL_PROVIDER_load(empty, "null");
  ASSERT_NE(null_provider, nullptr);
  OSSL_LIB_CTX* previous = OSSL_LIB_CTX_set0_default(empty);
  storage::StatusOr<std::string> signature = SignWebhook("key", "msg_1", 1700000000, "{}");
  OSSL_LIB_CTX_set0_default(previous);
  OSSL_PROVIDER_unload(null_provider);
  OSSL_LIB_CTX_free(empty);
  ASSERT_FALSE(signature.ok()) << *signature;
  EXPECT_EQ(signature.status().code(), storage::StatusCode::kInternal);
  // And with the default context back, signing works again.
  EXPECT_TRUE(SignWebhook("key", "msg_1", 1700000000, "{}").ok());
}

TEST(SignatureTest, SecretWithoutPrefixIsUsedAsRawBytes) {
  storage::StatusOr<std::string> key = DecodeSigningSecret("correct-horse-battery");
  ASSERT_TRUE(key.ok()) << key.status().ToString();
  EXPECT_EQ(*key, "correct-horse-battery");
  // Not base64-decoded, even when it happens to be valid base64.
  EXPECT_EQ(*DecodeSigningSecret("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
            "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
}

TEST(SignatureTest, PrefixedSecretDecodesPadding) {
  EXPECT_EQ(*DecodeSigningSecret("whsec_Zg=="), "f");
  EXPECT_EQ(*DecodeSigningSecret("whsec_Zm8="), "fo");
  EXPECT_EQ(*DecodeSigningSecret("whsec_Zm9v"), "foo");
  EXPECT_EQ(*DecodeSigningSecret("whsec_AAA="), std::string(2, '\0'));
  EXPECT_EQ(*DecodeSigningSecret("whsec_+/+/"), "\xfb\xff\xbf");
}

TEST(SignatureTest, InvalidBase64SecretIsRefused) {
  for (std::string_view bad :
       {"whsec_", "whsec_Zg", "whsec_Zg=", "whsec_Z===", "whsec_====", "whsec_A=A=", "whsec_AB=A",
        "whsec_ Zg==", "whsec_Zg== ", "whsec_Zg==\n", "whsec_Zm9v!AAA", "whsec_Zm9-", "whsec_Zm9_",
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaS"}) {
    storage::StatusOr<std::string> key = DecodeSigningSecret(bad);
    EXPECT_FALSE(key.ok()) << "accepted: '" << bad << "'";
    if (!key.ok()) {
      EXPECT_EQ(key.status().code(), storage::StatusCode::kInvalidArgument) << bad;
    }
  }
}

TEST(SignatureTest, EmptySecretIsRefused) {
  storage::StatusOr<std::string> key = DecodeSigningSecret("");
  ASSERT_FALSE(key.ok());
  EXPECT_EQ(key.status().code(), storage::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace hookvault::server
