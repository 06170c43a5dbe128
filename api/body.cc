#include "api/body.h"

#include "api/json.h"
#include "api/params.h"
#include "api/problem.h"
#include "storage/base/strings.h"

namespace hookvault::api {
namespace {

// True for "application/json", in any case, with or without parameters ("; charset=utf-8").
bool IsJsonMediaType(std::string_view value) {
  std::string_view type = value.substr(0, value.find(';'));
  size_t first = type.find_first_not_of(" \t");
  if (first == std::string_view::npos) return false;
  type = type.substr(first, type.find_last_not_of(" \t") + 1 - first);
  return base::AsciiLower(type) == "application/json";
}

}  // namespace

bool ParseBody(const ApiRequest& req, std::initializer_list<std::string_view> allowed,
               rapidjson::Document& doc, ApiResponse* problem) {
  // Every Content-Type line counts: a client that sends two must not have the second ignored.
  bool typed = false;
  for (const auto& [name, value] : req.headers) {
    if (name != "content-type") continue;
    typed = true;
    if (!IsJsonMediaType(value)) {
      *problem = Problem(ProblemKind::kUnsupportedMediaType,
                         "content type \"" + ValidUtf8(value) +
                             "\" is not JSON: send the body as Content-Type: application/json",
                         req.path);
      return false;
    }
  }
  if (!typed && !req.body.empty()) {
    *problem = Problem(ProblemKind::kUnsupportedMediaType,
                       "the body has no content type: send it as Content-Type: application/json",
                       req.path);
    return false;
  }
  std::string_view body = req.body.empty() ? std::string_view("{}") : std::string_view(req.body);
  if (auto s = ParseJson(body, doc, 8); !s.ok()) {
    *problem = Problem(ProblemKind::kMalformedJson, s.message(), req.path);
    return false;
  }
  if (!doc.IsObject()) {
    *problem = Problem(ProblemKind::kBadRequest, "the body must be a JSON object", req.path);
    return false;
  }
  if (auto repeated = FindRepeatedMember(doc)) {
    *problem = Problem(ProblemKind::kBadRequest,
                       "'" + ValidUtf8(*repeated) + "' is given more than once", req.path);
    return false;
  }
  // Through a const reference: C++20 finds comparing RapidJSON's non-const member iterators
  // ambiguous (reversed operator==), which clang reports.
  const rapidjson::Value& fields = doc;
  for (auto it = fields.MemberBegin(); it != fields.MemberEnd(); ++it) {
    std::string_view name(it->name.GetString(), it->name.GetStringLength());
    bool known = false;
    for (std::string_view a : allowed) known |= (a == name);
    if (!known) {
      *problem = Problem(ProblemKind::kBadRequest,
                         "'" + ValidUtf8(name) + "' is not a field of this request", req.path);
      return false;
    }
    if (it->value.IsNull()) {
      *problem = Problem(ProblemKind::kBadRequest,
                         "'" + std::string(name) +
                             "' is null: leave the field out for its default, or give a value",
                         req.path);
      return false;
    }
  }
  return true;
}

const rapidjson::Value* BodyFields::Find(const char* name) {
  auto it = doc_.FindMember(name);
  if (it == doc_.MemberEnd()) return nullptr;
  if (it->value.IsNull()) {
    Fail(name, "is null: leave the field out for its default, or give a value");
    return nullptr;
  }
  return &it->value;
}

std::optional<std::string> BodyFields::String(const char* name, size_t max_bytes) {
  const rapidjson::Value* v = Find(name);
  if (!v) return std::nullopt;
  if (!v->IsString() || v->GetStringLength() == 0 || v->GetStringLength() > max_bytes) {
    Fail(name, "must be a non-empty string of at most " + std::to_string(max_bytes) + " bytes");
    return std::nullopt;
  }
  return std::string(v->GetString(), v->GetStringLength());
}

std::optional<bool> BodyFields::Bool(const char* name) {
  const rapidjson::Value* v = Find(name);
  if (!v) return std::nullopt;
  if (!v->IsBool()) {
    Fail(name, "must be true or false");
    return std::nullopt;
  }
  return v->GetBool();
}

std::optional<int64_t> BodyFields::Int(const char* name) {
  const rapidjson::Value* v = Find(name);
  if (!v) return std::nullopt;
  if (!v->IsInt64()) {
    Fail(name, "must be an integer");
    return std::nullopt;
  }
  return v->GetInt64();
}

std::optional<int64_t> BodyFields::Time(const char* name) {
  auto s = String(name, 64);
  if (!s) return std::nullopt;
  auto t = ParseRfc3339(*s);
  if (!t) Fail(name, "must be an RFC 3339 date-time such as 2026-11-28T13:00:00Z");
  return t;
}

std::vector<std::string> BodyFields::Strings(const char* name) {
  std::vector<std::string> out;
  const rapidjson::Value* v = Find(name);
  if (!v) return out;
  // An empty list would read as "no restriction": refused, as the field left out says that.
  if (!v->IsArray() || v->Empty() || v->Size() > 100) {
    Fail(name, "must be an array of 1 to 100 strings (leave it out for all)");
    return out;
  }
  for (const auto& item : v->GetArray()) {
    if (!item.IsString() || item.GetStringLength() == 0 || item.GetStringLength() > 512) {
      Fail(name, "must hold non-empty strings of at most 512 bytes");
      return {};
    }
    out.emplace_back(item.GetString(), item.GetStringLength());
  }
  return out;
}

void BodyFields::Fail(std::string_view name, std::string_view why) {
  if (!error_) {
    error_ = Problem(ProblemKind::kBadRequest, "'" + std::string(name) + "' " + std::string(why),
                     req_.path);
  }
}

}  // namespace hookvault::api
