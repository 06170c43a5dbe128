#include "api/params.h"

#include <gtest/gtest.h>

#include <functional>

#include "storage/clock.h"

namespace hookvault::api {
namespace {

ApiRequest WithQuery(HeaderList query) {
  ApiRequest r;
  r.method = "GET";
  r.path = "/api/v1/events";
  r.query = std::move(query);
  return r;
}

TEST(ParseRfc3339Test, AcceptsUtcOffsetsAndFractions) {
  EXPECT_EQ(ParseRfc3339("1970-01-01T00:00:00Z"), 0);
  EXPECT_EQ(ParseRfc3339("2026-11-28T13:21:52Z"), int64_t{1795872112} * 1000000);
  EXPECT_EQ(ParseRfc3339("2026-11-28T13:21:52.5Z"), int64_t{1795872112} * 1000000 + 500000);
  EXPECT_EQ(ParseRfc3339("2026-11-28T13:21:52.123456789Z"),
            int64_t{1795872112} * 1000000 + 123456);
  EXPECT_EQ(ParseRfc3339("2026-11-28T14:21:52+01:00"), int64_t{1795872112} * 1000000);
  EXPECT_EQ(ParseRfc3339("2026-11-28T12:51:52-00:30"), int64_t{1795872112} * 1000000);
  EXPECT_EQ(ParseRfc3339("2026-11-28t13:21:52z"), int64_t{1795872112} * 1000000);
}

TEST(ParseRfc3339Test, RoundTripsFormatRfc3339) {
  int64_t t = int64_t{1795872112} * 1000000 + 42;
  EXPECT_EQ(ParseRfc3339(storage::FormatRfc3339(t)), t);
}

TEST(ParseRfc3339Test, RefusesWhatIsNotADateTime) {
  for (const char* bad :
       {"", "2026-11-28", "2026-11-28T13:21:52", "2026-11-28 13:21:52Z", "2026-13-01T00:00:00Z",
        "2026-02-30T00:00:00Z", "2026-11-28T24:00:00Z", "2026-11-28T13:21:52.Z",
        "2026-11-28T13:21:52.1234567890Z", "2026-11-28T13:21:52+0100", "2026-11-28T13:21:52Zjunk",
        "yesterday", "1795872112"}) {
    EXPECT_EQ(ParseRfc3339(bad), std::nullopt) << bad;
  }
}

TEST(PercentDecodeTest, DecodesEscapesAndKeepsPlus) {
  EXPECT_EQ(PercentDecode("2026-11-28T00:00:00%2B01:00"), "2026-11-28T00:00:00+01:00");
  EXPECT_EQ(PercentDecode("2026-11-28T00:00:00+01:00"), "2026-11-28T00:00:00+01:00");
  EXPECT_EQ(PercentDecode("a%20b%2fc"), "a b/c");
  EXPECT_EQ(PercentDecode(""), "");
  EXPECT_EQ(PercentDecode("%"), std::nullopt);
  EXPECT_EQ(PercentDecode("%4"), std::nullopt);
  EXPECT_EQ(PercentDecode("%zz"), std::nullopt);
  EXPECT_EQ(PercentDecode("ab%4"), std::nullopt);
}

TEST(CursorTest, RoundTripsAndIsBoundToItsList) {
  std::string c = EncodeCursor("events", 123456789);
  EXPECT_EQ(c.find_first_of("+/="), std::string::npos) << c;  // safe in a URL as is
  EXPECT_EQ(DecodeCursor("events", c), 123456789);
  EXPECT_EQ(DecodeCursor("deliveries", c), std::nullopt);
  EXPECT_EQ(DecodeCursor("events", "not a cursor"), std::nullopt);
  EXPECT_EQ(DecodeCursor("events", ""), std::nullopt);
  EXPECT_EQ(DecodeCursor("events", "ZXZlbnRzOi0x"), std::nullopt);  // "events:-1"
  EXPECT_EQ(DecodeCursor("events", "ZXZlbnRzOjEyYQ"), std::nullopt);  // "events:12a"
}

TEST(QueryParamsTest, ReadsValidParameters) {
  ApiRequest r = WithQuery({{"source", "harmonics"},
                            {"status", "failed"},
                            {"limit", "1000"},
                            {"received_after", "2026-11-28T00:00:00Z"}});
  QueryParams q(r, {"source", "status", "limit", "received_after", "type"});
  EXPECT_EQ(q.String("source"), "harmonics");
  EXPECT_EQ(q.Enum("status", {"pending", "failed"}), "failed");
  EXPECT_EQ(q.Limit(), 1000);
  EXPECT_EQ(q.Time("received_after"), ParseRfc3339("2026-11-28T00:00:00Z"));
  EXPECT_EQ(q.String("type"), std::nullopt);  // absent
  EXPECT_TRUE(q.ok());
}

TEST(QueryParamsTest, LimitDefaultsTo50) {
  ApiRequest r = WithQuery({});
  QueryParams q(r, {"limit"});
  EXPECT_EQ(q.Limit(), 50);
  EXPECT_TRUE(q.ok());
}

void ExpectBad(HeaderList query, std::initializer_list<std::string_view> allowed,
               const std::function<void(QueryParams&)>& read, const std::string& named) {
  ApiRequest r = WithQuery(std::move(query));
  QueryParams q(r, allowed);
  read(q);
  ASSERT_FALSE(q.ok()) << named;
  EXPECT_EQ(q.error().status, 400);
  EXPECT_NE(q.error().body.find("'" + named + "'"), std::string::npos) << q.error().body;
}

TEST(QueryParamsTest, EachBadParameterIsA400NamingIt) {
  auto limit = [](QueryParams& q) { q.Limit(); };
  ExpectBad({{"limit", "1001"}}, {"limit"}, limit, "limit");
  ExpectBad({{"limit", "0"}}, {"limit"}, limit, "limit");
  ExpectBad({{"limit", "ten"}}, {"limit"}, limit, "limit");
  ExpectBad({{"stauts", "failed"}}, {"status"}, limit, "stauts");
  ExpectBad({{"limit", "5"}, {"limit", "6"}}, {"limit"}, limit, "limit");
  ExpectBad({{"status", "broken"}}, {"status"},
            [](QueryParams& q) { q.Enum("status", {"pending", "failed"}); }, "status");
  ExpectBad({{"after", "yesterday"}}, {"after"}, [](QueryParams& q) { q.Time("after"); },
            "after");
  ExpectBad({{"cursor", EncodeCursor("deliveries", 5)}}, {"cursor"},
            [](QueryParams& q) { q.Cursor("events"); }, "cursor");
}

// Finding 13 of issue 14: "?status=" was read as no status filter, so the list (or the
// deliveries a reprocess would act on) came back unfiltered.
TEST(QueryParamsTest, AnEmptyValueIsA400NamingItNotAnAbsentFilter) {
  auto string = [](std::string_view name) {
    return [name](QueryParams& q) { q.String(name); };
  };
  ExpectBad({{"status", ""}}, {"status"},
            [](QueryParams& q) { q.Enum("status", {"pending", "failed"}); }, "status");
  ExpectBad({{"destination", ""}}, {"destination"}, string("destination"), "destination");
  ExpectBad({{"limit", ""}}, {"limit"}, [](QueryParams& q) { q.Limit(); }, "limit");
  ExpectBad({{"after", ""}}, {"after"}, [](QueryParams& q) { q.Time("after"); }, "after");
  ExpectBad({{"cursor", ""}}, {"cursor"}, [](QueryParams& q) { q.Cursor("events"); }, "cursor");
  ExpectBad({{"wait", ""}}, {"wait"}, [](QueryParams& q) { q.Int("wait", 0, 30); }, "wait");
  // Even when the route never reads it, and after a valid parameter.
  ExpectBad({{"source", "pms"}, {"type", ""}}, {"source", "type"}, string("source"), "type");
  ApiRequest r = WithQuery({{"status", ""}});
  QueryParams q(r, {"status"});
  EXPECT_NE(q.error().body.find("no value"), std::string::npos) << q.error().body;
}

// Finding 13 of issue 14: "?status=failed&status=bogus" kept the first value silently.
TEST(QueryParamsTest, ARepeatedParameterIsA400NamingItWhateverItsValues) {
  auto status = [](QueryParams& q) { q.Enum("status", {"pending", "failed"}); };
  ExpectBad({{"status", "failed"}, {"status", "bogus"}}, {"status"}, status, "status");
  ExpectBad({{"status", "failed"}, {"status", "failed"}}, {"status"}, status, "status");
  ExpectBad({{"status", "failed"}, {"status", ""}}, {"status"}, status, "status");
  ExpectBad({{"source", "a"}, {"limit", "5"}, {"source", "a"}}, {"source", "limit"},
            [](QueryParams& q) { q.Limit(); }, "source");
  ApiRequest r = WithQuery({{"status", "failed"}, {"status", "bogus"}});
  QueryParams q(r, {"status"});
  EXPECT_EQ(q.Enum("status", {"pending", "failed"}), std::nullopt);
  EXPECT_NE(q.error().body.find("more than once"), std::string::npos) << q.error().body;
}

TEST(QueryParamsTest, AnUnknownParameterIsA400NamingItEvenWhenEmpty) {
  ExpectBad({{"stauts", ""}}, {"status"}, [](QueryParams&) {}, "stauts");
  ExpectBad({{"", "x"}}, {"status"}, [](QueryParams&) {}, "");
  ExpectBad({{"limit", "5"}}, {}, [](QueryParams&) {}, "limit");  // a route without parameters
}

TEST(QueryParamsTest, NamesTheFirstOffenderOfTheQueryStringBeforeAnyBadValue) {
  ApiRequest r = WithQuery({{"limit", "0"}, {"type", ""}, {"source", "x"}, {"source", "y"}});
  QueryParams q(r, {"limit", "type", "source"});
  q.Limit();
  ASSERT_FALSE(q.ok());
  EXPECT_NE(q.error().body.find("'type'"), std::string::npos) << q.error().body;
}

TEST(QueryParamsTest, KeepsTheFirstError) {
  ApiRequest r = WithQuery({{"limit", "0"}, {"status", "x"}});
  QueryParams q(r, {"limit", "status"});
  q.Limit();
  q.Enum("status", {"a"});
  ASSERT_FALSE(q.ok());
  EXPECT_NE(q.error().body.find("'limit'"), std::string::npos);
}

}  // namespace
}  // namespace hookvault::api
