#include "api/ingest.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <string>

#include "api/json.h"
#include "api/problem.h"
#include "api/render.h"
#include "storage/base/crypto.h"
#include "storage/base/strings.h"

namespace hookvault::api {
namespace {

// Returns true for application/json and any application/...+json, parameters allowed.
bool IsJsonContentType(std::string_view value) {
  std::string type;
  for (char c : value.substr(0, value.find(';'))) {
    if (c != ' ' && c != '\t') type += c;
  }
  type = base::AsciiLower(type);
  if (type == "application/json") return true;
  return type.starts_with("application/") && type.ends_with("+json");
}

// Returns the string (or the text of a number) at `pointer`, or nullopt.
std::optional<std::string> ScalarAt(const rapidjson::Value& doc,
                                    const rapidjson::Pointer& pointer) {
  const rapidjson::Value* v = pointer.Get(doc);
  if (!v) return std::nullopt;
  if (v->IsString()) return std::string(v->GetString(), v->GetStringLength());
  if (v->IsInt64()) return std::to_string(v->GetInt64());
  if (v->IsUint64()) return std::to_string(v->GetUint64());
  return std::nullopt;
}

// Returns the first of the source's schema rules whose glob matches `event_type`, or nullptr.
const SchemaRule* SchemaFor(const SourcePolicy& source, std::string_view event_type) {
  for (const SchemaRule& rule : source.schemas) {
    if (GlobMatches(rule.glob, event_type)) return &rule;
  }
  return nullptr;
}

// Returns the problem's "errors" member: [{"pointer", "keyword", "message"}, ...].
std::string RenderSchemaErrors(const std::vector<SchemaError>& errors) {
  std::string out = "\"errors\":[";
  for (size_t i = 0; i < errors.size(); ++i) {
    if (i > 0) out += ',';
    out += "{\"pointer\":" + JsonQuote(errors[i].pointer) +
           ",\"keyword\":" + JsonQuote(errors[i].keyword) +
           ",\"message\":" + JsonQuote(errors[i].message) + "}";
  }
  out += ']';
  return out;
}

// Parts of header names that mark a credential (lower case).
constexpr std::string_view kSecretHeaderParts[] = {"auth",    "token",     "secret",  "passw",
                                                   "cookie",  "session",   "api-key", "apikey",
                                                   "api_key", "credential"};

}  // namespace

bool IsSecretHeader(std::string_view lower_name) {
  for (std::string_view part : kSecretHeaderParts) {
    if (lower_name.find(part) != std::string_view::npos) return true;
  }
  return false;
}

HeaderList WithoutSecretHeaders(const HeaderList& headers, const std::vector<std::string>& also) {
  HeaderList kept;
  kept.reserve(headers.size());
  for (const auto& header : headers) {
    if (IsSecretHeader(header.first)) continue;
    if (std::find(also.begin(), also.end(), header.first) != also.end()) continue;
    kept.push_back(header);
  }
  return kept;
}

bool GlobMatches(std::string_view pattern, std::string_view value) {
  if (!pattern.empty() && pattern.back() == '*') {
    return value.starts_with(pattern.substr(0, pattern.size() - 1));
  }
  return pattern == value;
}

bool DestinationFilter::Matches(std::string_view source, std::string_view event_type,
                                const rapidjson::Value& body) const {
  auto any = [](const std::vector<std::string>& patterns, std::string_view value) {
    if (patterns.empty()) return true;
    for (const std::string& p : patterns) {
      if (GlobMatches(p, value)) return true;
    }
    return false;
  };
  return any(sources, source) && any(events, event_type) && payload.Matches(body);
}

std::optional<std::string> DestinationFilter::OrderingKey(std::string_view source,
                                                          const rapidjson::Value& body) const {
  if (!ordering) return std::nullopt;
  std::optional<std::string> key =
      ordering->by_source ? std::optional<std::string>(source) : ScalarAt(body, ordering->pointer);
  if (key && key->size() > kMaxOrderingKeyBytes) key = base::Sha256Hex(*key);
  return key;
}

namespace {

std::vector<std::vector<std::string>> UnstoredHeaders(const std::vector<SourcePolicy>& sources) {
  std::vector<std::vector<std::string>> out;
  for (const SourcePolicy& s : sources) {
    out.push_back(s.verify ? SignatureHeaderNames(*s.verify) : std::vector<std::string>{});
  }
  return out;
}

// Per source: the SHA-256 of each of its tokens (base::SecretsEqual compares digests).
std::vector<std::vector<std::string>> TokenDigests(const std::vector<SourcePolicy>& sources) {
  std::vector<std::vector<std::string>> out;
  for (const SourcePolicy& s : sources) {
    std::vector<std::string> digests;
    for (const std::string& t : s.tokens) digests.push_back(base::Sha256({t}));
    out.push_back(std::move(digests));
  }
  return out;
}

// Per source: whether ingest reads anything out of its payloads (an event type, required
// fields, a schema, an idempotency key, or a destination's payload filter or ordering key).
// When none does, the body is only validated and no document is built.
std::vector<bool> ReadsPayload(const IngestOptions& options) {
  bool destinations_read = false;
  for (const DestinationFilter& d : options.destinations) {
    destinations_read |= !d.payload.empty() || (d.ordering && !d.ordering->by_source);
  }
  std::vector<bool> out;
  for (const SourcePolicy& s : options.sources) {
    out.push_back(destinations_read || s.event_type || !s.required_pointers.empty() ||
                  !s.schemas.empty() || s.idempotency_pointer);
  }
  return out;
}

}  // namespace

IngestHandler::IngestHandler(IngestOptions options, storage::EventWriter& writer)
    : options_(std::move(options)),
      unstored_headers_(UnstoredHeaders(options_.sources)),
      reads_payload_(ReadsPayload(options_)),
      token_digests_(TokenDigests(options_.sources)),
      writer_(writer) {}

const SourcePolicy* IngestHandler::FindSource(std::string_view name) const {
  for (const SourcePolicy& s : options_.sources) {
    if (s.name == name) return &s;
  }
  return nullptr;
}

void IngestHandler::Handle(const ApiRequest& request, std::string_view source_name,
                           Responder respond) {
  const SourcePolicy* source = FindSource(source_name);
  storage::RequestLogEntry log;
  log.received_at = request.received_at;
  // A name that is not configured is whatever the URL says: stored cut short, so that a
  // long made-up name costs no more than a short one.
  log.source = std::string(source ? source_name : source_name.substr(0, kMaxLoggedSourceBytes));
  log.remote_addr =
      ClientAddress(request.peer_addr, request.Header("x-forwarded-for"), options_.trusted_proxies);
  log.body_bytes = static_cast<int64_t>(request.body.size());

  // Answers `response` and logs the request with `reason`.
  auto answer = [&](ApiResponse response, std::string_view reason) {
    response.source = log.source;
    log.status = response.status;
    log.reason = std::string(reason);
    if (options_.kept_rejected_body_bytes > 0 && response.status >= 400 && response.status < 500) {
      log.body = request.body.substr(0, options_.kept_rejected_body_bytes);
    }
    (void)writer_.SubmitLog(std::move(log));  // refused only under overload; counted there
    respond(std::move(response));
  };
  // Answers `kind` and logs the request with the problem's slug as the reason.
  auto reject = [&](ProblemKind kind, std::string_view detail) {
    answer(Problem(kind, detail, request.path), ProblemSlug(kind));
  };
  const std::string& path = request.path;

  if (!accepting_.load()) {
    return reject(ProblemKind::kUnavailable, "hookvault is shutting down");
  }
  if (!source) {
    return reject(ProblemKind::kUnknownSource,
                  "no source named \"" + log.source +
                      (log.source.size() < source_name.size() ? "...\"" : "\"") + " is configured");
  }
  if (!source->allow_ips.empty()) {
    auto ip = IpAddress::Parse(log.remote_addr);
    if (!ip || !AnyContains(source->allow_ips, *ip)) {
      return reject(ProblemKind::kForbidden, "remote address " + log.remote_addr +
                                                 " is not allowed for source \"" + source->name +
                                                 "\"");
    }
  }
  const size_t source_index = static_cast<size_t>(source - options_.sources.data());
  if (!source->tokens.empty()) {
    const std::string* token = request.Header("x-auth-token");
    bool token_ok = false;
    if (token) {
      // As base::SecretsEqual, with the configured tokens' digests computed once: compare
      // against every token so the time taken does not tell which one matched.
      std::string presented = base::Sha256({*token});
      for (const std::string& digest : token_digests_[source_index]) {
        token_ok |= !presented.empty() && base::BytesEqual(presented, digest);
      }
    }
    if (!token_ok) {
      return reject(ProblemKind::kUnauthenticated,
                    token ? "x-auth-token does not match" : "x-auth-token header missing");
    }
  }
  if (request.body.size() > options_.max_body_bytes) {
    return reject(ProblemKind::kPayloadTooLarge, "body is " + std::to_string(request.body.size()) +
                                                     " bytes; the limit is " +
                                                     std::to_string(options_.max_body_bytes));
  }
  // After the size check, so that an unsigned request costs at most one HMAC per key over a
  // bounded body.
  if (source->verify) {
    SignatureResult verified =
        VerifySignature(*source->verify, request, request.received_at / 1000000);
    if (!verified.ok()) {
      return answer(Problem(ProblemKind::kUnauthenticated, verified.detail, request.path),
                    SignatureCheckReason(verified.check));
    }
  }
  const std::string* content_type = request.Header("content-type");
  if (!content_type || !IsJsonContentType(*content_type)) {
    return reject(ProblemKind::kUnsupportedMediaType,
                  content_type ? "content type \"" + *content_type + "\" is not JSON"
                               : "Content-Type header missing; send application/json");
  }
  // Stays null when nothing reads the payload: every use below then only meets a null document
  // (no pointers, an empty payload filter, orderings by source).
  rapidjson::Document doc;
  if (storage::Status parsed = reads_payload_[source_index] ? ParseJson(request.body, doc)
                                                            : ValidateJson(request.body);
      !parsed.ok()) {
    return reject(ProblemKind::kMalformedJson, parsed.message());
  }
  for (size_t i = 0; i < source->required_pointers.size(); ++i) {
    if (!source->required_pointers[i].Get(doc)) {
      return reject(ProblemKind::kMissingField,
                    "required field " + source->required[i] + " is missing");
    }
  }

  storage::NewEvent event;
  if (source->event_type) {
    const rapidjson::Value* v = source->event_type->Get(doc);
    if (v && v->IsString()) event.event_type.assign(v->GetString(), v->GetStringLength());
  }
  if (const SchemaRule* rule = SchemaFor(*source, event.event_type)) {
    std::vector<SchemaError> errors = rule->schema->Validate(doc);
    if (!errors.empty()) {
      return answer(
          ProblemWithMembers(ProblemKind::kSchemaViolation,
                             "the payload does not match the schema of event type \"" +
                                 event.event_type + "\": " + errors[0].message,
                             request.path, RenderSchemaErrors(errors)),
          ProblemSlug(ProblemKind::kSchemaViolation));
    }
  }
  const std::string* header_key =
      source->idempotency_header.empty() ? nullptr : request.Header(source->idempotency_header);
  if (header_key && !header_key->empty()) {
    event.idempotency_key = *header_key;
  } else if (auto key = source->idempotency_pointer ? ScalarAt(doc, *source->idempotency_pointer)
                                                    : std::nullopt;
             key && !key->empty()) {
    event.idempotency_key = std::move(*key);
  } else {
    event.idempotency_key = base::Sha256Hex(request.body);
  }
  if (event.idempotency_key.size() > kMaxIdempotencyKeyBytes) {
    return reject(ProblemKind::kBadRequest, "idempotency key is longer than " +
                                                std::to_string(kMaxIdempotencyKeyBytes) + " bytes");
  }
  for (const DestinationFilter& d : options_.destinations) {
    if (!d.Matches(source->name, event.event_type, doc)) continue;
    event.destinations.push_back(d.name);
    if (auto key = d.OrderingKey(source->name, doc)) event.order_keys[d.name] = std::move(*key);
  }
  event.source = source->name;
  event.received_at = request.received_at;
  event.remote_addr = log.remote_addr;
  event.headers_json =
      HeadersToJson(WithoutSecretHeaders(request.headers, unstored_headers_[source_index]));
  event.body = request.body;

  log.status = 200;
  log.reason = "stored";
  storage::IngestRecord record{std::move(event), log};
  storage::Status queued = writer_.SubmitEvent(
      std::move(record), [this, respond, log, path](const storage::Status& status,
                                                    const storage::AppendResult& result) mutable {
        if (!status.ok()) {
          // Nothing was stored; whatever the cause, the provider must send it again: 503. A
          // record the store refused on its own (kInternal: a bug, data it cannot hold) failed
          // alone, its batch committed without it, and the operator must hear of it.
          if (status.code() == storage::StatusCode::kUnavailable) {
            spdlog::warn("storing a webhook for source {} failed: {}", log.source,
                         status.ToString());
          } else {
            spdlog::error("storing a webhook for source {} failed: {}", log.source,
                          status.ToString());
          }
          ApiResponse response = Problem(ProblemKind::kUnavailable,
                                         "the webhook could not be stored; retry later", path);
          log.status = response.status;
          log.reason = std::string(ProblemSlug(ProblemKind::kUnavailable));
          response.source = log.source;
          (void)writer_.SubmitLog(std::move(log));
          return respond(std::move(response));
        }
        ApiResponse response = JsonOk(RenderStored(result));
        response.source = log.source;
        response.event_id = result.id;
        respond(std::move(response));
      });
  if (!queued.ok()) {
    return reject(ProblemKind::kUnavailable, "too many webhooks waiting to be stored");
  }
}

}  // namespace hookvault::api
