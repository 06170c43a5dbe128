#include "api/verify/schema.h"

#include <gtest/gtest.h>
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <atomic>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "tests/testing/temp_dir.h"

namespace hookvault::api {
namespace {

// A booking like res:harmonics sends, and a schema for it that uses the common keywords.
constexpr std::string_view kBookingSchema = R"({
  "$schema": "http://json-schema.org/draft-04/schema#",
  "title": "booking",
  "type": "object",
  "required": ["event", "booking"],
  "properties": {
    "event": {"type": "string", "enum": ["booking.created", "booking.cancelled"]},
    "booking": {
      "type": "object",
      "required": ["ref", "guests"],
      "additionalProperties": false,
      "properties": {
        "ref": {"type": "string", "pattern": "^BK-[0-9]{6}$"},
        "guests": {"type": "integer", "minimum": 1, "maximum": 12},
        "note": {"type": "string", "maxLength": 8},
        "tags": {"type": "array", "items": {"type": "string"}},
        "starts_at": {"type": "string", "format": "date-time"}
      }
    }
  }
})";

constexpr std::string_view kValidBooking = R"({
  "event": "booking.created",
  "booking": {"ref": "BK-000042", "guests": 2, "note": "window", "tags": ["vip", "late"],
              "starts_at": "2026-12-07T20:00:00Z"}
})";

std::shared_ptr<const PayloadSchema> MustParse(std::string_view schema) {
  auto parsed = PayloadSchema::Parse(schema, "booking.json");
  EXPECT_TRUE(parsed.ok()) << parsed.status().message();
  return parsed.ok() ? *parsed : nullptr;
}

std::vector<SchemaError> Check(const PayloadSchema& schema, std::string_view payload) {
  rapidjson::Document doc;
  doc.Parse(payload.data(), payload.size());
  EXPECT_FALSE(doc.HasParseError()) << payload;
  return schema.Validate(doc);
}

std::string LoadError(std::string_view schema) {
  auto parsed = PayloadSchema::Parse(schema, "s.json");
  EXPECT_FALSE(parsed.ok()) << schema;
  return parsed.ok() ? "" : parsed.status().message();
}

// --- Loading ----------------------------------------------------------------------------------

TEST(PayloadSchemaLoadTest, MissingFileNamesTheFile) {
  testing::TempDir dir;
  auto loaded = PayloadSchema::LoadFile(dir.File("nope.json"));
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.status().code(), storage::StatusCode::kInvalidArgument);
  EXPECT_NE(loaded.status().message().find(dir.File("nope.json")), std::string::npos);
  EXPECT_NE(loaded.status().message().find("cannot read"), std::string::npos);
}

TEST(PayloadSchemaLoadTest, RefusesWhatIsNotARegularFile) {
  testing::TempDir dir;
  auto loaded = PayloadSchema::LoadFile(dir.path());
  ASSERT_FALSE(loaded.ok());
  EXPECT_NE(loaded.status().message().find("not a regular file"), std::string::npos)
      << loaded.status().message();
  // A $ref to a device would block the load (stdin) or read without end (/dev/zero).
  auto device = PayloadSchema::Parse(R"({"$ref": "/dev/zero"})", "s.json");
  ASSERT_FALSE(device.ok());
  EXPECT_NE(device.status().message().find("not a regular file"), std::string::npos)
      << device.status().message();
}

TEST(PayloadSchemaLoadTest, NotJsonNamesTheOffset) {
  testing::TempDir dir;
  std::string file = dir.Write("broken.json", R"({"type": "object",, })");
  auto loaded = PayloadSchema::LoadFile(file);
  ASSERT_FALSE(loaded.ok());
  EXPECT_NE(loaded.status().message().find(file), std::string::npos);
  EXPECT_NE(loaded.status().message().find("not JSON at offset 18"), std::string::npos)
      << loaded.status().message();
}

TEST(PayloadSchemaLoadTest, LoadsAFile) {
  testing::TempDir dir;
  auto loaded = PayloadSchema::LoadFile(dir.Write("booking.json", std::string(kBookingSchema)));
  ASSERT_TRUE(loaded.ok()) << loaded.status().message();
  EXPECT_TRUE(Check(**loaded, kValidBooking).empty());
}

