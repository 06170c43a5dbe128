// The JSON Schema fuzz target: a schema through api::PayloadSchema::Parse, and a payload
// through Validate against it and against the bench's booking schema.
//
// Input (lines end with '\n'; a '\r' before it is dropped):
//   <schema>    a schema file's text (one line)
//   <payload>   a webhook body: every remaining byte, read with api::ParseJson as ingest reads
//               it (nesting up to 128, UTF-8 checked). When it is not JSON, the schema's own
//               document is the payload.
//
// The loader stands between RapidJSON 1.1.0's validator and what a config may say, and refuses
// what that validator would crash on or silently not check (a pattern its regex mis-compiles or
// loops on, a $ref that does not resolve, ...). So whatever loads must validate any payload
// without crashing, and:
//   Parse's refusal is kInvalidArgument whose message starts with the file's name;
//   Validate returns at most one error (RapidJSON stops at the first), with a keyword and a
//   message, and a valid pointer that resolves in the payload (unless the payload repeats a
//   member name: the error may be in a later copy, the pointer reads the first);
//   Validate gives the same answer twice (compiled schemas are pooled and reused after a
//   failure half-way through a payload), and the same as a fresh load of the same schema.
#include <rapidjson/document.h>
#include <rapidjson/pointer.h>

#include <string>
#include <string_view>
#include <vector>

#include "api/json.h"
#include "api/verify/schema.h"
#include "tests/fuzz/fuzz_targets.h"

namespace hookvault::fuzz {
namespace {

// scripts/bench.d/booking.schema.json, less its annotations: the realistic schema every payload
// is also validated against, so that payload bytes reach the validator even when the first
// line is no schema.
constexpr std::string_view kBookingSchema = R"({"type": "object",
  "required": ["id", "event", "booking"],
  "properties": {
    "id": {"type": "string", "pattern": "^evt_[0-9a-zA-Z]{8,32}$"},
    "event": {"enum": ["booking.created", "booking.updated", "booking.cancelled"]},
    "booking": {"type": "object", "required": ["ref", "party"], "additionalProperties": false,
      "properties": {
        "ref": {"type": "string", "pattern": "^B-[0-9]{4,10}$"},
        "status": {"enum": ["pending", "confirmed", "cancelled"]},
        "party": {"type": "integer", "minimum": 1, "maximum": 40, "multipleOf": 1},
        "guest": {"type": "object", "properties": {
          "email": {"type": "string", "pattern": "^[^@ ]+@[^@ ]+$", "maxLength": 254}}},
        "amount": {"type": "number", "exclusiveMinimum": true, "minimum": 0},
        "tags": {"type": "array", "maxItems": 20,
                 "items": {"type": "string", "maxLength": 32}},
        "notes": {"type": ["string", "null"], "maxLength": 500},
        "extra": {"anyOf": [{"type": "null"}, {"$ref": "#/definitions/pair"}]}}}},
  "definitions": {"pair": {"type": "array", "items": [{"type": "string"}, {"type": "number"}],
                           "additionalItems": false}}})";

// Returns whether `value` holds a "$ref" to another file: the target leaves those out, so that
// it neither reads the machine's files nor depends on them.
bool RefersToAFile(const rapidjson::Value& value) {
  if (value.IsArray()) {
    for (const auto& item : value.GetArray()) {
      if (RefersToAFile(item)) return true;
    }
  }
  if (!value.IsObject()) return false;
  for (const auto& member : value.GetObject()) {
    if (std::string_view(member.name.GetString(), member.name.GetStringLength()) == "$ref" &&
        member.value.IsString() && member.value.GetStringLength() > 0 &&
        member.value.GetString()[0] != '#') {
      return true;
    }
    if (RefersToAFile(member.value)) return true;
  }
  return false;
}

// Returns whether some object in `value` repeats a member name. RapidJSON validates every copy,
// while a JSON pointer reads the first: an error in a later copy has a pointer that finds
// another value (or none).
bool RepeatsAName(const rapidjson::Value& value) {
  if (value.IsArray()) {
    for (const auto& item : value.GetArray()) {
      if (RepeatsAName(item)) return true;
    }
  }
  if (!value.IsObject()) return false;
  for (auto a = value.MemberBegin(); a != value.MemberEnd(); ++a) {
    for (auto b = value.MemberBegin(); b != a; ++b) {
      if (a->name == b->name) return true;
    }
    if (RepeatsAName(a->value)) return true;
  }
  return false;
}

std::string Describe(const std::vector<api::SchemaError>& errors) {
  std::string out;
  for (const api::SchemaError& e : errors) out += e.pointer + " " + e.keyword + ": " + e.message;
  return out.empty() ? "(valid)" : out;
}

void CheckValidate(const api::PayloadSchema& schema, const api::PayloadSchema& again,
                   const rapidjson::Value& payload) {
  std::vector<api::SchemaError> errors = schema.Validate(payload);
  HOOKVAULT_FUZZ_CHECK(errors.size() <= 1, Describe(errors));
  for (const api::SchemaError& e : errors) {
    HOOKVAULT_FUZZ_CHECK(!e.keyword.empty() && !e.message.empty(), Describe(errors));
    rapidjson::Pointer pointer(e.pointer.c_str());
    HOOKVAULT_FUZZ_CHECK(pointer.IsValid(), "not a JSON pointer: " + Describe(errors));
    HOOKVAULT_FUZZ_CHECK(pointer.Get(payload) != nullptr || RepeatsAName(payload),
                         "the pointer does not resolve in the payload: " + Describe(errors));
  }
  std::string first = Describe(errors);
  HOOKVAULT_FUZZ_CHECK(Describe(schema.Validate(payload)) == first,
                       "a second Validate differs from " + first);
  HOOKVAULT_FUZZ_CHECK(Describe(again.Validate(payload)) == first,
                       "a fresh load's Validate differs from " + first);
}

}  // namespace

int FuzzSchema(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  std::vector<std::string_view> lines = SplitLines(input, 2);
  std::string_view schema_text = lines.empty() ? std::string_view() : lines[0];
  std::string_view payload_text = lines.size() > 1 ? lines[1] : std::string_view();

  rapidjson::Document payload;
  bool have_payload = api::ParseJson(payload_text, payload).ok();
  if (!have_payload) have_payload = api::ParseJson(schema_text, payload).ok();

  static const std::shared_ptr<const api::PayloadSchema> booking = [] {
    auto parsed = api::PayloadSchema::Parse(kBookingSchema, "booking.json");
    HOOKVAULT_FUZZ_CHECK(parsed.ok(), parsed.status().message());
    return *parsed;
  }();
  if (have_payload) CheckValidate(*booking, *booking, payload);

  rapidjson::Document schema_json;
  if (api::ParseJson(schema_text, schema_json).ok() && RefersToAFile(schema_json)) return 0;
  auto schema = api::PayloadSchema::Parse(schema_text, "fuzz.json");
  if (!schema.ok()) {
    HOOKVAULT_FUZZ_CHECK(schema.status().code() == storage::StatusCode::kInvalidArgument,
                         schema.status().message());
    HOOKVAULT_FUZZ_CHECK(schema.status().message().starts_with("fuzz.json: "),
                         schema.status().message());
    return 0;
  }
  auto again = api::PayloadSchema::Parse(schema_text, "fuzz.json");
  HOOKVAULT_FUZZ_CHECK(again.ok(), "loads once, not twice: " + again.status().message());
  if (have_payload) CheckValidate(**schema, **again, payload);
  return 0;
}

}  // namespace hookvault::fuzz
