// The embedded OpenAPI description against the route table: every route described, nothing
// else described, each operation's security as the route's access, and the document internally
// sound. Each check is a function returning what it
// found wrong, so the last tests can prove that each one fails on a broken document.
#include "api/openapi.h"

#include <gtest/gtest.h>
#include <rapidjson/document.h>
#include <rapidjson/pointer.h>

#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "api/auth.h"
#include "api/json.h"
#include "server/http/route_table.h"
#include "storage/base/strings.h"

namespace hookvault::api {
namespace {

using rapidjson::Document;
using rapidjson::Value;
using Findings = std::vector<std::string>;

constexpr std::string_view kHttpMethods[] = {"get",     "put",  "post",  "delete",
                                             "options", "head", "patch", "trace"};
constexpr std::string_view kOpenApiRoute = "/api/v1/openapi.json";

std::string Str(const Value& v) { return std::string(v.GetString(), v.GetStringLength()); }

// Returns the member `name` of `v`, or nullptr when `v` is not an object or lacks it.
const Value* Member(const Value& v, std::string_view name) {
  if (!v.IsObject()) return nullptr;
  auto it = v.FindMember(Value(rapidjson::StringRef(name.data(), name.size())));
  return it == v.MemberEnd() ? nullptr : &it->value;
}

// Returns `v`, or what its local "$ref" (followed through chains) points to; nullptr when a
// reference does not resolve inside `doc`.
const Value* Resolve(const Value& doc, const Value& v) {
  const Value* current = &v;
  for (int hops = 0; hops < 16; ++hops) {
    const Value* ref = Member(*current, "$ref");
    if (!ref) return current;
    if (!ref->IsString() || ref->GetStringLength() == 0 || ref->GetString()[0] != '#') {
      return nullptr;
    }
    rapidjson::Pointer pointer(ref->GetString(), ref->GetStringLength());  // "#/…" fragment form
    if (!pointer.IsValid()) return nullptr;
    current = pointer.Get(doc);
    if (!current) return nullptr;
  }
  return nullptr;  // a cycle
}

// "/events/:id/attempts" → "/events/{id}/attempts".
std::string OpenApiPath(std::string_view pattern) {
  std::string out;
  size_t start = 0;
  while (start <= pattern.size()) {
    size_t end = pattern.find('/', start);
    if (end == std::string_view::npos) end = pattern.size();
    std::string_view segment = pattern.substr(start, end - start);
    if (start > 0) out += '/';
    if (segment.starts_with(':')) {
      out += "{" + std::string(segment.substr(1)) + "}";
    } else {
      out += segment;
    }
    start = end + 1;
  }
  return out;
}

// The ":name" parameters of a route pattern.
std::set<std::string> PatternParams(std::string_view pattern) {
  std::set<std::string> names;
  size_t pos = 0;
  while ((pos = pattern.find("/:", pos)) != std::string_view::npos) {
    size_t end = pattern.find('/', pos + 1);
    if (end == std::string_view::npos) end = pattern.size();
    names.emplace(pattern.substr(pos + 2, end - pos - 2));
    pos = end;
  }
  return names;
}

using RouteTable = std::span<const server::RouteSpec>;

// Returns true when the router asks `route` for an API token: the document must then require
// bearerAuth; on public and source-token routes it must require nothing.
bool NeedsBearer(const server::RouteSpec& route) {
  return std::holds_alternative<api::Permission>(route.access);
}

struct Operation {
  std::string path;    // as in the document: "/api/v1/events/{id}"
  std::string method;  // lower case
  const Value* path_item;
  const Value* op;
};

std::vector<Operation> Operations(const Value& doc) {
  std::vector<Operation> ops;
  const Value* paths = Member(doc, "paths");
  if (!paths || !paths->IsObject()) return ops;
  for (const auto& path : paths->GetObject()) {
    for (std::string_view method : kHttpMethods) {
      if (const Value* op = Member(path.value, method)) {
        ops.push_back({Str(path.name), std::string(method), &path.value, op});
      }
    }
  }
  return ops;
}

const server::RouteSpec* FindRoute(std::string_view path, std::string_view method,
                                   RouteTable routes = server::kRouteTable) {
  for (const server::RouteSpec& r : routes) {
    if (OpenApiPath(r.pattern) == path && base::AsciiLower(r.method) == method) return &r;
  }
  return nullptr;
}

std::string OperationId(const Operation& o) {
  const Value* id = Member(*o.op, "operationId");
  return id && id->IsString() ? Str(*id) : "";
}

std::string Where(const Operation& o) { return o.method + " " + o.path; }

Findings CheckVersion(const Value& doc) {
  const Value* version = Member(doc, "openapi");
  if (!version || !version->IsString() || !Str(*version).starts_with("3.")) {
    return {"\"openapi\" is not a 3.x version string"};
  }
  return {};
}

Findings CheckEveryRouteDescribed(const Value& doc) {
  Findings found;
  const Value* paths = Member(doc, "paths");
  for (const server::RouteSpec& r : server::kRouteTable) {
    std::string where = std::string(r.method) + " " + std::string(r.pattern);
    const Value* item = paths ? Member(*paths, OpenApiPath(r.pattern)) : nullptr;
    const Value* op = item ? Member(*item, base::AsciiLower(r.method)) : nullptr;
    if (!op) {
      found.push_back(where + " is not described at " + OpenApiPath(r.pattern));
      continue;
    }
    const Value* id = Member(*op, "operationId");
    if (!id || !id->IsString() || Str(*id) != r.operation_id) {
      found.push_back(where + ": operationId is not " + std::string(r.operation_id));
    }
  }
  return found;
}

Findings CheckNothingElseDescribed(const Value& doc) {
  Findings found;
  for (const Operation& o : Operations(doc)) {
    if (!FindRoute(o.path, o.method)) found.push_back(Where(o) + " is described but not routed");
  }
  return found;
}

Findings CheckPathParameters(const Value& doc) {
  Findings found;
  for (const server::RouteSpec& r : server::kRouteTable) {
    std::string where = std::string(r.method) + " " + std::string(r.pattern);
    const Value* paths = Member(doc, "paths");
    const Value* item = paths ? Member(*paths, OpenApiPath(r.pattern)) : nullptr;
    const Value* op = item ? Member(*item, base::AsciiLower(r.method)) : nullptr;
    if (!op) continue;  // CheckEveryRouteDescribed reports it
    std::set<std::string> declared;
    for (const Value* owner : {item, op}) {
      const Value* params = Member(*owner, "parameters");
      if (!params) continue;
      if (!params->IsArray()) {
        found.push_back(where + ": parameters is not an array");
        continue;
      }
      for (const Value& p : params->GetArray()) {
        const Value* param = Resolve(doc, p);
        const Value* in = param ? Member(*param, "in") : nullptr;
        const Value* name = param ? Member(*param, "name") : nullptr;
        if (!in || !in->IsString() || !name || !name->IsString()) continue;
        if (Str(*in) != "path") continue;
        const Value* required = Member(*param, "required");
        if (!required || !required->IsBool() || !required->GetBool()) {
          found.push_back(where + ": path parameter " + Str(*name) + " is not required");
        }
        declared.insert(Str(*name));
      }
    }
    std::set<std::string> wanted = PatternParams(r.pattern);
    for (const std::string& name : wanted) {
      if (!declared.contains(name)) {
        found.push_back(where + ": path parameter " + name + " is not declared");
      }
    }
    for (const std::string& name : declared) {
      if (!wanted.contains(name)) {
        found.push_back(where + ": declares path parameter " + name + " not in the pattern");
      }
    }
  }
  return found;
}

Findings CheckOperationIdsUnique(const Value& doc) {
  Findings found;
  std::set<std::string> seen;
  for (const Operation& o : Operations(doc)) {
    std::string id = OperationId(o);
    if (id.empty()) {
      found.push_back(Where(o) + " has no operationId");
    } else if (!seen.insert(id).second) {
      found.push_back("operationId " + id + " is used twice");
    }
  }
  return found;
}

void CollectBadRefs(const Value& doc, const Value& v, const std::string& at, Findings& found) {
  if (v.IsObject()) {
    for (const auto& m : v.GetObject()) {
      std::string key = Str(m.name);
      if (key == "$ref" && !Resolve(doc, v)) {
        found.push_back(at + ": $ref " + (m.value.IsString() ? Str(m.value) : "?") +
                        " does not resolve inside the document");
      }
      CollectBadRefs(doc, m.value, at + "/" + key, found);
    }
  } else if (v.IsArray()) {
    for (rapidjson::SizeType i = 0; i < v.Size(); ++i) {
      CollectBadRefs(doc, v[i], at + "/" + std::to_string(i), found);
    }
  }
}

Findings CheckRefsResolve(const Value& doc) {
  Findings found;
  CollectBadRefs(doc, doc, "", found);
  return found;
}

Findings CheckSecurity(const Value& doc, RouteTable routes = server::kRouteTable) {
  Findings found;
  const Value* scheme = Member(doc, "components");
  for (const char* step : {"securitySchemes", "bearerAuth"}) {
    scheme = scheme ? Member(*scheme, step) : nullptr;
  }
  const Value* type = scheme ? Member(*scheme, "type") : nullptr;
  const Value* kind = scheme ? Member(*scheme, "scheme") : nullptr;
  if (!type || !type->IsString() || Str(*type) != "http" || !kind || !kind->IsString() ||
      base::AsciiLower(Str(*kind)) != "bearer") {
    found.push_back("components.securitySchemes.bearerAuth is not an http bearer scheme");
  }
  for (const Operation& o : Operations(doc)) {
    const server::RouteSpec* route = FindRoute(o.path, o.method, routes);
    if (!route) continue;  // CheckNothingElseDescribed reports it
    const Value* security = Member(*o.op, "security");
    if (!security) security = Member(doc, "security");  // the document's default
    // Authentication is required when there is at least one alternative and none is empty.
    bool all_bearer = security && security->IsArray() && !security->Empty();
    bool anonymous = !security || (security->IsArray() && security->Empty());
    if (security && security->IsArray()) {
      for (const Value& alternative : security->GetArray()) {
        if (!Member(alternative, "bearerAuth")) all_bearer = false;
        if (alternative.IsObject() && alternative.ObjectEmpty()) anonymous = true;
      }
    }
    if (NeedsBearer(*route) && !all_bearer) {
      found.push_back(Where(o) + " does not require bearerAuth, but its route needs an API token");
    }
    if (!NeedsBearer(*route) && !anonymous) {
      found.push_back(Where(o) + " requires credentials, but its route takes no API token");
    }
  }
  return found;
}

// The roles named by the sentence "Roles allowed: `a`, `b`." of an operation's description, or
// nullopt when it has none.
std::optional<std::set<std::string>> DescribedRoles(const Value& op) {
  const Value* description = Member(op, "description");
  if (!description || !description->IsString()) return std::nullopt;
  std::string_view text(description->GetString(), description->GetStringLength());
  constexpr std::string_view kLead = "Roles allowed: ";
  size_t at = text.find(kLead);
  if (at == std::string_view::npos) return std::nullopt;
  std::string_view sentence = text.substr(at + kLead.size());
  sentence = sentence.substr(0, sentence.find('.'));
  std::set<std::string> roles;
  size_t open = 0;
  while ((open = sentence.find('`', open)) != std::string_view::npos) {
    size_t close = sentence.find('`', open + 1);
    if (close == std::string_view::npos) break;
    roles.emplace(sentence.substr(open + 1, close - open - 1));
    open = close + 1;
  }
  return roles;
}

// Each operation of a permission route names exactly the roles that api::Allows grants it;
// the others name none.
Findings CheckRoles(const Value& doc, RouteTable routes = server::kRouteTable) {
  Findings found;
  for (const Operation& o : Operations(doc)) {
    const server::RouteSpec* route = FindRoute(o.path, o.method, routes);
    if (!route) continue;  // CheckNothingElseDescribed reports it
    std::optional<std::set<std::string>> described = DescribedRoles(*o.op);
    const auto* permission = std::get_if<api::Permission>(&route->access);
    if (!permission) {
      if (described) found.push_back(Where(o) + " names roles, but its route takes no API token");
      continue;
    }
    std::set<std::string> allowed;
    for (api::Role role :
         {api::Role::kAuditor, api::Role::kOperator, api::Role::kConsumer, api::Role::kAdmin}) {
      if (api::Allows(role, *permission)) allowed.emplace(api::RoleName(role));
    }
    if (!described) {
      found.push_back(Where(o) + " does not say which roles are allowed");
    } else if (*described != allowed) {
      std::string want;
      for (const std::string& r : allowed) want += " " + r;
      found.push_back(Where(o) + " names other roles than its route's permission allows:" + want);
    }
  }
  return found;
}

Findings CheckResponses(const Value& doc, RouteTable routes = server::kRouteTable) {
  Findings found;
  for (const Operation& o : Operations(doc)) {
    const Value* responses = Member(*o.op, "responses");
    if (!responses || !responses->IsObject()) {
      found.push_back(Where(o) + " has no responses");
      continue;
    }
    bool success = false;
    for (const auto& r : responses->GetObject()) {
      std::string code = Str(r.name);
      // A redirect (GET /console → /console/) is a route's whole answer.
      if (code.size() == 3 && (code[0] == '2' || code[0] == '3')) success = true;
      const Value* response = Resolve(doc, r.value);
      if (!response) continue;  // CheckRefsResolve reports it
      if (code[0] == '4' || code[0] == '5') {
        const Value* content = Member(*response, "content");
        if (!content || !Member(*content, "application/problem+json")) {
          found.push_back(Where(o) + " " + code + " is not application/problem+json");
        }
      }
      if (code == "503") {
        const Value* headers = Member(*response, "headers");
        if (!headers || !Member(*headers, "Retry-After")) {
          found.push_back(Where(o) + " 503 does not declare Retry-After");
        }
      }
    }
    if (!success) found.push_back(Where(o) + " documents no 2xx response");
    const server::RouteSpec* route = FindRoute(o.path, o.method, routes);
    if (route && NeedsBearer(*route)) {
      // 403 where a role may be refused (not on GET /session, which every valid token may call).
      bool refusable = false;
      for (api::Role role :
           {api::Role::kAuditor, api::Role::kOperator, api::Role::kConsumer, api::Role::kAdmin}) {
        refusable |= !api::Allows(role, std::get<api::Permission>(route->access));
      }
      for (const char* code : {"401", "403"}) {
        if (std::string_view(code) == "403" && !refusable) continue;
        if (!Member(*responses, code)) found.push_back(Where(o) + " does not document " + code);
      }
    }
  }
  return found;
}

class OpenApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    storage::Status parsed = ParseJson(OpenApiJson(), doc_);
    ASSERT_TRUE(parsed.ok()) << parsed.ToString();
    ASSERT_TRUE(doc_.IsObject());
  }