TEST(PayloadSchemaLoadTest, RefusesWhatIsNotASchemaObject) {
  EXPECT_NE(LoadError("[]").find("not a schema"), std::string::npos);
  EXPECT_NE(LoadError("\"string\"").find("not a schema"), std::string::npos);
  EXPECT_NE(LoadError(R"({"properties": {"a": true}})").find("/properties/a"), std::string::npos);
  EXPECT_NE(LoadError(R"({"properties": []})").find("/properties"), std::string::npos);
  EXPECT_NE(LoadError(R"({"type": "strnig"})").find("/type"), std::string::npos);
  EXPECT_NE(LoadError(R"({"required": "a"})").find("/required"), std::string::npos);
  EXPECT_NE(LoadError(R"({"minLength": -1})").find("/minLength"), std::string::npos);
  EXPECT_NE(LoadError(R"({"enum": []})").find("/enum"), std::string::npos);
  EXPECT_NE(LoadError(R"({"anyOf": [{}, 3]})").find("/anyOf/1"), std::string::npos);
  EXPECT_NE(LoadError(R"({"multipleOf": 0})").find("/multipleOf"), std::string::npos);
  // Not UTF-8: RapidJSON's regex would stop compiling at the bad byte, mid-group (fuzzer).
  EXPECT_NE(LoadError("{\"pattern\": \"(\xff|b)*\"}").find("not JSON at offset 14"),
            std::string::npos);
  EXPECT_NE(LoadError(R"({"pattern": "(a|\udefa)*"})").find("not valid UTF-8"), std::string::npos);
  // RapidJSON compiles every object of the file recursively, annotations included.
  std::string deep = R"({"default": )" + std::string(200, '[') + std::string(200, ']') + "}";
  EXPECT_NE(LoadError(deep).find("nested deeper than 128"), std::string::npos);
}

TEST(PayloadSchemaLoadTest, RefusesKeywordsRapidJsonWouldIgnore) {
  std::string typo = LoadError(R"({"properties": {"a": {"requried": ["b"]}}})");
  EXPECT_NE(typo.find("s.json: /properties/a/requried: unknown keyword"), std::string::npos)
      << typo;
  std::string later = LoadError(R"({"properties": {"a": {"const": 1}}})");
  EXPECT_NE(later.find("later draft"), std::string::npos) << later;
  std::string exclusive = LoadError(R"({"exclusiveMinimum": 5})");
  EXPECT_NE(exclusive.find("/exclusiveMinimum"), std::string::npos) << exclusive;
  // Annotations, `format` and vendor extensions load.
  EXPECT_TRUE(PayloadSchema::Parse(R"({"title": "t", "description": "d", "default": 1,
      "format": "email", "x-owner": "billing", "definitions": {"a": {"type": "string"}}})",
                                   "s.json")
                  .ok());
}

// CI's ASan build (GCC's UBSan) on the fuzz regression multipleof-int64-min: RapidJSON 1.1.0
// negates -9223372036854775808 for an integer multipleOf, which overflows. That one number is
// refused at its pointer before RapidJSON sees it.
TEST(PayloadSchemaValidateTest, TheSmallestInt64UnderAnIntegerMultipleOfIsAViolation) {
  auto schema = MustParse(R"({"properties": {"n": {"multipleOf": 2}}})");
  ASSERT_NE(schema, nullptr);
  std::vector<SchemaError> errors = Check(*schema, R"({"n": -9223372036854775808})");
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].pointer, "/n");
  EXPECT_EQ(errors[0].keyword, "multipleOf");
  EXPECT_TRUE(Check(*schema, R"({"n": -4})").empty());
  EXPECT_FALSE(Check(*schema, R"({"n": 3})").empty());
  // Without an integer multipleOf the number is the validator's as any other.
  auto plain = MustParse(R"({"properties": {"n": {"type": "integer"}}})");
  ASSERT_NE(plain, nullptr);
  EXPECT_TRUE(Check(*plain, R"({"n": -9223372036854775808})").empty());
}

// The schema fuzz target's find: an empty "dependencies" made RapidJSON memset a null array of
// member flags on every object payload (UBSan: null passed to memset).
TEST(PayloadSchemaLoadTest, RefusesAnEmptyDependencies) {
  EXPECT_NE(LoadError(R"({"dependencies": {}})").find("at least one member"), std::string::npos);
  EXPECT_TRUE(PayloadSchema::Parse(R"({"dependencies": {"a": ["b"]}})", "s.json").ok());
}

