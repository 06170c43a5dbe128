#include "api/params.h"

#include <charconv>
#include <ctime>

#include "api/problem.h"
#include "storage/base/encoding.h"

namespace hookvault::api {
namespace {

bool Digits(std::string_view s, size_t pos, size_t n, int* out) {
  if (pos + n > s.size()) return false;
  int v = 0;
  for (size_t i = pos; i < pos + n; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    v = v * 10 + (s[i] - '0');
  }
  *out = v;
  return true;
}

std::optional<int64_t> ParseInt(std::string_view s) {
  int64_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return v;
}

}  // namespace

std::optional<int64_t> ParseRfc3339(std::string_view s) {
  // YYYY-MM-DDTHH:MM:SS
  int year, month, day, hour, minute, second;
  if (s.size() < 20 || !Digits(s, 0, 4, &year) || s[4] != '-' || !Digits(s, 5, 2, &month) ||
      s[7] != '-' || !Digits(s, 8, 2, &day) || (s[10] != 'T' && s[10] != 't') ||
      !Digits(s, 11, 2, &hour) || s[13] != ':' || !Digits(s, 14, 2, &minute) || s[16] != ':' ||
      !Digits(s, 17, 2, &second)) {
    return std::nullopt;
  }
  if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 ||
      second > 60) {
    return std::nullopt;
  }
  size_t pos = 19;
  int64_t micros = 0;
  if (pos < s.size() && s[pos] == '.') {
    ++pos;
    size_t start = pos;
    int64_t scale = 100000;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
      micros += (s[pos] - '0') * scale;
      scale /= 10;
      ++pos;
    }
    if (pos == start || pos - start > 9) return std::nullopt;
  }
  int64_t offset_secs = 0;
  if (pos < s.size() && (s[pos] == 'Z' || s[pos] == 'z')) {
    ++pos;
  } else if (pos < s.size() && (s[pos] == '+' || s[pos] == '-')) {
    int oh, om;
    if (!Digits(s, pos + 1, 2, &oh) || pos + 3 >= s.size() || s[pos + 3] != ':' ||
        !Digits(s, pos + 4, 2, &om) || oh > 23 || om > 59) {
      return std::nullopt;
    }
    offset_secs = (s[pos] == '+' ? 1 : -1) * (oh * 3600 + om * 60);
    pos += 6;
  } else {
    return std::nullopt;
  }
  if (pos != s.size()) return std::nullopt;
  std::tm tm{};
  tm.tm_year = year - 1900;
  tm.tm_mon = month - 1;
  tm.tm_mday = day;
  tm.tm_hour = hour;
  tm.tm_min = minute;
  tm.tm_sec = second == 60 ? 59 : second;  // a leap second is taken as the second before
  time_t t = timegm(&tm);
  // timegm normalises 2026-02-31 to March 3rd: refuse dates that do not exist.
  std::tm back{};
  gmtime_r(&t, &back);
  if (back.tm_mday != day || back.tm_mon != month - 1) return std::nullopt;
  return (static_cast<int64_t>(t) - offset_secs) * 1000000 + micros;
}

std::optional<std::string> PercentDecode(std::string_view text) {
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') {
      out.push_back(text[i]);
      continue;
    }
    if (i + 2 >= text.size()) return std::nullopt;
    int hi = hex(text[i + 1]), lo = hex(text[i + 2]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out.push_back(static_cast<char>(hi * 16 + lo));
    i += 2;
  }
  return out;
}

std::string EncodeCursor(std::string_view list, int64_t key) {
  return base::Base64UrlEncode(std::string(list) + ":" + std::to_string(key));
}

std::optional<int64_t> DecodeCursor(std::string_view list, std::string_view cursor) {
  // Cursors are short; a long one is not ours, and is refused before it is decoded.
  if (cursor.empty() || cursor.size() > 128) return std::nullopt;
  auto raw = base::Base64UrlDecode(cursor);
  if (!raw || raw->size() <= list.size() + 1 || raw->compare(0, list.size(), list) != 0 ||
      (*raw)[list.size()] != ':') {
    return std::nullopt;
  }
  auto key = ParseInt(std::string_view(*raw).substr(list.size() + 1));
  if (!key || *key < 0) return std::nullopt;
  return key;
}

QueryParams::QueryParams(const ApiRequest& request,
                         std::initializer_list<std::string_view> allowed)
    : request_(request) {
  // In arrival order, so the error names the first offending parameter of the query string.
  std::set<std::string_view> seen;
  for (const auto& [name, value] : request.query) {
    bool known = false;
    for (std::string_view a : allowed) known |= (a == name);
    if (!known) {
      Fail(name, "is not a parameter of this route");
      return;
    }
    if (!seen.insert(name).second) {
      Fail(name, "is given more than once");
      return;
    }
    // "?status=" is not "no status filter": the list would come back unfiltered.
    if (value.empty()) {
      Fail(name, "has no value (leave it out instead)");
      return;
    }
  }
}

const std::string* QueryParams::Find(std::string_view name) {
  // The constructor has refused these already; a getter never returns one of them either.
  const std::string* found = nullptr;
  for (const auto& [n, v] : request_.query) {
    if (n != name) continue;
    if (found) {
      Fail(name, "is given more than once");
      return nullptr;
    }
    found = &v;
  }
  if (found && found->empty()) {
    Fail(name, "has no value (leave it out instead)");
    return nullptr;
  }
  return found;
}

void QueryParams::Fail(std::string_view name, std::string_view why) {
  if (error_) return;
  error_ = Problem(ProblemKind::kBadRequest,
                   "query parameter '" + std::string(name) + "' " + std::string(why),
                   request_.path);
}

std::optional<std::string> QueryParams::String(std::string_view name) {
  const std::string* v = Find(name);
  if (!v) return std::nullopt;
  if (v->size() > 512) {
    Fail(name, "is longer than 512 bytes");
    return std::nullopt;
  }
  return *v;
}

std::optional<std::string> QueryParams::Enum(std::string_view name,
                                             std::initializer_list<std::string_view> values) {
  const std::string* v = Find(name);
  if (!v) return std::nullopt;
  std::string choices;
  for (std::string_view value : values) {
    if (*v == value) return *v;
    choices += choices.empty() ? "" : ", ";
    choices += value;
  }
  Fail(name, "must be one of: " + choices);
  return std::nullopt;
}

std::optional<int64_t> QueryParams::Int(std::string_view name, int64_t min, int64_t max) {
  const std::string* v = Find(name);
  if (!v) return std::nullopt;
  auto n = ParseInt(*v);
  if (!n || *n < min || *n > max) {
    Fail(name, "must be an integer from " + std::to_string(min) + " to " + std::to_string(max));
    return std::nullopt;
  }
  return n;
}

std::optional<int64_t> QueryParams::Time(std::string_view name) {
  const std::string* v = Find(name);
  if (!v) return std::nullopt;
  auto t = ParseRfc3339(*v);
  if (!t) Fail(name, "must be an RFC 3339 date-time such as 2026-11-28T13:00:00Z");
  return t;
}

int QueryParams::Limit() {
  return static_cast<int>(Int("limit", 1, kMaxLimit).value_or(kDefaultLimit));
}

std::optional<int64_t> QueryParams::Cursor(std::string_view list) {
  const std::string* v = Find("cursor");
  if (!v) return std::nullopt;
  auto key = DecodeCursor(list, *v);
  if (!key) Fail("cursor", "is not a cursor of this list (use next_cursor as given)");
  return key;
}

}  // namespace hookvault::api
