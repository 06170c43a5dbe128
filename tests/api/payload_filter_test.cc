#include "api/payload_filter.h"

#include <gtest/gtest.h>

#include <string>
#include <string_view>

#include "api/json.h"

namespace hookvault::api {
namespace {

rapidjson::Document Json(std::string_view text) {
  rapidjson::Document doc;
  storage::Status s = ParseJson(text, doc);
  EXPECT_TRUE(s.ok()) << text << ": " << s.message();
  return doc;
}

PayloadFilter Filter(std::string_view conditions) {
  rapidjson::Document doc = Json(conditions);
  storage::StatusOr<PayloadFilter> f = PayloadFilter::Parse(doc);
  EXPECT_TRUE(f.ok()) << conditions << ": " << f.status().message();
  return f.ok() ? *f : PayloadFilter();
}

// The message of the error Parse returns for `conditions` ("" if it parses).
std::string ParseError(std::string_view conditions) {
  rapidjson::Document doc = Json(conditions);
  storage::StatusOr<PayloadFilter> f = PayloadFilter::Parse(doc);
  if (f.ok()) return "";
  EXPECT_EQ(f.status().code(), storage::StatusCode::kInvalidArgument);
  return f.status().message();
}

bool Matches(const PayloadFilter& f, std::string_view payload) {
  return f.Matches(Json(payload));
}

// One condition `{"pointer": pointer, op: operand}` against `payload`.
bool Holds(std::string_view pointer, std::string_view op, std::string_view operand,
           std::string_view payload) {
  std::string conditions = "[{\"pointer\":" + JsonQuote(pointer) + ",\"" + std::string(op) +
                           "\":" + std::string(operand) + "}]";
  return Matches(Filter(conditions), payload);
}

// --- Matching ------------------------------------------------------------------------------

TEST(PayloadFilterTest, EmptyFilterMatchesEverything) {
  PayloadFilter none;
  EXPECT_TRUE(none.empty());
  EXPECT_EQ(none.json(), "[]");
  EXPECT_TRUE(Matches(none, "{}"));
  EXPECT_TRUE(Matches(none, "[1,2]"));
  PayloadFilter parsed = Filter("[]");
  EXPECT_TRUE(parsed.empty());
  EXPECT_EQ(parsed.json(), "[]");
  EXPECT_TRUE(Matches(parsed, "null"));
}

TEST(PayloadFilterTest, EqualsStrings) {
  EXPECT_TRUE(Holds("/status", "equals", R"("confirmed")", R"({"status":"confirmed"})"));
  EXPECT_FALSE(Holds("/status", "equals", R"("confirmed")", R"({"status":"Confirmed"})"));
  EXPECT_FALSE(Holds("/status", "equals", R"("confirmed")", R"({"status":"confirmed "})"));
  EXPECT_FALSE(Holds("/status", "equals", R"("confirmed")", R"({})"));
  // Embedded NUL bytes count.
  EXPECT_TRUE(Holds("/s", "equals", R"("a\u0000b")", R"({"s":"a\u0000b"})"));
  EXPECT_FALSE(Holds("/s", "equals", R"("a\u0000b")", R"({"s":"a"})"));
}

TEST(PayloadFilterTest, EqualsNumbersByValue) {
  EXPECT_TRUE(Holds("/n", "equals", "1", R"({"n":1})"));
  EXPECT_TRUE(Holds("/n", "equals", "1", R"({"n":1.0})"));
  EXPECT_TRUE(Holds("/n", "equals", "1.0", R"({"n":1})"));
  EXPECT_TRUE(Holds("/n", "equals", "100", R"({"n":1e2})"));
  EXPECT_TRUE(Holds("/n", "equals", "0", R"({"n":-0.0})"));
  EXPECT_FALSE(Holds("/n", "equals", "1", R"({"n":1.5})"));
  EXPECT_FALSE(Holds("/n", "equals", "1", R"({"n":"1"})"));
  EXPECT_FALSE(Holds("/n", "equals", R"("1")", R"({"n":1})"));
}

TEST(PayloadFilterTest, EqualsLargeIntegersExactly) {
  // 2^53 + 1 is not 2^53 (as a double it would be).
  EXPECT_FALSE(Holds("/n", "equals", "9007199254740993", R"({"n":9007199254740992.0})"));
  EXPECT_TRUE(Holds("/n", "equals", "9007199254740992", R"({"n":9007199254740992.0})"));
  EXPECT_FALSE(Holds("/n", "equals", "9007199254740993", R"({"n":9007199254740992})"));
  // A negative int64 and a uint64 with the same bits are not equal (RapidJSON's == says so).
  EXPECT_FALSE(Holds("/n", "equals", "-1", R"({"n":18446744073709551615})"));
  EXPECT_FALSE(Holds("/n", "equals", "18446744073709551615", R"({"n":-1})"));
  EXPECT_TRUE(Holds("/n", "equals", "18446744073709551615", R"({"n":18446744073709551615})"));
  // 2^63: a uint64 only; equal to the double 2^63 (written so that RapidJSON reads it exactly).
  EXPECT_TRUE(Holds("/n", "equals", "9223372036854775808", R"({"n":9223372036854775808})"));
  EXPECT_TRUE(Holds("/n", "equals", "9223372036854775808", R"({"n":9223372036854775808.0})"));
  EXPECT_FALSE(Holds("/n", "equals", "9223372036854775807", R"({"n":9223372036854775808.0})"));
  EXPECT_TRUE(Holds("/n", "equals", "-9223372036854775808", R"({"n":-9223372036854775808.0})"));
  EXPECT_FALSE(Holds("/n", "equals", "-9223372036854775807", R"({"n":-9223372036854775808.0})"));
}

TEST(PayloadFilterTest, EqualsDeep) {
  EXPECT_TRUE(Holds("/a", "equals", R"({"x":1,"y":[true,null,"s"]})",
                    R"({"a":{"y":[true,null,"s"],"x":1.0}})"));
  EXPECT_FALSE(Holds("/a", "equals", R"({"x":1})", R"({"a":{"x":1,"y":2}})"));
  EXPECT_FALSE(Holds("/a", "equals", R"({"x":1,"y":2})", R"({"a":{"x":1}})"));
  EXPECT_FALSE(Holds("/a", "equals", R"({"x":1,"y":2})", R"({"a":{"x":1,"z":2}})"));
  EXPECT_FALSE(Holds("/a", "equals", R"([1,2])", R"({"a":[2,1]})"));
  EXPECT_FALSE(Holds("/a", "equals", R"([1,2])", R"({"a":[1,2,3]})"));
  EXPECT_TRUE(Holds("/a", "equals", R"([[1],[]])", R"({"a":[[1.0],[]]})"));
  EXPECT_TRUE(Holds("/a", "equals", "null", R"({"a":null})"));
  EXPECT_FALSE(Holds("/a", "equals", "null", R"({"a":false})"));
  EXPECT_FALSE(Holds("/a", "equals", "null", R"({})"));
  EXPECT_TRUE(Holds("/a", "equals", "false", R"({"a":false})"));
  EXPECT_FALSE(Holds("/a", "equals", "false", R"({"a":true})"));
  EXPECT_FALSE(Holds("/a", "equals", "false", R"({"a":0})"));
  EXPECT_FALSE(Holds("/a", "equals", "{}", R"({"a":[]})"));
}

TEST(PayloadFilterTest, EqualsObjectsWithRepeatedNamesByTheirFirstMembers) {
  // A pointer reads the first of repeated names; equality does too, and stays symmetric.
  EXPECT_TRUE(Holds("/a", "equals", R"({"x":1,"x":2})", R"({"a":{"x":1,"x":2}})"));
  EXPECT_TRUE(Holds("/a", "equals", R"({"x":1,"x":2})", R"({"a":{"x":1,"x":3}})"));
  EXPECT_FALSE(Holds("/a", "equals", R"({"x":1,"x":2})", R"({"a":{"x":2,"x":1}})"));
  EXPECT_FALSE(Holds("/a", "equals", R"({"x":1,"y":2})", R"({"a":{"x":1,"x":1}})"));
  EXPECT_FALSE(Holds("/a", "equals", R"({"x":1,"x":1})", R"({"a":{"x":1,"y":2}})"));
}

TEST(PayloadFilterTest, NotEqualsHoldsWhenAbsent) {
  EXPECT_TRUE(Holds("/status", "not_equals", R"("test")", R"({"status":"live"})"));
  EXPECT_FALSE(Holds("/status", "not_equals", R"("test")", R"({"status":"test"})"));
  EXPECT_TRUE(Holds("/status", "not_equals", R"("test")", R"({})"));
  EXPECT_TRUE(Holds("/status", "not_equals", R"("test")", R"([])"));
  EXPECT_FALSE(Holds("/n", "not_equals", "2", R"({"n":2.0})"));
  EXPECT_TRUE(Holds("/n", "not_equals", "2", R"({"n":"2"})"));
}

TEST(PayloadFilterTest, In) {
  EXPECT_TRUE(Holds("/event", "in", R"(["a","b"])", R"({"event":"b"})"));
  EXPECT_FALSE(Holds("/event", "in", R"(["a","b"])", R"({"event":"c"})"));
  EXPECT_FALSE(Holds("/event", "in", R"(["a","b"])", R"({})"));
  EXPECT_TRUE(Holds("/n", "in", R"([1,"1",null])", R"({"n":1.0})"));
  EXPECT_TRUE(Holds("/n", "in", R"([1,"1",null])", R"({"n":null})"));
  EXPECT_FALSE(Holds("/n", "in", R"([1,"1",null])", R"({"n":false})"));
  EXPECT_TRUE(Holds("/n", "in", R"([[1,2],{"k":"v"}])", R"({"n":{"k":"v"}})"));
  // The value is compared whole, not searched: an array is not "in" because of its items.
  EXPECT_FALSE(Holds("/tags", "in", R"(["vip"])", R"({"tags":["vip"]})"));
}

TEST(PayloadFilterTest, Exists) {
  EXPECT_TRUE(Holds("/tags", "exists", "true", R"({"tags":[]})"));
  EXPECT_TRUE(Holds("/tags", "exists", "true", R"({"tags":null})"));
  EXPECT_FALSE(Holds("/tags", "exists", "true", R"({"tag":1})"));
  EXPECT_TRUE(Holds("/tags", "exists", "false", R"({"tag":1})"));
  EXPECT_FALSE(Holds("/tags", "exists", "false", R"({"tags":null})"));
  EXPECT_TRUE(Holds("/a/b", "exists", "false", R"({"a":"b"})"));
  EXPECT_TRUE(Holds("/a/b", "exists", "false", R"("scalar payload")"));
}

TEST(PayloadFilterTest, NumericOrdering) {
  EXPECT_TRUE(Holds("/amount", "gte", "100", R"({"amount":100})"));
  EXPECT_TRUE(Holds("/amount", "gte", "100", R"({"amount":100.0})"));
  EXPECT_TRUE(Holds("/amount", "gte", "100", R"({"amount":100.5})"));
  EXPECT_FALSE(Holds("/amount", "gte", "100", R"({"amount":99.999})"));
  EXPECT_FALSE(Holds("/amount", "gt", "100", R"({"amount":100})"));
  EXPECT_TRUE(Holds("/amount", "gt", "100", R"({"amount":100.0001})"));
  EXPECT_TRUE(Holds("/amount", "lt", "100", R"({"amount":-5})"));
  EXPECT_FALSE(Holds("/amount", "lt", "100", R"({"amount":100})"));
  EXPECT_TRUE(Holds("/amount", "lte", "100", R"({"amount":100})"));
  EXPECT_FALSE(Holds("/amount", "lte", "100", R"({"amount":101})"));
  EXPECT_TRUE(Holds("/amount", "gt", "-0.5", R"({"amount":0})"));
  EXPECT_TRUE(Holds("/amount", "lt", "0.5", R"({"amount":0})"));
  EXPECT_TRUE(Holds("/amount", "gt", "99.5", R"({"amount":100})"));
  EXPECT_FALSE(Holds("/amount", "gt", "100.5", R"({"amount":100})"));
  EXPECT_TRUE(Holds("/amount", "lt", "-99.5", R"({"amount":-100})"));
}

TEST(PayloadFilterTest, OrderingAcrossIntegerTypesAndDoublesIsExact) {
  // -1 against the largest uint64 (same bits).
  EXPECT_TRUE(Holds("/n", "lt", "18446744073709551615", R"({"n":-1})"));
  EXPECT_FALSE(Holds("/n", "gt", "18446744073709551615", R"({"n":-1})"));
  EXPECT_TRUE(Holds("/n", "gt", "-1", R"({"n":18446744073709551615})"));
  // Around 2^63 (9223372036854775808), a uint64 only.
  EXPECT_TRUE(Holds("/n", "gt", "9223372036854775807", R"({"n":9223372036854775808})"));
  EXPECT_TRUE(Holds("/n", "lt", "9223372036854775808", R"({"n":9223372036854775807})"));
  EXPECT_TRUE(Holds("/n", "lt", "9223372036854775808.0", R"({"n":9223372036854775807})"));
  EXPECT_TRUE(Holds("/n", "gte", "9223372036854775808.0", R"({"n":9223372036854775808})"));
  EXPECT_FALSE(Holds("/n", "gt", "9223372036854775808.0", R"({"n":9223372036854775808})"));
  EXPECT_TRUE(Holds("/n", "gt", "9223372036854775808.0", R"({"n":9223372036854775809})"));
  // Doubles beyond every integer type.
  EXPECT_TRUE(Holds("/n", "lt", "1e30", R"({"n":18446744073709551615})"));
  EXPECT_TRUE(Holds("/n", "gt", "-1e30", R"({"n":-9223372036854775808})"));
  EXPECT_TRUE(Holds("/n", "gt", "1e30", R"({"n":1e31})"));
  // 2^53 + 1 against 2^53 as a double: greater (a double comparison would say equal).
  EXPECT_TRUE(Holds("/n", "gt", "9007199254740992.0", R"({"n":9007199254740993})"));
  EXPECT_TRUE(Holds("/n", "lt", "9007199254740993", R"({"n":9007199254740992.0})"));
}

TEST(PayloadFilterTest, InfinitePayloadNumbersOrderBeyondEveryOther) {
  // A payload may hold one: RapidJSON reads 1.8e308 as infinity.
  EXPECT_TRUE(Holds("/n", "gt", "18446744073709551615", R"({"n":1.8e308})"));
  EXPECT_TRUE(Holds("/n", "gt", "1.7e308", R"({"n":1.8e308})"));
  EXPECT_TRUE(Holds("/n", "lt", "-9223372036854775808", R"({"n":-1.8e308})"));
  EXPECT_FALSE(Holds("/n", "equals", "1.7e308", R"({"n":1.8e308})"));
  EXPECT_TRUE(Holds("/n", "exists", "true", R"({"n":1.8e308})"));
}

TEST(PayloadFilterTest, StringOrderingIsBytewise) {
  EXPECT_TRUE(Holds("/at", "gte", R"("2026-01-01T00:00:00Z")", R"({"at":"2026-03-04T05:06:07Z"})"));
  EXPECT_FALSE(Holds("/at", "gte", R"("2026-01-01T00:00:00Z")", R"({"at":"2025-12-31T23:59:59Z"})"));
  EXPECT_TRUE(Holds("/at", "lt", R"("2026-01-01")", R"({"at":"2025-12-31T23:59:59Z"})"));
  EXPECT_TRUE(Holds("/s", "gt", R"("a")", R"({"s":"ab"})"));
  EXPECT_TRUE(Holds("/s", "lt", R"("a")", R"({"s":""})"));
  EXPECT_TRUE(Holds("/s", "lt", R"("a")", R"({"s":"B"})"));
  // Bytes above 0x7f order after ASCII (unsigned bytes).
  EXPECT_TRUE(Holds("/s", "gt", R"("z")", R"({"s":"é"})"));
  EXPECT_TRUE(Holds("/s", "lte", R"("abc")", R"({"s":"abc"})"));
  EXPECT_FALSE(Holds("/s", "lt", R"("abc")", R"({"s":"abc"})"));
}

TEST(PayloadFilterTest, OrderingNeedsTheSameKind) {
  EXPECT_FALSE(Holds("/n", "gte", "1", R"({"n":"5"})"));
  EXPECT_FALSE(Holds("/n", "lt", "1", R"({"n":"0"})"));
  EXPECT_FALSE(Holds("/n", "gte", R"("1")", R"({"n":5})"));
  EXPECT_FALSE(Holds("/n", "gte", "1", R"({"n":null})"));
  EXPECT_FALSE(Holds("/n", "lt", "1", R"({"n":false})"));
  EXPECT_FALSE(Holds("/n", "lt", "1", R"({"n":[0]})"));
  EXPECT_FALSE(Holds("/n", "lt", "1", R"({"n":{}})"));
  EXPECT_FALSE(Holds("/n", "lt", "1", R"({})"));
  EXPECT_FALSE(Holds("/n", "gt", "1", R"({})"));
}

TEST(PayloadFilterTest, Prefix) {
  EXPECT_TRUE(Holds("/type", "prefix", R"("booking.")", R"({"type":"booking.created"})"));
  EXPECT_TRUE(Holds("/type", "prefix", R"("booking.")", R"({"type":"booking."})"));
  EXPECT_FALSE(Holds("/type", "prefix", R"("booking.")", R"({"type":"booking"})"));
  EXPECT_FALSE(Holds("/type", "prefix", R"("booking.")", R"({"type":"xbooking.created"})"));
  EXPECT_TRUE(Holds("/type", "prefix", R"("")", R"({"type":""})"));
  EXPECT_FALSE(Holds("/type", "prefix", R"("")", R"({"type":1})"));
  EXPECT_FALSE(Holds("/type", "prefix", R"("1")", R"({"type":12})"));
  EXPECT_FALSE(Holds("/type", "prefix", R"("a")", R"({"type":["abc"]})"));
  EXPECT_FALSE(Holds("/type", "prefix", R"("a")", R"({})"));
}

TEST(PayloadFilterTest, NestedPointersAndArrayIndexes) {
  std::string order = R"({"booking":{"status":"confirmed","guest":{"vip":true}},
                          "items":[{"sku":"A-1","qty":2},{"sku":"B-2","qty":5}],
                          "a/b":{"c~d":7},"":{"":"empty"}})";
  EXPECT_TRUE(Holds("/booking/status", "equals", R"("confirmed")", order));
  EXPECT_TRUE(Holds("/booking/guest/vip", "equals", "true", order));
  EXPECT_TRUE(Holds("/items/0/sku", "equals", R"("A-1")", order));
  EXPECT_TRUE(Holds("/items/1/sku", "prefix", R"("B-")", order));
  EXPECT_TRUE(Holds("/items/1/qty", "gt", "4", order));
  EXPECT_TRUE(Holds("/items/2/sku", "exists", "false", order));
  EXPECT_FALSE(Holds("/items/2/sku", "equals", R"("A-1")", order));
  EXPECT_TRUE(Holds("/items/-", "exists", "false", order));
  EXPECT_TRUE(Holds("/items/x", "exists", "false", order));
  EXPECT_TRUE(Holds("/booking/status/0", "exists", "false", order));
  // Escapes: ~1 is '/', ~0 is '~'.
  EXPECT_TRUE(Holds("/a~1b/c~0d", "equals", "7", order));
  EXPECT_TRUE(Holds("//", "equals", R"("empty")", order));
  // The whole document.
  EXPECT_TRUE(Holds("", "equals", "[1,2]", "[1,2]"));
  EXPECT_TRUE(Holds("", "exists", "true", "null"));
  // A payload that is an array.
  EXPECT_TRUE(Holds("/1", "equals", R"("b")", R"(["a","b"])"));
}

