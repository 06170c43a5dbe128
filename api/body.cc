#include "api/body.h"

#include "api/json.h"
#include "api/params.h"
#include "api/problem.h"

namespace hookvault::api {

bool ParseBody(const ApiRequest& req, std::initializer_list<std::string_view> allowed,
               rapidjson::Document& doc, ApiResponse* problem) {
  std::string_view body = req.body;
  if (body.find_first_not_of(" \t\r\n") == std::string_view::npos) body = "{}";
  if (auto s = ParseJson(body, doc, 8); !s.ok()) {
    *problem = Problem(ProblemKind::kMalformedJson, s.message(), req.path);
    return false;
  }
  if (!doc.IsObject()) {
    *problem = Problem(ProblemKind::kBadRequest, "the body must be a JSON object", req.path);
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
                         "'" + std::string(name) + "' is not a field of this request", req.path);
      return false;
    }
  }
  return true;
}

std::optional<std::string> BodyFields::String(const char* name, size_t max_bytes) {
  auto it = doc_.FindMember(name);
  if (it == doc_.MemberEnd() || it->value.IsNull()) return std::nullopt;
  if (!it->value.IsString() || it->value.GetStringLength() > max_bytes) {
    Fail(name, "must be a string of at most " + std::to_string(max_bytes) + " bytes");
    return std::nullopt;
  }
  return std::string(it->value.GetString(), it->value.GetStringLength());
}

std::optional<bool> BodyFields::Bool(const char* name) {
  auto it = doc_.FindMember(name);
  if (it == doc_.MemberEnd() || it->value.IsNull()) return std::nullopt;
  if (!it->value.IsBool()) {
    Fail(name, "must be true or false");
    return std::nullopt;
  }
  return it->value.GetBool();
}

std::optional<int64_t> BodyFields::Int(const char* name) {
  auto it = doc_.FindMember(name);
  if (it == doc_.MemberEnd() || it->value.IsNull()) return std::nullopt;
  if (!it->value.IsInt64()) {
    Fail(name, "must be an integer");
    return std::nullopt;
  }
  return it->value.GetInt64();
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
  auto it = doc_.FindMember(name);
  if (it == doc_.MemberEnd() || it->value.IsNull()) return out;
  if (!it->value.IsArray() || it->value.Size() > 100) {
    Fail(name, "must be an array of at most 100 strings");
    return out;
  }
  for (const auto& v : it->value.GetArray()) {
    if (!v.IsString() || v.GetStringLength() == 0 || v.GetStringLength() > 512) {
      Fail(name, "must hold non-empty strings");
      return {};
    }
    out.emplace_back(v.GetString(), v.GetStringLength());
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
