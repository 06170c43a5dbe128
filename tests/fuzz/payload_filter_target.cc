// The payload filter fuzz target: a destination's `filter` array through
// api::PayloadFilter::Parse, and the parsed filter through Matches on a payload.
//
// Input (lines end with '\n'; a '\r' before it is dropped):
//   <filter>    the config's `filter` value, JSON (one line)
//   <payload>   a webhook body: every remaining byte. When it is not JSON, the filter's own
//               document is the payload.
// Both are read with api::ParseJson, as the config and ingest read them.
//
// Invariants, checked against a reference written here from payload_filter.h's comments:
//   Parse accepts exactly the arrays of at most kMaxFilterConditions objects that hold a string
//   "pointer" (RFC 6901, "" or starting with '/') and exactly one operator whose operand suits
//   it (in: 1..kMaxFilterInItems items; exists: a boolean; gt/gte/lt/lte: a number or a
//   string; prefix: a string), and nothing else. A refusal is kInvalidArgument whose message
//   starts with ": " (the array itself) or "[i]" naming the first bad condition. No operand may
//   hold an infinite number (RapidJSON reads 1.8e308 as one; json() could not write it).
//   json() is an array of {"pointer", <op>} pairs, one per condition, that parses back to the
//   same json() and the same verdicts.
//   Matches is the conjunction of its conditions, and each condition agrees with the reference
//   (numbers compared as long double, which holds every int64, uint64 and double exactly);
//   not_equals is the negation of equals; `in` is equals on some item; a value present at a
//   pointer equals itself, and a number or string there is gte and lte itself, neither gt nor
//   lt.
#include <rapidjson/document.h>
#include <rapidjson/pointer.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <cmath>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "api/json.h"
#include "api/payload_filter.h"
#include "tests/fuzz/fuzz_targets.h"

