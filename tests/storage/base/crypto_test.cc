#include "storage/base/crypto.h"

#include <gtest/gtest.h>

#include <set>
#include <string>

namespace hookvault::base {
namespace {

bool IsLowerHex(const std::string& s) {
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

TEST(Sha256HexTest, EmptyInput) {
  EXPECT_EQ(Sha256Hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST(Sha256HexTest, Abc) {
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(Sha256HexTest, TwoBlockMessage) {
  EXPECT_EQ(Sha256Hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

TEST(Sha256HexTest, HashesEmbeddedNulBytes) {
  std::string_view with_nul("a\0b", 3);
  EXPECT_NE(Sha256Hex(with_nul), Sha256Hex("a"));
  EXPECT_NE(Sha256Hex(with_nul), Sha256Hex("ab"));
}

TEST(Sha256HexTest, IsLowerCaseHexOf64Chars) {
  std::string h = Sha256Hex("hookvault");
  EXPECT_EQ(h.size(), 64u);
  EXPECT_TRUE(IsLowerHex(h)) << h;
}

TEST(Sha256HexTest, PartsHashAsTheirConcatenation) {
  EXPECT_EQ(Sha256Hex({"ab", "c"}), Sha256Hex("abc"));
  EXPECT_EQ(Sha256Hex({"", "abc", ""}), Sha256Hex("abc"));
  // The audit chain relies on it: the previous hash and the row are hashed as one message.
  EXPECT_EQ(Sha256Hex({"abcdbcdecdefdefgefghfghighij", "hijkijkljklmklmnlmnomnopnopq"}),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

TEST(Sha256Test, IsTheRaw32ByteDigest) {
  std::string digest = Sha256({"abc"});
  ASSERT_EQ(digest.size(), 32u);
  EXPECT_EQ(static_cast<unsigned char>(digest[0]), 0xbau);
  EXPECT_EQ(static_cast<unsigned char>(digest[31]), 0xadu);
}

TEST(SecretsEqualTest, EqualSecrets) {
  EXPECT_TRUE(SecretsEqual("correct-horse-battery", "correct-horse-battery"));
}

TEST(SecretsEqualTest, DifferentSecretsOfSameLength) {
  EXPECT_FALSE(SecretsEqual("correct-horse-battery", "correct-horse-batterx"));
  EXPECT_FALSE(SecretsEqual("xorrect-horse-battery", "correct-horse-battery"));
}

TEST(SecretsEqualTest, DifferentLengths) {
  EXPECT_FALSE(SecretsEqual("secret", "secret2"));
  EXPECT_FALSE(SecretsEqual("secret2", "secret"));
  EXPECT_FALSE(SecretsEqual(std::string_view("secret\0", 7), "secret"));
}

TEST(SecretsEqualTest, Empty) {
  EXPECT_TRUE(SecretsEqual("", ""));
  EXPECT_FALSE(SecretsEqual("", "x"));
  EXPECT_FALSE(SecretsEqual("x", ""));
}

TEST(SecretsEqualTest, IsCaseSensitive) { EXPECT_FALSE(SecretsEqual("Token", "token")); }

TEST(RandomHexTest, HasTwoHexDigitsPerByte) {
  for (size_t n : {0, 1, 16, 32, 100}) {
    std::string h = RandomHex(n);
    EXPECT_EQ(h.size(), 2 * n);
    EXPECT_TRUE(IsLowerHex(h)) << h;
  }
}

TEST(RandomHexTest, TwoCallsDiffer) {
  std::set<std::string> seen;
  for (int i = 0; i < 100; ++i) seen.insert(RandomHex(16));
  EXPECT_EQ(seen.size(), 100u);
}

}  // namespace
}  // namespace hookvault::base