TEST(PayloadSchemaLoadTest, RefusesPatternsRapidJsonCannotCompile) {
  // RapidJSON drops a pattern it cannot compile and then accepts every string.
  std::string digit = LoadError(R"({"properties": {"ref": {"pattern": "^\\d+$"}}})");
  EXPECT_NE(digit.find("/properties/ref/pattern"), std::string::npos) << digit;
  EXPECT_NE(digit.find("escape RapidJSON 1.1.0 does not know"), std::string::npos) << digit;
  // RapidJSON's regex asserts on these, or without assertions reads past its operand stack.
  for (const char* pattern : {"^(a", "a()", "a|", "(|a)", "*a", "{2}", "[z-a]", "[]", "a{0}", "a^b",
                              "a$b", "(a$)", "a{2,1}", "a{1001}", "((a{999}){999})",
                              // Its matcher recurses without end on a loop matching nothing.
                              "a**", "(a?)+", "(a|b*)*", "(a*){2,}", "x(a?b?)*y"}) {
    std::string schema = R"({"patternProperties": {")" + std::string(pattern) + R"(": {}}})";
    std::string error = LoadError(schema);
    EXPECT_NE(error.find("/patternProperties"), std::string::npos) << pattern << ": " << error;
  }
  // What it compiles as written loads (written as in the JSON text, escapes doubled).
  for (const char* pattern : {"^BK-[0-9]{6}$", "a|b|(c|d)*", R"([^a-z\\\\]+)", R"(\\.json$)",
                              "^[-a]{1,3}(x)?$", "a{2,}", "é+", "(a?){3}", "(a|b)*c?"}) {
    std::string schema = R"({"properties": {"a": {"pattern": ")" + std::string(pattern) + R"("}}})";
    auto parsed = PayloadSchema::Parse(schema, "s.json");
    EXPECT_TRUE(parsed.ok()) << pattern << ": " << parsed.status().message();
  }
}