namespace hookvault::fuzz {
namespace {

// The reference compares numbers as long double: exact only if it holds 64-bit integers.
static_assert(std::numeric_limits<long double>::digits >= 64,
              "the payload_filter fuzz target needs a long double with a 64-bit mantissa");

using rapidjson::Value;

constexpr std::string_view kOps[] = {"equals", "not_equals", "in", "exists", "gt",
                                     "gte",    "lt",         "lte", "prefix"};

std::string_view View(const Value& v) { return {v.GetString(), v.GetStringLength()}; }

std::string ToJson(const Value& v) {
  rapidjson::StringBuffer out;
  rapidjson::Writer<rapidjson::StringBuffer> w(out);
  v.Accept(w);
  return std::string(out.GetString(), out.GetSize());
}

// Parses JSON that ToJson or json() wrote. With full precision: RapidJSON's default parse may
// read a double's shortest text one unit in the last place off (9.223372036854776e18), which
// would break round trips that are not the filter's to keep.
void ParseWritten(const std::string& text, rapidjson::Document& doc) {
  doc.Parse<rapidjson::kParseFullPrecisionFlag | rapidjson::kParseIterativeFlag>(text.data(),
                                                                                 text.size());
  HOOKVAULT_FUZZ_CHECK(!doc.HasParseError(), "does not parse: " + text);
}

storage::StatusOr<api::PayloadFilter> ParseText(const std::string& text) {
  rapidjson::Document doc;
  ParseWritten(text, doc);
  return api::PayloadFilter::Parse(doc);
}

// --- The reference ---------------------------------------------------------------------------

long double Number(const Value& v) {
  if (v.IsInt64()) return static_cast<long double>(v.GetInt64());
  if (v.IsUint64()) return static_cast<long double>(v.GetUint64());
  return static_cast<long double>(v.GetDouble());
}

bool RefEqual(const Value& a, const Value& b) {
  if (a.IsNumber() && b.IsNumber()) return Number(a) == Number(b);
  if (a.IsNumber() || b.IsNumber() || a.GetType() != b.GetType()) return false;
  if (a.IsString()) return View(a) == View(b);
  if (a.IsArray()) {
    if (a.Size() != b.Size()) return false;
    for (rapidjson::SizeType i = 0; i < a.Size(); ++i) {
      if (!RefEqual(a[i], b[i])) return false;
    }
    return true;
  }
  if (a.IsObject()) {
    // The same number of members, the same names, and each name's first value equal.
    if (a.MemberCount() != b.MemberCount()) return false;
    std::map<std::string_view, const Value*> first_a, first_b;
    for (const auto& m : a.GetObject()) first_a.emplace(View(m.name), &m.value);
    for (const auto& m : b.GetObject()) first_b.emplace(View(m.name), &m.value);
    if (first_a.size() != first_b.size()) return false;
    for (auto x = first_a.begin(), y = first_b.begin(); x != first_a.end(); ++x, ++y) {
      if (x->first != y->first || !RefEqual(*x->second, *y->second)) return false;
    }
  }
  return true;  // null, true, false: same type
}

// <0, 0, >0 for value against operand, or nullopt when they do not order.
std::optional<int> RefOrder(const Value& value, const Value& operand) {
  if (value.IsNumber() && operand.IsNumber()) {
    long double a = Number(value), b = Number(operand);
    return a < b ? -1 : (a > b ? 1 : 0);
  }
  if (value.IsString() && operand.IsString()) {
    std::string_view a = View(value), b = View(operand);
    for (size_t i = 0; i < a.size() && i < b.size(); ++i) {
      auto x = static_cast<unsigned char>(a[i]), y = static_cast<unsigned char>(b[i]);
      if (x != y) return x < y ? -1 : 1;
    }
    return a.size() < b.size() ? -1 : (a.size() > b.size() ? 1 : 0);
  }
  return std::nullopt;
}

bool RefHolds(std::string_view op, const Value& operand, const Value* v) {
  if (op == "equals") return v && RefEqual(operand, *v);
  if (op == "not_equals") return !v || !RefEqual(operand, *v);
  if (op == "in") {
    for (const Value& item : operand.GetArray()) {
      if (v && RefEqual(item, *v)) return true;
    }
    return false;
  }
  if (op == "exists") return (v != nullptr) == operand.GetBool();
  if (op == "prefix") return v && v->IsString() && View(*v).substr(0, operand.GetStringLength()) == View(operand);
  std::optional<int> o = v ? RefOrder(*v, operand) : std::nullopt;
  if (!o) return false;
  if (op == "gt") return *o > 0;
  if (op == "gte") return *o >= 0;
  if (op == "lt") return *o < 0;
  return *o <= 0;  // lte
}

bool IsOp(std::string_view key) {
  for (std::string_view op : kOps) {
    if (op == key) return true;
  }
  return false;
}

// Whether `v` holds a number that is not finite (RapidJSON reads 1.8e308 as infinity).
bool HoldsNonFinite(const Value& v) {
  if (v.IsDouble()) return !std::isfinite(v.GetDouble());
  if (v.IsArray()) {
    for (const Value& item : v.GetArray()) {
      if (HoldsNonFinite(item)) return true;
    }
  }
  if (v.IsObject()) {
    for (const auto& m : v.GetObject()) {
      if (HoldsNonFinite(m.value)) return true;
    }
  }
  return false;
}

bool OperandSuits(std::string_view op, const Value& v) {
  if (HoldsNonFinite(v)) return false;
  if (op == "in") return v.IsArray() && !v.Empty() && v.Size() <= api::kMaxFilterInItems;
  if (op == "exists") return v.IsBool();
  if (op == "prefix") return v.IsString();
  if (op == "gt" || op == "gte" || op == "lt" || op == "lte") return v.IsNumber() || v.IsString();
  return true;
}

bool ConditionValid(const Value& c) {
  if (!c.IsObject()) return false;
  int pointers = 0, ops = 0;
  std::string_view op;
  const Value* operand = nullptr;
  const Value* pointer = nullptr;
  for (const auto& m : c.GetObject()) {
    if (View(m.name) == "pointer") {
      ++pointers;
      pointer = &m.value;
    } else if (IsOp(View(m.name))) {
      ++ops;
      op = View(m.name);
      operand = &m.value;
    } else {
      return false;
    }
  }
  if (pointers != 1 || ops != 1 || !pointer->IsString()) return false;
  rapidjson::Pointer p(pointer->GetString(), pointer->GetStringLength());
  std::string_view text = View(*pointer);
  if (!p.IsValid() || (!text.empty() && text[0] != '/')) return false;
  return OperandSuits(op, *operand);
}

// --- The checks ------------------------------------------------------------------------------

void CheckRefusal(const Value& conditions, const storage::Status& status) {
  HOOKVAULT_FUZZ_CHECK(status.code() == storage::StatusCode::kInvalidArgument, status.ToString());
  const std::string& m = status.message();
  if (!conditions.IsArray() || conditions.Size() > api::kMaxFilterConditions) {
    HOOKVAULT_FUZZ_CHECK(m.starts_with(": "), m);
    return;
  }
  rapidjson::SizeType first_bad = 0;
  while (first_bad < conditions.Size() && ConditionValid(conditions[first_bad])) ++first_bad;
  HOOKVAULT_FUZZ_CHECK(first_bad < conditions.Size(), "refused a valid filter: " + m);
  std::string at = "[" + std::to_string(first_bad) + "]";
  HOOKVAULT_FUZZ_CHECK(m.starts_with(at + ":") || m.starts_with(at + "."),
                       m + " (expected it to name " + at + ")");
}

void CheckAccepted(const Value& conditions, const api::PayloadFilter& filter) {
  HOOKVAULT_FUZZ_CHECK(conditions.IsArray() && conditions.Size() <= api::kMaxFilterConditions,
                       "accepted a filter that is not an array of at most 64");
  for (const Value& c : conditions.GetArray()) {
    HOOKVAULT_FUZZ_CHECK(ConditionValid(c), "accepted an invalid condition: " + ToJson(c));
  }
  HOOKVAULT_FUZZ_CHECK(filter.conditions().size() == conditions.Size(), filter.json());
  HOOKVAULT_FUZZ_CHECK(filter.empty() == (conditions.Size() == 0), filter.json());

  // json(): {"pointer", <op>} pairs, parsing back to the same text.
  rapidjson::Document normal;
  ParseWritten(filter.json(), normal);
  HOOKVAULT_FUZZ_CHECK(normal.IsArray() && normal.Size() == conditions.Size(), filter.json());
  for (rapidjson::SizeType i = 0; i < normal.Size(); ++i) {
    const Value& c = normal[i];
    HOOKVAULT_FUZZ_CHECK(c.IsObject() && c.MemberCount() == 2 &&
                             View(c.MemberBegin()->name) == "pointer" &&
                             c.MemberBegin()->value.IsString() &&
                             View(c.MemberBegin()->value) == filter.conditions()[i].pointer_text &&
                             IsOp(View((c.MemberBegin() + 1)->name)),
                         filter.json());
    HOOKVAULT_FUZZ_CHECK(RefEqual((c.MemberBegin() + 1)->value, *filter.conditions()[i].operand),
                         "json() changed an operand: " + filter.json());
  }
  storage::StatusOr<api::PayloadFilter> again = api::PayloadFilter::Parse(normal);
  HOOKVAULT_FUZZ_CHECK(again.ok() && again->json() == filter.json(),
                       filter.json() + " does not parse back to itself");
}

void CheckMatches(const api::PayloadFilter& filter, const Value& payload) {
  bool all = true;
  rapidjson::Document normal;
  ParseWritten(filter.json(), normal);
  for (rapidjson::SizeType i = 0; i < normal.Size(); ++i) {
    const Value& c = normal[i];
    std::string pointer_json = ToJson(c.MemberBegin()->value);
    std::string_view op = View((c.MemberBegin() + 1)->name);
    const Value& operand = (c.MemberBegin() + 1)->value;
    const api::FilterCondition& parsed = filter.conditions()[i];
    const Value* v = parsed.pointer.Get(payload);

    storage::StatusOr<api::PayloadFilter> single = ParseText("[" + ToJson(c) + "]");
    HOOKVAULT_FUZZ_CHECK(single.ok(), ToJson(c));
    bool holds = single->Matches(payload);
    all = all && holds;
    HOOKVAULT_FUZZ_CHECK(holds == RefHolds(op, operand, v),
                         ToJson(c) + (holds ? " holds" : " does not hold") + " for " +
                             (v ? ToJson(*v) : "(absent)"));

    // Relations between operators on the same operand.
    auto verdict = [&](std::string_view other_op, const std::string& operand_json) {
      storage::StatusOr<api::PayloadFilter> f = ParseText(
          "[{\"pointer\":" + pointer_json + ",\"" + std::string(other_op) + "\":" + operand_json +
          "}]");
      HOOKVAULT_FUZZ_CHECK(f.ok(), std::string(other_op) + " " + operand_json);
      return f->Matches(payload);
    };
    std::string operand_json = ToJson(operand);
    if (op == "equals" || op == "not_equals") {
      HOOKVAULT_FUZZ_CHECK(verdict(op == "equals" ? "not_equals" : "equals", operand_json) == !holds,
                           "not_equals is not the negation of equals: " + ToJson(c));
    }
    if (op == "in" && operand.Size() <= 64) {  // a parse per item: keep inputs fast
      bool any = false;
      for (const Value& item : operand.GetArray()) any = any || verdict("equals", ToJson(item));
      HOOKVAULT_FUZZ_CHECK(any == holds, "in is not equals on some item: " + ToJson(c));
    }
    if (v && !HoldsNonFinite(*v)) {  // infinity cannot be written as JSON, nor be an operand
      std::string self = ToJson(*v);
      HOOKVAULT_FUZZ_CHECK(verdict("equals", self), "a value does not equal itself: " + self);
      HOOKVAULT_FUZZ_CHECK(!verdict("not_equals", self), "a value differs from itself: " + self);
      HOOKVAULT_FUZZ_CHECK(verdict("exists", "true"), "present but not existing: " + self);
      if (v->IsNumber() || v->IsString()) {
        HOOKVAULT_FUZZ_CHECK(verdict("gte", self) && verdict("lte", self) && !verdict("gt", self) &&
                                 !verdict("lt", self),
                             "a value does not order equal to itself: " + self);
      }
    }
    HOOKVAULT_FUZZ_CHECK(verdict("exists", v ? "true" : "false") &&
                             !verdict("exists", v ? "false" : "true"),
                         "exists disagrees with the pointer: " + pointer_json);
  }
  HOOKVAULT_FUZZ_CHECK(filter.Matches(payload) == all,
                       "Matches is not the conjunction of its conditions: " + filter.json());
}

}  // namespace

int FuzzPayloadFilter(const uint8_t* data, size_t size) {
  std::vector<std::string_view> lines =
      SplitLines(std::string_view(reinterpret_cast<const char*>(data), size), 2);
  auto line = [&lines](size_t i) { return i < lines.size() ? lines[i] : std::string_view(); };
  rapidjson::Document conditions;
  if (!api::ParseJson(line(0), conditions).ok()) return 0;
  storage::StatusOr<api::PayloadFilter> filter = api::PayloadFilter::Parse(conditions);
  if (!filter.ok()) {
    CheckRefusal(conditions, filter.status());
    return 0;
  }
  CheckAccepted(conditions, *filter);
  rapidjson::Document payload;
  if (api::ParseJson(line(1), payload).ok()) {
    CheckMatches(*filter, payload);
  } else {
    CheckMatches(*filter, conditions);
  }
  return 0;
}

}  // namespace hookvault::fuzz