TEST(PayloadFilterTest, AllConditionsMustHold) {
  PayloadFilter f = Filter(R"([{"pointer":"/booking/status","equals":"confirmed"},
                               {"pointer":"/amount","gte":100},
                               {"pointer":"/test","exists":false}])");
  EXPECT_EQ(f.conditions().size(), 3u);
  EXPECT_TRUE(Matches(f, R"({"booking":{"status":"confirmed"},"amount":150})"));
  EXPECT_FALSE(Matches(f, R"({"booking":{"status":"confirmed"},"amount":50})"));
  EXPECT_FALSE(Matches(f, R"({"booking":{"status":"pending"},"amount":150})"));
  EXPECT_FALSE(Matches(f, R"({"booking":{"status":"confirmed"},"amount":150,"test":true})"));
  EXPECT_FALSE(Matches(f, R"({})"));
}

TEST(PayloadFilterTest, ParsedConditionsAreKept) {
  PayloadFilter f = Filter(R"([{"in":["a"],"pointer":"/e"},{"pointer":"/n","lte":2.5}])");
  ASSERT_EQ(f.conditions().size(), 2u);
  EXPECT_EQ(f.conditions()[0].pointer_text, "/e");
  EXPECT_EQ(f.conditions()[0].op, FilterOp::kIn);
  EXPECT_EQ(f.conditions()[1].op, FilterOp::kLte);
  EXPECT_DOUBLE_EQ(f.conditions()[1].operand->GetDouble(), 2.5);
  // A copy outlives the original and matches alike.
  PayloadFilter copy = f;
  f = PayloadFilter();
  EXPECT_TRUE(Matches(copy, R"({"e":"a","n":2})"));
  EXPECT_FALSE(Matches(copy, R"({"e":"a","n":3})"));
}