// Random patterns over the regex's metacharacters: whatever the loader accepts must compile
// and match without crashing (RapidJSON's regex overflowed its stack on "a**" and its heap on
// "a()" before the loader refused them; under ASan, scripts/test's sanitizer run sees more).
// RapidJSON compiles every object of a schema file as a schema, annotations included
// (fuzzer): a pattern, patternProperties or $ref there reaches its regex or its resolution.
TEST(PayloadSchemaLoadTest, ChecksPatternsAndRefsInAnnotationsToo) {
  std::string in_extension = LoadError(R"({"x-notes": {"a": {"pattern": "({2,3}"}}})");
  EXPECT_NE(in_extension.find("/x-notes/a/pattern"), std::string::npos) << in_extension;
  std::string in_default = LoadError(R"({"default": [{"patternProperties": 5}]})");
  EXPECT_NE(in_default.find("/default/0/patternProperties"), std::string::npos) << in_default;
  std::string ref_loop = LoadError(R"({"examples": [{"$ref": "#/examples/0"}]})");
  EXPECT_NE(ref_loop.find("/examples/0/$ref"), std::string::npos) << ref_loop;
  EXPECT_TRUE(
      PayloadSchema::Parse(R"({"default": {"pattern": "^a$", "$ref": "#"}})", "s.json").ok());
}

TEST(PayloadSchemaLoadTest, PatternsItAcceptsMatchWithoutCrashing) {
  std::mt19937 random(17);
  const std::string alphabet = "ab()[]{}|?*+.^$\\-019,x";
  int accepted = 0;
  for (int i = 0; i < 20000; ++i) {
    std::string pattern;
    for (size_t n = random() % 9; n > 0; --n) pattern += alphabet[random() % alphabet.size()];
    rapidjson::StringBuffer schema;
    rapidjson::Writer<rapidjson::StringBuffer> writer(schema);
    writer.StartObject();
    writer.Key("pattern");
    writer.String(pattern.c_str(), static_cast<rapidjson::SizeType>(pattern.size()));
    writer.EndObject();
    auto parsed = PayloadSchema::Parse(schema.GetString(), "s.json");
    if (!parsed.ok()) continue;
    ++accepted;
    for (const char* text : {"", "a", "ab", "aab", "b{2}", "x.a", "ba(", "aaaaaaaab"}) {
      rapidjson::Document value;
      value.SetString(text, value.GetAllocator());
      (*parsed)->Validate(value);
    }
  }
  EXPECT_GT(accepted, 1000);  // the grammar is not so narrow that the loop tests nothing
}

TEST(PayloadSchemaLoadTest, RefusesARefThatDoesNotResolve) {
  std::string local = LoadError(R"({"properties": {"a": {"$ref": "#/definitions/missing"}}})");
  EXPECT_NE(local.find("/properties/a/$ref"), std::string::npos) << local;
  EXPECT_NE(local.find("does not resolve"), std::string::npos) << local;
  std::string not_schema = LoadError(R"({"properties": {"a": {"$ref": "#/properties/b/type"},
                                                        "b": {"type": "string"}}})");
  EXPECT_NE(not_schema.find("does not resolve"), std::string::npos) << not_schema;
  std::string loop = LoadError(R"({"definitions": {"a": {"$ref": "#/definitions/b"},
      "b": {"$ref": "#/definitions/a"}}, "properties": {"x": {"$ref": "#/definitions/a"}}})");
  EXPECT_NE(loop.find("loops"), std::string::npos) << loop;
  std::string url = LoadError(R"({"$ref": "https://example.com/schema.json"})");
  EXPECT_NE(url.find("not a file path"), std::string::npos) << url;
}

TEST(PayloadSchemaLoadTest, ResolvesRefsToFilesBesideTheSchema) {
  testing::TempDir dir;
  std::filesystem::create_directories(dir.File("common"));
  // money.json's own $refs: one within it, one to a file beside it (relative to common/).
  dir.Write("common/money.json", R"({"definitions": {
      "amount": {"$ref": "#/definitions/cents"},
      "cents": {"type": "integer", "minimum": 0},
      "money": {"properties": {"currency": {"$ref": "currency.json"}}}}})");
  dir.Write("common/currency.json", R"({"type": "string", "enum": ["EUR", "GBP"]})");
  std::string file = dir.Write("payment.json", R"({"type": "object",
      "properties": {"amount": {"$ref": "common/money.json#/definitions/amount"},
                     "price": {"$ref": "common/money.json#/definitions/money"}}})");
  auto loaded = PayloadSchema::LoadFile(file);
  ASSERT_TRUE(loaded.ok()) << loaded.status().message();
  EXPECT_TRUE(Check(**loaded, R"({"amount": 5, "price": {"currency": "EUR"}})").empty());
  auto errors = Check(**loaded, R"({"amount": -5})");
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].pointer, "/amount");
  EXPECT_EQ(errors[0].keyword, "minimum");
  errors = Check(**loaded, R"({"price": {"currency": "USD"}})");
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].pointer, "/price/currency");
  EXPECT_EQ(errors[0].keyword, "enum");
}

// RapidJSON 1.1.0 finds nothing when a $ref to another file lands on a $ref to a third file,
// and then checks nothing there: refused at load.
TEST(PayloadSchemaLoadTest, RefusesARefToAFileThatLandsOnAnotherFileRef) {
  testing::TempDir dir;
  dir.Write("money.json", R"({"definitions": {"amount": {"$ref": "amount.json"}}})");
  dir.Write("amount.json", R"({"type": "integer", "minimum": 0})");
  std::string file = dir.Write("payment.json", R"({"type": "object",
      "properties": {"amount": {"$ref": "money.json#/definitions/amount"}}})");
  auto loaded = PayloadSchema::LoadFile(file);
  ASSERT_FALSE(loaded.ok());
  EXPECT_NE(loaded.status().message().find("does not follow"), std::string::npos)
      << loaded.status().message();
}