  // Returns a copy of the document to break.
  Document Copy() const {
    Document copy;
    copy.CopyFrom(doc_, copy.GetAllocator());
    return copy;
  }

  Document doc_;
};

std::string Joined(const Findings& found) {
  std::string out;
  for (const std::string& f : found) out += "\n  " + f;
  return out;
}

TEST_F(OpenApiTest, IsOpenApi3) {
  EXPECT_TRUE(CheckVersion(doc_).empty()) << Joined(CheckVersion(doc_));
}

TEST_F(OpenApiTest, DescribesEveryRoute) {
  Findings found = CheckEveryRouteDescribed(doc_);
  EXPECT_TRUE(found.empty()) << Joined(found);
}

TEST_F(OpenApiTest, DescribesNothingButRoutes) {
  Findings found = CheckNothingElseDescribed(doc_);
  EXPECT_TRUE(found.empty()) << Joined(found);
  EXPECT_EQ(Operations(doc_).size(), server::kRouteTable.size());
}

TEST_F(OpenApiTest, DeclaresEveryPathParameter) {
  Findings found = CheckPathParameters(doc_);
  EXPECT_TRUE(found.empty()) << Joined(found);
}

TEST_F(OpenApiTest, OperationIdsAreUnique) {
  Findings found = CheckOperationIdsUnique(doc_);
  EXPECT_TRUE(found.empty()) << Joined(found);
}

