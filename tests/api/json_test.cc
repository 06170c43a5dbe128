#include "api/json.h"

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

namespace hookvault::api {
namespace {

std::string Nested(char open, int depth, std::string_view inner = "") {
  std::string s;
  for (int i = 0; i < depth; ++i) s += open == '[' ? "[" : "{\"k\":";
  s += inner.empty() ? (open == '[' ? "" : "1") : inner;
  if (open == '[') {
    s += std::string(depth, ']');
  } else {
    s += std::string(depth, '}');
  }
  return s;
}

storage::Status Parse(std::string_view text) {
  rapidjson::Document doc;
  return ParseJson(text, doc);
}

// --- ParseJson --------------------------------------------------------------------------------

TEST(ParseJsonTest, AcceptsValidDocuments) {
  for (const char* text : {"{}", "[]", "null", "true", "0", "-1.5e3", "\"x\"", " { } ",
                           "{\"a\":[1,2,{\"b\":null}],\"c\":\"\\u00e9\"}", "\n\t[1 ,2]\r\n"}) {
    storage::Status s = Parse(text);
    EXPECT_TRUE(s.ok()) << text << ": " << s.message();
  }
}

TEST(ParseJsonTest, FillsTheDocument) {
  rapidjson::Document doc;
  ASSERT_TRUE(ParseJson(R"({"event":"payment.created","n":42,"list":[1,2,3]})", doc).ok());
  ASSERT_TRUE(doc.IsObject());
  EXPECT_STREQ(doc["event"].GetString(), "payment.created");
  EXPECT_EQ(doc["n"].GetInt(), 42);
  EXPECT_EQ(doc["list"].Size(), 3u);
}

TEST(ParseJsonTest, KeepsStringsWithEmbeddedEscapedNul) {
  rapidjson::Document doc;
  ASSERT_TRUE(ParseJson(R"({"k":"a\u0000b"})", doc).ok());
  EXPECT_EQ(doc["k"].GetStringLength(), 3u);
}

TEST(ParseJsonTest, RefusesInvalidJsonNamingTheOffset) {
  struct Case {
    const char* text;
    size_t offset;
  };
  for (const Case& c : {Case{"{\"a\":}", 5}, Case{"[1,2", 4}, Case{"{\"a\" 1}", 5}}) {
    storage::Status s = Parse(c.text);
    ASSERT_FALSE(s.ok()) << c.text;
    EXPECT_EQ(s.code(), storage::StatusCode::kInvalidArgument);
    EXPECT_NE(s.message().find("at byte " + std::to_string(c.offset)), std::string::npos)
        << c.text << " -> " << s.message();
  }
}

TEST(ParseJsonTest, RefusesCommonMistakes) {
  for (const char* text :
       {"", "   ", "{", "}", "{'a':1}", "{a:1}", "[1,]", "{\"a\":1,}", "NaN", "Infinity", "01",
        "{} {}", "{}x", "[1] 2", "\"unterminated", "\"tab\there\"", "// c\n{}", "{\"a\":1}}"}) {
    storage::Status s = Parse(text);
    EXPECT_FALSE(s.ok()) << "\"" << text << "\"";
    if (!s.ok()) {
      EXPECT_NE(s.message().find("at byte"), std::string::npos) << s.message();
    }
  }
}

TEST(ParseJsonTest, RefusesNulByteAfterTheValue) {
  // RapidJSON's MemoryStream reports '\0' at its end, so a NUL byte looks like the end of the
  // input: without a check, "{}\0<anything>" would be taken as valid JSON and stored as is.
  EXPECT_FALSE(Parse(std::string_view("{}\0xyz", 6)).ok());
  EXPECT_FALSE(Parse(std::string_view("{\"a\":1}\0", 8)).ok());
  EXPECT_FALSE(Parse(std::string_view("{} \0", 4)).ok());
}

TEST(ParseJsonTest, RefusesNulByteElsewhere) {
  EXPECT_FALSE(Parse(std::string_view("\0{}", 3)).ok());
  EXPECT_FALSE(Parse(std::string_view("[1,\0 2]", 7)).ok());
  EXPECT_FALSE(Parse(std::string_view("\"a\0b\"", 5)).ok());
}

TEST(ParseJsonTest, AcceptsArraysNestedExactlyMaxDepth) {
  ASSERT_EQ(kMaxJsonDepth, 128);
  storage::Status s = Parse(Nested('[', 128));
  EXPECT_TRUE(s.ok()) << s.message();
}

TEST(ParseJsonTest, RefusesArraysNestedOneDeeperThanMax) {
  storage::Status s = Parse(Nested('[', 129));
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), storage::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("deeper than 128"), std::string::npos) << s.message();
}

