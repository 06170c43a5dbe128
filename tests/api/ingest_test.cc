#include "api/ingest.h"

#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "api/json.h"
#include "storage/base/crypto.h"
#include "storage/base/encoding.h"
#include "tests/testing/fake_event_writer.h"

namespace hookvault::api {
namespace {

using hookvault::testing::FakeEventWriter;

constexpr char kToken[] = "harmonics-token-0001";
constexpr char kOldToken[] = "harmonics-token-0000";
constexpr char kBody[] = R"({"event":"payment.created","id":"evt_1","amount":10})";

Cidr MustCidr(std::string_view text) {
  auto c = Cidr::Parse(text);
  if (!c.ok()) ADD_FAILURE() << c.status().message();
  return *c;
}

SourcePolicy Harmonics() {
  SourcePolicy s;
  s.name = "harmonics";
  s.tokens = {kToken, kOldToken};
  s.event_type = rapidjson::Pointer("/event");
  s.idempotency_header = "idempotency-key";
  s.idempotency_pointer = rapidjson::Pointer("/id");
  return s;
}

const std::string* FindHeader(const ApiResponse& r, std::string_view name) {
  for (const auto& [n, v] : r.headers) {
    if (n == name) return &v;
  }
  return nullptr;
}

std::string ProblemType(const ApiResponse& r) {
  rapidjson::Document doc;
  if (!ParseJson(r.body, doc).ok() || !doc.IsObject() || !doc.HasMember("type")) return "";
  return doc["type"].GetString();
}

std::string ProblemDetail(const ApiResponse& r) {
  rapidjson::Document doc;
  if (!ParseJson(r.body, doc).ok() || !doc.IsObject() || !doc.HasMember("detail")) return "";
  return doc["detail"].GetString();
}

class IngestTest : public ::testing::Test {
 protected:
  IngestTest() {
    options_.max_body_bytes = 1 << 20;
    options_.sources = {Harmonics()};
  }

  IngestHandler& handler() {
    if (!handler_) handler_ = std::make_unique<IngestHandler>(options_, writer_);
    return *handler_;
  }

  static ApiRequest Request(std::string body = kBody) {
    ApiRequest r;
    r.method = "POST";
    r.path = "/webhooks/harmonics";
    r.headers = {{"content-type", "application/json"}, {"x-auth-token", kToken}};
    r.body = std::move(body);
    r.peer_addr = "127.0.0.1";
    r.received_at = 1700000000123456;
    return r;
  }

  static void SetHeader(ApiRequest& r, const std::string& name, std::string value) {
    for (auto& [n, v] : r.headers) {
      if (n == name) {
        v = std::move(value);
        return;
      }
    }
    r.headers.emplace_back(name, std::move(value));
  }

  static void RemoveHeader(ApiRequest& r, const std::string& name) {
    std::erase_if(r.headers, [&](const auto& h) { return h.first == name; });
  }

  // Handles `request`; the returned vector fills as responses arrive.
  std::shared_ptr<std::vector<ApiResponse>> Send(const ApiRequest& request,
                                                 std::string_view source = "harmonics") {
    auto responses = std::make_shared<std::vector<ApiResponse>>();
    handler().Handle(request, source,
                     [responses](ApiResponse r) { responses->push_back(std::move(r)); });
    return responses;
  }

  // Sends a request expected to be rejected at once with `status`: one response, nothing
  // stored, one request-log row. Returns the response.
  ApiResponse ExpectRejected(const ApiRequest& request, int status,
                             std::string_view source = "harmonics") {
    size_t events_before = writer_.events().size();
    size_t logs_before = writer_.logs().size();
    auto responses = Send(request, source);
    EXPECT_EQ(responses->size(), 1u);
    EXPECT_EQ(writer_.events().size(), events_before) << "a rejected request was stored";
    EXPECT_EQ(writer_.logs().size(), logs_before + 1) << "no request-log row";
    if (responses->empty()) return ApiResponse{};
    const ApiResponse& r = responses->front();
    EXPECT_EQ(r.status, status) << r.body;
    EXPECT_EQ(r.content_type, "application/problem+json");
    EXPECT_EQ(r.source, source);
    if (writer_.logs().size() > logs_before) {
      const storage::RequestLogEntry& log = writer_.logs().back();
      EXPECT_EQ(log.status, status);
      EXPECT_EQ(log.source, source);
      EXPECT_EQ(log.received_at, request.received_at);
      EXPECT_EQ(log.body_bytes, static_cast<int64_t>(request.body.size()));
      EXPECT_FALSE(log.reason.empty());
      EXPECT_NE(log.reason, "stored");
    }
    return r;
  }

  // Sends a request expected to be accepted and handed to the writer. Returns the record.
  const storage::NewEvent& ExpectSubmitted(const ApiRequest& request) {
    size_t before = writer_.events().size();
    auto responses = Send(request);
    EXPECT_TRUE(responses->empty()) << (responses->empty() ? "" : responses->front().body);
    if (writer_.events().size() != before + 1 || !writer_.events().back().record.event) {
      ADD_FAILURE() << "nothing submitted";
      static const storage::NewEvent kEmpty;
      return kEmpty;
    }
    return *writer_.events().back().record.event;
  }