TEST_F(OpenApiTest, EveryRefResolves) {
  Findings found = CheckRefsResolve(doc_);
  EXPECT_TRUE(found.empty()) << Joined(found);
}

TEST_F(OpenApiTest, SecurityIsTheRouteTablesAccess) {
  Findings found = CheckSecurity(doc_);
  EXPECT_TRUE(found.empty()) << Joined(found);
}

TEST_F(OpenApiTest, NamesTheRolesOfEachPermission) {
  Findings found = CheckRoles(doc_);
  EXPECT_TRUE(found.empty()) << Joined(found);
}

TEST_F(OpenApiTest, DocumentsSuccessAndErrorResponses) {
  Findings found = CheckResponses(doc_);
  EXPECT_TRUE(found.empty()) << Joined(found);
}

TEST_F(OpenApiTest, ServesItsOwnRoute) {
  const Value* op = Member(doc_["paths"], kOpenApiRoute);
  ASSERT_NE(op, nullptr);
  EXPECT_NE(Member(*op, "get"), nullptr);
}

TEST_F(OpenApiTest, PathConversion) {
  EXPECT_EQ(OpenApiPath("/healthz"), "/healthz");
  EXPECT_EQ(OpenApiPath("/api/v1/events/:id/attempts"), "/api/v1/events/{id}/attempts");
  EXPECT_EQ(PatternParams("/a/:x/b/:y"), (std::set<std::string>{"x", "y"}));
}

