// The JSON bodies of REST API requests (reprocess, ack): parsing with a closed set of fields,
// and typed access to each field that keeps the first error as a 400 naming it.
#ifndef HOOKVAULT_API_BODY_H_
#define HOOKVAULT_API_BODY_H_

#include <rapidjson/document.h>

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "api/http.h"

namespace hookvault::api {

// Reads the JSON object body of a REST request whose members are all among `allowed`.
// Returns false with `problem` set otherwise, so that nothing the operator did not ask for
// exactly is ever acted on:
//   - 415 when a Content-Type header is not application/json (parameters such as charset
//     allowed), or when a non-empty body comes without one;
//   - an empty body (zero bytes) is {}: every member left out;
//   - 400 (malformed-json) when the body is not JSON, or nested deeper than 8 levels;
//   - 400 naming the member when the body is not an object, repeats a member name (at any
//     depth), has a member the request does not take, or a member that is null: null is never
//     "not given" (leave the member out for its default).
bool ParseBody(const ApiRequest& req, std::initializer_list<std::string_view> allowed,
               rapidjson::Document& doc, ApiResponse* problem);

// Typed access to the members of a parsed body. Each getter returns nullopt (or an empty
// list) when the member is absent, and also when it is invalid (null included), keeping the
// first error as a 400 problem naming the field. No getter takes an empty value: an empty
// string or list is refused as an empty query value is, since it would mean "all".
//
// Thread-safety: a value confined to one request; `doc` and `req` must outlive it.
class BodyFields {
 public:
  BodyFields(const rapidjson::Document& doc, const ApiRequest& req) : doc_(doc), req_(req) {}

  // A non-empty string of at most `max_bytes`.
  std::optional<std::string> String(const char* name, size_t max_bytes = 512);
  std::optional<bool> Bool(const char* name);
  std::optional<int64_t> Int(const char* name);
  // An RFC 3339 date-time, as microseconds since the epoch.
  std::optional<int64_t> Time(const char* name);
  // 1 to 100 non-empty strings of at most 512 bytes.
  std::vector<std::string> Strings(const char* name);

  // Records that `name` is invalid ("'<name>' <why>") unless an error is already kept.
  void Fail(std::string_view name, std::string_view why);

  bool ok() const { return !error_; }
  // The 400 problem of the first invalid field. Only when !ok().
  const ApiResponse& error() const { return *error_; }

 private:
  // Returns the member `name`, or nullptr when it is absent or (kept as an error) null.
  const rapidjson::Value* Find(const char* name);

  const rapidjson::Document& doc_;
  const ApiRequest& req_;
  std::optional<ApiResponse> error_;
};

}  // namespace hookvault::api

#endif  // HOOKVAULT_API_BODY_H_
