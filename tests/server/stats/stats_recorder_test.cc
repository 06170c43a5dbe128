// The StatsRecorder's time series: deltas per bucket, the 15-minute ring, the since-start ring
// that doubles its bucket width and stays bounded over (simulated) days, and counters that go
// backwards or clocks that step.
#include "server/stats/stats_recorder.h"

#include <gtest/gtest.h>

#include <numeric>

namespace hookvault::server {
namespace {

constexpr int64_t kSecond = 1'000'000;
// A start on a whole minute (and so on a 5 s boundary).
constexpr int64_t kStart = 1'800'000'000'000'000;

StatsCounters Ingest(uint64_t ok, uint64_t client_error = 0, uint64_t server_error = 0) {
  StatsCounters c;
  c.ingest = {ok, client_error, server_error};
  return c;
}

uint64_t SumOk(const std::vector<StatsBucket>& buckets) {
  return std::accumulate(buckets.begin(), buckets.end(), uint64_t{0},
                         [](uint64_t n, const StatsBucket& b) { return n + b.ingest.ok; });
}

TEST(StatsRecorderTest, EachSampleAddsWhatWasCountedSinceThePreviousToItsBucket) {
  StatsRecorder r(kStart);
  r.Sample(kStart + 1 * kSecond, Ingest(3, 1));
  r.Sample(kStart + 4 * kSecond, Ingest(4, 1));     // same 5 s bucket
  r.Sample(kStart + 6 * kSecond, Ingest(9, 3, 1));  // the next one
  StatsSnapshot s = r.Snapshot(kStart + 7 * kSecond, 900);
  EXPECT_EQ(s.bucket_seconds, 5);
  EXPECT_EQ(s.started_at, kStart);
  ASSERT_EQ(s.buckets.size(), 2u);  // none before the start
  EXPECT_EQ(s.buckets[0].start, kStart);
  EXPECT_EQ(s.buckets[0].ingest.ok, 4u);
  EXPECT_EQ(s.buckets[0].ingest.client_error, 1u);
  EXPECT_EQ(s.buckets[1].start, kStart + 5 * kSecond);
  EXPECT_EQ(s.buckets[1].ingest.ok, 5u);
  EXPECT_EQ(s.buckets[1].ingest.client_error, 2u);
  EXPECT_EQ(s.buckets[1].ingest.server_error, 1u);
  EXPECT_EQ(s.ingest_total.ok, 9u);
  EXPECT_EQ(s.ingest_total.client_error, 3u);
  EXPECT_EQ(s.ingest_total.server_error, 1u);
}

TEST(StatsRecorderTest, DeliveryOutcomesAreSummedOverDestinations) {
  StatsRecorder r(kStart);
  StatsCounters c;
  c.destinations["a"].succeeded = 2;
  c.destinations["a"].retried = 1;
  c.destinations["b"].failed = 1;
  r.Sample(kStart + kSecond, c);
  c.destinations["a"].succeeded = 5;
  c.destinations["b"].failed = 3;
  c.destinations["b"].retried = 4;
  r.Sample(kStart + 6 * kSecond, c);
  StatsSnapshot s = r.Snapshot(kStart + 6 * kSecond, 900);
  ASSERT_EQ(s.buckets.size(), 2u);
  EXPECT_EQ(s.buckets[0].deliveries.succeeded, 2u);
  EXPECT_EQ(s.buckets[0].deliveries.failed, 1u);
  EXPECT_EQ(s.buckets[0].deliveries.retried, 1u);
  EXPECT_EQ(s.buckets[1].deliveries.succeeded, 3u);
  EXPECT_EQ(s.buckets[1].deliveries.failed, 2u);
  EXPECT_EQ(s.buckets[1].deliveries.retried, 4u);
  EXPECT_EQ(s.deliveries_total.succeeded, 5u);
  EXPECT_EQ(s.deliveries_total.failed, 3u);
  EXPECT_EQ(s.deliveries_total.retried, 5u);
  // The latest destination counters are kept as they were read.
  EXPECT_EQ(s.destinations.at("b").retried, 4u);
}

TEST(StatsRecorderTest, ACounterThatWentBackwardsAddsNothingAndBecomesTheNewBase) {
  StatsRecorder r(kStart);
  StatsCounters c = Ingest(10);
  c.destinations["a"].succeeded = 7;
  r.Sample(kStart + 1 * kSecond, c);
  c = Ingest(4);
  c.destinations["a"].succeeded = 2;
  r.Sample(kStart + 6 * kSecond, c);
  c = Ingest(6);
  c.destinations["a"].succeeded = 3;
  r.Sample(kStart + 11 * kSecond, c);
  StatsSnapshot s = r.Snapshot(kStart + 11 * kSecond, 900);
  ASSERT_EQ(s.buckets.size(), 3u);
  EXPECT_EQ(s.buckets[0].ingest.ok, 10u);
  EXPECT_EQ(s.buckets[1].ingest.ok, 0u);  // not 4 - 10
  EXPECT_EQ(s.buckets[1].deliveries.succeeded, 0u);
  EXPECT_EQ(s.buckets[2].ingest.ok, 2u);  // from the new base
  EXPECT_EQ(s.buckets[2].deliveries.succeeded, 1u);
  EXPECT_EQ(s.ingest_total.ok, 12u);
  EXPECT_EQ(s.deliveries_total.succeeded, 8u);
}

TEST(StatsRecorderTest, TheRecentRingKeepsTheLastFifteenMinutesIn5SecondBuckets) {
  StatsRecorder r(kStart);
  int64_t now = kStart;
  uint64_t ok = 0;
  for (int i = 0; i < 360; ++i) {  // 30 minutes, one sample and one ingest per 5 s
    now = kStart + i * 5 * kSecond + 2 * kSecond;
    r.Sample(now, Ingest(++ok));
  }
  StatsSnapshot s = r.Snapshot(now, 900);
  ASSERT_EQ(s.buckets.size(), 180u);
  EXPECT_EQ(s.buckets.back().start, kStart + 359 * 5 * kSecond);  // in progress: holds `now`
  EXPECT_EQ(s.buckets.front().start, kStart + 180 * 5 * kSecond);
  EXPECT_EQ(SumOk(s.buckets), 180u);
  for (const StatsBucket& b : s.buckets) EXPECT_EQ(b.ingest.ok, 1u);
  EXPECT_EQ(s.ingest_total.ok, 360u);  // totals are since start

  StatsSnapshot minute = r.Snapshot(now, 60);
  ASSERT_EQ(minute.buckets.size(), 12u);
  EXPECT_EQ(minute.buckets.back().start, kStart + 359 * 5 * kSecond);
  // A bucket no sample reached yet (the clock moved on) is zeros with an unknown backlog.
  StatsSnapshot later = r.Snapshot(now + 10 * kSecond, 900);
  ASSERT_EQ(later.buckets.size(), 180u);
  EXPECT_EQ(later.buckets.back().ingest.ok, 0u);
  EXPECT_FALSE(later.buckets.back().sampled);
  EXPECT_FALSE(later.buckets.back().pending.has_value());
}

TEST(StatsRecorderTest, TheSinceStartRingDoublesItsBucketsAndStaysBoundedOverDays) {
  StatsRecorder r(kStart);
  int64_t now = kStart;
  uint64_t ok = 0;
  const int64_t three_days = 3 * 86400 * kSecond;
  for (int64_t t = 2 * kSecond; t < three_days; t += 5 * kSecond) {
    now = kStart + t;
    r.Sample(now, Ingest(++ok));
    if (t == 2 * kSecond + 6 * 3600 * kSecond) {
      // After 6 hours: 360 one-minute buckets were full, so they are two minutes wide now.
      StatsSnapshot six = r.Snapshot(now, 31'536'000);
      EXPECT_EQ(six.bucket_seconds, 120);
      EXPECT_LE(six.buckets.size(), 361u);
    }
  }
  StatsSnapshot s = r.Snapshot(now, 31'536'000);
  // 4320 minutes: 60 s → 120 → 240 → 480 → 960 s buckets, 270 of them.
  EXPECT_EQ(s.bucket_seconds, 960);
  EXPECT_LE(s.buckets.size(), kSinceStartBuckets + 1);
  EXPECT_EQ(s.buckets.size(), 270u);
  EXPECT_EQ(s.buckets.front().start, kStart);  // still covers the start
  EXPECT_LE(s.buckets.back().start, now);
  EXPECT_GT(s.buckets.back().start + 960 * kSecond, now);
  EXPECT_EQ(SumOk(s.buckets), ok);  // nothing lost in the merges
  EXPECT_EQ(s.ingest_total.ok, ok);
  for (size_t i = 1; i < s.buckets.size(); ++i) {
    EXPECT_EQ(s.buckets[i].start - s.buckets[i - 1].start, 960 * kSecond);
  }
  // A window of a day answers the buckets of the last day only.
  StatsSnapshot day = r.Snapshot(now, 86400);
  EXPECT_EQ(day.bucket_seconds, 960);
  EXPECT_EQ(day.buckets.size(), 91u);  // 86400 / 960 = 90, plus the one the window starts in
  EXPECT_EQ(day.buckets.back().start, s.buckets.back().start);
}

TEST(StatsRecorderTest, TheSinceStartRingStaysBoundedAfterAYear) {
  StatsRecorder r(kStart);
  const int64_t year = 365 * 86400 * kSecond;
  uint64_t ok = 0;
  int64_t now = kStart;
  for (int64_t t = 0; t < year; t += 60 * kSecond) {  // a sample a minute: fewer to simulate
    now = kStart + t;
    r.Sample(now, Ingest(++ok));
  }
  StatsSnapshot s = r.Snapshot(now, 31'536'000);
  EXPECT_LE(s.buckets.size(), kSinceStartBuckets + 1);
  EXPECT_EQ(s.buckets.front().start, kStart);
  EXPECT_EQ(SumOk(s.buckets), ok);
}

TEST(StatsRecorderTest, TheBacklogIsTheOneOfTheBucketsLastSampleOrUnknown) {
  StatsRecorder r(kStart);
  StatsCounters c;
  c.pending = storage::PendingSummary{4, {{"a", 4}}, kStart - 2 * kSecond};
  r.Sample(kStart + 1 * kSecond, c);
  c.pending = storage::PendingSummary{2, {{"a", 2}}, kStart - 1 * kSecond};
  r.Sample(kStart + 3 * kSecond, c);  // the bucket's last sample
  c.pending.reset();                  // the store could not be read
  r.Sample(kStart + 6 * kSecond, c);
  c.pending = storage::PendingSummary{0, {}, std::nullopt};
  r.Sample(kStart + 11 * kSecond, c);
  StatsSnapshot s = r.Snapshot(kStart + 11 * kSecond, 900);
  ASSERT_EQ(s.buckets.size(), 3u);
  EXPECT_EQ(s.buckets[0].pending, 2);
  EXPECT_DOUBLE_EQ(s.buckets[0].oldest_pending_age_s.value_or(-1), 4.0);
  EXPECT_FALSE(s.buckets[1].pending.has_value());
  EXPECT_FALSE(s.buckets[1].oldest_pending_age_s.has_value());
  EXPECT_EQ(s.buckets[2].pending, 0);
  EXPECT_FALSE(s.buckets[2].oldest_pending_age_s.has_value());  // nothing pending
  ASSERT_TRUE(s.pending.has_value());
  EXPECT_EQ(s.pending->count, 0);

  // Merged since-start buckets keep the backlog of their last sample.
  StatsSnapshot since = r.Snapshot(kStart + 11 * kSecond, 31'536'000);
  ASSERT_EQ(since.buckets.size(), 1u);
  EXPECT_EQ(since.buckets[0].pending, 0);
}

TEST(StatsRecorderTest, BeforeTheFirstSampleThereIsTheBucketInProgressOnly) {
  StatsRecorder r(kStart + 7 * kSecond);
  StatsSnapshot s = r.Snapshot(kStart + 8 * kSecond, 900);
  EXPECT_FALSE(s.sampled);
  ASSERT_EQ(s.buckets.size(), 1u);
  EXPECT_EQ(s.buckets[0].start, kStart + 5 * kSecond);
  EXPECT_FALSE(s.buckets[0].pending.has_value());
  StatsSnapshot since = r.Snapshot(kStart + 8 * kSecond, 31'536'000);
  EXPECT_EQ(since.bucket_seconds, 60);
  ASSERT_EQ(since.buckets.size(), 1u);
  EXPECT_EQ(since.buckets[0].start, kStart);
}

TEST(StatsRecorderTest, AWallClockSetBackAddsToTheNewestBucketAndOneSetFarAheadStaysBounded) {
  StatsRecorder r(kStart);
  r.Sample(kStart + 100 * kSecond, Ingest(1));
  r.Sample(kStart + 50 * kSecond, Ingest(3));  // stepped back: into the newest bucket
  StatsSnapshot s = r.Snapshot(kStart + 50 * kSecond, 900);
  EXPECT_EQ(s.buckets.back().start, kStart + 100 * kSecond);
  EXPECT_EQ(s.buckets.back().ingest.ok, 3u);
  EXPECT_EQ(SumOk(s.buckets), 3u);

  const int64_t far = kStart + 10LL * 365 * 86400 * kSecond;  // ten years ahead
  r.Sample(far, Ingest(5));
  StatsSnapshot recent = r.Snapshot(far, 900);
  EXPECT_EQ(recent.buckets.size(), 180u);
  EXPECT_EQ(recent.buckets.back().ingest.ok, 2u);
  StatsSnapshot since = r.Snapshot(far, 31'536'000);
  EXPECT_LE(since.buckets.size(), kSinceStartBuckets + 1);
  EXPECT_EQ(since.ingest_total.ok, 5u);
}

}  // namespace
}  // namespace hookvault::server