// Each check must be able to fail: break a copy of the document in one way and expect the check
// meant for it to say so.

TEST_F(OpenApiTest, VersionCheckFails) {
  Document d = Copy();
  d["openapi"].SetString("2.0");
  EXPECT_FALSE(CheckVersion(d).empty());
  d.RemoveMember("openapi");
  EXPECT_FALSE(CheckVersion(d).empty());
}

TEST_F(OpenApiTest, MissingRouteIsFound) {
  Document d = Copy();
  ASSERT_TRUE(d["paths"].RemoveMember("/api/v1/feed"));
  EXPECT_FALSE(CheckEveryRouteDescribed(d).empty());
}

TEST_F(OpenApiTest, WrongOperationIdIsFound) {
  Document d = Copy();
  d["paths"]["/api/v1/events/{id}"]["get"]["operationId"].SetString("fetchEvent");
  EXPECT_FALSE(CheckEveryRouteDescribed(d).empty());
}

TEST_F(OpenApiTest, UnroutedOperationIsFound) {
  Document d = Copy();
  auto& a = d.GetAllocator();
  Value op(rapidjson::kObjectType);
  op.AddMember("operationId", "deleteHealth", a);
  d["paths"]["/healthz"].AddMember("delete", op, a);
  EXPECT_FALSE(CheckNothingElseDescribed(d).empty());

  Document e = Copy();
  Value item(rapidjson::kObjectType);
  item.AddMember("get", Value(e["paths"]["/healthz"]["get"], a), a);
  e["paths"].AddMember("/api/v1/extra", item, a);
  EXPECT_FALSE(CheckNothingElseDescribed(e).empty());
}