TEST(ParseJsonTest, AcceptsObjectsNestedExactlyMaxDepth) {
  storage::Status s = Parse(Nested('{', 128));
  EXPECT_TRUE(s.ok()) << s.message();
}

TEST(ParseJsonTest, RefusesObjectsNestedOneDeeperThanMax) {
  storage::Status s = Parse(Nested('{', 129));
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("deeper than 128"), std::string::npos) << s.message();
}

TEST(ParseJsonTest, MixedNestingCountsBothKinds) {
  std::string mixed;
  for (int i = 0; i < 65; ++i) mixed += "[{\"k\":";
  mixed += "1";
  for (int i = 0; i < 65; ++i) mixed += "}]";
  // 130 levels.
  EXPECT_FALSE(Parse(mixed).ok());
}

TEST(ParseJsonTest, DepthIsNestingNotCount) {
  // Many siblings at depth 2 are fine: depth goes back down after each one closes.
  std::string wide = "[";
  for (int i = 0; i < 1000; ++i) wide += (i ? ",[]" : "[]");
  wide += "]";
  EXPECT_TRUE(Parse(wide).ok());
}

TEST(ParseJsonTest, HonoursCustomMaxDepth) {
  rapidjson::Document doc;
  EXPECT_TRUE(ParseJson("[[[]]]", doc, 3).ok());
  EXPECT_FALSE(ParseJson("[[[[]]]]", doc, 3).ok());
}

TEST(ParseJsonTest, SurvivesVeryDeepNesting) {
  // A recursive parser overflows the stack here; the iterative one stops at the limit.
  std::string deep(100000, '[');
  deep += std::string(100000, ']');
  storage::Status s = Parse(deep);
  EXPECT_FALSE(s.ok());
  std::string unterminated(100000, '{');
  EXPECT_FALSE(Parse(unterminated).ok());
}

TEST(ParseJsonTest, RefusesInvalidUtf8) {
  for (std::string_view text :
       {std::string_view("\"\xff\""), std::string_view("\"\xc3\""),
        std::string_view("{\"k\xfe\":1}"), std::string_view("\"\xed\xa0\x80\"") /* surrogate */,
        std::string_view("\"\xc0\xaf\"") /* overlong */}) {
    storage::Status s = Parse(text);
    EXPECT_FALSE(s.ok()) << testing::PrintToString(std::string(text));
  }
}

// Found by tests/fuzz (config; tests/fuzz/regressions/config/unpaired_surrogate.json): RapidJSON
// 1.1.0 decodes an unpaired low surrogate escape into bytes that are not UTF-8, although it
// refuses an unpaired high one.
TEST(ParseJsonTest, RefusesUnpairedSurrogateEscapes) {
  for (std::string_view text :
       {R"("\udc00")", R"("a\udfffb")", R"({"\udc00":1})", R"("\ud800")", R"(["\ude00\ud83d"])"}) {
    storage::Status s = Parse(text);
    EXPECT_FALSE(s.ok()) << text;
    EXPECT_NE(s.message().find("surrogate"), std::string::npos) << s.message();
  }
  // A pair, and the characters just outside the surrogates' range, stay valid.
  for (std::string_view text :
       {std::string_view(R"("\ud83d\ude00")"), std::string_view(R"("\ud7ff")"),
        std::string_view(R"("\ue000")"), std::string_view("\"\xed\x9f\xbf\"")}) {
    EXPECT_TRUE(Parse(text).ok()) << text;
  }
}

TEST(ParseJsonTest, AcceptsValidUtf8) {
  EXPECT_TRUE(Parse("\"h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80\"").ok());
}

// --- JsonQuote --------------------------------------------------------------------------------

TEST(JsonQuoteTest, QuotesPlainText) { EXPECT_EQ(JsonQuote("abc"), "\"abc\""); }

TEST(JsonQuoteTest, QuotesEmpty) { EXPECT_EQ(JsonQuote(""), "\"\""); }

TEST(JsonQuoteTest, EscapesQuotesAndBackslashes) {
  EXPECT_EQ(JsonQuote("say \"hi\""), "\"say \\\"hi\\\"\"");
  EXPECT_EQ(JsonQuote("C:\\dir"), "\"C:\\\\dir\"");
}

TEST(JsonQuoteTest, EscapesControlCharacters) {
  EXPECT_EQ(JsonQuote("a\nb\tc\rd"), "\"a\\nb\\tc\\rd\"");
  std::string quoted = JsonQuote(std::string_view("x\0y\x01\x1f", 5));
  for (char c : quoted) EXPECT_GE(static_cast<unsigned char>(c), 0x20) << quoted;
  rapidjson::Document doc;
  ASSERT_TRUE(ParseJson(quoted, doc).ok()) << quoted;
  ASSERT_TRUE(doc.IsString());
  EXPECT_EQ(std::string(doc.GetString(), doc.GetStringLength()),
            std::string(std::string_view("x\0y\x01\x1f", 5)));
}

