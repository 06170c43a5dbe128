#include "api/problem.h"

#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <iterator>
#include <set>
#include <sstream>
#include <string>

#include "api/json.h"

namespace hookvault::api {
namespace {

struct KindCase {
  ProblemKind kind;
  int status;
  const char* slug;
};

constexpr KindCase kKinds[] = {
    {ProblemKind::kBadRequest, 400, "bad-request"},
    {ProblemKind::kMalformedJson, 400, "malformed-json"},
    {ProblemKind::kUnauthenticated, 401, "unauthenticated"},
    {ProblemKind::kForbidden, 403, "forbidden"},
    {ProblemKind::kNotFound, 404, "not-found"},
    {ProblemKind::kUnknownSource, 404, "unknown-source"},
    {ProblemKind::kMethodNotAllowed, 405, "method-not-allowed"},
    {ProblemKind::kConflict, 409, "conflict"},
    {ProblemKind::kGone, 410, "gone"},
    {ProblemKind::kPayloadTooLarge, 413, "payload-too-large"},
    {ProblemKind::kUnsupportedMediaType, 415, "unsupported-media-type"},
    {ProblemKind::kMissingField, 422, "missing-field"},
    {ProblemKind::kSchemaViolation, 422, "schema-violation"},
    {ProblemKind::kInternal, 500, "internal"},
    {ProblemKind::kUnavailable, 503, "unavailable"},
};

const std::string* FindHeader(const ApiResponse& r, std::string_view name) {
  for (const auto& [n, v] : r.headers) {
    if (n == name) return &v;
  }
  return nullptr;
}

// Checks that `r` is a problem+json response with the given status and returns the body.
void ExpectProblem(const ApiResponse& r, int status, rapidjson::Document& doc) {
  EXPECT_EQ(r.status, status);
  EXPECT_EQ(r.content_type, "application/problem+json");
  storage::Status parsed = ParseJson(r.body, doc);
  ASSERT_TRUE(parsed.ok()) << r.body << ": " << parsed.message();
  ASSERT_TRUE(doc.IsObject()) << r.body;
  ASSERT_TRUE(doc.HasMember("type") && doc["type"].IsString()) << r.body;
  ASSERT_TRUE(doc.HasMember("title") && doc["title"].IsString()) << r.body;
  ASSERT_TRUE(doc.HasMember("status") && doc["status"].IsInt()) << r.body;
  ASSERT_TRUE(doc.HasMember("detail") && doc["detail"].IsString()) << r.body;
  EXPECT_EQ(doc["status"].GetInt(), status) << r.body;
  EXPECT_GT(doc["title"].GetStringLength(), 0u);
}

TEST(ProblemTest, EveryKindHasItsStatusAndAWellFormedBody) {
  for (const KindCase& c : kKinds) {
    SCOPED_TRACE(c.slug);
    ApiResponse r = Problem(c.kind, "some detail");
    rapidjson::Document doc;
    ExpectProblem(r, c.status, doc);
    if (HasFatalFailure()) continue;
    EXPECT_EQ(std::string(doc["type"].GetString()), std::string("urn:hookvault:problem:") + c.slug);
    EXPECT_STREQ(doc["detail"].GetString(), "some detail");
    EXPECT_FALSE(doc.HasMember("instance"));
  }
}

TEST(ProblemTest, TypesAreDistinctPerKind) {
  std::set<std::string> types;
  for (const KindCase& c : kKinds) {
    rapidjson::Document doc;
    ASSERT_TRUE(ParseJson(Problem(c.kind, "").body, doc).ok());
    types.insert(doc["type"].GetString());
  }
  EXPECT_EQ(types.size(), std::size(kKinds));
}

TEST(ProblemTest, OnlyUnavailableCarriesRetryAfter) {
  for (const KindCase& c : kKinds) {
    ApiResponse r = Problem(c.kind, "d");
    const std::string* retry = FindHeader(r, "Retry-After");
    if (c.status == 503) {
      ASSERT_NE(retry, nullptr) << c.slug;
      EXPECT_EQ(*retry, std::to_string(kRetryAfterSeconds));
      EXPECT_GT(kRetryAfterSeconds, 0);
    } else {
      EXPECT_EQ(retry, nullptr) << c.slug;
    }
  }
}

TEST(ProblemTest, IncludesInstanceWhenGiven) {
  ApiResponse r = Problem(ProblemKind::kNotFound, "nope", "/api/v1/events/x");
  rapidjson::Document doc;
  ExpectProblem(r, 404, doc);
  ASSERT_TRUE(doc.HasMember("instance"));
  EXPECT_STREQ(doc["instance"].GetString(), "/api/v1/events/x");
}

TEST(ProblemTest, ExtensionMembersFollowTheStandardOnes) {
  ApiResponse r = ProblemWithMembers(ProblemKind::kSchemaViolation, "payload breaks its schema",
                                     "/webhooks/h", R"("errors":[{"pointer":"/a"}])");
  rapidjson::Document doc;
  ExpectProblem(r, 422, doc);
  if (HasFatalFailure()) return;
  ASSERT_TRUE(doc.HasMember("errors") && doc["errors"].IsArray()) << r.body;
  EXPECT_STREQ(doc["errors"][0]["pointer"].GetString(), "/a");
  EXPECT_STREQ(doc["instance"].GetString(), "/webhooks/h");
}

TEST(ProblemTest, EscapesDetailAndInstance) {
  std::string detail = "bad \"value\"\nwith \\ and \x01";
  std::string instance = "/webhooks/\"}";
  ApiResponse r = Problem(ProblemKind::kBadRequest, detail, instance);
  rapidjson::Document doc;
  ExpectProblem(r, 400, doc);
  if (HasFatalFailure()) return;
  EXPECT_EQ(std::string(doc["detail"].GetString()), detail);
  EXPECT_EQ(std::string(doc["instance"].GetString()), instance);
}

struct StatusCase {
  storage::Status status;
  int http;
};

TEST(ProblemFromStatusTest, MapsEveryCodeAsDocumented) {
  const StatusCase cases[] = {
      {storage::Status::InvalidArgument("bad limit"), 400},
      {storage::Status::NotFound("no event"), 404},
      {storage::Status::AlreadyExists("exists"), 409},
      {storage::Status::Unauthenticated("no token"), 401},
      {storage::Status::PermissionDenied("role"), 403},
      {storage::Status::Unavailable("disk full"), 503},
      {storage::Status::Internal("boom"), 500},
  };
  for (const StatusCase& c : cases) {
    SCOPED_TRACE(c.status.ToString());
    ApiResponse r = ProblemFromStatus(c.status, "/p");
    rapidjson::Document doc;
    ExpectProblem(r, c.http, doc);
    if (HasFatalFailure()) continue;
    EXPECT_STREQ(doc["instance"].GetString(), "/p");
    EXPECT_EQ(FindHeader(r, "Retry-After") != nullptr, c.http == 503);
  }
}

TEST(ProblemFromStatusTest, ShowsClientErrorDetails) {
  ApiResponse r = ProblemFromStatus(storage::Status::InvalidArgument("limit must be <= 1000"));
  rapidjson::Document doc;
  ExpectProblem(r, 400, doc);
  if (HasFatalFailure()) return;
  EXPECT_STREQ(doc["detail"].GetString(), "limit must be <= 1000");
  EXPECT_FALSE(doc.HasMember("instance"));
}

TEST(ProblemFromStatusTest, HidesInternalDetails) {
  ApiResponse r = ProblemFromStatus(
      storage::Status::Internal("append batch: SQL logic error near SELECT /var/lib/x.db"));
  EXPECT_EQ(r.status, 500);
  EXPECT_EQ(r.body.find("SQL"), std::string::npos) << r.body;
  EXPECT_EQ(r.body.find("/var/lib"), std::string::npos) << r.body;
  EXPECT_EQ(r.body.find("append batch"), std::string::npos) << r.body;
  rapidjson::Document doc;
  ExpectProblem(r, 500, doc);
}

TEST(ProblemFromStatusTest, HidesStorageDetailsOfUnavailable) {
  ApiResponse r = ProblemFromStatus(storage::Status::Unavailable("append batch: disk I/O error"));
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(r.body.find("I/O"), std::string::npos) << r.body;
}

TEST(ProblemFromStatusTest, OkIsNotTurnedIntoSuccess) {
  // An OK status reaching the problem table is a programming error: answer 500, not 200.
  ApiResponse r = ProblemFromStatus(storage::Status::Ok());
  EXPECT_EQ(r.status, 500);
}

// Finding: an internal error became a 500 whose detail was hidden from the client and logged
// nowhere. The client still sees no detail; the log has it, with the request's path.
TEST(ProblemFromStatusTest, AnInternalErrorIsLoggedWithItsDetailButNotShown) {
  std::ostringstream out;
  auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(out);
  auto previous = spdlog::default_logger();
  spdlog::set_default_logger(std::make_shared<spdlog::logger>("problem-test", sink));
  ApiResponse r = ProblemFromStatus(
      storage::Status::Internal("append batch: UNIQUE constraint failed: deliveries.x"),
      "/api/v1/events/evt_1/reprocess");
  spdlog::set_default_logger(previous);
  EXPECT_EQ(r.status, 500);
  EXPECT_EQ(r.body.find("UNIQUE"), std::string::npos) << r.body;
  std::string logged = out.str();
  EXPECT_NE(logged.find("UNIQUE constraint failed: deliveries.x"), std::string::npos) << logged;
  EXPECT_NE(logged.find("/api/v1/events/evt_1/reprocess"), std::string::npos) << logged;
  EXPECT_NE(logged.find("error"), std::string::npos) << logged;
}

}  // namespace
}  // namespace hookvault::api