TEST(PayloadSchemaLoadTest, RefusesMissingAndCyclicFileRefs) {
  testing::TempDir dir;
  std::string missing = dir.Write("a.json", R"({"properties": {"x": {"$ref": "gone.json"}}})");
  auto loaded = PayloadSchema::LoadFile(missing);
  ASSERT_FALSE(loaded.ok());
  EXPECT_NE(loaded.status().message().find("/properties/x/$ref"), std::string::npos)
      << loaded.status().message();
  EXPECT_NE(loaded.status().message().find("gone.json: cannot read"), std::string::npos)
      << loaded.status().message();

  dir.Write("b.json", R"({"properties": {"c": {"$ref": "c.json"}}})");
  std::string cyclic = dir.Write("c.json", R"({"properties": {"b": {"$ref": "b.json"}}})");
  loaded = PayloadSchema::LoadFile(cyclic);
  ASSERT_FALSE(loaded.ok());
  EXPECT_NE(loaded.status().message().find("cycle"), std::string::npos)
      << loaded.status().message();

  std::string fragment = dir.Write("d.json", R"({"$ref": "b.json#/definitions/none"})");
  loaded = PayloadSchema::LoadFile(fragment);
  ASSERT_FALSE(loaded.ok());
  EXPECT_NE(loaded.status().message().find("does not resolve"), std::string::npos)
      << loaded.status().message();
}

// --- Validating -------------------------------------------------------------------------------

TEST(PayloadSchemaValidateTest, AcceptsValidPayloads) {
  auto schema = MustParse(kBookingSchema);
  ASSERT_NE(schema, nullptr);
  EXPECT_TRUE(Check(*schema, kValidBooking).empty());
  EXPECT_TRUE(Check(*schema, R"({"event": "booking.cancelled",
                                 "booking": {"ref": "BK-123456", "guests": 12}})")
                  .empty());
  // `format` is not checked by RapidJSON 1.1.0 (README).
  EXPECT_TRUE(Check(*schema, R"({"event": "booking.created",
      "booking": {"ref": "BK-123456", "guests": 1, "starts_at": "tomorrow"}})")
                  .empty());
}

struct Case {
  const char* payload;
  const char* pointer;
  const char* keyword;
  const char* message;  // a part of the sentence
};

TEST(PayloadSchemaValidateTest, NamesThePointerAndTheKeyword) {
  auto schema = MustParse(kBookingSchema);
  ASSERT_NE(schema, nullptr);
  const Case cases[] = {
      {R"({"event": "booking.created", "booking": {"ref": 42, "guests": 2}})", "/booking/ref",
       "type", "is an integer, not string"},
      {R"({"event": "booking.created", "booking": {"ref": "BK-000001"}})", "/booking", "required",
       "lacks the required member \"guests\""},
      {R"({"booking": {"ref": "BK-000001", "guests": 1}})", "", "required",
       "the payload lacks the required member \"event\""},
      {R"({"event": "booking.moved", "booking": {"ref": "BK-000001", "guests": 1}})", "/event",
       "enum", "is not one of [\"booking.created\",\"booking.cancelled\"]"},
      {R"({"event": "booking.created", "booking": {"ref": "BK-000001", "guests": 0}})",
       "/booking/guests", "minimum", "must be at least 1"},
      {R"({"event": "booking.created", "booking": {"ref": "BK-000001", "guests": 13}})",
       "/booking/guests", "maximum", "must be at most 12"},
      {R"({"event": "booking.created",
           "booking": {"ref": "BK-000001", "guests": 1, "note": "nine char"}})",
       "/booking/note", "maxLength", "is longer than 8 characters"},
      {R"({"event": "booking.created", "booking": {"ref": "BK-00001", "guests": 1}})",
       "/booking/ref", "pattern", "does not match the pattern \"^BK-[0-9]{6}$\""},
      {R"({"event": "booking.created", "booking": {"ref": "xBK-000001", "guests": 1}})",
       "/booking/ref", "pattern", "pattern"},
      {R"({"event": "booking.created",
           "booking": {"ref": "BK-000001", "guests": 1, "tags": ["a", 7]}})",
       "/booking/tags/1", "type", "is an integer, not string"},
      {R"({"event": "booking.created",
           "booking": {"ref": "BK-000001", "guests": 1, "room": 4}})",
       "/booking/room", "additionalProperties", "/booking/room is a member the schema does not"},
      {R"([1, 2])", "", "type", "the payload is an array, not object"},
  };
  for (const Case& c : cases) {
    auto errors = Check(*schema, c.payload);
    ASSERT_EQ(errors.size(), 1u) << c.payload;
    EXPECT_EQ(errors[0].pointer, c.pointer) << c.payload;
    EXPECT_EQ(errors[0].keyword, c.keyword) << c.payload;
    EXPECT_NE(errors[0].message.find(c.message), std::string::npos)
        << c.payload << " -> " << errors[0].message;
  }
}

