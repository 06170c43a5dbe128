// JSON helpers on RapidJSON: bounded-depth parsing and small writers.
#ifndef HOOKVAULT_API_JSON_H_
#define HOOKVAULT_API_JSON_H_

#include <rapidjson/document.h>

#include <optional>
#include <string>
#include <string_view>

#include "api/http.h"
#include "storage/status.h"

namespace hookvault::api {

// Deepest nesting of arrays and objects a webhook body may have.
inline constexpr int kMaxJsonDepth = 128;

// Parses `text` into `doc` with RapidJSON's iterative parser (no recursion, so no stack
// overflow), UTF-8 validated (every string of `doc` too: a \u escape of an unpaired surrogate
// is refused), refusing nesting deeper than `max_depth`. Returns kInvalidArgument naming the
// problem and its byte offset.
storage::Status ParseJson(std::string_view text, rapidjson::Document& doc,
                          int max_depth = kMaxJsonDepth);

// Checks `text` exactly as ParseJson does (same answers, same messages) without building a
// document: for a caller that reads nothing out of the JSON.
storage::Status ValidateJson(std::string_view text, int max_depth = kMaxJsonDepth);

// Returns the name of a member that `value` (or an object nested in it, at any depth) holds
// twice, or nullopt when every object's member names are unique. When `value` itself repeats
// a name, it is the first one repeated. Names are compared as
// decoded ("a" and "\u0061" are the same name). RFC 8259 leaves repeated names to the parser;
// RapidJSON keeps every copy and FindMember finds the first, so a body we read field by field
// must refuse them rather than act on one copy silently.
std::optional<std::string> FindRepeatedMember(const rapidjson::Value& value);

// Returns `s` with every byte that is not part of valid UTF-8 replaced by U+FFFD.
std::string ValidUtf8(std::string_view s);

// Returns `s` as a JSON string literal, quotes included (invalid UTF-8 replaced by U+FFFD).
std::string JsonQuote(std::string_view s);

// Returns the headers as a JSON object (names as given; a repeated name keeps every value
// joined with ", "), leaving out x-auth-token and authorization. Invalid UTF-8 is replaced.
std::string HeadersToJson(const HeaderList& headers);

}  // namespace hookvault::api

#endif  // HOOKVAULT_API_JSON_H_
