#include "storage/clock.h"

#include <chrono>
#include <cstdio>
#include <ctime>

namespace hookvault::storage {

int64_t SystemClock::NowMicros() const {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

int64_t SystemClock::MonotonicMicros() const {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

namespace {

// Writes `n` as `width` decimal digits (n < 10^width) at `p`; returns the end.
char* Digits(char* p, int64_t n, int width) {
  for (int i = width - 1; i >= 0; --i) {
    p[i] = static_cast<char>('0' + n % 10);
    n /= 10;
  }
  return p + width;
}

}  // namespace

Rfc3339Text FormatRfc3339Text(int64_t micros) {
  Rfc3339Text text;
  int64_t secs = micros / 1000000;
  int64_t frac = micros % 1000000;
  if (frac < 0) {
    frac += 1000000;
    secs -= 1;
  }
  // The civil date by std::chrono's proleptic Gregorian calendar (as gmtime's: UTC, no leap
  // seconds), its digits written by hand: snprintf and gmtime_r took about 4,000 instructions
  // per time, 8 % of a feed page.
  int64_t day = secs / 86400;
  int64_t sod = secs % 86400;
  if (sod < 0) {
    sod += 86400;
    day -= 1;
  }
  // Days from 1970-01-01 of 0000-01-01 and of 9999-12-31: outside, the year has not 4 digits.
  constexpr int64_t kFirstDay = -719528, kLastDay = 2932896;
  if (day < kFirstDay || day > kLastDay) {
    // Years of other than 4 digits, as snprintf writes them.
    std::time_t t = static_cast<std::time_t>(secs);
    std::tm tm{};
    gmtime_r(&t, &tm);
    int n =
        std::snprintf(text.chars.data(), text.chars.size(), "%04d-%02d-%02dT%02d:%02d:%02d.%06lldZ",
                      tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                      tm.tm_sec, static_cast<long long>(frac));
    text.size = static_cast<size_t>(n);
    return text;
  }
  std::chrono::year_month_day ymd{std::chrono::sys_days(std::chrono::days(day))};
  int year = static_cast<int>(ymd.year());
  char* p = Digits(text.chars.data(), year, 4);
  *p++ = '-';
  p = Digits(p, static_cast<unsigned>(ymd.month()), 2);
  *p++ = '-';
  p = Digits(p, static_cast<unsigned>(ymd.day()), 2);
  *p++ = 'T';
  p = Digits(p, sod / 3600, 2);
  *p++ = ':';
  p = Digits(p, sod / 60 % 60, 2);
  *p++ = ':';
  p = Digits(p, sod % 60, 2);
  *p++ = '.';
  p = Digits(p, frac, 6);
  *p++ = 'Z';
  text.size = static_cast<size_t>(p - text.chars.data());
  return text;
}

std::string FormatRfc3339(int64_t micros) { return std::string(FormatRfc3339Text(micros).view()); }

}  // namespace hookvault::storage
