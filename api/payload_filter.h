// Payload filters on destinations (the config's destinations[].filter): conditions on JSON
// pointers into the payload, all of which must hold for the destination to receive an event.
// Evaluated at ingest, in the same pass as the destination's `sources` and `events`.
//
//   [{"pointer": "/booking/status", "equals": "confirmed"}, {"pointer": "/amount", "gte": 100}]
//
// Operators (exactly one per condition):
//   equals, not_equals  any JSON value; deep equality, numbers by value (1 == 1.0). not_equals
//                       holds when the pointer is absent too.
//   in                  a non-empty array; holds when the value equals one of its items.
//   exists              true or false: whether the pointer resolves (a null value exists).
//   gt, gte, lt, lte    a number (compared with a number at the pointer) or a string (compared
//                       bytewise with a string: ISO 8601 times order that way); any other value
//                       at the pointer, or none, does not hold.
//   prefix              a string; holds when the value is a string that starts with it.
//
// Thread-safety: immutable after parsing; Matches() may be called from any number of threads.
#ifndef HOOKVAULT_API_PAYLOAD_FILTER_H_
#define HOOKVAULT_API_PAYLOAD_FILTER_H_

#include <rapidjson/document.h>
#include <rapidjson/pointer.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "storage/status.h"

namespace hookvault::api {

enum class FilterOp { kEquals, kNotEquals, kIn, kExists, kGt, kGte, kLt, kLte, kPrefix };

struct FilterCondition {
  std::string pointer_text;  // as configured
  rapidjson::Pointer pointer;
  FilterOp op = FilterOp::kEquals;
  // The operand, in its own document (so conditions copy cheaply and stay valid).
  std::shared_ptr<const rapidjson::Document> operand;
};

class PayloadFilter {
 public:
  // No conditions: matches every payload.
  PayloadFilter() = default;

  // Parses the config's `filter` array. Returns kInvalidArgument whose message starts with the
  // path below the filter ("[2].gte: must be a number or a string", "[0]: names no operator",
  // "[1].pointer: \"x\" is not a JSON pointer"), for the config to prefix with its own path.
  // At most kMaxFilterConditions conditions and kMaxFilterInItems items per `in`.
  static storage::StatusOr<PayloadFilter> Parse(const rapidjson::Value& conditions);

  // Returns true if every condition holds for `payload`.
  bool Matches(const rapidjson::Value& payload) const;

  bool empty() const { return conditions_.empty(); }
  const std::vector<FilterCondition>& conditions() const { return conditions_; }
  // The conditions as JSON (the config's array, normalised), for GET /api/v1/destinations;
  // "[]" when empty.
  const std::string& json() const { return json_; }

 private:
  std::vector<FilterCondition> conditions_;
  std::string json_ = "[]";
};

inline constexpr size_t kMaxFilterConditions = 64;
inline constexpr size_t kMaxFilterInItems = 1024;

}  // namespace hookvault::api

#endif  // HOOKVAULT_API_PAYLOAD_FILTER_H_
