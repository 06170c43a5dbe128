// Config: the JSON config file (README: Ingest, Forwarding, REST API, Retention, Operations),
// loaded and validated.
#ifndef HOOKVAULT_SERVER_CONFIG_H_
#define HOOKVAULT_SERVER_CONFIG_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "api/cidr.h"
#include "api/ingest.h"
#include "server/delivery/backoff.h"
#include "server/delivery/destination.h"
#include "storage/request_log_budget.h"
#include "storage/status.h"

namespace hookvault::server {

struct LogConfig {
  std::string level = "info";   // trace, debug, info, warn, error, critical, off
  std::string format = "text";  // text or json
};

// Ages, in days since an event (or request, or attempt) was received, after which rows are
// pruned (server/retention.h). Pending events are never pruned, nor the audit log.
struct RetentionConfig {
  int delivered_days = 30;
  int failed_days = 90;
  // Attempts of events still stored; an event's attempts go with it in any case.
  int attempts_days = 90;  // unset: failed_days
  int request_log_days = 14;
  // A key is also kept for as long as its event is stored, so a retry of it is always answered
  // as a duplicate. Unset: max(delivered_days, failed_days) + 7, so that a late retry is
  // recognised for a week after its event is pruned. Never less than delivered_days.
  int idempotency_days = 97;
  // An event a configured consumer has not acknowledged is kept past the ages above while that
  // consumer has acknowledged something within this many days (server/retention.h).
  int max_consumer_lag_days = 7;
};

using BackoffConfig = BackoffPolicy;

// A destination of the config: which events it takes (the filter, applied at ingest) and how
// they are sent (the OutboundDestination the scheduler gets). filter.name == name.
struct DestinationConfig : OutboundDestination {
  api::DestinationFilter filter;  // name, sources, events
};

// The source of hookvault's own events and the name of the destination they go to.
inline constexpr std::string_view kAlertsName = "_hookvault";

// "alerts": where hookvault sends its operational alerts (delivery.exhausted,
// destination.paused, destination.resumed, storage.unavailable, storage.recovered). They are
// stored as events of source kAlertsName and delivered, like any other, to `destination`
// (named kAlertsName; url, amqp, timeout_ms, max_attempts, backoff, concurrency,
// signing_secret as for a destination).
struct AlertsConfig {
  OutboundDestination destination;
  // At most one alert of a kind (and destination) per this interval; what happens meanwhile is
  // counted into the next one.
  int64_t min_interval_ms = 60000;
};

// Pistache's own TLS, for small deployments (nginx in front is the documented path).
struct TlsConfig {
  std::string cert_file;  // PEM certificate (chain)
  std::string key_file;   // PEM private key, unencrypted
};

// The ingest request log (every ingest request, accepted or rejected).
struct RequestLogConfig {
  // Keep the first kept_body_bytes of the raw body of each rejected (4xx) ingest request, so
  // operators can see what a misconfigured provider sent. Off by default: rejected requests
  // come from anyone who can reach the port, and a body may hold personal data.
  bool keep_rejected_bodies = false;
  int64_t kept_body_bytes = 4096;
  // Rows of rejected requests stored per minute, for all remote addresses together and for
  // each, in rows and bytes; beyond it they are counted in /metrics, not stored
  // (storage/request_log_budget.h). 0 stores none.
  storage::RequestLogBudgetOptions budget;
};

// The audit log's hash chain (storage/audit_chain.h).
struct AuditConfig {
  // With a key (at least 32 characters, e.g. "${HOOKVAULT_AUDIT_KEY}") each new row's hash is
  // an HMAC-SHA256 under it, so whoever rewrites the chain without the key is found out. Empty:
  // plain SHA-256. A secret: never logged.
  std::string key;
};

// The node's whole store in a PostgreSQL database instead of SQLite in data_dir: any number of
// nodes with the same config serve one gateway (README: Several nodes on PostgreSQL).
struct PostgresConfig {
  // A libpq URI (postgresql://user@host:5432/db). It may hold the password: log it only
  // through MaskPostgresUrl().
  std::string url;
  int pool_size = 8;  // reader connections of the REST API (the node opens a few more)
  // A delivery's lease lasts the destination's timeout plus this: with several nodes, how long
  // a dead node's in-flight deliveries wait before another node takes them over.
  int64_t lease_margin_ms = 30000;
  // The commit listener's backstop: this node looks for other nodes' commits at least this
  // often even when no notification arrives.
  int64_t listen_poll_ms = 1000;
};

struct ApiTokenConfig {
  std::string name;
  std::string token;
  std::string role;  // auditor, operator, consumer or admin
  // Role consumer only: the named consumers this token reads and acknowledges; default: one
  // named like the token. Only consumers listed by some token exist.
  std::vector<std::string> consumers;
};

struct Config {
  std::string listen = "127.0.0.1:8080";
  int threads = 2;
  // Threads that run the REST API's database reads (and /metrics), off the HTTP reactors.
  int query_threads = 2;
  std::string data_dir = "./data";
  int64_t max_body_bytes = 1048576;
  int64_t max_db_bytes = 0;  // 0: unlimited; else writes past it fail like a full disk (503)
  LogConfig log;
  int writer_max_batch = 512;
  int writer_max_queue = 8192;
  int64_t writer_max_queue_bytes = 64 << 20;
  int64_t writer_commit_interval_us = 1000;  // storage::WriterOptions::commit_interval_us
  std::vector<api::Cidr> trusted_proxies;
  std::optional<TlsConfig> tls;  // absent: plain HTTP
  RetentionConfig retention;
  RequestLogConfig request_log;
  AuditConfig audit;
  std::vector<api::SourcePolicy> sources;
  std::vector<DestinationConfig> destinations;
  std::vector<ApiTokenConfig> api_tokens;
  std::optional<PostgresConfig> postgres;  // absent: SQLite in data_dir
  std::optional<AlertsConfig> alerts;      // absent: no alerts are sent
};

// Returns every consumer the api_tokens name, sorted, each once.
std::vector<std::string> ConsumerNames(const Config& config);

// Looks up an environment variable; nullopt when unset.
using EnvLookup = std::function<std::optional<std::string>(const std::string& name)>;

// Returns the process environment as an EnvLookup.
EnvLookup ProcessEnv();

// Parses and validates a config document. "${NAME}" in any string value is replaced from `env`.
// Returns kInvalidArgument with a message naming the key path ("sources[0].tokens: ...") for
// an unknown key, a wrong type, an invalid value, an unset variable or a schema file that does
// not load. Secret values never appear in messages. Relative files the config names (schemas)
// resolve against `base_dir`; empty: the working directory.
storage::StatusOr<Config> ParseConfig(std::string_view json, const EnvLookup& env,
                                      const std::string& base_dir = "");

// Reads and parses a config file; relative files resolve against the file's directory.
// Returns kInvalidArgument if it cannot be read.
storage::StatusOr<Config> LoadConfigFile(const std::string& path, const EnvLookup& env);

// Returns the embedded default: 127.0.0.1:8080, data in ./data, one source "default" whose only
// token is `default_token`, no destinations, and one API token "default-admin" (role admin).
Config DefaultConfig(const std::string& default_token, const std::string& admin_token);

// Returns `url` with its secrets replaced by "***", for logs and messages: the password of the
// user info (user:PASSWORD@, found by libpq's rule, so a password may hold '?') and the values
// of the password and sslpassword parameters (keywords percent-decoded, as libpq reads them);
// in a key=value string (host=db password=...), the values of those keywords, quoted or not.
std::string MaskPostgresUrl(std::string_view url);

// Splits "host:port" or "[v6]:port". Returns kInvalidArgument if malformed.
storage::StatusOr<std::pair<std::string, uint16_t>> SplitHostPort(std::string_view listen);

}  // namespace hookvault::server

#endif  // HOOKVAULT_SERVER_CONFIG_H_