TEST(JsonQuoteTest, RoundTripsThroughTheParser) {
  std::string original = "quote\" back\\ slash/ nl\n uni\xc3\xa9 </script>";
  rapidjson::Document doc;
  ASSERT_TRUE(ParseJson(JsonQuote(original), doc).ok());
  EXPECT_EQ(std::string(doc.GetString(), doc.GetStringLength()), original);
}

// --- HeadersToJson ----------------------------------------------------------------------------

TEST(HeadersToJsonTest, OutputParsesAsAnObjectOfStrings) {
  HeaderList headers = {{"content-type", "application/json"},
                        {"user-agent", "res:harmonics/1.0 \"quoted\""},
                        {"x-weird", "back\\slash\ttab"}};
  rapidjson::Document doc;
  std::string json = HeadersToJson(headers);
  ASSERT_TRUE(ParseJson(json, doc).ok()) << json;
  ASSERT_TRUE(doc.IsObject());
  EXPECT_EQ(doc.MemberCount(), 3u);
  EXPECT_STREQ(doc["content-type"].GetString(), "application/json");
  EXPECT_STREQ(doc["user-agent"].GetString(), "res:harmonics/1.0 \"quoted\"");
  EXPECT_STREQ(doc["x-weird"].GetString(), "back\\slash\ttab");
}

TEST(HeadersToJsonTest, DropsSecrets) {
  HeaderList headers = {{"x-auth-token", "s3cret-token-value"},
                        {"authorization", "Bearer s3cret-bearer"},
                        {"x-request-id", "abc"}};
  std::string json = HeadersToJson(headers);
  EXPECT_EQ(json.find("s3cret"), std::string::npos) << json;
  EXPECT_EQ(json.find("x-auth-token"), std::string::npos) << json;
  EXPECT_EQ(json.find("authorization"), std::string::npos) << json;
  rapidjson::Document doc;
  ASSERT_TRUE(ParseJson(json, doc).ok());
  EXPECT_EQ(doc.MemberCount(), 1u);
  EXPECT_TRUE(doc.HasMember("x-request-id"));
}

TEST(HeadersToJsonTest, JoinsRepeatedNames) {
  HeaderList headers = {{"x-forwarded-for", "1.1.1.1"},
                        {"accept", "a"},
                        {"x-forwarded-for", "2.2.2.2"},
                        {"x-forwarded-for", "3.3.3.3"}};
  rapidjson::Document doc;
  ASSERT_TRUE(ParseJson(HeadersToJson(headers), doc).ok());
  EXPECT_EQ(doc.MemberCount(), 2u);
  EXPECT_STREQ(doc["x-forwarded-for"].GetString(), "1.1.1.1, 2.2.2.2, 3.3.3.3");
  EXPECT_STREQ(doc["accept"].GetString(), "a");
}

TEST(HeadersToJsonTest, EmptyListIsEmptyObject) { EXPECT_EQ(HeadersToJson({}), "{}"); }

TEST(HeadersToJsonTest, KeepsEmptyValues) {
  rapidjson::Document doc;
  ASSERT_TRUE(ParseJson(HeadersToJson({{"x-empty", ""}}), doc).ok());
  ASSERT_TRUE(doc.HasMember("x-empty"));
  EXPECT_STREQ(doc["x-empty"].GetString(), "");
}

// --- ValidateJson -----------------------------------------------------------------------------

// ValidateJson must answer exactly as ParseJson: the same verdict and the same message (offsets
// included), on ASCII bodies (parsed without RapidJSON's encoding check) and on others.
TEST(ValidateJsonTest, AnswersExactlyAsParseJson) {
  std::string long_string = "{\"s\":\"" + std::string(1000, 'x') + "\"}";
  std::vector<std::string> texts = {
      "{}", "[]", "null", "0", " {\"a\" : [1, 2.5e3, true, null, {\"b\":\"c\"}]} ",
      long_string, long_string.substr(0, long_string.size() - 2),  // unterminated string
      "{\"a\":}", "[1,2", "{\"a\" 1}", "", "   ", "{} x", "tru", "[1,]", "{\"a\":1,}",
      "\"tab\tin a string\"", "\"bad escape \\q\"", "\"\\u00e9\\u4e2d\"",
      "\"\\uD83D\\uDE00\"", "\"\\uD800\"", "\"\\uDC00\"", "{\"\\uDC00\":1}",
      "\"caf\xC3\xA9\"", "\"\xC3\"", "\"\xFF\xFE\"", "\"\xED\xA0\x80\"", "[\"ok\", \"\xE2\x82\"]",
      std::string("{\"a\":1}\0{}", 10), std::string("[\"a\0b\"]", 7), std::string("\0", 1),
      Nested('[', kMaxJsonDepth), Nested('[', kMaxJsonDepth + 1), Nested('{', kMaxJsonDepth + 1),
      std::string(20, ' ') + "{\"k\":\"" + std::string(33, 'y') + "\"}" + std::string(17, ' ')};
  for (const std::string& text : texts) {
    rapidjson::Document doc;
    storage::Status parsed = ParseJson(text, doc);
    storage::Status validated = ValidateJson(text);
    EXPECT_EQ(validated.ok(), parsed.ok()) << text;
    EXPECT_EQ(validated.message(), parsed.message()) << text;
  }
}