TEST(PayloadSchemaValidateTest, ItemsOfATupleAndEscapedPointers) {
  auto schema = MustParse(R"({"properties": {
      "pair": {"type": "array", "items": [{"type": "string"}, {"type": "integer"}],
               "additionalItems": false},
      "a/b": {"properties": {"c~d": {"type": "boolean"}}}}})");
  ASSERT_NE(schema, nullptr);
  auto errors = Check(*schema, R"({"pair": ["a", 1, 2]})");
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].keyword, "items");
  EXPECT_EQ(errors[0].pointer, "/pair/2");
  errors = Check(*schema, R"({"a/b": {"c~d": "yes"}})");
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].pointer, "/a~1b/c~0d");
  EXPECT_EQ(errors[0].keyword, "type");
}

// JSON Schema's `pattern` searches (it is not anchored unless it says ^ or $).
TEST(PayloadSchemaValidateTest, PatternsSearchUnlessAnchored) {
  auto schema = MustParse(R"({"properties": {"code": {"pattern": "[0-9]{3}"},
                                             "file": {"pattern": "\\.json$"}}})");
  ASSERT_NE(schema, nullptr);
  EXPECT_TRUE(Check(*schema, R"({"code": "ab123cd", "file": "a.json"})").empty());
  auto errors = Check(*schema, R"({"code": "ab12cd"})");
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].keyword, "pattern");
  errors = Check(*schema, R"({"file": "ajson"})");
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].pointer, "/file");
}

TEST(PayloadSchemaValidateTest, FollowsLocalRefsForTheMessage) {
  auto schema = MustParse(R"({"definitions": {"ref": {"type": "string", "minLength": 3}},
                              "properties": {"ref": {"$ref": "#/definitions/ref"}}})");
  ASSERT_NE(schema, nullptr);
  auto errors = Check(*schema, R"({"ref": "ab"})");
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].pointer, "/ref");
  EXPECT_EQ(errors[0].keyword, "minLength");
  EXPECT_NE(errors[0].message.find("shorter than 3"), std::string::npos) << errors[0].message;
}

// Many threads validate against one schema at once, each payload with its own answer. The
// long strings matter: RapidJSON 1.1.0's regex keeps its match state in the compiled schema,
// so two searches sharing it corrupt each other's answer (or the heap) in mid-string.
TEST(PayloadSchemaValidateTest, ValidatesFromManyThreadsAtOnce) {
  auto schema = MustParse(R"({"properties": {"text": {"pattern": "^(ab|cd)+(x|y)*$"}}})");
  ASSERT_NE(schema, nullptr);
  std::string text;
  for (int i = 0; i < 4000; ++i) text += i % 3 == 0 ? "cd" : "ab";
  rapidjson::Document good;
  good.Parse(("{\"text\": \"" + text + "xy\"}").c_str());
  rapidjson::Document bad;
  bad.Parse(("{\"text\": \"" + text + "xz\"}").c_str());
  ASSERT_TRUE(schema->Validate(good).empty());
  ASSERT_FALSE(schema->Validate(bad).empty());
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 300; ++i) {
        bool expect_valid = (i + t) % 2 == 0;
        auto errors = schema->Validate(expect_valid ? good : bad);
        if (expect_valid != errors.empty() || (!expect_valid && errors[0].keyword != "pattern")) {
          wrong.fetch_add(1);
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(wrong.load(), 0);
}

// --- Cost: what RapidJSON 1.1.0 cannot validate in bounded time is refused at load -----------

// RapidJSON starts a validator per allOf/anyOf/oneOf/not/dependencies schema on the same value;
// a $ref back through one of them made the first Validate() overflow the stack (review).
TEST(PayloadSchemaCostTest, RefusesCyclesThroughSameValueKeywords) {
  for (const char* schema :
       {R"({"anyOf": [{"$ref": "#"}]})", R"({"allOf": [{"$ref": "#"}], "type": "object"})",
        R"({"definitions": {"a": {"not": {"$ref": "#/definitions/a"}}},
            "properties": {"a": {"$ref": "#/definitions/a"}}})",
        R"({"dependencies": {"a": {"$ref": "#"}}})",
        R"({"definitions": {"a": {"oneOf": [{"$ref": "#/definitions/b"}, {"type": "null"}]},
                            "b": {"allOf": [{"$ref": "#/definitions/a"}]}},
            "properties": {"x": {"$ref": "#/definitions/a"}}})"}) {
    std::string error = LoadError(schema);
    EXPECT_NE(error.find("cycle"), std::string::npos) << schema << ": " << error;
  }
  // Recursion that goes down into a child value is one validator per level: allowed.
  auto tree = MustParse(R"({"type": "object", "properties": {"a": {"$ref": "#"}},
                            "additionalProperties": {"type": "array", "items": {"$ref": "#"}}})");
  ASSERT_NE(tree, nullptr);
  EXPECT_TRUE(Check(*tree, R"({"a": {"a": {}}})").empty());
  EXPECT_TRUE(Check(*tree, R"({"a": {"b": [{"a": {}}]}})").empty());
  auto errors = Check(*tree, R"({"a": {"a": 5}})");
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].pointer, "/a/a");
  EXPECT_EQ(errors[0].keyword, "type");
}