TEST(PayloadFilterTest, JsonIsTheNormalisedArray) {
  PayloadFilter f = Filter(R"([ {"gte" : 100, "pointer" : "/amount"},
                               {"pointer":"/e","in":["a", 1, null, {"k": [true]}]},
                               {"pointer":"/s","equals":"quote\" slash/ \u00e9 \u0000"},
                               {"pointer":"/x","exists":false},
                               {"pointer":"/p","prefix":"booking."},
                               {"pointer":"/f","lt":2.5} ])");
  EXPECT_EQ(f.json(),
            R"([{"pointer":"/amount","gte":100},)"
            R"({"pointer":"/e","in":["a",1,null,{"k":[true]}]},)"
            R"({"pointer":"/s","equals":"quote\" slash/ )"
            "\xc3\xa9"
            R"( \u0000"},)"
            R"({"pointer":"/x","exists":false},)"
            R"({"pointer":"/p","prefix":"booking."},)"
            R"({"pointer":"/f","lt":2.5}])");
  // It parses back to the same filter.
  PayloadFilter again = Filter(f.json());
  EXPECT_EQ(again.json(), f.json());
}

// --- Parse errors --------------------------------------------------------------------------

TEST(PayloadFilterParseTest, MustBeAnArrayOfObjects) {
  EXPECT_EQ(ParseError(R"({"pointer":"/a","equals":1})"), ": must be an array of conditions");
  EXPECT_EQ(ParseError(R"("x")"), ": must be an array of conditions");
  EXPECT_EQ(ParseError(R"([{"pointer":"/a","equals":1}, 5])"), "[1]: must be an object");
  EXPECT_EQ(ParseError(R"([[]])"), "[0]: must be an object");
}

