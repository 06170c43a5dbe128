// FormatRfc3339 writes the civil date by hand (storage/clock.cc): it must give exactly what
// gmtime_r and snprintf give, for every time an int64 of microseconds can hold.
#include <gtest/gtest.h>

#include <cstdio>
#include <ctime>
#include <initializer_list>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "storage/clock.h"

namespace hookvault::storage {
namespace {

// The formatting FormatRfc3339 had before it wrote the digits itself.
std::string Reference(int64_t micros) {
  int64_t secs = micros / 1000000;
  int64_t frac = micros % 1000000;
  if (frac < 0) {
    frac += 1000000;
    secs -= 1;
  }
  std::time_t t = static_cast<std::time_t>(secs);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%06lldZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<long long>(frac));
  return buf;
}

void ExpectSame(int64_t micros) {
  std::string want = Reference(micros);
  EXPECT_EQ(FormatRfc3339Text(micros).view(), want) << micros;
  EXPECT_EQ(FormatRfc3339(micros), want) << micros;
}

TEST(ClockFormatTest, KnownTimes) {
  EXPECT_EQ(FormatRfc3339(0), "1970-01-01T00:00:00.000000Z");
  EXPECT_EQ(FormatRfc3339(-1), "1969-12-31T23:59:59.999999Z");
  EXPECT_EQ(FormatRfc3339(1795864921123456), "2026-11-28T11:22:01.123456Z");
  EXPECT_EQ(FormatRfc3339(951782400000000), "2000-02-29T00:00:00.000000Z");
}

TEST(ClockFormatTest, SameAsGmtimeAndSnprintf) {
  constexpr int64_t kDay = 86'400'000'000;
  std::vector<int64_t> times = {0,
                                1,
                                -1,
                                999'999,
                                1'000'000,
                                -999'999,
                                -1'000'000,
                                -1'000'001,
                                std::numeric_limits<int64_t>::max(),
                                std::numeric_limits<int64_t>::min()};
  // Around the edges of four-digit years, and leap days of 1900, 2000, 2100.
  for (int64_t day :
       std::initializer_list<int64_t>{-719529, -719528, -719527, 2932895, 2932896, 2932897, -25508,
                                      -25509, 11016, 11017, 47540, 47541, 47482}) {
    for (int64_t offset : {int64_t{-1}, int64_t{0}, int64_t{1}, kDay / 2, kDay - 1})
      times.push_back(day * kDay + offset);
  }
  // Every day of 1968 to 2104, at a time of day that moves.
  for (int64_t day = -731; day < 49'000; ++day) times.push_back(day * kDay + (day * 7919) % kDay);
  std::mt19937_64 rng(19);
  std::uniform_int_distribution<int64_t> any;
  std::uniform_int_distribution<int64_t> four_digit_years(-719528 * kDay, 2932897 * kDay - 1);
  for (int i = 0; i < 100'000; ++i) {
    times.push_back(any(rng));
    times.push_back(four_digit_years(rng));
  }
  for (int64_t t : times) ExpectSame(t);
}

}  // namespace
}  // namespace hookvault::storage
