#include "server/delivery/backoff.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>

namespace hookvault::server {
namespace {

// The contract's example: {"initial_ms": 1000, "max_ms": 3600000, "multiplier": 2.0}.
constexpr BackoffPolicy kExample{};

TEST(BackoffTest, DefaultsAreTheContractExample) {
  EXPECT_EQ(kExample.initial_ms, 1000);
  EXPECT_EQ(kExample.max_ms, 3600000);
  EXPECT_EQ(kExample.multiplier, 2.0);
}

TEST(BackoffTest, CeilingDoublesFromInitial) {
  EXPECT_EQ(BackoffCeilingMs(kExample, 1), 1000);
  EXPECT_EQ(BackoffCeilingMs(kExample, 2), 2000);
  EXPECT_EQ(BackoffCeilingMs(kExample, 3), 4000);
  EXPECT_EQ(BackoffCeilingMs(kExample, 4), 8000);
  EXPECT_EQ(BackoffCeilingMs(kExample, 5), 16000);
  EXPECT_EQ(BackoffCeilingMs(kExample, 6), 32000);
}

TEST(BackoffTest, CeilingCapsAtMax) {
  // 1000 * 2^11 = 2,048,000 is the last below an hour; 2^12 would be 4,096,000.
  EXPECT_EQ(BackoffCeilingMs(kExample, 12), 2048000);
  EXPECT_EQ(BackoffCeilingMs(kExample, 13), 3600000);
  EXPECT_EQ(BackoffCeilingMs(kExample, 14), 3600000);
  EXPECT_EQ(BackoffCeilingMs(kExample, 40), 3600000);
}

TEST(BackoffTest, CeilingReachesMaxExactlyWhenProductEqualsIt) {
  const BackoffPolicy policy{.initial_ms = 500, .max_ms = 4000, .multiplier = 2.0};
  EXPECT_EQ(BackoffCeilingMs(policy, 3), 2000);
  EXPECT_EQ(BackoffCeilingMs(policy, 4), 4000);
  EXPECT_EQ(BackoffCeilingMs(policy, 5), 4000);
}

TEST(BackoffTest, CeilingWithFractionalMultiplier) {
  const BackoffPolicy policy{.initial_ms = 1000, .max_ms = 60000, .multiplier = 1.5};
  EXPECT_EQ(BackoffCeilingMs(policy, 1), 1000);
  EXPECT_EQ(BackoffCeilingMs(policy, 2), 1500);
  EXPECT_EQ(BackoffCeilingMs(policy, 3), 2250);
  EXPECT_EQ(BackoffCeilingMs(policy, 4), 3375);
}

TEST(BackoffTest, HugeAttemptCountsDoNotOverflow) {
  for (int n : {63, 64, 65, 1000, 1 << 20, INT_MAX - 1, INT_MAX}) {
    EXPECT_EQ(BackoffCeilingMs(kExample, n), 3600000) << n;
  }
  const BackoffPolicy huge{
      .initial_ms = 1000, .max_ms = std::numeric_limits<int64_t>::max(), .multiplier = 10.0};
  EXPECT_EQ(BackoffCeilingMs(huge, 1), 1000);
  EXPECT_EQ(BackoffCeilingMs(huge, INT_MAX), std::numeric_limits<int64_t>::max());
  EXPECT_GE(NextDelayMs(huge, INT_MAX, std::nullopt, UINT64_MAX), 0);
  EXPECT_EQ(NextDelayMs(huge, INT_MAX, std::nullopt, UINT64_MAX),
            std::numeric_limits<int64_t>::max());
}

TEST(BackoffTest, OddPoliciesStayWithinZeroAndMax) {
  // Config validation rejects these; the arithmetic must still not go wrong.
  EXPECT_EQ(BackoffCeilingMs(kExample, 0), 1000);
  EXPECT_EQ(BackoffCeilingMs(kExample, -7), 1000);
  const BackoffPolicy shrinking{.initial_ms = 1000, .max_ms = 60000, .multiplier = 0.5};
  EXPECT_EQ(BackoffCeilingMs(shrinking, 5), 1000);
  const BackoffPolicy nan{.initial_ms = 1000, .max_ms = 60000, .multiplier = std::nan("")};
  EXPECT_EQ(BackoffCeilingMs(nan, 5), 1000);
  const BackoffPolicy inverted{.initial_ms = 5000, .max_ms = 2000, .multiplier = 2.0};
  EXPECT_EQ(BackoffCeilingMs(inverted, 1), 2000);
  const BackoffPolicy negative{.initial_ms = -1000, .max_ms = -1, .multiplier = 2.0};
  EXPECT_EQ(BackoffCeilingMs(negative, 3), 0);
  EXPECT_EQ(NextDelayMs(negative, 3, std::nullopt, UINT64_MAX), 0);
  EXPECT_EQ(NextDelayMs(negative, 3, 5000, 0), 0);
}

TEST(BackoffTest, JitterEndpoints) {
  for (int n = 1; n <= 14; ++n) {
    EXPECT_EQ(NextDelayMs(kExample, n, std::nullopt, 0), 0) << n;
    EXPECT_EQ(NextDelayMs(kExample, n, std::nullopt, UINT64_MAX), BackoffCeilingMs(kExample, n))
        << n;
  }
}

TEST(BackoffTest, JitterIsProportionalToRandom) {
  // Half the 64-bit range lands at half the ceiling (ceiling + 1 values: 0..4000).
  EXPECT_EQ(NextDelayMs(kExample, 3, std::nullopt, uint64_t{1} << 63), 2000);
  EXPECT_EQ(NextDelayMs(kExample, 3, std::nullopt, uint64_t{1} << 62), 1000);
}

TEST(BackoffTest, JitterStaysWithinBoundsAndSpreads) {
  std::mt19937_64 random(12345);
  for (int n = 1; n <= 14; ++n) {
    const int64_t ceiling = BackoffCeilingMs(kExample, n);
    int64_t lowest = ceiling;
    int64_t highest = 0;
    for (int i = 0; i < 2000; ++i) {
      const int64_t delay = NextDelayMs(kExample, n, std::nullopt, random());
      ASSERT_GE(delay, 0) << n;
      ASSERT_LE(delay, ceiling) << n;
      lowest = std::min(lowest, delay);
      highest = std::max(highest, delay);
    }
    // Full jitter, not "ceiling minus a little": 2000 draws cover most of the range.
    EXPECT_LT(lowest, ceiling / 10) << n;
    EXPECT_GT(highest, ceiling - ceiling / 10) << n;
  }
}

TEST(BackoffTest, RetryAfterIsHonouredWithoutJitter) {
  for (uint64_t random : {uint64_t{0}, uint64_t{1} << 63, UINT64_MAX}) {
    EXPECT_EQ(NextDelayMs(kExample, 1, 120000, random), 120000);
    // Longer than this attempt's backoff ceiling (1000): still honoured.
    EXPECT_EQ(NextDelayMs(kExample, 1, 30000, random), 30000);
    EXPECT_EQ(NextDelayMs(kExample, 8, 0, random), 0);
  }
}

TEST(BackoffTest, RetryAfterIsCappedAtMax) {
  EXPECT_EQ(NextDelayMs(kExample, 1, 3600000, 0), 3600000);
  EXPECT_EQ(NextDelayMs(kExample, 1, 3600001, 0), 3600000);
  EXPECT_EQ(NextDelayMs(kExample, 1, 86400000, 0), 3600000);
  EXPECT_EQ(NextDelayMs(kExample, 1, std::numeric_limits<int64_t>::max(), 0), 3600000);
  EXPECT_EQ(NextDelayMs(kExample, 1, -5, UINT64_MAX), 0);
}

TEST(BackoffTest, ClassifyTable) {
  struct Case {
    int status;
    AttemptVerdict verdict;
  };
  for (const Case& c : {
           Case{200, AttemptVerdict::kSucceeded}, Case{201, AttemptVerdict::kSucceeded},
           Case{202, AttemptVerdict::kSucceeded}, Case{204, AttemptVerdict::kSucceeded},
           Case{299, AttemptVerdict::kSucceeded}, Case{410, AttemptVerdict::kFailNow},
           Case{0, AttemptVerdict::kRetry},       Case{-1, AttemptVerdict::kRetry},
           Case{100, AttemptVerdict::kRetry},     Case{199, AttemptVerdict::kRetry},
           Case{300, AttemptVerdict::kRetry},     Case{301, AttemptVerdict::kRetry},
           Case{302, AttemptVerdict::kRetry},     Case{400, AttemptVerdict::kRetry},
           Case{401, AttemptVerdict::kRetry},     Case{404, AttemptVerdict::kRetry},
           Case{409, AttemptVerdict::kRetry},     Case{411, AttemptVerdict::kRetry},
           Case{429, AttemptVerdict::kRetry},     Case{500, AttemptVerdict::kRetry},
           Case{502, AttemptVerdict::kRetry},     Case{503, AttemptVerdict::kRetry},
           Case{504, AttemptVerdict::kRetry},     Case{599, AttemptVerdict::kRetry},
       }) {
    EXPECT_EQ(Classify(c.status), c.verdict) << c.status;
  }
}

}  // namespace
}  // namespace hookvault::server