TEST(PayloadFilterParseTest, ExactlyOneOperator) {
  EXPECT_EQ(ParseError(R"([{"pointer":"/a"}])"),
            "[0]: names no operator (one of equals, not_equals, in, exists, gt, gte, lt, lte, "
            "prefix)");
  EXPECT_EQ(ParseError(R"([{"pointer":"/a","gte":1,"lte":5}])"),
            "[0]: names more than one operator (gte and lte); give each its own condition");
  EXPECT_EQ(ParseError(R"([{"pointer":"/a","equals":1,"equals":2}])"),
            "[0]: names more than one operator (\"equals\" twice); give each its own condition");
}

TEST(PayloadFilterParseTest, PointerIsRequiredAndValid) {
  EXPECT_EQ(ParseError(R"([{"equals":1}])"), "[0].pointer: is required");
  EXPECT_EQ(ParseError(R"([{"pointer":5,"equals":1}])"), "[0].pointer: must be a string");
  EXPECT_EQ(ParseError(R"([{"pointer":"/a","equals":1},{"pointer":"x","equals":1}])"),
            "[1].pointer: \"x\" is not a JSON pointer (RFC 6901, e.g. \"/amount\")");
  EXPECT_EQ(ParseError(R"([{"pointer":"/a~2","equals":1}])"),
            "[0].pointer: \"/a~2\" is not a JSON pointer (RFC 6901, e.g. \"/amount\")");
  EXPECT_EQ(ParseError(R"([{"pointer":"#/a","equals":1}])"),
            "[0].pointer: \"#/a\" is not a JSON pointer (RFC 6901, e.g. \"/amount\")");
  EXPECT_EQ(ParseError(R"([{"pointer":"/a","pointer":"/b","equals":1}])"),
            "[0].pointer: key appears twice");
  EXPECT_EQ(ParseError(R"([{"pointer":"","exists":true}])"), "");
}

TEST(PayloadFilterParseTest, UnknownKeys) {
  EXPECT_EQ(ParseError(R"([{"pointer":"/a","equal":1}])"),
            "[0].equal: unknown key (a condition has \"pointer\" and one of equals, not_equals, "
            "in, exists, gt, gte, lt, lte, prefix)");
  EXPECT_EQ(ParseError(R"([{"pointer":"/a","gte":1,"note":"x"}])").substr(0, 23),
            "[0].note: unknown key (");
  // Control bytes and length are tamed in the message.
  std::string long_key(100, 'k');
  std::string error = ParseError(R"([{"pointer":"/a","a\nb":1}])");
  EXPECT_EQ(error.substr(0, 26), "[0].a?b: unknown key (a co");
  error = ParseError("[{\"pointer\":\"/a\",\"" + long_key + "\":1}]");
  EXPECT_EQ(error.substr(0, 4 + 64 + 3 + 2), "[0]." + std::string(64, 'k') + "...: ");
}

TEST(PayloadFilterParseTest, OperandTypes) {
  EXPECT_EQ(ParseError(R"([{"pointer":"/a","gte":1},{"pointer":"/a","lt":2},)"
                       R"({"pointer":"/a","gte":true}])"),
            "[2].gte: must be a number or a string");
  EXPECT_EQ(ParseError(R"([{"pointer":"/a","gt":null}])"), "[0].gt: must be a number or a string");
  EXPECT_EQ(ParseError(R"([{"pointer":"/a","lt":[1]}])"), "[0].lt: must be a number or a string");
  EXPECT_EQ(ParseError(R"([{"pointer":"/a","lte":{}}])"), "[0].lte: must be a number or a string");
  EXPECT_EQ(ParseError(R"([{"pointer":"/a","exists":"yes"}])"), "[0].exists: must be true or false");
  EXPECT_EQ(ParseError(R"([{"pointer":"/a","exists":1}])"), "[0].exists: must be true or false");
  EXPECT_EQ(ParseError(R"([{"pointer":"/a","prefix":1}])"), "[0].prefix: must be a string");
  EXPECT_EQ(ParseError(R"([{"pointer":"/a","in":[]}])"), "[0].in: must be a non-empty array");
  EXPECT_EQ(ParseError(R"([{"pointer":"/a","in":"a"}])"), "[0].in: must be a non-empty array");
  // RapidJSON reads 1.8e308 as infinity (only exponents beyond 308 are refused): no operand may
  // hold one, as json() could not write it.
  EXPECT_EQ(ParseError(R"([{"pointer":"/a","gte":1.8e308}])"),
            "[0].gte: holds a number beyond the range of a double");
  EXPECT_EQ(ParseError(R"([{"pointer":"/a","in":[1,{"x":[-891e308]}]}])"),
            "[0].in: holds a number beyond the range of a double");
  EXPECT_EQ(ParseError(R"([{"pointer":"/a","equals":1.7e308}])"), "");
  // equals and not_equals take any value.
  EXPECT_EQ(ParseError(R"([{"pointer":"/a","equals":null},{"pointer":"/a","not_equals":[{}]}])"),
            "");
}

TEST(PayloadFilterParseTest, Limits) {
  auto conditions = [](size_t n) {
    std::string s = "[";
    for (size_t i = 0; i < n; ++i) s += std::string(i ? "," : "") + R"({"pointer":"/a","gte":1})";
    return s + "]";
  };
  EXPECT_EQ(ParseError(conditions(kMaxFilterConditions)), "");
  EXPECT_EQ(ParseError(conditions(kMaxFilterConditions + 1)),
            ": has 65 conditions; at most 64 are allowed");
  auto in = [](size_t n) {
    std::string s = R"([{"pointer":"/a","in":[)";
    for (size_t i = 0; i < n; ++i) s += std::string(i ? "," : "") + std::to_string(i);
    return s + "]}]";
  };
  EXPECT_EQ(ParseError(in(kMaxFilterInItems)), "");
  EXPECT_EQ(ParseError(in(kMaxFilterInItems + 1)),
            "[0].in: has 1025 items; at most 1024 are allowed");
  PayloadFilter f = Filter(in(kMaxFilterInItems));
  EXPECT_TRUE(Matches(f, R"({"a":1023})"));
  EXPECT_FALSE(Matches(f, R"({"a":1024})"));
}

}  // namespace
}  // namespace hookvault::api