  IngestOptions options_;
  FakeEventWriter writer_;
  std::unique_ptr<IngestHandler> handler_;
};

// --- Source, token, address -------------------------------------------------------------------

TEST_F(IngestTest, UnknownSourceIs404) {
  ApiRequest r = Request();
  r.path = "/webhooks/nope";
  ApiResponse response = ExpectRejected(r, 404, "nope");
  EXPECT_EQ(ProblemType(response), "urn:hookvault:problem:unknown-source");
  EXPECT_NE(ProblemDetail(response).find("nope"), std::string::npos);
}

TEST_F(IngestTest, MissingTokenIs401) {
  ApiRequest r = Request();
  RemoveHeader(r, "x-auth-token");
  ApiResponse response = ExpectRejected(r, 401);
  EXPECT_EQ(ProblemType(response), "urn:hookvault:problem:unauthenticated");
}

TEST_F(IngestTest, WrongTokenIs401) {
  for (const char* token :
       {"wrong", "", "harmonics-token-000", "harmonics-token-00011", "HARMONICS-TOKEN-0001"}) {
    ApiRequest r = Request();
    SetHeader(r, "x-auth-token", token);
    ApiResponse response = ExpectRejected(r, 401);
    EXPECT_EQ(response.body.find(kToken), std::string::npos) << "token echoed";
  }
}

TEST_F(IngestTest, AcceptsAnyOfSeveralTokens) {
  for (const char* token : {kToken, kOldToken}) {
    ApiRequest r = Request();
    SetHeader(r, "x-auth-token", token);
    ExpectSubmitted(r);
  }
  EXPECT_EQ(writer_.events().size(), 2u);
}

TEST_F(IngestTest, TokenOfAnotherSourceIs401) {
  SourcePolicy other = Harmonics();
  other.name = "other";
  other.tokens = {"other-source-token-1"};
  options_.sources.push_back(other);
  ApiRequest r = Request();
  SetHeader(r, "x-auth-token", "other-source-token-1");
  ExpectRejected(r, 401);
}

TEST_F(IngestTest, AllowIpsRefusesOtherAddressesWith403) {
  options_.sources[0].allow_ips = {MustCidr("10.0.0.0/8")};
  ApiRequest r = Request();
  r.peer_addr = "11.0.0.1";
  ApiResponse response = ExpectRejected(r, 403);
  EXPECT_EQ(ProblemType(response), "urn:hookvault:problem:forbidden");
  EXPECT_EQ(writer_.logs().back().remote_addr, "11.0.0.1");
}

TEST_F(IngestTest, AllowIpsAcceptsListedAddress) {
  options_.sources[0].allow_ips = {MustCidr("192.168.0.0/16"), MustCidr("10.0.0.0/8")};
  ApiRequest r = Request();
  r.peer_addr = "10.200.3.4";
  const storage::NewEvent& event = ExpectSubmitted(r);
  EXPECT_EQ(event.remote_addr, "10.200.3.4");
}

TEST_F(IngestTest, AllowIpsMatchesIpv4MappedPeer) {
  options_.sources[0].allow_ips = {MustCidr("10.0.0.0/8")};
  ApiRequest r = Request();
  r.peer_addr = "::ffff:10.0.0.9";
  ExpectSubmitted(r);
}

TEST_F(IngestTest, AllowIpsUsesForwardedForFromTrustedProxy) {
  options_.trusted_proxies = {MustCidr("127.0.0.1/32")};
  options_.sources[0].allow_ips = {MustCidr("10.0.0.0/8")};
  ApiRequest r = Request();
  r.peer_addr = "127.0.0.1";
  SetHeader(r, "x-forwarded-for", "203.0.113.5, 10.1.2.3");
  const storage::NewEvent& event = ExpectSubmitted(r);
  EXPECT_EQ(event.remote_addr, "10.1.2.3");
  EXPECT_EQ(writer_.events().back().record.log->remote_addr, "10.1.2.3");
}

TEST_F(IngestTest, AllowIpsRefusesForwardedClientOutsideList) {
  options_.trusted_proxies = {MustCidr("127.0.0.1/32")};
  options_.sources[0].allow_ips = {MustCidr("10.0.0.0/8")};
  ApiRequest r = Request();
  r.peer_addr = "127.0.0.1";
  // The client prepended an allowed address; the proxy appended the real one.
  SetHeader(r, "x-forwarded-for", "10.1.2.3, 203.0.113.5");
  ExpectRejected(r, 403);
  EXPECT_EQ(writer_.logs().back().remote_addr, "203.0.113.5");
}

TEST_F(IngestTest, AllowIpsIgnoresSpoofedForwardedForFromUntrustedPeer) {
  options_.trusted_proxies = {MustCidr("127.0.0.1/32")};
  options_.sources[0].allow_ips = {MustCidr("10.0.0.0/8")};
  ApiRequest r = Request();
  r.peer_addr = "203.0.113.5";
  SetHeader(r, "x-forwarded-for", "10.1.2.3");
  ExpectRejected(r, 403);
  EXPECT_EQ(writer_.logs().back().remote_addr, "203.0.113.5");
}

TEST_F(IngestTest, AllowIpsRefusesGarbageForwardedFor) {
  options_.trusted_proxies = {MustCidr("127.0.0.1/32")};
  options_.sources[0].allow_ips = {MustCidr("0.0.0.0/0")};
  ApiRequest r = Request();
  SetHeader(r, "x-forwarded-for", "unknown");
  ExpectRejected(r, 403);
}

TEST_F(IngestTest, NoAllowIpsAcceptsAnyAddress) {
  ApiRequest r = Request();
  r.peer_addr = "198.51.100.77";
  ExpectSubmitted(r);
}

TEST_F(IngestTest, AuthenticatesBeforeLookingAtTheBody) {
  // An unauthenticated caller learns nothing about body checks.
  options_.max_body_bytes = 8;
  ApiRequest r = Request("not json and far too long");
  SetHeader(r, "x-auth-token", "wrong");
  SetHeader(r, "content-type", "text/plain");
  ExpectRejected(r, 401);
}

// --- Body -------------------------------------------------------------------------------------

TEST_F(IngestTest, BodyOverLimitIs413) {
  options_.max_body_bytes = 64;
  std::string body = R"({"pad":")" + std::string(64, 'x') + R"("})";
  ApiResponse response = ExpectRejected(Request(body), 413);
  EXPECT_EQ(ProblemType(response), "urn:hookvault:problem:payload-too-large");
}

TEST_F(IngestTest, BodyAtLimitIsAccepted) {
  std::string body = R"({"pad":")" + std::string(50, 'x') + R"("})";
  options_.max_body_bytes = body.size();
  ExpectSubmitted(Request(body));
  ExpectRejected(Request(body + " "), 413);
}

TEST_F(IngestTest, JsonContentTypesAreAccepted) {
  for (const char* type :
       {"application/json", "application/json; charset=utf-8", "application/json;charset=UTF-8",
        "Application/JSON", "application/vnd.x+json",
        "application/cloudevents+json; charset=utf-8"}) {
    ApiRequest r = Request();
    SetHeader(r, "content-type", type);
    SCOPED_TRACE(type);
    ExpectSubmitted(r);
  }
}

TEST_F(IngestTest, OtherContentTypesAre415) {
  for (const char* type : {"text/plain", "application/x-www-form-urlencoded", "application/jsonx",
                           "text/json", "json", "", "application/xml", "multipart/form-data"}) {
    ApiRequest r = Request();
    SetHeader(r, "content-type", type);
    SCOPED_TRACE(type);
    ApiResponse response = ExpectRejected(r, 415);
    EXPECT_EQ(ProblemType(response), "urn:hookvault:problem:unsupported-media-type");
  }
}

TEST_F(IngestTest, MissingContentTypeIs415) {
  ApiRequest r = Request();
  RemoveHeader(r, "content-type");
  ExpectRejected(r, 415);
}

TEST_F(IngestTest, InvalidJsonIs400) {
  for (const char* body : {"", "{", "not json", "{\"a\":1,}", "{} {}"}) {
    SCOPED_TRACE(body);
    ApiResponse response = ExpectRejected(Request(body), 400);
    EXPECT_EQ(ProblemType(response), "urn:hookvault:problem:malformed-json");
  }
}

TEST_F(IngestTest, InvalidUtf8Is400) { ExpectRejected(Request("{\"a\":\"\xff\"}"), 400); }

// An unpaired surrogate escape is refused like invalid UTF-8 (found by tests/fuzz, config target).
TEST_F(IngestTest, UnpairedSurrogateEscapeIs400) {
  ApiResponse response =
      ExpectRejected(Request(R"({"event":"payment.created","id":"\udc00"})"), 400);
  EXPECT_EQ(ProblemType(response), "urn:hookvault:problem:malformed-json");
}

TEST_F(IngestTest, TooDeepJsonIs400) {
  std::string deep = std::string(129, '[') + std::string(129, ']');
  ApiResponse response = ExpectRejected(Request(deep), 400);
  EXPECT_EQ(ProblemType(response), "urn:hookvault:problem:malformed-json");
  std::string ok = std::string(128, '[') + std::string(128, ']');
  ExpectSubmitted(Request(ok));
}

TEST_F(IngestTest, MissingRequiredPointerIs422NamingIt) {
  options_.sources[0].required = {"/event", "/data/booking_id"};
  options_.sources[0].required_pointers = {rapidjson::Pointer("/event"),
                                           rapidjson::Pointer("/data/booking_id")};
  ApiResponse response =
      ExpectRejected(Request(R"({"event":"booking.created","data":{"other":1}})"), 422);
  EXPECT_EQ(ProblemType(response), "urn:hookvault:problem:missing-field");
  EXPECT_NE(ProblemDetail(response).find("/data/booking_id"), std::string::npos) << response.body;

  response = ExpectRejected(Request(R"({"data":{"booking_id":7}})"), 422);
  EXPECT_NE(ProblemDetail(response).find("/event"), std::string::npos) << response.body;

  ExpectSubmitted(Request(R"({"event":"booking.created","data":{"booking_id":7}})"));
}

// --- Idempotency key --------------------------------------------------------------------------

TEST_F(IngestTest, IdempotencyHeaderWinsOverPointer) {
  ApiRequest r = Request();
  SetHeader(r, "idempotency-key", "from-header");
  EXPECT_EQ(ExpectSubmitted(r).idempotency_key, "from-header");
}

TEST_F(IngestTest, IdempotencyPointerStringWinsOverHash) {
  EXPECT_EQ(ExpectSubmitted(Request()).idempotency_key, "evt_1");
}

TEST_F(IngestTest, IdempotencyPointerIntegerIsItsText) {
  EXPECT_EQ(ExpectSubmitted(Request(R"({"id":1234567890123})")).idempotency_key, "1234567890123");
  EXPECT_EQ(ExpectSubmitted(Request(R"({"id":-5})")).idempotency_key, "-5");
  EXPECT_EQ(ExpectSubmitted(Request(R"({"id":18446744073709551615})")).idempotency_key,
            "18446744073709551615");
}

TEST_F(IngestTest, IdempotencyFallsBackToBodyHash) {
  for (const char* body : {R"({"event":"x"})", R"({"id":null})", R"({"id":{"a":1}})",
                           R"({"id":true})", R"({"id":1.5})", R"({"id":""})", "[1,2]"}) {
    SCOPED_TRACE(body);
    EXPECT_EQ(ExpectSubmitted(Request(body)).idempotency_key, base::Sha256Hex(body));
  }
}

TEST_F(IngestTest, EmptyIdempotencyHeaderFallsBackToPointer) {
  ApiRequest r = Request();
  SetHeader(r, "idempotency-key", "");
  EXPECT_EQ(ExpectSubmitted(r).idempotency_key, "evt_1");
}

TEST_F(IngestTest, WithoutPointerOrHeaderTheKeyIsTheBodyHash) {
  options_.sources[0].idempotency_header.clear();
  options_.sources[0].idempotency_pointer.reset();
  ApiRequest r = Request();
  SetHeader(r, "idempotency-key", "ignored");
  EXPECT_EQ(ExpectSubmitted(r).idempotency_key, base::Sha256Hex(kBody));
  EXPECT_EQ(base::Sha256Hex(kBody).size(), 64u);
}

TEST_F(IngestTest, CustomIdempotencyHeaderName) {
  options_.sources[0].idempotency_header = "x-delivery-id";
  ApiRequest r = Request();
  SetHeader(r, "idempotency-key", "not-this-one");
  SetHeader(r, "x-delivery-id", "d-42");
  EXPECT_EQ(ExpectSubmitted(r).idempotency_key, "d-42");
}

TEST_F(IngestTest, IdempotencyKeyOfMaxLengthIsAccepted) {
  ApiRequest r = Request();
  SetHeader(r, "idempotency-key", std::string(kMaxIdempotencyKeyBytes, 'k'));
  EXPECT_EQ(ExpectSubmitted(r).idempotency_key.size(), 512u);
}

TEST_F(IngestTest, IdempotencyKeyOver512BytesIs400) {
  ApiRequest r = Request();
  SetHeader(r, "idempotency-key", std::string(513, 'k'));
  ApiResponse response = ExpectRejected(r, 400);
  EXPECT_EQ(ProblemType(response), "urn:hookvault:problem:bad-request");

  std::string body = R"({"id":")" + std::string(513, 'p') + R"("})";
  ExpectRejected(Request(body), 400);
}

// --- What is stored ---------------------------------------------------------------------------

TEST_F(IngestTest, EventTypeFromPointer) {
  EXPECT_EQ(ExpectSubmitted(Request()).event_type, "payment.created");
}

TEST_F(IngestTest, EventTypeAbsentOrNotAStringIsEmpty) {
  for (const char* body : {R"({"id":"a"})", R"({"event":42})", R"({"event":null})",
                           R"({"event":{"name":"x"}})", R"({"event":["x"]})"}) {
    SCOPED_TRACE(body);
    EXPECT_EQ(ExpectSubmitted(Request(body)).event_type, "");
  }
}

TEST_F(IngestTest, EventTypeWithoutPointerIsEmpty) {
  options_.sources[0].event_type.reset();
  EXPECT_EQ(ExpectSubmitted(Request()).event_type, "");
}

TEST_F(IngestTest, DestinationsChosenByFilters) {
  options_.destinations = {
      {"billing", {"harmonics"}, {"payment.*", "booking.created"}, {}, {}},
      {"audit", {}, {}, {}, {}},
      {"elsewhere", {"other"}, {}, {}, {}},
      {"bookings", {"harm*"}, {"booking.*"}, {}, {}},
  };
  struct Case {
    const char* body;
    std::vector<std::string> destinations;
  };
  const Case cases[] = {
      {R"({"event":"payment.created"})", {"billing", "audit"}},
      {R"({"event":"payment."})", {"billing", "audit"}},
      {R"({"event":"payment"})", {"audit"}},
      {R"({"event":"booking.created"})", {"billing", "audit", "bookings"}},
      {R"({"event":"booking.cancelled"})", {"audit", "bookings"}},
      {R"({"event":"booking.created.v2"})", {"audit", "bookings"}},
      {R"({"other":1})", {"audit"}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.body);
    EXPECT_EQ(ExpectSubmitted(Request(c.body)).destinations, c.destinations);
  }
}

// --- Signatures, schemas, payload filters -----------------------------------------------------

SignaturePolicy GithubPolicy() {
  SignaturePolicy p;
  p.scheme = SignatureScheme::kGithub;
  p.keys = {"github-secret"};
  return p;
}

std::string GithubSignature(std::string_view body, std::string_view key = "github-secret") {
  return "sha256=" + base::HexEncode(base::Hmac(base::HmacDigest::kSha256, key, {body}));
}

TEST_F(IngestTest, ASignedSourceWithoutTokensTakesAValidSignature) {
  options_.sources[0].tokens.clear();
  options_.sources[0].verify = GithubPolicy();
  ApiRequest r = Request();
  RemoveHeader(r, "x-auth-token");
  SetHeader(r, "x-hub-signature-256", GithubSignature(r.body));
  ExpectSubmitted(r);
}

TEST_F(IngestTest, ABadSignatureIs401AndTheLogNamesTheCheck) {
  options_.sources[0].tokens.clear();
  options_.sources[0].verify = GithubPolicy();
  ApiRequest r = Request();
  SetHeader(r, "x-hub-signature-256", GithubSignature(r.body, "another-secret"));
  ApiResponse response = ExpectRejected(r, 401);
  EXPECT_EQ(ProblemType(response), "urn:hookvault:problem:unauthenticated");
  EXPECT_EQ(writer_.logs().back().reason, "signature-mismatch");
  EXPECT_EQ(response.body.find(GithubSignature(r.body)), std::string::npos);

  RemoveHeader(r, "x-hub-signature-256");
  ExpectRejected(r, 401);
  EXPECT_EQ(writer_.logs().back().reason, "signature-missing");
}

TEST_F(IngestTest, WithTokenAndSignatureBothMustPass) {
  options_.sources[0].verify = GithubPolicy();
  ApiRequest r = Request();
  ExpectRejected(r, 401);  // the token alone
  EXPECT_EQ(writer_.logs().back().reason, "signature-missing");
  SetHeader(r, "x-hub-signature-256", GithubSignature(r.body));
  SetHeader(r, "x-auth-token", "wrong-token-wrong-token");
  ExpectRejected(r, 401);  // the signature alone
  EXPECT_EQ(writer_.logs().back().reason, "unauthenticated");
  SetHeader(r, "x-auth-token", kToken);
  ExpectSubmitted(r);
}

TEST_F(IngestTest, ASchemaViolationIs422WithThePointerAndKeyword) {
  auto schema = PayloadSchema::Parse(
      R"({"type": "object", "properties": {"amount": {"type": "string"}}})", "pay.json");
  ASSERT_TRUE(schema.ok()) << schema.status().message();
  options_.sources[0].schemas = {SchemaRule{"refund.*", "refund.json", *schema},
                                 SchemaRule{"payment.*", "pay.json", *schema}};
  ApiResponse response = ExpectRejected(Request(), 422);  // kBody's amount is a number
  EXPECT_EQ(ProblemType(response), "urn:hookvault:problem:schema-violation");
  EXPECT_EQ(writer_.logs().back().reason, "schema-violation");
  rapidjson::Document doc;
  ASSERT_TRUE(ParseJson(response.body, doc).ok()) << response.body;
  ASSERT_TRUE(doc.HasMember("errors") && doc["errors"].IsArray() && doc["errors"].Size() > 0)
      << response.body;
  EXPECT_STREQ(doc["errors"][0]["pointer"].GetString(), "/amount");
  EXPECT_STREQ(doc["errors"][0]["keyword"].GetString(), "type");
  EXPECT_NE(ProblemDetail(response).find("payment.created"), std::string::npos);
  // The sender learns nothing of the server's files (review finding).
  EXPECT_EQ(ProblemDetail(response).find("pay.json"), std::string::npos);

  // A type no glob matches is not validated.
  ExpectSubmitted(Request(R"({"event":"booking.created","amount":10})"));
}

// Review finding: a verified GitHub signature was stored with the event, so any reader of the
// event (a consumer token) could post it again with a signature that verifies. A source that
// does not verify signatures keeps them (a consumer may check them itself).
TEST_F(IngestTest, AVerifiedSignatureIsNotStoredWithTheEvent) {
  options_.sources[0].verify = GithubPolicy();
  SourcePolicy unsigned_source = Harmonics();
  unsigned_source.name = "unsigned";
  options_.sources.push_back(unsigned_source);
  ApiRequest r = Request();
  SetHeader(r, "x-hub-signature-256", GithubSignature(r.body));
  SetHeader(r, "x-hub-signature", "sha1=0123456789abcdef0123456789abcdef01234567");
  SetHeader(r, "x-github-delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958");
  const storage::NewEvent& event = ExpectSubmitted(r);
  EXPECT_EQ(event.headers_json.find("x-hub-signature"), std::string::npos) << event.headers_json;
  EXPECT_NE(event.headers_json.find("x-github-delivery"), std::string::npos);

  r.path = "/webhooks/unsigned";
  size_t before = writer_.events().size();
  Send(r, "unsigned");
  ASSERT_EQ(writer_.events().size(), before + 1);
  EXPECT_NE(writer_.events().back().record.event->headers_json.find("x-hub-signature-256"),
            std::string::npos);
}

TEST_F(IngestTest, PayloadFiltersChooseAmongTheMatchingDestinations) {
  rapidjson::Document conditions;
  ASSERT_TRUE(ParseJson(R"([{"pointer": "/amount", "gte": 100}])", conditions).ok());
  auto big = PayloadFilter::Parse(conditions);
  ASSERT_TRUE(big.ok()) << big.status().message();
  options_.destinations = {{"big", {}, {"payment.*"}, *big, {}}, {"all", {}, {}, {}, {}}};
  EXPECT_EQ(ExpectSubmitted(Request(R"({"event":"payment.created","amount":150})")).destinations,
            (std::vector<std::string>{"big", "all"}));
  EXPECT_EQ(ExpectSubmitted(Request(R"({"event":"payment.created","amount":99})")).destinations,
            (std::vector<std::string>{"all"}));
  EXPECT_EQ(ExpectSubmitted(Request(R"({"event":"booking.created","amount":150})")).destinations,
            (std::vector<std::string>{"all"}));
}

TEST_F(IngestTest, OrderedDestinationsGetTheKeyOfEachEvent) {
  DestinationFilter by_booking{"by-booking", {}, {}, {}, DestinationFilter::Ordering{}};
  by_booking.ordering->pointer = rapidjson::Pointer("/booking/id");
  DestinationFilter by_source{"by-source", {}, {}, {}, DestinationFilter::Ordering{true, {}}};
  options_.destinations = {by_booking, by_source, {"unordered", {}, {}, {}, {}}};
  const std::string long_id(kMaxOrderingKeyBytes + 1, 'k');
  struct Case {
    std::string body;
    std::optional<std::string> booking_key;  // nullopt: that delivery is not ordered
  } cases[] = {
      {R"({"booking":{"id":"B-17"}})", "B-17"},
      {R"({"booking":{"id":42}})", "42"},
      {R"({"booking":{"id":-7}})", "-7"},
      {R"({"booking":{"id":18446744073709551615}})", "18446744073709551615"},
      // No string or integer there: that delivery is not held back by any other.
      {R"({"booking":{}})", std::nullopt},
      {R"({"booking":{"id":1.5}})", std::nullopt},
      {R"({"booking":{"id":null}})", std::nullopt},
      {R"({"booking":{"id":{"a":1}}})", std::nullopt},
      // A key past the limit is stored as its SHA-256.
      {R"({"booking":{"id":")" + long_id + R"("}})", base::Sha256Hex(long_id)},
  };
  for (const Case& c : cases) {
    const storage::NewEvent& event = ExpectSubmitted(Request(c.body));
    EXPECT_EQ(event.destinations,
              (std::vector<std::string>{"by-booking", "by-source", "unordered"}));
    std::map<std::string, std::string> want = {{"by-source", "harmonics"}};
    if (c.booking_key) want["by-booking"] = *c.booking_key;
    EXPECT_EQ(event.order_keys, want) << c.body;
  }
}

TEST_F(IngestTest, NoDestinationsGivesEmptyList) {
  EXPECT_TRUE(ExpectSubmitted(Request()).destinations.empty());
}

TEST_F(IngestTest, StoresHeadersWithoutSecrets) {
  ApiRequest r = Request();
  r.headers.emplace_back("authorization", "Bearer top-secret-bearer");
  r.headers.emplace_back("user-agent", "harmonics/2");
  const storage::NewEvent& event = ExpectSubmitted(r);
  EXPECT_EQ(event.headers_json.find(kToken), std::string::npos) << event.headers_json;
  EXPECT_EQ(event.headers_json.find("x-auth-token"), std::string::npos);
  EXPECT_EQ(event.headers_json.find("top-secret-bearer"), std::string::npos);
  rapidjson::Document doc;
  ASSERT_TRUE(ParseJson(event.headers_json, doc).ok()) << event.headers_json;
  ASSERT_TRUE(doc.HasMember("user-agent"));
  EXPECT_STREQ(doc["user-agent"].GetString(), "harmonics/2");
  EXPECT_STREQ(doc["content-type"].GetString(), "application/json");
}

// Finding: only x-auth-token and authorization were dropped; cookies, proxy credentials and
// other services' tokens and keys were stored and served to consumers. Signatures are kept.
TEST_F(IngestTest, StoresNoCredentialHeaders) {
  ApiRequest r = Request();
  const std::vector<std::pair<std::string, std::string>> secrets = {
      {"cookie", "session=cookie-secret-1"},    {"proxy-authorization", "Basic proxy-secret-2"},
      {"x-gitlab-token", "gitlab-secret-3"},    {"x-api-key", "api-key-secret-4"},
      {"x-amz-security-token", "amz-secret-5"}, {"x-client-secret", "client-secret-6"},
      {"x-session-id", "session-secret-7"},     {"apikey", "apikey-secret-8"}};
  for (const auto& h : secrets) r.headers.push_back(h);
  r.headers.emplace_back("x-hub-signature-256", "sha256=abcdef");
  r.headers.emplace_back("x-github-event", "push");
  const storage::NewEvent& event = ExpectSubmitted(r);
  for (const auto& [name, value] : secrets) {
    EXPECT_EQ(event.headers_json.find(value), std::string::npos)
        << name << ": " << event.headers_json;
    EXPECT_TRUE(IsSecretHeader(name)) << name;
  }
  rapidjson::Document doc;
  ASSERT_TRUE(ParseJson(event.headers_json, doc).ok()) << event.headers_json;
  ASSERT_TRUE(doc.HasMember("x-hub-signature-256")) << event.headers_json;
  EXPECT_STREQ(doc["x-hub-signature-256"].GetString(), "sha256=abcdef");
  EXPECT_TRUE(doc.HasMember("x-github-event"));
  EXPECT_FALSE(IsSecretHeader("idempotency-key"));
  EXPECT_FALSE(IsSecretHeader("content-type"));
}

// Finding: a request for a source that is not configured kept the URL's whole name (up to
// ~32 KiB, indexed) in its request-log row. It is cut to kMaxLoggedSourceBytes, in the row and
// in the answer.
TEST_F(IngestTest, AHugeUnknownSourceNameIsLoggedCutShort) {
  std::string name(30000, 'n');
  ApiRequest r = Request();
  r.path = "/webhooks/" + name;
  auto responses = Send(r, name);
  ASSERT_EQ(responses->size(), 1u);
  EXPECT_EQ(responses->front().status, 404);
  EXPECT_LT(ProblemDetail(responses->front()).size(), 256u);
  ASSERT_EQ(writer_.logs().size(), 1u);
  EXPECT_EQ(writer_.logs()[0].source, name.substr(0, kMaxLoggedSourceBytes));
  EXPECT_EQ(writer_.logs()[0].reason, "unknown-source");
}

TEST_F(IngestTest, StoresRawBodyByteForByte) {
  std::string body =
      "\n  {\t\"event\" : \"payment.created\",\r\n  \"id\":\"a\", \"s\":\"\\u00e9\xc3\xa9\" ,"
      "\"n\": 1.50e+2 }  \n";
  const storage::NewEvent& event = ExpectSubmitted(Request(body));
  EXPECT_EQ(event.body, body);
}

TEST_F(IngestTest, RecordCarriesSourceTimeAddressAndLogRow) {
  ApiRequest r = Request();
  r.peer_addr = "192.0.2.8";
  const storage::NewEvent& event = ExpectSubmitted(r);
  EXPECT_EQ(event.source, "harmonics");
  EXPECT_EQ(event.received_at, r.received_at);
  EXPECT_EQ(event.remote_addr, "192.0.2.8");
  const auto& log = writer_.events().back().record.log;
  ASSERT_TRUE(log.has_value());
  EXPECT_EQ(log->status, 200);
  EXPECT_EQ(log->source, "harmonics");
  EXPECT_EQ(log->remote_addr, "192.0.2.8");
  EXPECT_EQ(log->received_at, r.received_at);
  EXPECT_EQ(log->body_bytes, static_cast<int64_t>(r.body.size()));
  EXPECT_TRUE(writer_.logs().empty()) << "accepted request also logged alone";
}

// --- Answering --------------------------------------------------------------------------------

TEST_F(IngestTest, Answers200OnlyAfterCommit) {
  auto responses = Send(Request());
  ASSERT_EQ(writer_.events().size(), 1u);
  EXPECT_TRUE(responses->empty()) << "answered before the write committed";

  writer_.Commit(0, storage::AppendResult{"01HZXYZ", 42, false});
  ASSERT_EQ(responses->size(), 1u);
  const ApiResponse& r = responses->front();
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.content_type, "application/json");
  EXPECT_EQ(r.source, "harmonics");
  EXPECT_EQ(r.event_id, "01HZXYZ");
  rapidjson::Document doc;
  ASSERT_TRUE(ParseJson(r.body, doc).ok()) << r.body;
  ASSERT_TRUE(doc.IsObject());
  EXPECT_EQ(doc.MemberCount(), 3u) << r.body;
  EXPECT_STREQ(doc["id"].GetString(), "01HZXYZ");
  EXPECT_EQ(doc["seq"].GetInt64(), 42);
  EXPECT_FALSE(doc["duplicate"].GetBool());
}

TEST_F(IngestTest, DuplicateAnswers200WithOriginalId) {
  auto responses = Send(Request());
  writer_.Commit(0, storage::AppendResult{"01ORIGINAL", 7, true});
  ASSERT_EQ(responses->size(), 1u);
  EXPECT_EQ(responses->front().status, 200);
  rapidjson::Document doc;
  ASSERT_TRUE(ParseJson(responses->front().body, doc).ok());
  EXPECT_STREQ(doc["id"].GetString(), "01ORIGINAL");
  EXPECT_EQ(doc["seq"].GetInt64(), 7);
  EXPECT_TRUE(doc["duplicate"].GetBool());
}

TEST_F(IngestTest, LargeSeqIsExact) {
  auto responses = Send(Request());
  writer_.Commit(0, storage::AppendResult{"id", 9007199254740993, false});
  rapidjson::Document doc;
  ASSERT_TRUE(ParseJson(responses->front().body, doc).ok());
  EXPECT_EQ(doc["seq"].GetInt64(), 9007199254740993);
}

TEST_F(IngestTest, ConcurrentRequestsAreAnsweredIndependently) {
  auto first = Send(Request(R"({"id":"a"})"));
  auto second = Send(Request(R"({"id":"b"})"));
  ASSERT_EQ(writer_.events().size(), 2u);
  writer_.Commit(1, storage::AppendResult{"id-b", 2, false});
  EXPECT_TRUE(first->empty());
  ASSERT_EQ(second->size(), 1u);
  EXPECT_NE(second->front().body.find("id-b"), std::string::npos);
  writer_.Fail(0, storage::Status::Unavailable("disk full"));
  ASSERT_EQ(first->size(), 1u);
  EXPECT_EQ(first->front().status, 503);
}

TEST_F(IngestTest, FailedWriteIs503WithRetryAfter) {
  auto responses = Send(Request());
  ASSERT_EQ(writer_.events().size(), 1u);
  writer_.Fail(0, storage::Status::Unavailable("append batch: database or disk is full"));
  ASSERT_EQ(responses->size(), 1u);
  const ApiResponse& r = responses->front();
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(r.content_type, "application/problem+json");
  EXPECT_NE(FindHeader(r, "Retry-After"), nullptr);
  EXPECT_EQ(r.body.find("disk is full"), std::string::npos) << "storage detail leaked";
  ASSERT_EQ(writer_.logs().size(), 1u);
  EXPECT_EQ(writer_.logs()[0].status, 503);
  EXPECT_EQ(writer_.logs()[0].source, "harmonics");
}

// Contract: "storage cannot commit (disk full, I/O error, overload) → 503 with Retry-After".
// The storage layer reports some commit failures as kInternal (e.g. SQLITE_CORRUPT,
// SQLITE_ERROR); the provider must still be told to retry.
TEST_F(IngestTest, CommitFailureOfAnyKindIs503WithRetryAfter) {
  auto responses = Send(Request());
  ASSERT_EQ(writer_.events().size(), 1u);
  writer_.Fail(0, storage::Status::Internal("append batch: database disk image is malformed"));
  ASSERT_EQ(responses->size(), 1u);
  const ApiResponse& r = responses->front();
  EXPECT_EQ(r.status, 503) << r.body;
  EXPECT_NE(FindHeader(r, "Retry-After"), nullptr);
  EXPECT_EQ(r.body.find("malformed"), std::string::npos) << "storage detail leaked";
  ASSERT_EQ(writer_.logs().size(), 1u);
  EXPECT_EQ(writer_.logs()[0].status, r.status);
  // One of the documented reasons (the problem slugs, "stored", "duplicate"), not "commit
  // failed".
  EXPECT_EQ(writer_.logs()[0].reason, "unavailable");
}

TEST_F(IngestTest, RefusedSubmitIs503WithRetryAfter) {
  writer_.set_refuse_events(true);
  ApiResponse response = ExpectRejected(Request(), 503);
  EXPECT_EQ(writer_.event_submissions(), 1);
  EXPECT_NE(FindHeader(response, "Retry-After"), nullptr);
  EXPECT_EQ(ProblemType(response), "urn:hookvault:problem:unavailable");
}

TEST_F(IngestTest, StopAcceptingAnswers503) {
  handler().StopAccepting();
  ApiResponse response = ExpectRejected(Request(), 503);
  EXPECT_NE(FindHeader(response, "Retry-After"), nullptr);
  EXPECT_EQ(writer_.event_submissions(), 0);
}

TEST_F(IngestTest, RejectionIsAnsweredEvenWhenTheLogIsRefused) {
  writer_.set_refuse_logs(true);
  ApiRequest r = Request();
  RemoveHeader(r, "x-auth-token");
  auto responses = Send(r);
  ASSERT_EQ(responses->size(), 1u);
  EXPECT_EQ(responses->front().status, 401);
}

TEST_F(IngestTest, RejectedRequestsAreLoggedWithStatusAndReason) {
  ApiRequest no_token = Request();
  RemoveHeader(no_token, "x-auth-token");
  ExpectRejected(no_token, 401);
  EXPECT_EQ(writer_.logs().back().reason, "unauthenticated");

  ApiRequest text = Request();
  SetHeader(text, "content-type", "text/plain");
  ExpectRejected(text, 415);
  EXPECT_EQ(writer_.logs().back().reason, "unsupported-media-type");

  ExpectRejected(Request("nope"), 400);
  EXPECT_EQ(writer_.logs().back().reason, "malformed-json");
  EXPECT_EQ(writer_.logs().size(), 3u);
}

// --- Globs and filters ------------------------------------------------------------------------

TEST(GlobMatchesTest, ExactNames) {
  EXPECT_TRUE(GlobMatches("booking.created", "booking.created"));
  EXPECT_FALSE(GlobMatches("booking.created", "booking.created2"));
  EXPECT_FALSE(GlobMatches("booking.created", "booking.create"));
  EXPECT_FALSE(GlobMatches("booking.created", "Booking.created"));
  EXPECT_TRUE(GlobMatches("", ""));
  EXPECT_FALSE(GlobMatches("", "x"));
}

TEST(GlobMatchesTest, TrailingStarIsAPrefix) {
  EXPECT_TRUE(GlobMatches("payment.*", "payment.created"));
  EXPECT_TRUE(GlobMatches("payment.*", "payment."));
  EXPECT_TRUE(GlobMatches("payment.*", "payment.refund.partial"));
  EXPECT_FALSE(GlobMatches("payment.*", "payment"));
  EXPECT_FALSE(GlobMatches("payment.*", "payments.created"));
  EXPECT_FALSE(GlobMatches("payment.*", "xpayment.created"));
}

TEST(GlobMatchesTest, LoneStarMatchesEverything) {
  EXPECT_TRUE(GlobMatches("*", ""));
  EXPECT_TRUE(GlobMatches("*", "anything.at.all"));
}

TEST(GlobMatchesTest, StarElsewhereIsLiteral) {
  EXPECT_FALSE(GlobMatches("*.created", "booking.created"));
  EXPECT_TRUE(GlobMatches("*.created", "*.created"));
  EXPECT_FALSE(GlobMatches("pay*ment", "payXment"));
}

// A payload for the destination filters that have no payload conditions.
const rapidjson::Value kNoBody;

TEST(DestinationFilterTest, EmptyListsMatchAll) {
  DestinationFilter f{"all", {}, {}, {}, {}};
  EXPECT_TRUE(f.Matches("any", "", kNoBody));
  EXPECT_TRUE(f.Matches("any", "x.y", kNoBody));
}

TEST(DestinationFilterTest, BothListsMustMatch) {
  DestinationFilter f{"d", {"harmonics"}, {"payment.*"}, {}, {}};
  EXPECT_TRUE(f.Matches("harmonics", "payment.created", kNoBody));
  EXPECT_FALSE(f.Matches("other", "payment.created", kNoBody));
  EXPECT_FALSE(f.Matches("harmonics", "booking.created", kNoBody));
  EXPECT_FALSE(f.Matches("harmonics", "", kNoBody));
}

TEST(DestinationFilterTest, SourceGlobs) {
  DestinationFilter f{"d", {"harm*", "stripe"}, {}, {}, {}};
  EXPECT_TRUE(f.Matches("harmonics", "x", kNoBody));
  EXPECT_TRUE(f.Matches("stripe", "x", kNoBody));
  EXPECT_FALSE(f.Matches("stripe-test", "x", kNoBody));
}

// --- Rejected bodies (config request_log.keep_rejected_bodies) -------------------------------

TEST_F(IngestTest, RejectedBodiesAreNotKeptByDefault) {
  ApiRequest r = Request(R"({"event":"x","secret":"s"})");
  RemoveHeader(r, "x-auth-token");
  ExpectRejected(r, 401);
  EXPECT_FALSE(writer_.logs().back().body.has_value());
}

TEST_F(IngestTest, KeptRejectedBodyIsCappedAndOnlyForRejections) {
  options_.kept_rejected_body_bytes = 8;
  ApiRequest unauthenticated = Request(R"({"event":"payment"})");
  RemoveHeader(unauthenticated, "x-auth-token");
  ExpectRejected(unauthenticated, 401);
  ASSERT_TRUE(writer_.logs().back().body.has_value());
  EXPECT_EQ(*writer_.logs().back().body, R"({"event")");  // the first 8 bytes
  EXPECT_EQ(writer_.logs().back().body_bytes, 19);

  ExpectRejected(Request("{bad"), 400);  // shorter than the cap: kept whole
  ASSERT_TRUE(writer_.logs().back().body.has_value());
  EXPECT_EQ(*writer_.logs().back().body, "{bad");

  // Accepted: the event holds the body, its log row keeps none.
  ExpectSubmitted(Request());
  ASSERT_TRUE(writer_.events().back().record.log.has_value());
  EXPECT_FALSE(writer_.events().back().record.log->body.has_value());
  // A commit failure is not a rejection of the request: no body either.
  writer_.Fail(0, storage::Status::Unavailable("disk full"));
  ASSERT_FALSE(writer_.logs().empty());
  EXPECT_EQ(writer_.logs().back().status, 503);
  EXPECT_FALSE(writer_.logs().back().body.has_value());
}

}  // namespace
}  // namespace hookvault::api