TEST(ValidateJsonTest, RefusesInvalidUtf8InAStringAmongAsciiAndNot) {
  EXPECT_TRUE(ValidateJson("{\"name\":\"Zo\xC3\xAB\"}").ok());
  storage::Status s = ValidateJson("{\"name\":\"Zo\xC3\"}");
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("at byte 11"), std::string::npos) << s.message();
}

// --- FindRepeatedMember -----------------------------------------------------------------------

std::optional<std::string> Repeated(std::string_view text) {
  rapidjson::Document doc;
  storage::Status s = ParseJson(text, doc);
  EXPECT_TRUE(s.ok()) << text << ": " << s.message();  // RFC 8259 JSON, which RapidJSON keeps
  return FindRepeatedMember(doc);
}

TEST(FindRepeatedMemberTest, FindsARepeatedNameAtAnyDepth) {
  EXPECT_EQ(Repeated(R"({"dry_run": true, "dry_run": false})"), "dry_run");
  EXPECT_EQ(Repeated(R"({"a": 1, "b": 2, "c": 3, "b": 4})"), "b");
  EXPECT_EQ(Repeated(R"({"a": {"x": 1, "x": 1}})"), "x");
  EXPECT_EQ(Repeated(R"([1, [{"y": null, "z": 2, "y": null}]])"), "y");
  EXPECT_EQ(Repeated(R"({"a": 1, "\u0061": 2})"), "a");  // the same name once decoded
  EXPECT_EQ(Repeated(R"({"k\u0000": 1, "k\u0000": 2})"), std::string("k\0", 2));
  // In the object itself, the first name that repeats.
  EXPECT_EQ(Repeated(R"({"p": 1, "q": 1, "q": 2, "p": 2})"), "q");
}

TEST(FindRepeatedMemberTest, AcceptsUniqueNames) {
  for (const char* text : {"{}", "[]", "null", "1", R"({"a": 1, "b": {"a": 2}})",
                           R"([{"a": 1}, {"a": 2}])", R"({"k": 1, "k\u0000": 2, "K": 3})"}) {
    EXPECT_EQ(Repeated(text), std::nullopt) << text;
  }
}

TEST(FindRepeatedMemberTest, SurvivesTheDeepestDocumentParseJsonAllows) {
  std::string deep = Nested('{', kMaxJsonDepth - 1, R"({"d": 1, "d": 2})");
  EXPECT_EQ(Repeated(deep), "d");
}

// --- ApiRequest::Header -----------------------------------------------------------------------

TEST(ApiRequestHeaderTest, ReturnsFirstMatchOrNull) {
  ApiRequest request;
  request.headers = {{"x-a", "1"}, {"x-b", "2"}, {"x-a", "3"}};
  ASSERT_NE(request.Header("x-a"), nullptr);
  EXPECT_EQ(*request.Header("x-a"), "1");
  ASSERT_NE(request.Header("x-b"), nullptr);
  EXPECT_EQ(*request.Header("x-b"), "2");
  EXPECT_EQ(request.Header("x-c"), nullptr);
}

TEST(JsonQuoteTest, InvalidUtf8BecomesReplacementCharacterAndStaysValidJson) {
  std::string quoted = JsonQuote("a\xff\xc3(b\xc3\xa9");
  rapidjson::Document doc;
  ASSERT_TRUE(ParseJson(quoted, doc).ok()) << quoted;
  EXPECT_EQ(std::string(doc.GetString()), "a\xEF\xBF\xBD\xEF\xBF\xBD(b\xc3\xa9");
  std::string headers = HeadersToJson({{"x-bin", "\x80\x81"}});
  EXPECT_TRUE(ParseJson(headers, doc).ok()) << headers;
}

}  // namespace
}  // namespace hookvault::api
