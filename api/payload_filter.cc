#include "api/payload_filter.h"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <cmath>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace hookvault::api {
namespace {

struct OpName {
  std::string_view name;
  FilterOp op;
};

constexpr OpName kOps[] = {
    {"equals", FilterOp::kEquals}, {"not_equals", FilterOp::kNotEquals},
    {"in", FilterOp::kIn},         {"exists", FilterOp::kExists},
    {"gt", FilterOp::kGt},         {"gte", FilterOp::kGte},
    {"lt", FilterOp::kLt},         {"lte", FilterOp::kLte},
    {"prefix", FilterOp::kPrefix},
};

std::string_view NameOf(FilterOp op) {
  for (const OpName& o : kOps) {
    if (o.op == op) return o.name;
  }
  return "";
}

std::string_view View(const rapidjson::Value& v) {
  return std::string_view(v.GetString(), v.GetStringLength());
}

// Text from the config as it appears in an error message: cut short and without control
// bytes, so that a long or odd key does not make an unreadable message.
std::string Shown(std::string_view s) {
  constexpr size_t kMaxShown = 64;
  std::string out;
  for (size_t i = 0; i < s.size() && i < kMaxShown; ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    out += (c < 0x20 || c == 0x7f) ? '?' : static_cast<char>(c);
  }
  if (s.size() > kMaxShown) out += "...";
  return out;
}

constexpr double kTwoTo63 = 9223372036854775808.0;   // 2^63, exact as a double
constexpr double kTwoTo64 = 18446744073709551616.0;  // 2^64, exact as a double

int Sign(bool less, bool greater) { return less ? -1 : (greater ? 1 : 0); }

// Compares an integer with a double exactly (converting either to the other's type rounds:
// 2^53 + 1 is not 2^53 + 1.0). Returns <0, 0, >0, or nullopt for NaN.
std::optional<int> CompareInt64Double(int64_t i, double d) {
  if (std::isnan(d)) return std::nullopt;
  if (d < -kTwoTo63) return 1;
  if (d >= kTwoTo63) return -1;
  double whole = std::trunc(d);  // in [-2^63, 2^63): fits an int64 exactly
  auto w = static_cast<int64_t>(whole);
  if (i != w) return Sign(i < w, i > w);
  return Sign(d > whole, d < whole);
}

std::optional<int> CompareUint64Double(uint64_t u, double d) {
  if (std::isnan(d)) return std::nullopt;
  if (d < 0) return 1;
  if (d >= kTwoTo64) return -1;
  double whole = std::trunc(d);  // in [0, 2^64): fits a uint64 exactly
  auto w = static_cast<uint64_t>(whole);
  if (u != w) return Sign(u < w, u > w);
  return Sign(d > whole, d < whole);
}

// Compares two JSON numbers by value, exactly, whichever of int64, uint64 and double RapidJSON
// holds them in. Returns <0, 0, >0, or nullopt when either is NaN (JSON text has none; a
// Document built in code may).
std::optional<int> CompareNumbers(const rapidjson::Value& a, const rapidjson::Value& b) {
  bool a_int = a.IsInt64() || a.IsUint64();
  bool b_int = b.IsInt64() || b.IsUint64();
  if (a_int && b_int) {
    if (a.IsInt64() && b.IsInt64()) {
      int64_t x = a.GetInt64(), y = b.GetInt64();
      return Sign(x < y, x > y);
    }
    if (a.IsUint64() && b.IsUint64()) {
      uint64_t x = a.GetUint64(), y = b.GetUint64();
      return Sign(x < y, x > y);
    }
    // One is negative (int64 only), the other at least 2^63 (uint64 only).
    return a.IsInt64() ? -1 : 1;
  }
  if (a_int) {
    auto c = a.IsInt64() ? CompareInt64Double(a.GetInt64(), b.GetDouble())
                         : CompareUint64Double(a.GetUint64(), b.GetDouble());
    return c;
  }
  if (b_int) {
    auto c = b.IsInt64() ? CompareInt64Double(b.GetInt64(), a.GetDouble())
                         : CompareUint64Double(b.GetUint64(), a.GetDouble());
    if (c) return -*c;
    return std::nullopt;
  }
  double x = a.GetDouble(), y = b.GetDouble();
  if (std::isnan(x) || std::isnan(y)) return std::nullopt;
  return Sign(x < y, x > y);
}

// Deep equality with numbers by value. RapidJSON's operator== is not used: it compares an
// integer with a double through double (rounding above 2^53) and a negative int64 with a
// uint64 by their bits (-1 == 18446744073709551615). Objects are equal when they have as many
// members, the same names, and each name the same value at its first member (a pointer reads
// the first of repeated names too). The recursion is no deeper than `operand` and visits each of
// its values at most once, so the cost is bounded by the config, not by the payload.
bool JsonEqual(const rapidjson::Value& operand, const rapidjson::Value& value) {
  if (operand.IsNumber() || value.IsNumber()) {
    if (!operand.IsNumber() || !value.IsNumber()) return false;
    std::optional<int> c = CompareNumbers(operand, value);
    return c && *c == 0;
  }
  if (operand.GetType() != value.GetType()) return false;
  switch (operand.GetType()) {
    case rapidjson::kNullType:
    case rapidjson::kFalseType:
    case rapidjson::kTrueType:
      return true;
    case rapidjson::kStringType:
      return View(operand) == View(value);
    case rapidjson::kArrayType: {
      if (operand.Size() != value.Size()) return false;
      for (rapidjson::SizeType i = 0; i < operand.Size(); ++i) {
        if (!JsonEqual(operand[i], value[i])) return false;
      }
      return true;
    }
    case rapidjson::kObjectType: {
      // Counting first keeps the cost to the operand's size whatever the payload holds.
      if (operand.MemberCount() != value.MemberCount()) return false;
      for (const auto& m : operand.GetObject()) {
        // A repeated name counts at its first member, as in `value`: comparing each copy with
        // the value's first would make {"x":1,"x":2} unequal to itself.
        if (&*operand.FindMember(m.name) != &m) continue;
        auto it = value.FindMember(m.name);
        if (it == value.MemberEnd() || !JsonEqual(m.value, it->value)) return false;
      }
      for (const auto& m : value.GetObject()) {
        if (operand.FindMember(m.name) == operand.MemberEnd()) return false;
      }
      return true;
    }
    case rapidjson::kNumberType:
      break;  // handled above
  }
  return false;
}

// Orders `value` against `operand` for gt/gte/lt/lte: numbers with numbers, strings with
// strings (bytewise, as unsigned bytes); anything else is unordered (nullopt).
std::optional<int> Order(const rapidjson::Value& value, const rapidjson::Value& operand) {
  if (operand.IsNumber() && value.IsNumber()) return CompareNumbers(value, operand);
  if (operand.IsString() && value.IsString()) {
    int c = View(value).compare(View(operand));  // char_traits<char>: unsigned, like memcmp
    return Sign(c < 0, c > 0);
  }
  return std::nullopt;
}

bool Holds(const FilterCondition& c, const rapidjson::Value& payload) {
  const rapidjson::Value* value = c.pointer.Get(payload);
  const rapidjson::Value& operand = *c.operand;
  switch (c.op) {
    case FilterOp::kEquals:
      return value && JsonEqual(operand, *value);
    case FilterOp::kNotEquals:
      return !value || !JsonEqual(operand, *value);
    case FilterOp::kIn:
      if (!value) return false;
      for (const rapidjson::Value& item : operand.GetArray()) {
        if (JsonEqual(item, *value)) return true;
      }
      return false;
    case FilterOp::kExists:
      return (value != nullptr) == operand.GetBool();
    case FilterOp::kGt:
    case FilterOp::kGte:
    case FilterOp::kLt:
    case FilterOp::kLte: {
      if (!value) return false;
      std::optional<int> o = Order(*value, operand);
      if (!o) return false;
      if (c.op == FilterOp::kGt) return *o > 0;
      if (c.op == FilterOp::kGte) return *o >= 0;
      if (c.op == FilterOp::kLt) return *o < 0;
      return *o <= 0;
    }
    case FilterOp::kPrefix:
      return value && value->IsString() && View(*value).starts_with(View(operand));
  }
  return false;
}

// Returns true if `v` holds a number that is not finite. RapidJSON reads 1.8e308 as infinity
// (it refuses only exponents beyond 308); such an operand could not be written back as JSON
// (json(), GET /api/v1/destinations). Iterative: the operand's depth is the config's business.
bool HoldsNonFinite(const rapidjson::Value& v) {
  std::vector<const rapidjson::Value*> todo = {&v};
  while (!todo.empty()) {
    const rapidjson::Value* x = todo.back();
    todo.pop_back();
    if (x->IsDouble() && !std::isfinite(x->GetDouble())) return true;
    if (x->IsArray()) {
      for (const rapidjson::Value& item : x->GetArray()) todo.push_back(&item);
    } else if (x->IsObject()) {
      for (const auto& m : x->GetObject()) todo.push_back(&m.value);
    }
  }
  return false;
}

// Returns "" if `operand` suits `op`, else why not (the message after "[i].<op>: ").
std::string OperandProblem(FilterOp op, const rapidjson::Value& operand) {
  if (HoldsNonFinite(operand)) return "holds a number beyond the range of a double";
  switch (op) {
    case FilterOp::kEquals:
    case FilterOp::kNotEquals:
      return "";
    case FilterOp::kIn:
      if (!operand.IsArray() || operand.Empty()) return "must be a non-empty array";
      if (operand.Size() > kMaxFilterInItems) {
        return "has " + std::to_string(operand.Size()) + " items; at most " +
               std::to_string(kMaxFilterInItems) + " are allowed";
      }
      return "";
    case FilterOp::kExists:
      return operand.IsBool() ? "" : "must be true or false";
    case FilterOp::kGt:
    case FilterOp::kGte:
    case FilterOp::kLt:
    case FilterOp::kLte:
      return operand.IsNumber() || operand.IsString() ? "" : "must be a number or a string";
    case FilterOp::kPrefix:
      return operand.IsString() ? "" : "must be a string";
  }
  return "";
}

storage::StatusOr<FilterCondition> ParseCondition(const rapidjson::Value& v,
                                                  const std::string& at) {
  if (!v.IsObject()) return storage::Status::InvalidArgument(at + ": must be an object");
  const rapidjson::Value* pointer = nullptr;
  const rapidjson::Value* operand = nullptr;
  FilterOp op = FilterOp::kEquals;
  std::string_view op_name;
  for (const auto& m : v.GetObject()) {
    std::string_view key = View(m.name);
    if (key == "pointer") {
      if (pointer) return storage::Status::InvalidArgument(at + ".pointer: key appears twice");
      pointer = &m.value;
      continue;
    }
    const OpName* found = nullptr;
    for (const OpName& o : kOps) {
      if (o.name == key) found = &o;
    }
    if (!found) {
      return storage::Status::InvalidArgument(
          at + "." + Shown(key) +
          ": unknown key (a condition has \"pointer\" and one of equals, not_equals, in, "
          "exists, gt, gte, lt, lte, prefix)");
    }
    if (operand) {
      std::string names = op_name == found->name
                              ? "\"" + std::string(op_name) + "\" twice"
                              : std::string(op_name) + " and " + std::string(found->name);
      return storage::Status::InvalidArgument(at + ": names more than one operator (" + names +
                                              "); give each its own condition");
    }
    operand = &m.value;
    op = found->op;
    op_name = found->name;
  }
  if (!pointer) return storage::Status::InvalidArgument(at + ".pointer: is required");
  if (!pointer->IsString()) {
    return storage::Status::InvalidArgument(at + ".pointer: must be a string");
  }
  if (!operand) {
    return storage::Status::InvalidArgument(
        at + ": names no operator (one of equals, not_equals, in, exists, gt, gte, lt, lte, "
             "prefix)");
  }
  FilterCondition c;
  c.pointer_text = std::string(View(*pointer));
  c.pointer = rapidjson::Pointer(c.pointer_text.data(), c.pointer_text.size());
  // RapidJSON also reads the URI fragment form ("#/a"); the config's pointers are plain RFC 6901.
  if (!c.pointer.IsValid() || (!c.pointer_text.empty() && c.pointer_text[0] != '/')) {
    return storage::Status::InvalidArgument(at + ".pointer: \"" + Shown(c.pointer_text) +
                                            "\" is not a JSON pointer (RFC 6901, e.g. \"/amount\")");
  }
  if (std::string why = OperandProblem(op, *operand); !why.empty()) {
    return storage::Status::InvalidArgument(at + "." + std::string(op_name) + ": " + why);
  }
  c.op = op;
  auto doc = std::make_shared<rapidjson::Document>();
  doc->CopyFrom(*operand, doc->GetAllocator());
  c.operand = std::move(doc);
  return c;
}

}  // namespace

