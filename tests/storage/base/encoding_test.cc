#include "storage/base/encoding.h"

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <string_view>

namespace hookvault::base {
namespace {

TEST(HexEncodeTest, TwoLowerCaseDigitsPerByte) {
  EXPECT_EQ(HexEncode(""), "");
  EXPECT_EQ(HexEncode("abc"), "616263");
  EXPECT_EQ(HexEncode(std::string_view("\0\x0f\xf0\xff\x9a", 5)), "000ff0ff9a");
}

TEST(Base64EncodeTest, Rfc4648Vectors) {
  EXPECT_EQ(Base64Encode(""), "");
  EXPECT_EQ(Base64Encode("f"), "Zg==");
  EXPECT_EQ(Base64Encode("fo"), "Zm8=");
  EXPECT_EQ(Base64Encode("foo"), "Zm9v");
  EXPECT_EQ(Base64Encode("foob"), "Zm9vYg==");
  EXPECT_EQ(Base64Encode("fooba"), "Zm9vYmE=");
  EXPECT_EQ(Base64Encode("foobar"), "Zm9vYmFy");
  EXPECT_EQ(Base64Encode(std::string_view("\0\xff", 2)), "AP8=");
}

TEST(Base64EncodeTest, AcrossChunks) {
  // Larger than the 3 MiB chunk Base64Encode hands to OpenSSL at a time, and not a multiple
  // of it, so the join between chunks and the padded tail are both exercised.
  std::string big(3 * (1 << 20) + 4, '\0');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i * 131 + 7);
  const std::string encoded = Base64Encode(big);
  ASSERT_EQ(encoded.size(), (big.size() + 2) / 3 * 4);
  std::optional<std::string> round_trip = Base64Decode(encoded);
  ASSERT_TRUE(round_trip.has_value());
  EXPECT_EQ(*round_trip, big);
}

TEST(Base64DecodeTest, DecodesPaddedBase64) {
  EXPECT_EQ(Base64Decode(""), "");
  EXPECT_EQ(Base64Decode("Zg=="), "f");
  EXPECT_EQ(Base64Decode("Zm8="), "fo");
  EXPECT_EQ(Base64Decode("Zm9v"), "foo");
  EXPECT_EQ(Base64Decode("Zm9vYmFy"), "foobar");
  EXPECT_EQ(Base64Decode("AAA="), std::string(2, '\0'));
  EXPECT_EQ(Base64Decode("+/+/"), "\xfb\xff\xbf");
}

TEST(Base64DecodeTest, RefusesWhatOpenSslWouldForgive) {
  for (std::string_view bad :
       {"Zg", "Zg=", "Z===", "====", "A=A=", "AB=A", " Zg==", "Zg== ", "Zg==\n", "Zm9v!AAA", "Zm9-",
        "Zm9_", "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaS", "Zm\n9v", "Zm9v===="}) {
    EXPECT_EQ(Base64Decode(bad), std::nullopt) << "accepted: '" << bad << "'";
  }
}

TEST(Base64UrlEncodeTest, UrlAlphabetWithoutPadding) {
  EXPECT_EQ(Base64UrlEncode(""), "");
  EXPECT_EQ(Base64UrlEncode("f"), "Zg");
  EXPECT_EQ(Base64UrlEncode("fo"), "Zm8");
  EXPECT_EQ(Base64UrlEncode("foo"), "Zm9v");
  EXPECT_EQ(Base64UrlEncode("\xfb\xff\xbf"), "-_-_");
  EXPECT_EQ(Base64UrlEncode("events:123"), "ZXZlbnRzOjEyMw");
}

TEST(Base64UrlDecodeTest, RoundTripsEveryLength) {
  std::string bytes;
  for (int n = 0; n < 64; ++n) {
    EXPECT_EQ(Base64UrlDecode(Base64UrlEncode(bytes)), bytes) << n;
    bytes += static_cast<char>(n * 37 + 251);
  }
}

TEST(Base64UrlDecodeTest, RefusesTheStandardAlphabetPaddingAndBadLengths) {
  EXPECT_EQ(Base64UrlDecode("-_-_"), "\xfb\xff\xbf");
  for (std::string_view bad :
       {"+/+/", "Zg==", "Zg=", "Zm9vY", "Z", "Zm 9v", "Zm9v!", "\n\n\n\nZm8", "Zm9v\n", " Zm9v"}) {
    EXPECT_EQ(Base64UrlDecode(bad), std::nullopt) << "accepted: '" << bad << "'";
  }
}

TEST(Base64UrlDecodeTest, KeepsOpenSslsWhitespaceLeniency) {
  // Documented in encoding.h: what cursors have always accepted stays accepted.
  EXPECT_EQ(Base64UrlDecode("    Zm9v"), "foo");
  EXPECT_EQ(Base64UrlDecode("Zm9v \r\n\t"), "foo");
  EXPECT_EQ(Base64UrlDecode("\t\t\t\tZg"), "f");
}

}  // namespace
}  // namespace hookvault::base
