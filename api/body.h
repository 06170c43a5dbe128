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

// Reads a JSON object body whose members are all among `allowed`; an empty body is {}.
// Returns false with `problem` set to a 400 otherwise (malformed JSON, not an object, or a
// member the request does not take: a mistyped field must never widen a reprocess).
bool ParseBody(const ApiRequest& req, std::initializer_list<std::string_view> allowed,
               rapidjson::Document& doc, ApiResponse* problem);

// Typed access to the members of a parsed body. Each getter returns nullopt (or an empty
// list) when the member is absent or null, and also when it is invalid, keeping the first
// error as a 400 problem naming the field.
//
// Thread-safety: a value confined to one request; `doc` and `req` must outlive it.
class BodyFields {
 public:
  BodyFields(const rapidjson::Document& doc, const ApiRequest& req) : doc_(doc), req_(req) {}

  // A string of at most `max_bytes`.
  std::optional<std::string> String(const char* name, size_t max_bytes = 512);
  std::optional<bool> Bool(const char* name);
  std::optional<int64_t> Int(const char* name);
  // An RFC 3339 date-time, as microseconds since the epoch.
  std::optional<int64_t> Time(const char* name);
  // Up to 100 non-empty strings of at most 512 bytes.
  std::vector<std::string> Strings(const char* name);

  // Records that `name` is invalid ("'<name>' <why>") unless an error is already kept.
  void Fail(std::string_view name, std::string_view why);

  bool ok() const { return !error_; }
  // The 400 problem of the first invalid field. Only when !ok().
  const ApiResponse& error() const { return *error_; }

 private:
  const rapidjson::Document& doc_;
  const ApiRequest& req_;
  std::optional<ApiResponse> error_;
};

}  // namespace hookvault::api

#endif  // HOOKVAULT_API_BODY_H_