TEST_F(OpenApiTest, UndeclaredPathParameterIsFound) {
  Document d = Copy();
  ASSERT_TRUE(d["paths"]["/api/v1/events/{id}"]["get"].RemoveMember("parameters"));
  EXPECT_FALSE(CheckPathParameters(d).empty());
}

TEST_F(OpenApiTest, OptionalPathParameterIsFound) {
  Document d = Copy();
  Value& params = d["paths"]["/api/v1/consumers/{name}/ack"]["post"]["parameters"];
  ASSERT_TRUE(params.IsArray());
  Value inline_param(rapidjson::kObjectType);
  auto& a = d.GetAllocator();
  inline_param.AddMember("name", "name", a)
      .AddMember("in", "path", a)
      .AddMember("required", false, a);
  params.Clear();
  params.PushBack(inline_param, a);
  EXPECT_FALSE(CheckPathParameters(d).empty());
}

TEST_F(OpenApiTest, DuplicateOperationIdIsFound) {
  Document d = Copy();
  d["paths"]["/api/v1/attempts"]["get"]["operationId"].SetString("listEvents");
  EXPECT_FALSE(CheckOperationIdsUnique(d).empty());
}

TEST_F(OpenApiTest, DanglingRefIsFound) {
  Document d = Copy();
  Value& schema = d["paths"]["/api/v1/audit/verify"]["get"]["responses"]["200"]["content"]
                   ["application/json"]["schema"];
  ASSERT_TRUE(schema.HasMember("$ref"));
  schema["$ref"].SetString("#/components/schemas/NoSuchSchema");
  EXPECT_FALSE(CheckRefsResolve(d).empty());
  schema["$ref"].SetString("other.json#/components/schemas/AuditVerification");
  EXPECT_FALSE(CheckRefsResolve(d).empty());
}

