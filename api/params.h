// Parameters of REST API requests: query strings, RFC 3339 times, limits and opaque cursors.
#ifndef HOOKVAULT_API_PARAMS_H_
#define HOOKVAULT_API_PARAMS_H_

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <set>
#include <string>
#include <string_view>

#include "api/http.h"

namespace hookvault::api {

inline constexpr int kDefaultLimit = 50;
inline constexpr int kMaxLimit = 1000;

// Parses an RFC 3339 date-time ("2026-11-28T13:21:52Z", "…52.123456+01:00"; 'T' or 't', 'Z'
// or 'z', up to 9 fraction digits, truncated to microseconds). Returns microseconds since the
// epoch, or nullopt when `text` is not one.
std::optional<int64_t> ParseRfc3339(std::string_view text);

// Returns `text` with every %XX escape decoded (RFC 3986; '+' stays a plus sign, so an
// unencoded "+01:00" offset still reads as one), or nullopt when an escape is malformed.
std::optional<std::string> PercentDecode(std::string_view text);

// Returns an opaque cursor for the row with `key` of the list named `list` ("events", …).
std::string EncodeCursor(std::string_view list, int64_t key);
// Returns the key of a cursor made by EncodeCursor for the same list, or nullopt.
std::optional<int64_t> DecodeCursor(std::string_view list, std::string_view cursor);

// Reads the query parameters of one request, refusing whatever could widen a list or a bulk
// reprocess beyond what was asked: a parameter the route does not take, one given more than
// once, or one given with an empty value ("?status=", "?limit") is a 400 problem naming it
// (error()), as is an invalid value. Each getter returns nullopt both when the parameter is
// absent and when it is refused. The error names the first problem found: an unknown,
// repeated or empty parameter in the order of the query string, else the first invalid value
// in the order the route reads them. The HTTP adapter must pass every occurrence of every
// parameter, empty values included, for this to hold.
//
// Thread-safety: a value confined to one request.
class QueryParams {
 public:
  QueryParams(const ApiRequest& request, std::initializer_list<std::string_view> allowed);

  std::optional<std::string> String(std::string_view name);
  // One of `values`.
  std::optional<std::string> Enum(std::string_view name,
                                  std::initializer_list<std::string_view> values);
  std::optional<int64_t> Int(std::string_view name, int64_t min, int64_t max);
  std::optional<int64_t> Time(std::string_view name);
  // `limit`: kDefaultLimit when absent; 1..kMaxLimit.
  int Limit();
  // `cursor` of the list named `list`.
  std::optional<int64_t> Cursor(std::string_view list);

  bool ok() const { return !error_.has_value(); }
  // The 400 problem of the first invalid parameter. Only when !ok().
  const ApiResponse& error() const { return *error_; }

 private:
  const std::string* Find(std::string_view name);
  void Fail(std::string_view name, std::string_view why);

  const ApiRequest& request_;
  std::optional<ApiResponse> error_;
};

}  // namespace hookvault::api

#endif  // HOOKVAULT_API_PARAMS_H_