// A discriminated union of recursive variants ran both branches' subtrees at every level:
// 2^depth validators (40 s at depth 20 in the review).
TEST(PayloadSchemaCostTest, RefusesARecursiveUnion) {
  std::string error = LoadError(R"({"oneOf": [
      {"type": "object", "properties": {"kind": {"enum": ["a"]},
       "children": {"type": "array", "items": {"$ref": "#"}}}, "required": ["kind"]},
      {"type": "object", "properties": {"kind": {"enum": ["b"]},
       "children": {"type": "array", "items": {"$ref": "#"}}}, "required": ["kind"]}]})");
  EXPECT_NE(error.find("/oneOf/0"), std::string::npos) << error;
  EXPECT_NE(error.find("cycle passes through \"oneOf\""), std::string::npos) << error;
  // A member name may match several patterns (and a property): each reruns the recursion.
  error = LoadError(R"({"properties": {"a": {"$ref": "#"}}, "patternProperties": {"^a": {"$ref": "#"}}})");
  EXPECT_NE(error.find("patternProperties"), std::string::npos) << error;
  // A union on the way to a recursive schema, not on its cycle, costs one validator per
  // branch: it loads, and a deep payload is validated (the outcome is what is checked).
  auto schema = MustParse(R"({"definitions": {"node": {"type": "object",
      "properties": {"kind": {"enum": ["a", "b"]},
                     "children": {"type": "array", "items": {"$ref": "#/definitions/node"}}}}},
      "anyOf": [{"$ref": "#/definitions/node"}, {"type": "null"}]})");
  ASSERT_NE(schema, nullptr);
  std::string payload;
  for (int i = 0; i < 40; ++i) payload += R"({"children": [)";
  payload += R"({"kind": "a"})";
  for (int i = 0; i < 40; ++i) payload += R"(], "kind": "a"})";
  EXPECT_TRUE(Check(*schema, payload).empty());
  // A cycle through one branch while the other ends (a nullable recursive member) is one
  // validator per level: it loads. A branch and a member both leading back is two: refused.
  auto list = MustParse(R"({"definitions": {"node": {"type": "object", "required": ["v"],
      "properties": {"v": {"type": "integer"},
                     "next": {"anyOf": [{"$ref": "#/definitions/node"}, {"type": "null"}]}}}},
      "properties": {"head": {"$ref": "#/definitions/node"}}})");
  ASSERT_NE(list, nullptr);
  std::string chain;
  for (int i = 0; i < 60; ++i) chain += R"({"v": 1, "next": )";
  chain += "null";
  for (int i = 0; i < 60; ++i) chain += "}";
  EXPECT_TRUE(Check(*list, R"({"head": )" + chain + "}").empty());
  EXPECT_EQ(Check(*list, R"({"head": {"v": 1, "next": {"v": "x", "next": null}}})").size(), 1u);
  error = LoadError(R"({"definitions": {"b": {"properties": {"x": {"$ref": "#"}}}},
      "allOf": [{"$ref": "#/definitions/b"}], "properties": {"x": {"$ref": "#"}}})");
  EXPECT_NE(error.find("another way too"), std::string::npos) << error;
  payload.replace(payload.find(R"({"kind": "a"})"), 13, R"({"kind": "c"})");
  auto errors = Check(*schema, payload);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].keyword, "anyOf");
}

// RapidJSON compares every item with every earlier one before it checks maxItems (4.6 s for
// 1 MiB under maxItems 20): no schema can bound it, so it is refused.
TEST(PayloadSchemaCostTest, RefusesUniqueItems) {
  std::string error = LoadError(
      R"({"properties": {"tags": {"type": "array", "uniqueItems": true, "maxItems": 20}}})");
  EXPECT_NE(error.find("/properties/tags/uniqueItems"), std::string::npos) << error;
  EXPECT_NE(error.find("quadratic"), std::string::npos) << error;
  EXPECT_NE(MustParse(R"({"type": "array", "uniqueItems": false, "maxItems": 20})"), nullptr);
}

