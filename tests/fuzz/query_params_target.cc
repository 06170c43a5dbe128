// The query-parameter fuzz target: REST API query strings through api::QueryParams as the
// routes of api/ (events.cc, deliveries.cc, requests.cc, audit.cc, feed.cc) read them, and
// ParseRfc3339, PercentDecode and the cursors on any text.
//
// Input (lines end with '\n'; a '\r' before it is dropped; missing lines are empty):
//   <route>          events | event-attempts | deliveries | attempts | requests | audit | feed |
//                    consumer; anything else is a route that takes no parameter
//   <query string>   what follows '?': split at '&' and the first '=', each part
//                    percent-decoded as server/http_endpoint.cc does (a malformed escape is
//                    passed on as sent). Repeated names are all passed on (Pistache keeps only
//                    the first; QueryParams must refuse them whatever the adapter)
//   <text>           every remaining byte
//
// Invariants: every getter returns the parameter's value exactly when it is valid (String up
// to 512 bytes, Enum one of its values, Int a whole integer in range, Time what ParseRfc3339
// gives, Limit 1..1000 or 50 when absent, Cursor what DecodeCursor gives); ok() is false
// exactly when a parameter is unknown, repeated, empty or invalid, and error() is then a 400
// problem+json naming the first such parameter. For the text: ParseRfc3339 of a time that
// FormatRfc3339 printed gives the time back, and a parsed time prints as text that parses to
// it; PercentDecode decodes exactly when every '%' starts an escape, and undoes percent-
// encoding; DecodeCursor(EncodeCursor(list, k)) is k and no other list's; a cursor decodes for
// at most one list, to a key that encodes back to itself.
#include <rapidjson/document.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <functional>
#include <initializer_list>
#include <limits>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "api/feed.h"
#include "api/http.h"
#include "api/json.h"
#include "api/params.h"
#include "storage/clock.h"
#include "tests/fuzz/fuzz_targets.h"

