#include "server/delivery/retry_after.h"

#include <gtest/gtest.h>

#include <string>

namespace hookvault::server {
namespace {

// Wed, 21 Oct 2015 07:28:00 GMT, the date RFC 9110's examples use.
constexpr int64_t kDate = 1445412480;
// A fixed "now" two minutes before it.
constexpr int64_t kNow = kDate - 120;

TEST(RetryAfterTest, DeltaSeconds) {
  EXPECT_EQ(ParseRetryAfterMs("120", kNow), 120000);
  EXPECT_EQ(ParseRetryAfterMs("0", kNow), 0);
  EXPECT_EQ(ParseRetryAfterMs("1", kNow), 1000);
  EXPECT_EQ(ParseRetryAfterMs("007", kNow), 7000);
  EXPECT_EQ(ParseRetryAfterMs(" 120\t", kNow), 120000);
}

TEST(RetryAfterTest, DeltaSecondsDoesNotDependOnNow) {
  EXPECT_EQ(ParseRetryAfterMs("120", 0), 120000);
  EXPECT_EQ(ParseRetryAfterMs("120", 4000000000), 120000);
}

TEST(RetryAfterTest, ImfFixdate) {
  EXPECT_EQ(ParseRetryAfterMs("Wed, 21 Oct 2015 07:28:00 GMT", kNow), 120000);
  EXPECT_EQ(ParseRetryAfterMs("Wed, 21 Oct 2015 07:28:00 GMT", kDate - 1), 1000);
  EXPECT_EQ(ParseRetryAfterMs("Thu, 22 Oct 2015 07:28:00 GMT", kNow), (86400 + 120) * 1000LL);
}

TEST(RetryAfterTest, ObsoleteDateForms) {
  // RFC 850 and ANSI C asctime(), which RFC 9110 says recipients must accept.
  EXPECT_EQ(ParseRetryAfterMs("Wednesday, 21-Oct-15 07:28:00 GMT", kNow), 120000);
  EXPECT_EQ(ParseRetryAfterMs("Wed Oct 21 07:28:00 2015", kNow), 120000);
}

TEST(RetryAfterTest, PastOrPresentDateIsZero) {
  EXPECT_EQ(ParseRetryAfterMs("Wed, 21 Oct 2015 07:28:00 GMT", kDate), 0);
  EXPECT_EQ(ParseRetryAfterMs("Wed, 21 Oct 2015 07:28:00 GMT", kDate + 1), 0);
  EXPECT_EQ(ParseRetryAfterMs("Thu, 01 Jan 1970 00:00:00 GMT", kNow), 0);
}

TEST(RetryAfterTest, GarbageIsRejected) {
  for (std::string_view bad :
       {"", "   ", "soon", "Wed", "garbage", "1.5", "120s", "12 0", "0x10", "1e3",
        "Wed, 32 Oct 2015 07:28:00 GMT", "Wed, 21 Oct 2015 25:28:00 GMT", "\xff\xfe"}) {
    EXPECT_EQ(ParseRetryAfterMs(bad, kNow), std::nullopt) << "'" << bad << "'";
  }
}

TEST(RetryAfterTest, NegativeOrSignedIsRejected) {
  EXPECT_EQ(ParseRetryAfterMs("-1", kNow), std::nullopt);
  EXPECT_EQ(ParseRetryAfterMs("-120", kNow), std::nullopt);
  EXPECT_EQ(ParseRetryAfterMs("+120", kNow), std::nullopt);
}

TEST(RetryAfterTest, AbsurdlyLongWaitsAreRejected) {
  EXPECT_EQ(ParseRetryAfterMs(std::to_string(kMaxRetryAfterSeconds), kNow),
            kMaxRetryAfterSeconds * 1000);
  EXPECT_EQ(ParseRetryAfterMs(std::to_string(kMaxRetryAfterSeconds + 1), kNow), std::nullopt);
  // Would overflow int64 if accumulated naively.
  EXPECT_EQ(ParseRetryAfterMs("99999999999999999999999999999999", kNow), std::nullopt);
  EXPECT_EQ(ParseRetryAfterMs("Wed, 21 Oct 9999 07:28:00 GMT", kNow), std::nullopt);
  EXPECT_EQ(ParseRetryAfterMs("Sat, 22 Oct 2016 07:28:00 GMT", kNow), std::nullopt);  // > 1 year
}

}  // namespace
}  // namespace hookvault::server
