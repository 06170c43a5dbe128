// The request-log budget (storage/request_log_budget.h): per address, global, in rows and bytes,
// per minute, and a per-address table that no number of addresses can grow past its bound.
#include "storage/request_log_budget.h"

#include <gtest/gtest.h>

#include <string>

namespace hookvault::storage {
namespace {

constexpr int64_t kMinute = 60'000'000;
constexpr int64_t kStart = 29'833'333 * kMinute;  // the start of a minute

RequestLogEntry Row(const std::string& addr, int64_t at, size_t body = 0) {
  RequestLogEntry r;
  r.received_at = at;
  r.source = "s";
  r.remote_addr = addr;
  r.status = 401;
  r.reason = "unauthenticated";
  if (body > 0) r.body = std::string(body, 'b');
  return r;
}

TEST(RequestLogBudgetTest, BytesPerAddressBoundRowsWithBodiesAndABodyIsDroppedBeforeTheRow) {
  RequestLogBudget budget({.rows_per_minute = 1000,
                           .bytes_per_minute = 1 << 20,
                           .rows_per_address_per_minute = 1000,
                           .bytes_per_address_per_minute = 4096,
                           .max_tracked_addresses = 10});
  RequestLogEntry first = Row("a", kStart, 3000);
  EXPECT_EQ(budget.Admit(first), LogDrop::kNone);
  EXPECT_TRUE(first.body.has_value());
  // Its body no longer fits, the row alone does: stored without the body.
  RequestLogEntry second = Row("a", kStart + 1, 3000);
  EXPECT_EQ(budget.Admit(second), LogDrop::kNone);
  EXPECT_FALSE(second.body.has_value());
  int admitted = 0;
  for (int i = 0; i < 100; ++i) {
    RequestLogEntry r = Row("a", kStart + 2 + i);
    admitted += budget.Admit(r) == LogDrop::kNone ? 1 : 0;
  }
  int64_t room = 4096 - RequestLogBudget::RowBytes(first) -
                 RequestLogBudget::RowBytes(Row("a", 0));  // the second, without its body
  EXPECT_EQ(admitted, room / RequestLogBudget::RowBytes(Row("a", 0)));
  RequestLogEntry other = Row("b", kStart, 3000);
  EXPECT_EQ(budget.Admit(other), LogDrop::kNone);
  EXPECT_TRUE(other.body.has_value());
}

TEST(RequestLogBudgetTest, GlobalBytesBoundAllAddressesTogether) {
  RequestLogBudget budget({.rows_per_minute = 1000,
                           .bytes_per_minute = 10 * 100,
                           .rows_per_address_per_minute = 1000,
                           .bytes_per_address_per_minute = 1000,
                           .max_tracked_addresses = 1000});
  int admitted = 0;
  LogDrop last = LogDrop::kNone;
  for (int i = 0; i < 100; ++i) {
    RequestLogEntry r = Row("10.0.0." + std::to_string(i), kStart);
    last = budget.Admit(r);
    admitted += last == LogDrop::kNone ? 1 : 0;
  }
  EXPECT_EQ(admitted, 1000 / RequestLogBudget::RowBytes(Row("10.0.0.10", 0)));
  EXPECT_EQ(last, LogDrop::kGlobal);
}

// An attacker with many addresses cannot grow the table: past max_tracked_addresses the new
// addresses share one entry, and so one address's budget; a new minute empties the table.
TEST(RequestLogBudgetTest, ThePerAddressTableStaysBounded) {
  RequestLogBudget budget({.rows_per_minute = 1000000,
                           .bytes_per_minute = 1 << 30,
                           .rows_per_address_per_minute = 5,
                           .bytes_per_address_per_minute = 1 << 20,
                           .max_tracked_addresses = 100});
  int admitted = 0;
  for (int i = 0; i < 100000; ++i) {
    RequestLogEntry r = Row("2001:db8::" + std::to_string(i), kStart + i);
    admitted += budget.Admit(r) == LogDrop::kNone ? 1 : 0;
  }
  EXPECT_LE(budget.tracked_addresses(), 101u);
  EXPECT_EQ(admitted, 100 + 5);  // one row each for the first 100, then 5 for all the rest
  RequestLogEntry next = Row("2001:db8::1", kStart + kMinute);
  EXPECT_EQ(budget.Admit(next), LogDrop::kNone);
  EXPECT_EQ(budget.tracked_addresses(), 1u);
}

// A wall clock stepped back an hour: rows are not all counted in the window of the minute before
// the step (which would store none of them for an hour); a new window starts. A row from the
// minute before the current one still counts in the current window.
TEST(RequestLogBudgetTest, AWallClockStepBackStartsANewWindow) {
  RequestLogBudget budget({.rows_per_minute = 1000,
                           .bytes_per_minute = 1 << 20,
                           .rows_per_address_per_minute = 2,
                           .bytes_per_address_per_minute = 1 << 20,
                           .max_tracked_addresses = 100});
  int64_t now = kStart + 60 * kMinute;
  for (int i = 0; i < 2; ++i) {
    RequestLogEntry r = Row("a", now);
    ASSERT_EQ(budget.Admit(r), LogDrop::kNone);
  }
  RequestLogEntry late = Row("a", now - kMinute);
  EXPECT_EQ(budget.Admit(late), LogDrop::kAddress) << "the minute before counts in this window";
  RequestLogEntry stepped = Row("a", kStart);  // an hour earlier
  EXPECT_EQ(budget.Admit(stepped), LogDrop::kNone);
}

TEST(RequestLogBudgetTest, ZeroStoresNone) {
  RequestLogBudget budget({.rows_per_minute = 0,
                           .bytes_per_minute = 0,
                           .rows_per_address_per_minute = 0,
                           .bytes_per_address_per_minute = 0,
                           .max_tracked_addresses = 1});
  RequestLogEntry r = Row("a", kStart);
  EXPECT_NE(budget.Admit(r), LogDrop::kNone);
}

}  // namespace
}  // namespace hookvault::storage