namespace hookvault::fuzz {
namespace {

// The cursors' list names (the `list` of each api::ServeList call).
constexpr std::string_view kLists[] = {"events",   "event-attempts", "deliveries",
                                       "attempts", "requests",       "audit"};

// 0000-01-01T00:00:00Z and 9999-12-31T23:59:59.999999Z: what FormatRfc3339 prints in four
// digits, so what ParseRfc3339 can read back.
constexpr int64_t kFirstFormattable = -62167219200LL * 1000000;
constexpr int64_t kLastFormattable = 253402300800LL * 1000000 - 1;

// One getter call of a route, in the order the route makes them.
struct Getter {
  enum Kind { kString, kEnum, kInt, kTime, kLimit, kCursor } kind;
  std::string_view name;  // the list's name for kCursor
  std::vector<std::string_view> values = {};
  int64_t min = 0;
  int64_t max = 0;
  // For kEnum: calls QueryParams::Enum with `values`.
  std::function<std::optional<std::string>(api::QueryParams&)> call_enum = nullptr;
};

template <typename... Values>
Getter Enum(std::string_view name, Values... values) {
  Getter g{Getter::kEnum, name, {values...}};
  g.call_enum = [name, values...](api::QueryParams& q) {
    return q.Enum(name, {std::string_view(values)...});
  };
  return g;
}

struct Route {
  std::string_view name;
  std::vector<std::string_view> allowed;
  std::function<api::QueryParams(const api::ApiRequest&)> params;  // as the handlers build them
  std::vector<Getter> getters;
};

template <typename... Names>
Route MakeRoute(std::string_view name, std::vector<Getter> getters, Names... allowed) {
  return {name,
          {allowed...},
          [allowed...](const api::ApiRequest& r) {
            return api::QueryParams(r, {std::string_view(allowed)...});
          },
          std::move(getters)};
}

const std::vector<Route>& Routes() {
  using G = Getter;
  constexpr int64_t kAny = std::numeric_limits<int64_t>::max();
  static const auto* routes = new std::vector<Route>{
      MakeRoute("events",
                {{G::kString, "source"},
                 {G::kString, "type"},
                 Enum("status", "pending", "delivered", "failed"),
                 {G::kTime, "received_after"},
                 {G::kTime, "received_before"},
                 {G::kLimit, "limit"},
                 {G::kCursor, "events"}},
                "source", "type", "status", "received_after", "received_before", "limit", "cursor"),
      MakeRoute("event-attempts", {{G::kLimit, "limit"}, {G::kCursor, "event-attempts"}}, "limit",
                "cursor"),
      MakeRoute("deliveries",
                {{G::kString, "destination"},
                 Enum("status", "pending", "succeeded", "failed"),
                 {G::kString, "event_id"},
                 {G::kTime, "after"},
                 {G::kTime, "before"},
                 {G::kLimit, "limit"},
                 {G::kCursor, "deliveries"}},
                "destination", "status", "event_id", "after", "before", "limit", "cursor"),
      MakeRoute("attempts",
                {{G::kString, "destination"},
                 {G::kString, "event_id"},
                 Enum("outcome", "success", "failure"),
                 {G::kTime, "after"},
                 {G::kTime, "before"},
                 {G::kLimit, "limit"},
                 {G::kCursor, "attempts"}},
                "destination", "event_id", "outcome", "after", "before", "limit", "cursor"),
      MakeRoute("requests",
                {{G::kString, "source"},
                 {G::kInt, "status", {}, 100, 599},
                 {G::kTime, "after"},
                 {G::kTime, "before"},
                 {G::kLimit, "limit"},
                 {G::kCursor, "requests"}},
                "source", "status", "after", "before", "limit", "cursor"),
      MakeRoute(
          "audit",
          {{G::kTime, "after"}, {G::kTime, "before"}, {G::kLimit, "limit"}, {G::kCursor, "audit"}},
          "after", "before", "limit", "cursor"),
      MakeRoute("feed",
                {{G::kInt, "after", {}, 0, kAny},
                 {G::kLimit, "limit"},
                 {G::kString, "source"},
                 {G::kString, "type"},
                 {G::kInt, "wait", {}, 0, api::kMaxWaitSeconds}},
                "after", "limit", "source", "type", "wait"),
      MakeRoute("consumer", {{G::kLimit, "limit"}, {G::kInt, "wait", {}, 0, api::kMaxWaitSeconds}},
                "limit", "wait"),
      // Any other route: GET /events/{id}, the audit verification, reprocessing.
      MakeRoute("", {}),
  };
  return *routes;
}

// Splits a raw query string as the HTTP adapter receives it and decodes it as the adapter does.
api::HeaderList DecodeQuery(std::string_view raw) {
  api::HeaderList out;
  while (!raw.empty()) {
    size_t amp = raw.find('&');
    std::string_view pair = raw.substr(0, amp);
    raw = amp == std::string_view::npos ? std::string_view() : raw.substr(amp + 1);
    if (pair.empty()) continue;
    size_t eq = pair.find('=');
    std::string name(pair.substr(0, eq));
    std::string value(eq == std::string_view::npos ? "" : pair.substr(eq + 1));
    out.emplace_back(api::PercentDecode(name).value_or(name),
                     api::PercentDecode(value).value_or(value));
  }
  return out;
}

std::optional<int64_t> WholeInt(std::string_view s) {
  int64_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return v;
}

void CheckRoute(const Route& route, const api::ApiRequest& request) {
  std::optional<std::string> first_bad;  // the parameter error() must name
  std::set<std::string> seen;
  for (const auto& [name, value] : request.query) {
    bool known = false;
    for (std::string_view a : route.allowed) known |= a == name;
    if (!first_bad && (!known || !seen.insert(name).second || value.empty())) first_bad = name;
  }
  api::QueryParams params = route.params(request);

  // A getter reads a parameter given once with a value; a repeated or empty one is refused.
  auto value_of = [&request](std::string_view name) -> const std::string* {
    const std::string* found = nullptr;
    for (const auto& [n, v] : request.query) {
      if (n != name) continue;
      if (found) return nullptr;
      found = &v;
    }
    return found && !found->empty() ? found : nullptr;
  };
  for (const Getter& g : route.getters) {
    std::string_view param = g.kind == Getter::kCursor ? "cursor" : g.name;
    const std::string* v = value_of(param);
    bool valid = true;
    switch (g.kind) {
      case Getter::kString: {
        auto got = params.String(g.name);
        valid = !v || v->size() <= 512;
        HOOKVAULT_FUZZ_CHECK(got == (v && valid ? std::optional<std::string>(*v) : std::nullopt),
                             std::string(g.name));
        break;
      }
      case Getter::kEnum: {
        auto got = g.call_enum(params);
        bool listed = false;
        for (std::string_view option : g.values) listed |= v && *v == option;
        valid = !v || listed;
        HOOKVAULT_FUZZ_CHECK(got == (listed ? std::optional<std::string>(*v) : std::nullopt),
                             std::string(g.name));
        break;
      }
      case Getter::kInt: {
        auto got = params.Int(g.name, g.min, g.max);
        auto n = v ? WholeInt(*v) : std::nullopt;
        valid = !v || (n && *n >= g.min && *n <= g.max);
        HOOKVAULT_FUZZ_CHECK(got == (v && valid ? n : std::nullopt), std::string(g.name));
        break;
      }
      case Getter::kTime: {
        auto got = params.Time(g.name);
        auto t = v ? api::ParseRfc3339(*v) : std::nullopt;
        valid = !v || t.has_value();
        HOOKVAULT_FUZZ_CHECK(got == t, std::string(g.name));
        break;
      }
      case Getter::kLimit: {
        int got = params.Limit();
        auto n = v ? WholeInt(*v) : std::nullopt;
        valid = !v || (n && *n >= 1 && *n <= api::kMaxLimit);
        HOOKVAULT_FUZZ_CHECK(got >= 1 && got <= api::kMaxLimit, std::to_string(got));
        HOOKVAULT_FUZZ_CHECK(got == (v && valid ? *n : api::kDefaultLimit), std::to_string(got));
        break;
      }
      case Getter::kCursor: {
        auto got = params.Cursor(g.name);
        auto key = v ? api::DecodeCursor(g.name, *v) : std::nullopt;
        valid = !v || key.has_value();
        HOOKVAULT_FUZZ_CHECK(got == key, "cursor");
        break;
      }
    }
    if (!valid && !first_bad) first_bad = std::string(param);
  }

  HOOKVAULT_FUZZ_CHECK(params.ok() == !first_bad.has_value(),
                       "ok() is " + std::string(params.ok() ? "true" : "false"));
  if (params.ok()) return;
  const api::ApiResponse& e = params.error();
  HOOKVAULT_FUZZ_CHECK(e.status == 400 && e.content_type == "application/problem+json", e.body);
  rapidjson::Document doc;
  HOOKVAULT_FUZZ_CHECK(api::ParseJson(e.body, doc).ok() && doc.IsObject(), e.body);
  HOOKVAULT_FUZZ_CHECK(doc.HasMember("status") && doc["status"].IsInt() &&
                           doc["status"].GetInt() == 400 && doc.HasMember("detail") &&
                           doc["detail"].IsString(),
                       e.body);
  std::string detail(doc["detail"].GetString(), doc["detail"].GetStringLength());
  std::string named = "query parameter '" + api::ValidUtf8(*first_bad) + "' ";
  HOOKVAULT_FUZZ_CHECK(detail.starts_with(named), "expected " + named + "in " + detail);
}

// --- Times, escapes and cursors on any text -------------------------------------------------

void CheckTime(std::string_view text, int64_t n) {
  if (n >= kFirstFormattable && n <= kLastFormattable) {
    std::string printed = storage::FormatRfc3339(n);
    HOOKVAULT_FUZZ_CHECK(api::ParseRfc3339(printed) == n,
                         std::to_string(n) + " prints as " + printed + ", which parses otherwise");
  }
  std::optional<int64_t> t = api::ParseRfc3339(text);
  if (!t) return;
  HOOKVAULT_FUZZ_CHECK(text.size() >= 20, std::string(text));
  if (*t < kFirstFormattable || *t > kLastFormattable) return;  // an offset crossed year 0 or 9999
  std::string printed = storage::FormatRfc3339(*t);
  HOOKVAULT_FUZZ_CHECK(api::ParseRfc3339(printed) == t, std::string(text) + " reads as " +
                                                            std::to_string(*t) + ", printed " +
                                                            printed + ", which parses otherwise");
}

int Hex(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

void CheckPercentDecode(std::string_view text) {
  // Written independently of params.cc.
  std::optional<std::string> want = std::string();
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') {
      want->push_back(text[i]);
      continue;
    }
    if (i + 2 >= text.size()) {
      want.reset();
      break;
    }
    int hi = Hex(text[i + 1]), lo = Hex(text[i + 2]);
    if (hi < 0 || lo < 0) {
      want.reset();
      break;
    }
    want->push_back(static_cast<char>(hi * 16 + lo));
    i += 2;
  }
  HOOKVAULT_FUZZ_CHECK(api::PercentDecode(text) == want, std::string(text));
  std::string encoded;
  static constexpr char kDigits[] = "0123456789ABCDEF";
  for (unsigned char c : text) {
    encoded += '%';
    encoded += kDigits[c >> 4];
    encoded += kDigits[c & 15];
  }
  HOOKVAULT_FUZZ_CHECK(api::PercentDecode(encoded) == std::string(text), encoded);
}

void CheckCursors(std::string_view text, int64_t n) {
  int decoded_for = 0;
  for (std::string_view list : kLists) {
    std::optional<int64_t> key = api::DecodeCursor(list, text);
    if (!key) continue;
    ++decoded_for;
    HOOKVAULT_FUZZ_CHECK(*key >= 0, std::to_string(*key));
    HOOKVAULT_FUZZ_CHECK(api::DecodeCursor(list, api::EncodeCursor(list, *key)) == key,
                         std::to_string(*key));
  }
  HOOKVAULT_FUZZ_CHECK(decoded_for <= 1, "a cursor of several lists: " + std::string(text));
  if (n < 0) n = -(n + 1);  // keys are ids and seqs: never negative
  for (std::string_view list : kLists) {
    std::string cursor = api::EncodeCursor(list, n);
    for (std::string_view other : kLists) {
      std::optional<int64_t> key = api::DecodeCursor(other, cursor);
      HOOKVAULT_FUZZ_CHECK(
          other == list ? key == n : !key.has_value(),
          std::string(list) + " cursor " + cursor + " read as " + std::string(other));
    }
  }
}

}  // namespace

int FuzzQueryParams(const uint8_t* data, size_t size) {
  std::vector<std::string_view> lines =
      SplitLines(std::string_view(reinterpret_cast<const char*>(data), size), 3);
  auto line = [&lines](size_t i) { return i < lines.size() ? lines[i] : std::string_view(); };

  api::ApiRequest request;
  request.method = "GET";
  request.path = "/api/v1/" + std::string(line(0));
  request.query = DecodeQuery(line(1));
  const Route* route = &Routes().back();
  for (const Route& r : Routes()) {
    if (r.name == line(0)) route = &r;
  }
  CheckRoute(*route, request);

  std::string_view text = line(2);
  // A number for the round trips: the text's own if it is one, else its first eight bytes.
  int64_t n = 0;
  if (auto whole = WholeInt(text)) {
    n = *whole;
  } else {
    uint64_t bits = 0;
    if (!text.empty()) std::memcpy(&bits, text.data(), std::min(text.size(), sizeof(bits)));
    n = static_cast<int64_t>(bits);
  }
  CheckTime(text, n);
  CheckPercentDecode(text);
  CheckCursors(text, n);
  return 0;
}

}  // namespace hookvault::fuzz
