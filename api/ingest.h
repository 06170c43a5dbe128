// IngestHandler: POST /webhooks/{source}. Verifies a webhook, derives its idempotency key and
// hands it to the writer; answers 200 only from the writer's commit callback.
#ifndef HOOKVAULT_API_INGEST_H_
#define HOOKVAULT_API_INGEST_H_

#include <rapidjson/pointer.h>

#include <atomic>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "api/cidr.h"
#include "api/http.h"
#include "api/payload_filter.h"
#include "api/verify/schema.h"
#include "api/verify/signature.h"
#include "storage/event_writer.h"

namespace hookvault::api {

// How one source's webhooks are verified and keyed (the config's "sources" entries). At least
// one of `tokens` and `verify` is set; when both are, both must pass.
struct SourcePolicy {
  std::string name;
  std::vector<std::string> tokens;               // any one is accepted (rotation); empty: none
  std::optional<SignaturePolicy> verify;         // the provider's signature scheme, if any
  std::vector<Cidr> allow_ips;                   // empty: any address
  std::optional<rapidjson::Pointer> event_type;  // absent or not a string: type ""
  std::string idempotency_header;                // lower case; empty: none
  std::optional<rapidjson::Pointer> idempotency_pointer;
  std::vector<std::string> required;  // JSON pointers that must be present (as written)
  std::vector<rapidjson::Pointer> required_pointers;  // the same, parsed
  std::vector<SchemaRule> schemas;  // the first rule whose glob matches the event type applies
};

// Which events a destination receives: exact names or a trailing-'*' glob (empty means all)
// for the source and the event type, and the conditions on the payload (empty: all).
struct DestinationFilter {
  std::string name;
  std::vector<std::string> sources;
  std::vector<std::string> events;
  PayloadFilter payload;
  // The destination's "ordering.key": deliveries to it are ordered per key. The key is the
  // event's source when by_source, else the string or integer at `pointer` in the payload.
  struct Ordering {
    bool by_source = false;
    rapidjson::Pointer pointer;
  };
  std::optional<Ordering> ordering;

  bool Matches(std::string_view source, std::string_view event_type,
               const rapidjson::Value& body) const;
  // Returns the ordering key of an event bound for this destination: nullopt when the
  // destination is not ordered, or when the payload has no string or integer at the pointer
  // (such a delivery is not held back by, and does not hold back, any other). A key longer
  // than kMaxOrderingKeyBytes is replaced by its SHA-256 in hex.
  std::optional<std::string> OrderingKey(std::string_view source,
                                         const rapidjson::Value& body) const;
};

// Longest ordering key stored as it is.
inline constexpr size_t kMaxOrderingKeyBytes = 256;

// Returns true if `pattern` (exact, or ending in '*' for a prefix) matches `value`.
bool GlobMatches(std::string_view pattern, std::string_view value);

struct IngestOptions {
  size_t max_body_bytes = 1 << 20;
  std::vector<Cidr> trusted_proxies;
  std::vector<SourcePolicy> sources;
  std::vector<DestinationFilter> destinations;
  // Bytes of a rejected (4xx) request's raw body kept in its request-log row; 0 keeps none.
  size_t kept_rejected_body_bytes = 0;
};

// Longest idempotency key accepted from a header or the payload.
inline constexpr size_t kMaxIdempotencyKeyBytes = 512;

// Longest source name that a request for a source that is not configured gets in its
// request-log row (and in its answer): the rest of the URL's name is cut off.
inline constexpr size_t kMaxLoggedSourceBytes = 128;

// Returns true for a header that carries a credential and is never stored with an event: a
// lower-case name containing "auth", "token", "secret", "passw", "cookie", "session",
// "api-key", "apikey", "api_key" or "credential" (Authorization, Proxy-Authorization, Cookie,
// X-Auth-Token, X-Gitlab-Token, X-Api-Key, ...). Signatures (X-Hub-Signature-256) are kept
// unless the source verifies them (then they would let a reader replay the event): without
// the secret they prove nothing, and a consumer may check them.
bool IsSecretHeader(std::string_view lower_name);

// Returns `headers` without the ones IsSecretHeader() names, and without `also` (lower-case
// names: the signature headers of a source that verifies them).
HeaderList WithoutSecretHeaders(const HeaderList& headers,
                                const std::vector<std::string>& also = {});

// Thread-safety: Handle() may be called from many threads at once; the options are read-only
// after construction.
class IngestHandler {
 public:
  // `writer` must outlive the handler.
  IngestHandler(IngestOptions options, storage::EventWriter& writer);
  IngestHandler(const IngestHandler&) = delete;
  IngestHandler& operator=(const IngestHandler&) = delete;

  // Handles a webhook for `source`. Calls `respond` exactly once: at once for a rejected
  // request (4xx, or 503 when the writer cannot take it), or later on the writer's thread with
  // 200 after the commit or 503 when it failed (storage trouble, or the store refused this
  // record alone: then the cause is logged at error level). Every accepted request gets a
  // request-log row; a rejected one gets one within the writer's request-log budget
  // (storage/request_log_budget.h).
  void Handle(const ApiRequest& request, std::string_view source, Responder respond);

  // Answers every later request 503 (used while shutting down).
  void StopAccepting() { accepting_.store(false); }
  bool accepting() const { return accepting_.load(); }

 private:
  const SourcePolicy* FindSource(std::string_view name) const;

  const IngestOptions options_;
  // Per source (same index as options_.sources): the signature headers not stored with its
  // events (SignatureHeaderNames of its verify policy; empty without one).
  const std::vector<std::vector<std::string>> unstored_headers_;
  // Per source: whether anything reads its payloads; if not, they are validated, not parsed
  // into a document.
  const std::vector<bool> reads_payload_;
  // Per source: the SHA-256 of each of its tokens, so that a request costs one digest.
  const std::vector<std::vector<std::string>> token_digests_;
  storage::EventWriter& writer_;
  std::atomic<bool> accepting_{true};
};

}  // namespace hookvault::api

#endif  // HOOKVAULT_API_INGEST_H_