// RapidJSON's matcher costs about live states x splits per character (13.9 s for 1,000
// characters under "[a-z]{1,1000}x" in the review): patterns are bounded so one 1 MiB payload
// stays under a second (measured figures: README, Patterns).
TEST(PayloadSchemaCostTest, RefusesPatternsThatCostTooMuchPerCharacter) {
  for (const char* pattern : {"[a-z]{1,1000}x", "[a-z0-9.-]{1,255}x", "[a-z]{1,64}x",
                              "[a-z]{1,20}x", "^[a-z]{1,1000}x", "^[a-z]{1,30}x$", "^[a-z]+[a-z]{1,9}x",
                              "a?b?c?d?e?f?g?h?i?", "(a|b|c|d|e|f|g|h|i|j)"}) {
    std::string error = LoadError(R"({"properties": {"s": {"type": "string", "maxLength": 64,
                                      "pattern": ")" + std::string(pattern) + R"("}}})");
    EXPECT_NE(error.find("optional steps"), std::string::npos) << pattern << ": " << error;
  }
  std::string unanchored = LoadError(
      R"({"pattern": "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"})");
  EXPECT_NE(unanchored.find("not anchored"), std::string::npos) << unanchored;
  // Two ways to match nothing in one place: the matcher's work doubles per such group.
  for (const char* pattern : {"(a?)?", "(a?|b?)", "(a*){1,3}", "x(a?b?|c)?y"}) {
    std::string error = LoadError(R"({"pattern": ")" + std::string(pattern) + R"("})");
    EXPECT_NE(error.find("empty string"), std::string::npos) << pattern << ": " << error;
  }
  for (const char* pattern :
       {"^[A-Z]{3}-[0-9]{6}$", "^[a-z0-9_.-]+@[a-z0-9.-]+$", "^[0-9]{4}-[0-9]{2}-[0-9]{2}$",
        "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}([.][0-9]{1,6})?(Z|[+-][0-9]{2}:"
        "[0-9]{2})$",
        "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", "[a-z]{1,8}x",
        "^https://[a-z0-9.-]+(/[a-zA-Z0-9._~/-]*)?$", "\\\\.json$", "^evt_[0-9a-zA-Z]{8,32}$"}) {
    std::string schema = R"({"properties": {"s": {"type": "string", "maxLength": 64,
                             "pattern": ")" + std::string(pattern) + R"("}}})";
    auto parsed = PayloadSchema::Parse(schema, "s.json");
    EXPECT_TRUE(parsed.ok()) << pattern << ": " << parsed.status().message();
  }
}

// RapidJSON matches a pattern up to the string's first U+0000, so "abc\u0000<script>" passed
// "^[a-z]+$" (review): such a string is a pattern violation, a member name with U+0000 one of
// patternProperties.
TEST(PayloadSchemaCostTest, AStringWithNulFailsItsPattern) {
  auto schema = MustParse(R"({"properties": {"s": {"type": "string", "pattern": "^[a-z]+$"}}})");
  ASSERT_NE(schema, nullptr);
  auto errors = Check(*schema, R"({"s": "abc\u0000<script>"})");
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].pointer, "/s");
  EXPECT_EQ(errors[0].keyword, "pattern");
  EXPECT_TRUE(Check(*schema, R"({"s": "abc"})").empty());
  errors = Check(*schema, R"({"t": ["ok", "x\u0000"]})");
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].pointer, "/t/1");
  auto names = MustParse(R"({"patternProperties": {"^a$": {"type": "integer"}}})");
  ASSERT_NE(names, nullptr);
  errors = Check(*names, R"({"o": {"a\u0000b": "text"}})");
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].keyword, "patternProperties");
  // Without patterns a string with U+0000 is as valid as any other.
  auto plain = MustParse(R"({"properties": {"s": {"type": "string", "maxLength": 20}}})");
  ASSERT_NE(plain, nullptr);
  EXPECT_TRUE(Check(*plain, R"({"s": "abc\u0000<script>"})").empty());
}

}  // namespace
}  // namespace hookvault::api
