#include "storage/base/strings.h"

#include <gtest/gtest.h>

#include <string>
#include <string_view>

namespace hookvault::base {
namespace {

TEST(TrimOptionalWhitespaceTest, TrimsSpacesAndTabsAtBothEnds) {
  EXPECT_EQ(TrimOptionalWhitespace(" \t 12 \t "), "12");
  EXPECT_EQ(TrimOptionalWhitespace("12"), "12");
  EXPECT_EQ(TrimOptionalWhitespace("1 \t 2"), "1 \t 2");
  EXPECT_EQ(TrimOptionalWhitespace(" \t\t "), "");
  EXPECT_EQ(TrimOptionalWhitespace(""), "");
}

TEST(TrimOptionalWhitespaceTest, KeepsOtherWhitespace) {
  // RFC 9110's OWS is space and tab only: a CR, LF, NUL, vertical tab or form feed stays and
  // makes a Content-Length or Retry-After value invalid.
  EXPECT_EQ(TrimOptionalWhitespace("\r12\n"), "\r12\n");
  EXPECT_EQ(TrimOptionalWhitespace(" \v12\f "), "\v12\f");
  EXPECT_EQ(TrimOptionalWhitespace(std::string_view("\0 12 \0", 6)),
            std::string_view("\0 12 \0", 6));
}

TEST(TrimLeftRightTest, TrimOnlyTheirOwnSideAndTheirOwnCharacters) {
  EXPECT_EQ(TrimLeft(" \t5 \r\n", kOptionalWhitespace), "5 \r\n");
  EXPECT_EQ(TrimRight(" \t5 \r\n", " \t\r\n"), " \t5");
  EXPECT_EQ(TrimRight(TrimLeft(" \t5 \r \n", kOptionalWhitespace), " \t\r\n"), "5");
  EXPECT_EQ(TrimLeft("\r 5", kOptionalWhitespace), "\r 5");
  EXPECT_EQ(TrimRight("xxaxx", "x"), "xxa");
  EXPECT_EQ(TrimLeft("xxaxx", "x"), "axx");
  EXPECT_EQ(TrimLeft("xxx", "x"), "");
  EXPECT_EQ(TrimRight("abc", ""), "abc");
}

TEST(AsciiLowerTest, LowersAsciiLettersOnly) {
  EXPECT_EQ(AsciiLower("Content-Type: Application/JSON"), "content-type: application/json");
  EXPECT_EQ(AsciiLower("@[`{"), "@[`{");                    // the neighbours of A-Z and a-z
  EXPECT_EQ(AsciiLower("\xC3\x89T\xC9"), "\xC3\x89t\xC9");  // non-ASCII bytes as they are
  EXPECT_EQ(AsciiLower(std::string_view("A\0B", 3)), std::string("a\0b", 3));
  EXPECT_EQ(AsciiLower(""), "");
}

TEST(AsciiToLowerTest, IsConstexpr) {
  static_assert(AsciiToLower('Q') == 'q');
  static_assert(AsciiToLower('q') == 'q');
  static_assert(AsciiToLower('[') == '[');
}

TEST(EqualsIgnoreCaseTest, ComparesAsciiCaseInsensitively) {
  EXPECT_TRUE(EqualsIgnoreCase("Content-Length", "content-length"));
  EXPECT_TRUE(EqualsIgnoreCase("CONTENT-LENGTH", "content-length"));
  EXPECT_TRUE(EqualsIgnoreCase("content-length", "Content-Length"));
  EXPECT_TRUE(EqualsIgnoreCase("", ""));
  EXPECT_FALSE(EqualsIgnoreCase("content-length ", "content-length"));
  EXPECT_FALSE(EqualsIgnoreCase("content-lengt", "content-length"));
  EXPECT_FALSE(EqualsIgnoreCase("content_length", "content-length"));
  // Only A-Z fold: '@' is not '`', and a Latin-1 capital is not its small letter.
  EXPECT_FALSE(EqualsIgnoreCase("@", "`"));
  EXPECT_FALSE(EqualsIgnoreCase("\xC9", "\xE9"));
}

TEST(StartsWithIgnoreCaseTest, ComparesThePrefixOnly) {
  EXPECT_TRUE(StartsWithIgnoreCase("Retry-After: 5\r\n", "retry-after:"));
  EXPECT_TRUE(StartsWithIgnoreCase("RETRY-AFTER:", "retry-after:"));
  EXPECT_TRUE(StartsWithIgnoreCase("anything", ""));
  EXPECT_FALSE(StartsWithIgnoreCase("Retry-After", "retry-after:"));
  EXPECT_FALSE(StartsWithIgnoreCase("X-Retry-After: 5", "retry-after:"));
}

}  // namespace
}  // namespace hookvault::base