TEST_F(OpenApiTest, UnprotectedApiRouteIsFound) {
  Document d = Copy();
  ASSERT_TRUE(d["paths"]["/api/v1/events"]["get"].RemoveMember("security"));
  EXPECT_FALSE(CheckSecurity(d).empty());

  Document e = Copy();  // an anonymous alternative makes the token optional
  e["paths"]["/api/v1/reprocess"]["post"]["security"].PushBack(Value(rapidjson::kObjectType),
                                                               e.GetAllocator());
  EXPECT_FALSE(CheckSecurity(e).empty());

  Document f = Copy();  // a public route must not ask for a token
  f["paths"]["/healthz"]["get"]["security"] =
      Value(doc_["paths"]["/api/v1/events"]["get"]["security"], f.GetAllocator());
  EXPECT_FALSE(CheckSecurity(f).empty());
}

// The table and the document must agree both ways: a route whose access changes in the table
// alone is found as well as a document edited alone.
TEST_F(OpenApiTest, AccessThatDisagreesWithTheTableIsFound) {
  auto with_access = [](std::string_view operation_id, server::Access access) {
    auto table = server::kRouteTable;
    bool found = false;
    for (server::RouteSpec& r : table) {
      if (r.operation_id != operation_id) continue;
      r.access = access;
      found = true;
    }
    EXPECT_TRUE(found) << operation_id;
    return table;
  };
  // A route the table made public (or source-token) that the document still protects.
  EXPECT_FALSE(CheckSecurity(doc_, with_access("listEvents", server::kPublic)).empty());
  EXPECT_FALSE(CheckSecurity(doc_, with_access("ackConsumer", server::kSourceToken)).empty());
  // A route the table protects that the document shows as open.
  EXPECT_FALSE(CheckSecurity(doc_, with_access("getHealth", api::Permission::kRead)).empty());
  EXPECT_FALSE(
      CheckSecurity(doc_, with_access("ingestWebhook", api::Permission::kConsume)).empty());
  EXPECT_FALSE(CheckResponses(doc_, with_access("getOpenApi", api::Permission::kRead)).empty());
  // Another permission: the same bearerAuth, but other roles than the description names.
  EXPECT_FALSE(CheckRoles(doc_, with_access("listEvents", api::Permission::kConsume)).empty());
  EXPECT_FALSE(CheckRoles(doc_, with_access("ackConsumer", api::Permission::kReprocess)).empty());
  EXPECT_FALSE(CheckRoles(doc_, with_access("listAudit", server::kPublic)).empty());
}

TEST_F(OpenApiTest, WrongRolesInTheDocumentAreFound) {
  Document d = Copy();
  Value& description = d["paths"]["/api/v1/reprocess"]["post"]["description"];
  std::string text = Str(description);
  size_t at = text.find("`operator`, ");
  ASSERT_NE(at, std::string::npos) << text;
  text.insert(at, "`auditor`, ");
  description.SetString(text.c_str(), static_cast<rapidjson::SizeType>(text.size()),
                        d.GetAllocator());
  EXPECT_FALSE(CheckRoles(d).empty());

  Document e = Copy();
  ASSERT_TRUE(e["paths"]["/api/v1/feed"]["get"].RemoveMember("description"));
  EXPECT_FALSE(CheckRoles(e).empty());
}

TEST_F(OpenApiTest, MissingResponsesAreFound) {
  Document d = Copy();
  ASSERT_TRUE(d["paths"]["/api/v1/feed"]["get"]["responses"].RemoveMember("401"));
  EXPECT_FALSE(CheckResponses(d).empty());

  Document e = Copy();
  ASSERT_TRUE(e["paths"]["/api/v1/consumers/{name}/ack"]["post"]["responses"].RemoveMember("403"));
  EXPECT_FALSE(CheckResponses(e).empty());

  Document f = Copy();
  ASSERT_TRUE(f["paths"]["/healthz"]["get"]["responses"].RemoveMember("200"));
  EXPECT_FALSE(CheckResponses(f).empty());

  Document g = Copy();  // a 503 without Retry-After
  ASSERT_TRUE(g["components"]["responses"]["Unavailable"].RemoveMember("headers"));
  EXPECT_FALSE(CheckResponses(g).empty());
}

}  // namespace
}  // namespace hookvault::api