storage::StatusOr<PayloadFilter> PayloadFilter::Parse(const rapidjson::Value& conditions) {
  if (!conditions.IsArray()) {
    return storage::Status::InvalidArgument(": must be an array of conditions");
  }
  if (conditions.Size() > kMaxFilterConditions) {
    return storage::Status::InvalidArgument(": has " + std::to_string(conditions.Size()) +
                                            " conditions; at most " +
                                            std::to_string(kMaxFilterConditions) +
                                            " are allowed");
  }
  PayloadFilter filter;
  for (rapidjson::SizeType i = 0; i < conditions.Size(); ++i) {
    storage::StatusOr<FilterCondition> c =
        ParseCondition(conditions[i], "[" + std::to_string(i) + "]");
    if (!c.ok()) return c.status();
    filter.conditions_.push_back(std::move(*c));
  }
  rapidjson::StringBuffer out;
  rapidjson::Writer<rapidjson::StringBuffer> w(out);
  w.StartArray();
  for (const FilterCondition& c : filter.conditions_) {
    w.StartObject();
    w.Key("pointer");
    w.String(c.pointer_text.data(), static_cast<rapidjson::SizeType>(c.pointer_text.size()));
    std::string_view name = NameOf(c.op);
    w.Key(name.data(), static_cast<rapidjson::SizeType>(name.size()));
    c.operand->Accept(w);
    w.EndObject();
  }
  w.EndArray();
  filter.json_.assign(out.GetString(), out.GetSize());
  return filter;
}

bool PayloadFilter::Matches(const rapidjson::Value& payload) const {
  for (const FilterCondition& c : conditions_) {
    if (!Holds(c, payload)) return false;
  }
  return true;
}

}  // namespace hookvault::api
