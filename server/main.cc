// hookvault: the one place where the pieces are wired together. Gateway opens every part of a
// serving hookvault in order and closes them on every way out; main() reads the command line.
#include <malloc.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <iomanip>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <thread>

#include "api/api.h"
#include "server/delivery/delivery.h"
#include "server/http/http.h"
#include "server/server.h"
#include "server/web/console.h"
#include "storage/postgres/postgres.h"
#include "storage/sqlite/sqlite.h"
#include "storage/storage.h"

namespace hookvault::server {
namespace {

using storage::Status;
using storage::StatusOr;

// Most long-polls parked at once; each holds only a socket and a small record.
constexpr size_t kMaxParkedLongPolls = 4096;

// Room for the request line and headers on top of the body in Pistache's request limit.
constexpr size_t kHeaderAllowance = 16 << 10;

// The writer thread's nice value: it is the critical path of every acknowledgement. Measured
// with scripts/bench ingest on 2 shared cores: 15-30 % more durable requests per second.
constexpr int kWriterNice = -10;

// The longest a stop waits for answers still owed (HttpEndpoint::Shutdown): by then the writer
// has drained and the query pool stopped, so this bounds only a reactor that does not run.
constexpr std::chrono::milliseconds kAnswerDrain{10000};

// API reads that may wait for a query thread, per thread; beyond them a read gets 503 with
// Retry-After (server/http/query_pool.h). Each holds only its request, and only authenticated
// requests (and at most Router::kMaxPublicInPool public ones) get here; a burst of long-poll
// starts, each a short read before it parks, must fit (200 at once in the tests).
constexpr size_t kQueriesQueuedPerThread = 256;

// The stats sampler's tick; HOOKVAULT_STATS_TICK_MS overrides it for the tests only (it is no
// config key: the console's charts are drawn for 5 s buckets).
// Anything but a whole number of milliseconds from 50 to 5000 keeps the 5 s tick: each tick is
// one read of the backlog.
std::chrono::milliseconds StatsTick() {
  const char* ms = std::getenv("HOOKVAULT_STATS_TICK_MS");
  if (ms == nullptr || *ms == '\0' || std::strspn(ms, "0123456789") != std::strlen(ms) ||
      std::strlen(ms) > 4) {
    return kStatsTick;
  }
  const int v = std::atoi(ms);
  return v >= 50 && v <= 5000 ? std::chrono::milliseconds(v) : kStatsTick;
}

// The node's name in its alerts: several nodes may share one PostgreSQL store.
std::string HostName() {
  char name[256] = {};
  if (::gethostname(name, sizeof(name) - 1) != 0 || name[0] == '\0') return "unknown";
  return name;
}

Status Migrate(const std::string& data_dir) {
  if (auto s = EnsureDataDir(data_dir); !s.ok()) return s;
  auto applied = storage::MigrateDatabase(storage::DatabasePath(data_dir));
  if (!applied.ok()) return applied.status();
  for (const std::string& name : *applied) spdlog::info("applied migration {}", name);
  return Status::Ok();
}

// Migrates the PostgreSQL database of `pg`. Several nodes may do this at once: the runner
// serialises them on an advisory lock (storage/postgres/migrations.h).
Status MigratePostgres(const PostgresConfig& pg) {
  auto applied = storage::MigratePostgres(pg.url);
  if (!applied.ok()) {
    std::string message =
        "postgres.url (" + MaskPostgresUrl(pg.url) + "): " + applied.status().message();
    return applied.status().code() == storage::StatusCode::kUnavailable
               ? Status::Unavailable(std::move(message))
               : Status::Internal(std::move(message));
  }
  for (const std::string& name : *applied) spdlog::info("applied migration {}", name);
  return Status::Ok();
}

// The options of one of the node's PostgreSQL connections; `role` shows in pg_stat_activity
// with the process id, so that an operator sees which node holds what.
storage::pg::ConnectionOptions PostgresOptions(const PostgresConfig& pg, std::string_view role) {
  return {.url = pg.url,
          .application_name =
              "hookvault " + std::string(role) + " pid " + std::to_string(::getpid())};
}

// The ports of the node's store, whichever backend holds it (Gateway::OpenSqlite,
// Gateway::OpenPostgres): the rest of the wiring sees only these.
struct StorePorts {
  storage::EventLog* events = nullptr;
  storage::DeliveryStore* deliveries = nullptr;
  storage::OperatorStore* operations = nullptr;
  storage::RetentionStore* retention = nullptr;
  storage::QueryStore* queries = nullptr;
  std::string backend;   // "sqlite" or "postgres", for /metrics
  std::string location;  // where the data is, for the log: the data dir or the masked URL
};

// Every part of a serving hookvault. Open() opens them in order, each from the ones before it;
// the destructor closes whatever was opened, also when Open() failed part-way, so no way out
// can skip it. Closing order (the writer answers ingest through the endpoint): refuse new
// ingest; run the API reads queued; answer parked long-polls; stop forwarding, then the HTTP
// client (its completions call into the scheduler, so it finishes before the scheduler is
// freed); stop the alerter (it submits its last alerts to the writer); stop retention; write
// and answer everything queued; stop the WAL checkpointer (it submits to the writer); stop the
// endpoint once every owed answer is written. The members are
// then freed in reverse order of opening, when none of their threads runs any more. The stats
// sampler and PostgreSQL's commit listener stop before all of them: they call into the
// scheduler, the feed's waiters, the metrics and the query store.
//
// Thread-safety: Open() and the destructor on one thread; the parts document their own.
class Gateway {
 public:
  // Opens everything for `config`; `embedded_default` replaces it by the embedded default config
  // (keeping listen and data_dir) once the data dir holds its secrets.
  static StatusOr<std::unique_ptr<Gateway>> Open(Config config, bool embedded_default);
  Gateway(const Gateway&) = delete;
  Gateway& operator=(const Gateway&) = delete;
  ~Gateway();

  // "http://127.0.0.1:8080 (data in data)": where it listens.
  std::string Describe() const;

  // Queues `on_run` on the writer thread (the systemd watchdog's health probe).
  Status ProbeWriter(std::function<void()> on_run) {
    return writer_->SubmitTask(std::move(on_run));
  }

 private:
  Gateway() = default;
  Status OpenStorage(bool embedded_default);
  // Open one backend each and return its ports; OpenStorage() calls one of them.
  StatusOr<StorePorts> OpenSqlite(bool embedded_default);
  StatusOr<StorePorts> OpenPostgres();
  // Starts the SQLite WAL checkpointer, whose restarts run as writer tasks.
  void StartCheckpointer();
  // Tells the scheduler and the parked feed long-polls that events may have been committed.
  void WakeReaders();
  Status OpenForwarding();
  Status OpenApi();
  Status OpenEndpoint();
  // Returns the handler of each operation of the route table (server/http/route_table.h).
  std::map<std::string_view, RouteHandler> Handlers();

  Config config_;
  storage::SystemClock clock_;
  // SQLite: the data dir's lock, the write connection and its stores, the WAL checkpointer
  // (started once the writer is), the readers.
  std::optional<DataDirLock> lock_;
  std::optional<storage::SqliteStores> sqlite_;
  std::unique_ptr<storage::SqliteWalCheckpointer> checkpointer_;
  std::unique_ptr<storage::SqliteQueryStore> sqlite_queries_;
  // PostgreSQL: the write connection and its stores, the readers, and the listener that wakes
  // this node when any node commits (started once the scheduler and the waiters exist).
  std::optional<storage::PostgresStores> postgres_;
  std::unique_ptr<storage::PostgresQueryStore> postgres_queries_;
  std::unique_ptr<storage::PostgresCommitListener> commit_listener_;
  StorePorts store_;  // of whichever backend is open
  std::unique_ptr<Metrics> metrics_;  // before the writer: answers observe it on its thread
  std::unique_ptr<storage::GroupCommitWriter> writer_;
  std::unique_ptr<CurlHttpClient> http_client_;
  std::unique_ptr<AmqpClient> amqp_client_;  // amqp:// and amqps:// destinations
  std::unique_ptr<ChannelRouter> channels_;  // each request to one of the two above
  // Operational alerts (config "alerts"): told by the scheduler, writes through the writer.
  std::unique_ptr<Alerter> alerter_;
  std::unique_ptr<Scheduler> scheduler_;
  std::unique_ptr<HttpDestinationTester> tester_;
  // Test events' own client, so that a test never waits behind deliveries for a connection (its
  // 30 s bound starts when it is sent). Its completions reach tester_, test_events_ and, through
  // operations_, the writer: declared after tester_ so that it is freed first, and reset
  // explicitly before the writer stops.
  std::unique_ptr<CurlHttpClient> test_http_client_;
  std::unique_ptr<AmqpClient> test_amqp_client_;
  std::unique_ptr<ChannelRouter> test_channels_;
  std::unique_ptr<Retention> retention_;
  std::unique_ptr<api::IngestHandler> ingest_;
  std::unique_ptr<api::FeedWaiters> waiters_;
  std::unique_ptr<storage::SerializedOperatorPort> operations_;
  std::unique_ptr<api::Authenticator> auth_;
  std::unique_ptr<api::EventsHandler> events_;
  std::unique_ptr<api::DeliveriesHandler> deliveries_;
  std::unique_ptr<api::ReprocessHandler> reprocess_;
  std::unique_ptr<api::SkipHandler> skip_;
  std::unique_ptr<api::AuditHandler> audit_;
  std::unique_ptr<api::RequestsHandler> requests_;
  std::unique_ptr<api::TestEventHandler> test_events_;
  std::unique_ptr<api::FeedHandler> feed_;
  api::SessionHandler session_;
  std::unique_ptr<api::HealthHandler> health_;
  std::unique_ptr<MetricsHandler> metrics_handler_;
  std::unique_ptr<StatsRecorder> stats_recorder_;
  std::unique_ptr<StatsSampler> stats_sampler_;  // reads metrics_, scheduler_ and the queries
  std::unique_ptr<StatsHandler> stats_;
  std::unique_ptr<QueryPool> query_pool_;  // runs the API's reads, off the reactors
  std::unique_ptr<Router> router_;
  std::unique_ptr<HttpEndpoint> endpoint_;
  bool serving_ = false;  // the endpoint started
};

StatusOr<std::unique_ptr<Gateway>> Gateway::Open(Config config, bool embedded_default) {
  std::unique_ptr<Gateway> g(new Gateway());
  g->config_ = std::move(config);
  // On an error, returning destroys `g`, and ~Gateway closes what is open by then.
  if (auto s = g->OpenStorage(embedded_default); !s.ok()) return s;
  if (auto s = g->OpenForwarding(); !s.ok()) return s;
  if (auto s = g->OpenApi(); !s.ok()) return s;
  if (auto s = g->OpenEndpoint(); !s.ok()) return s;
  return g;
}

Status Gateway::OpenStorage(bool embedded_default) {
  auto ports = config_.postgres ? OpenPostgres() : OpenSqlite(embedded_default);
  if (!ports.ok()) return ports.status();
  store_ = std::move(ports).value();

  std::vector<std::string> source_names;
  for (const api::SourcePolicy& s : config_.sources) source_names.push_back(s.name);
  metrics_ = std::make_unique<Metrics>(std::move(source_names), HOOKVAULT_VERSION, store_.backend);
  writer_ = std::make_unique<storage::GroupCommitWriter>(
      *store_.events,
      storage::WriterOptions{.max_batch = static_cast<size_t>(config_.writer_max_batch),
                             .max_queue = static_cast<size_t>(config_.writer_max_queue),
                             .max_queue_bytes = static_cast<size_t>(config_.writer_max_queue_bytes),
                             .log_budget = config_.request_log.budget,
                             .thread_nice = kWriterNice,
                             .commit_interval_us = config_.writer_commit_interval_us});
  if (checkpointer_) StartCheckpointer();
  return Status::Ok();
}

StatusOr<StorePorts> Gateway::OpenSqlite(bool embedded_default) {
  const std::string dir = config_.data_dir;  // a copy: config_ is replaced below
  if (auto s = EnsureDataDir(dir); !s.ok()) return s;
  auto lock = DataDirLock::Acquire(dir);  // held until the gateway closes
  if (!lock.ok()) return lock.status();
  lock_.emplace(std::move(lock).value());
  if (auto s = Migrate(dir); !s.ok()) return Status::Unavailable("migrate: " + s.ToString());
  if (embedded_default) {
    auto token = StoredSecret(dir, "HOOKVAULT_TOKEN", "default-token", "default source token");
    if (!token.ok()) return token.status();
    auto admin =
        StoredSecret(dir, "HOOKVAULT_API_TOKEN", "default-api-token", "default admin API token");
    if (!admin.ok()) return admin.status();
    Config defaults = DefaultConfig(*token, *admin);
    defaults.listen = config_.listen;
    defaults.data_dir = dir;
    config_ = std::move(defaults);
  }

  auto stores = storage::SqliteStores::Open(
      {.path = storage::DatabasePath(dir), .max_db_bytes = config_.max_db_bytes}, clock_);
  if (!stores.ok()) return Status::Unavailable("open database: " + stores.status().ToString());
  sqlite_.emplace(std::move(stores).value());
  // Before the writer starts: the store is the writer thread's from then on.
  auto keyed = sqlite_->operations->StartAuditChain(config_.audit.key, clock_.NowMicros());
  if (!keyed.ok()) return Status::Unavailable("audit: " + keyed.status().ToString());
  if (*keyed > 0) {
    spdlog::warn("audit: the chain had no keyed row; audit.key applies from row {} on "
                 "(audit_key_added)", *keyed);
  }
  // Keeps the WAL small without checkpoints inside the writer's commits
  // (storage/sqlite/wal_checkpointer.h). Before the writer, whose commits notify it.
  auto checkpointer = storage::SqliteWalCheckpointer::Open({.path = storage::DatabasePath(dir)});
  if (!checkpointer.ok()) {
    return Status::Unavailable("open database checkpointer: " + checkpointer.status().ToString());
  }
  checkpointer_ = std::move(checkpointer).value();
  sqlite_->connection->set_wal_listener(
      [cp = checkpointer_.get()](int64_t frames) { cp->Notify(frames); });

  auto queries =
      storage::SqliteQueryStore::Open({.path = storage::DatabasePath(dir)},
                                      // A query holds its connection only while it runs: one per
                                      // query thread (API reads and /metrics run only there),
                                      // one for the feed thread's wake-ups, one for the
                                      // stats sampler's tick.
                                      config_.query_threads + 2);
  if (!queries.ok()) {
    return Status::Unavailable("open database readers: " + queries.status().ToString());
  }
  sqlite_queries_ = std::move(queries).value();
  sqlite_queries_->set_audit_key(config_.audit.key);
  return StorePorts{.events = sqlite_->events.get(),
                    .deliveries = sqlite_->deliveries.get(),
                    .operations = sqlite_->operations.get(),
                    .retention = sqlite_->retention.get(),
                    .queries = sqlite_queries_.get(),
                    .backend = "sqlite",
                    .location = dir};
}

// The node keeps nothing local: no data dir, no lock (several nodes may share a host). Every
// node migrates at start; the runner lets one do it while the others wait.
StatusOr<StorePorts> Gateway::OpenPostgres() {
  const PostgresConfig& pg = *config_.postgres;
  const std::string where = "postgres.url (" + MaskPostgresUrl(pg.url) + ")";
  if (auto s = MigratePostgres(pg); !s.ok()) return Status::Unavailable("migrate: " + s.message());
  std::map<std::string, int> concurrency;
  for (const DestinationConfig& d : config_.destinations) concurrency[d.name] = d.concurrency;
  if (config_.alerts) {
    concurrency[config_.alerts->destination.name] = config_.alerts->destination.concurrency;
  }
  auto stores = storage::PostgresStores::Open(PostgresOptions(pg, "writer"), clock_,
                                              std::move(concurrency));
  if (!stores.ok()) {
    return Status::Unavailable("open database: " + where + ": " + stores.status().ToString());
  }
  postgres_.emplace(std::move(stores).value());
  // Before the writer starts: the store is the writer thread's from then on.
  auto keyed = postgres_->operations->StartAuditChain(config_.audit.key, clock_.NowMicros());
  if (!keyed.ok()) return Status::Unavailable("audit: " + keyed.status().ToString());
  if (*keyed > 0) {
    spdlog::warn("audit: the chain had no keyed row; audit.key applies from row {} on "
                 "(audit_key_added)", *keyed);
  }
  // As SQLite's readers: pool_size for the query threads' reads (and /metrics), one for the
  // feed thread's wake-ups, one for the stats sampler's tick.
  auto queries =
      storage::PostgresQueryStore::Open(PostgresOptions(pg, "reader"), pg.pool_size + 2);
  if (!queries.ok()) {
    return Status::Unavailable("open database readers: " + where + ": " +
                               queries.status().ToString());
  }
  postgres_queries_ = std::move(queries).value();
  postgres_queries_->set_audit_key(config_.audit.key);
  // Other nodes' commits reach this node only through the database: their NOTIFY, and this
  // listener's backstop poll. Started once what it wakes exists (OpenApi).
  auto listener = storage::PostgresCommitListener::Open(
      PostgresOptions(pg, "listener"), std::chrono::milliseconds(pg.listen_poll_ms),
      [this] { WakeReaders(); });
  if (!listener.ok()) {
    return Status::Unavailable("listen for commits: " + where + ": " +
                               listener.status().ToString());
  }
  commit_listener_ = std::move(listener).value();
  return StorePorts{.events = postgres_->events.get(),
                    .deliveries = postgres_->deliveries.get(),
                    .operations = postgres_->operations.get(),
                    .retention = postgres_->retention.get(),
                    .queries = postgres_queries_.get(),
                    .backend = "postgres",
                    .location = MaskPostgresUrl(pg.url)};
}

void Gateway::StartCheckpointer() {
  checkpointer_->Start([this] {
    storage::SqliteWalCheckpointer* cp = checkpointer_.get();
    Status queued = writer_->SubmitTask([this, cp] {
      // Busy only if another connection checkpoints: the checkpointer asks again later.
      if (auto s = sqlite_->connection->CheckpointWal(); !s.ok()) spdlog::debug("{}", s.ToString());
      cp->RestartDone();
    });
    if (!queued.ok()) cp->RestartDone();  // stopping
  });
}

void Gateway::WakeReaders() {
  scheduler_->Wake();
  waiters_->Notify();
}

Status Gateway::OpenForwarding() {
  http_client_ = std::make_unique<CurlHttpClient>();
  amqp_client_ = std::make_unique<AmqpClient>();
  channels_ = std::make_unique<ChannelRouter>(*http_client_, *amqp_client_);
  SchedulerOptions options;
  options.user_agent = std::string("hookvault/") + HOOKVAULT_VERSION;
  // With several nodes the margin is also how long a dead node's deliveries wait for another.
  if (config_.postgres) options.lease_margin_ms = config_.postgres->lease_margin_ms;
  std::vector<OutboundDestination> destinations(config_.destinations.begin(),
                                                config_.destinations.end());
  if (config_.alerts) {
    // Alert events name their destination themselves: it is the scheduler's, not ingest's.
    destinations.push_back(config_.alerts->destination);
    AlerterOptions alerts;
    alerts.name = config_.alerts->destination.name;
    for (const DestinationConfig& d : config_.destinations) alerts.destinations.push_back(d.name);
    alerts.min_interval_ms = config_.alerts->min_interval_ms;
    alerts.node = HostName();
    alerts.unavailable_answers = [m = metrics_.get()] { return m->IngestAnswers(503); };
    alerter_ = std::make_unique<Alerter>(*writer_, clock_, std::move(alerts));
    options.notify = [a = alerter_.get()](const DeliveryNotice& n) { a->Notify(n); };
  }
  scheduler_ = std::make_unique<Scheduler>(
      std::move(destinations), *writer_, *store_.deliveries, *channels_, clock_,
      [rng = storage::SeededEngine()]() mutable { return rng(); }, options);
  if (auto s = scheduler_->Start(); !s.ok()) {
    return Status::Unavailable("start forwarding: " + s.ToString());
  }
  // Prunes through writer tasks in small batches (server/retention.h).
  retention_ =
      std::make_unique<Retention>(config_.retention, ConsumerNames(config_), *writer_,
                                  *store_.retention, clock_);
  retention_->Start();
  return Status::Ok();
}

Status Gateway::OpenApi() {
  api::IngestOptions ingest;
  ingest.max_body_bytes = static_cast<size_t>(config_.max_body_bytes);
  ingest.trusted_proxies = config_.trusted_proxies;
  if (config_.request_log.keep_rejected_bodies) {
    ingest.kept_rejected_body_bytes = static_cast<size_t>(config_.request_log.kept_body_bytes);
  }
  ingest.sources = config_.sources;
  for (const DestinationConfig& d : config_.destinations) ingest.destinations.push_back(d.filter);
  ingest_ = std::make_unique<api::IngestHandler>(std::move(ingest), *writer_);

  storage::QueryStore& queries = *store_.queries;
  waiters_ = std::make_unique<api::FeedWaiters>(queries, kMaxParkedLongPolls);
  // An alert's commit wakes the scheduler as an ingest commit does: both store new events.
  writer_->set_commit_listener([this] { WakeReaders(); });
  if (commit_listener_) commit_listener_->Start();  // other nodes' commits, on PostgreSQL
  if (alerter_) alerter_->Start();  // its first submission comes after the listener is set
  operations_ = std::make_unique<storage::SerializedOperatorPort>(
      *writer_, *store_.operations, queries, clock_, [this] { scheduler_->Wake(); });
  std::vector<api::ApiToken> tokens;
  for (const ApiTokenConfig& t : config_.api_tokens) {
    tokens.push_back({t.name, t.token, *api::ParseRole(t.role), t.consumers});  // validated
  }
  auth_ = std::make_unique<api::Authenticator>(std::move(tokens));
  events_ = std::make_unique<api::EventsHandler>(queries);
  deliveries_ = std::make_unique<api::DeliveriesHandler>(queries);
  reprocess_ = std::make_unique<api::ReprocessHandler>(queries, *operations_);
  skip_ = std::make_unique<api::SkipHandler>(*operations_);
  audit_ = std::make_unique<api::AuditHandler>(queries);
  requests_ = std::make_unique<api::RequestsHandler>(queries);
  // Test events are built and signed as deliveries are, through a client of their own.
  // One test at a time per destination: one connection each is enough.
  const auto destinations = static_cast<long>(std::max<size_t>(1, config_.destinations.size()));
  test_http_client_ = std::make_unique<CurlHttpClient>(
      CurlHttpClientOptions{.max_total_connections = destinations});
  test_amqp_client_ = std::make_unique<AmqpClient>();
  test_channels_ = std::make_unique<ChannelRouter>(*test_http_client_, *test_amqp_client_);
  tester_ = std::make_unique<HttpDestinationTester>(
      std::vector<OutboundDestination>(config_.destinations.begin(), config_.destinations.end()),
      *test_channels_, clock_, std::string("hookvault/") + HOOKVAULT_VERSION);
  test_events_ = std::make_unique<api::TestEventHandler>(*tester_, *operations_);
  feed_ = std::make_unique<api::FeedHandler>(queries, *waiters_, *operations_,
                                             ConsumerNames(config_));
  health_ = std::make_unique<api::HealthHandler>(
      *writer_, *ingest_, clock_,
      api::ReadinessOptions{.on_probe_failure = [](const storage::Status& status) {
        spdlog::warn("readiness probe failed: {}", status.message());
      }});
  metrics_handler_ =
      std::make_unique<MetricsHandler>(*metrics_, *writer_, *scheduler_, queries, clock_);
  metrics_handler_->set_alerter(alerter_.get());
  // GET /api/v1/stats answers from memory; the sampler reads the backlog once per tick.
  stats_recorder_ = std::make_unique<StatsRecorder>(clock_.NowMicros());
  stats_sampler_ = std::make_unique<StatsSampler>(
      *stats_recorder_,
      [this] { return ReadStatsCounters(*metrics_, *scheduler_, *store_.queries); }, clock_,
      StatsTick());
  stats_sampler_->Start();
  stats_ = std::make_unique<StatsHandler>(*stats_recorder_, config_.destinations, clock_);
  // The route table also says who may call each route (the router checks API tokens before a
  // handler runs) and where its handler runs: reads on the query pool, not on the reactors.
  const auto query_threads = static_cast<size_t>(config_.query_threads);
  query_pool_ = std::make_unique<QueryPool>(query_threads, query_threads * kQueriesQueuedPerThread);
  router_ = std::make_unique<Router>(*auth_, query_pool_.get());
  std::map<std::string_view, RouteHandler> handlers = Handlers();
  for (const RouteSpec& route : kRouteTable) {
    auto handler = handlers.find(route.operation_id);
    if (handler == handlers.end()) {
      return Status::Internal("no handler for route " + std::string(route.method) + " " +
                              std::string(route.pattern));
    }
    router_->Add(std::string(route.method), std::string(route.pattern), route.access,
                 handler->second, route.runs);
  }
  return Status::Ok();
}

std::map<std::string_view, RouteHandler> Gateway::Handlers() {
  using Ctx = RouteContext;
  using Req = api::ApiRequest;
  using api::Responder;
  return {
      {"ingestWebhook",
       [this](const Req& req, const Ctx& c, Responder respond) {
         ingest_->Handle(req, c.params[0], std::move(respond));
       }},
      {"getHealth", [this](const Req& req, const Ctx&, Responder r) { health_->Health(req, r); }},
      {"getReadiness",
       [this](const Req& req, const Ctx&, Responder r) { health_->Readiness(req, r); }},
      {"getMetrics",
       [this](const Req& req, const Ctx&, Responder r) { metrics_handler_->Serve(req, r); }},
      {"getOpenApi",
       [](const Req&, const Ctx&, Responder respond) {
         respond(api::JsonOk(std::string(api::OpenApiJson())));
       }},
      {"listEvents",
       [this](const Req& req, const Ctx&, Responder r) { events_->ListEvents(req, r); }},
      {"getEvent", [this](const Req& req, const Ctx& c,
                          Responder r) { events_->GetEvent(req, c.params[0], r); }},
      {"getEventPayload", [this](const Req& req, const Ctx& c,
                                 Responder r) { events_->GetEventPayload(req, c.params[0], r); }},
      {"listEventAttempts",
       [this](const Req& req, const Ctx& c, Responder r) {
         events_->ListEventAttempts(req, c.params[0], r);
       }},
      {"reprocessEvent",
       [this](const Req& req, const Ctx& c, Responder r) {
         reprocess_->ReprocessEvent(req, *c.principal, c.params[0], r);
       }},
      {"listDeliveries",
       [this](const Req& req, const Ctx&, Responder r) { deliveries_->ListDeliveries(req, r); }},
      {"listAttempts",
       [this](const Req& req, const Ctx&, Responder r) { deliveries_->ListAttempts(req, r); }},
      {"skipDelivery",
       [this](const Req& req, const Ctx& c, Responder r) {
         skip_->SkipDelivery(req, *c.principal, c.params[0], r);
       }},
      {"reprocessBulk", [this](const Req& req, const Ctx& c,
                               Responder r) { reprocess_->ReprocessBulk(req, *c.principal, r); }},
      {"listAudit", [this](const Req& req, const Ctx&, Responder r) { audit_->ListAudit(req, r); }},
      {"verifyAudit",
       [this](const Req& req, const Ctx&, Responder r) { audit_->VerifyAudit(req, r); }},
      {"listRequests",
       [this](const Req& req, const Ctx&, Responder r) { requests_->ListRequests(req, r); }},
      {"getStats", [this](const Req& req, const Ctx&, Responder r) { stats_->Stats(req, r); }},
      {"listDestinations",
       [this](const Req& req, const Ctx&, Responder r) { stats_->Destinations(req, r); }},
      {"getFeed", [this](const Req& req, const Ctx&, Responder r) { feed_->Feed(req, r); }},
      {"getConsumerEvents",
       [this](const Req& req, const Ctx& c, Responder r) {
         feed_->ConsumerEvents(req, *c.principal, c.params[0], r);
       }},
      {"ackConsumer",
       [this](const Req& req, const Ctx& c, Responder r) {
         feed_->AckConsumer(req, *c.principal, c.params[0], r);
       }},
      {"listConsumers", [this](const Req& req, const Ctx& c,
                               Responder r) { feed_->ListConsumers(req, *c.principal, r); }},
      {"getSession", [this](const Req& req, const Ctx& c,
                            Responder r) { session_.Session(req, *c.principal, r); }},
      {"testDestination",
       [this](const Req& req, const Ctx& c, Responder r) {
         test_events_->TestDestination(req, *c.principal, c.params[0], r);
       }},
      {"redirectConsole", [](const Req&, const Ctx&, Responder r) { r(RedirectToConsole()); }},
      {"getConsole",
       [](const Req& req, const Ctx&, Responder r) { r(ServeConsoleAsset(req, "")); }},
      {"getConsoleAsset", [](const Req& req, const Ctx& c,
                             Responder r) { r(ServeConsoleAsset(req, c.params[0])); }},
  };
}

Status Gateway::OpenEndpoint() {
  auto host_port = SplitHostPort(config_.listen);
  if (!host_port.ok()) return host_port.status();
  EndpointOptions options;
  options.host = host_port->first;
  options.port = host_port->second;
  options.threads = config_.threads;
  options.max_request_bytes = static_cast<size_t>(config_.max_body_bytes) + kHeaderAllowance;
  if (config_.tls) {
    options.tls_cert_file = config_.tls->cert_file;
    options.tls_key_file = config_.tls->key_file;
  }
  options.observer = [metrics = metrics_.get()](std::string_view method, std::string_view path,
                                                const api::ApiResponse& response, double seconds) {
    LogRequest(method, path, response.status, seconds * 1000.0, response.source, response.event_id);
    constexpr std::string_view kIngest = "/webhooks/";
    if (method != "POST" || path.substr(0, kIngest.size()) != kIngest) return;
    metrics->ObserveIngest(path.substr(kIngest.size()), response.status, seconds);
  };
  endpoint_ = std::make_unique<HttpEndpoint>(options, *router_, clock_);
  if (auto s = endpoint_->Start(); !s.ok()) return s;
  serving_ = true;
  return Status::Ok();
}

Gateway::~Gateway() {
  if (stats_sampler_) stats_sampler_->Stop();  // it reads the parts stopped below
  if (commit_listener_) commit_listener_->Stop();  // it wakes the scheduler and the waiters
  if (ingest_) ingest_->StopAccepting();
  // Runs the reads already queued; later ones get 503. Before the long-polls stop, so that a
  // feed read parked by the pool's last tasks is answered too.
  if (query_pool_) query_pool_->Stop();
  if (waiters_) waiters_->Stop();  // parked long-polls get their (empty) answers now
  if (scheduler_) scheduler_->Stop();
  http_client_.reset();  // completes what is still in flight into the stopped scheduler
  amqp_client_.reset();
  // A test event still in flight is answered 503 (cut off), before the writer and endpoint stop.
  test_http_client_.reset();
  test_amqp_client_.reset();
  // After the scheduler (its last notices), before the writer, which stores what it submits.
  if (alerter_) alerter_->Stop();
  if (retention_) retention_->Stop();
  if (writer_) writer_->Stop();
  if (checkpointer_) checkpointer_->Stop();
  // Every answer is now owed by nobody but the reactors: the endpoint waits for those still
  // being sent, stops, and writes what its reactors hold (HttpEndpoint::Shutdown).
  if (serving_) endpoint_->Shutdown(kAnswerDrain);
  if (writer_) {
    storage::WriterStats stats = writer_->stats();
    spdlog::info("stopped: {} commits, {} records, {:.1f} records per commit, {} failed batches",
                 stats.commits, stats.records,
                 stats.commits ? static_cast<double>(stats.records) / stats.commits : 0.0,
                 stats.failed_batches);
  }
}

std::string Gateway::Describe() const {
  std::string host = SplitHostPort(config_.listen)->first;  // checked by Serve()
  std::string shown = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  return std::string(endpoint_->scheme()) + "://" + shown + ":" +
         std::to_string(endpoint_->port()) + " (data in " + store_.location + ")";
}

int Serve(const std::string& config_path, const std::string& listen_override,
          const std::string& data_dir_override) {
  // Block the stop signals in every thread; this one waits for them with sigwait().
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  signal(SIGPIPE, SIG_IGN);
  // Keep freed heap memory for reuse. By default glibc hands a freed block of over 128 KiB, and
  // a free heap top past its trim threshold, back to the kernel, so each feed page (1.3 MB
  // rendered, then copied by Pistache into buffers that double as they grow) faulted its memory
  // in afresh: page faults and madvise were half the server's CPU on the feed. Blocks up to 16
  // MiB (a page at its 4 MiB byte budget, as Pistache buffers it) now come from the heap, and
  // up to 64 MiB of free heap stay mapped; peak RSS over a 1 M-event feed is the same (~60 MB).
  mallopt(M_MMAP_THRESHOLD, 16 << 20);
  mallopt(M_TRIM_THRESHOLD, 64 << 20);

  Config config;
  if (!config_path.empty()) {
    auto loaded = LoadConfigFile(config_path, ProcessEnv());
    if (!loaded.ok()) {
      std::cerr << "hookvault: " << loaded.status().message() << "\n";
      return 2;
    }
    config = std::move(loaded).value();
  }
  if (!data_dir_override.empty()) {
    if (config.postgres) {
      std::cerr << "hookvault: --data-dir does not apply: the config's store is PostgreSQL "
                   "(postgres.url)\n";
      return 2;
    }
    config.data_dir = data_dir_override;
  }
  if (!listen_override.empty()) config.listen = listen_override;
  if (auto host_port = SplitHostPort(config.listen); !host_port.ok()) {
    std::cerr << "hookvault: --listen: " << host_port.status().message() << "\n";
    return 2;
  }
  InitLogging(config.log);

  auto gateway = Gateway::Open(std::move(config), config_path.empty());
  if (!gateway.ok()) {
    spdlog::critical("{}", gateway.status().ToString());
    return 1;
  }
  // Printed whatever the log level: scripts and tests wait for this line to learn the port.
  std::cout << "hookvault listening on " << (*gateway)->Describe() << std::endl;
  // The endpoint listens: systemd may start what depends on hookvault.
  SystemdNotifier notifier(
      [g = gateway->get()](std::function<void()> on_run) { return g->ProbeWriter(on_run); });
  notifier.Ready("listening on " + (*gateway)->Describe());
  int sig = 0;
  sigwait(&stop_signals, &sig);
  spdlog::info("received {}, draining", strsignal(sig));
  notifier.Stopping();  // before the writer goes: the watchdog probes it
  gateway->reset();
  return 0;
}

// `hookvault migrate`: the store of `config_path` (its PostgreSQL database, or SQLite in its
// data_dir), or SQLite in `data_dir` (which also overrides the config's data_dir).
int RunMigrate(const std::string& config_path, const std::string& data_dir) {
  InitLogging(LogConfig{});
  if (config_path.empty() && data_dir.empty()) {
    std::cerr << "hookvault migrate: --config or --data-dir is required\n";
    return 2;
  }
  Config config;
  if (!config_path.empty()) {
    auto loaded = LoadConfigFile(config_path, ProcessEnv());
    if (!loaded.ok()) {
      std::cerr << "hookvault migrate: " << loaded.status().message() << "\n";
      return 1;
    }
    config = std::move(loaded).value();
  }
  if (config.postgres) {
    if (!data_dir.empty()) {
      std::cerr << "hookvault migrate: --data-dir does not apply: the config's store is "
                   "PostgreSQL (postgres.url)\n";
      return 2;
    }
    if (auto s = MigratePostgres(*config.postgres); !s.ok()) {
      std::cerr << "hookvault migrate: " << s.ToString() << "\n";
      return 1;
    }
    return 0;
  }
  const std::string dir = data_dir.empty() ? config.data_dir : data_dir;
  // The same lock as a server: a migration (0003 runs a VACUUM) must not run under one.
  auto s = EnsureDataDir(dir);
  std::optional<DataDirLock> lock;
  if (s.ok()) {
    auto locked = DataDirLock::Acquire(dir);
    if (locked.ok()) {
      lock.emplace(std::move(locked).value());
    } else {
      s = Status::Unavailable(locked.status().message() + ": stop it before migrating");
    }
  }
  if (s.ok()) s = Migrate(dir);
  if (!s.ok()) {
    std::cerr << "hookvault migrate: " << s.ToString() << "\n";
    return 1;
  }
  return 0;
}

// `hookvault check-config`: validates the file and, for a PostgreSQL store, connects to it.
int RunCheckConfig(const std::string& path) {
  auto config = LoadConfigFile(path, ProcessEnv());
  if (!config.ok()) {
    std::cerr << "hookvault: " << config.status().message() << "\n";
    return 1;
  }
  const std::string counts = " (" + std::to_string(config->sources.size()) + " sources, " +
                             std::to_string(config->destinations.size()) + " destinations)";
  if (!config->postgres) {
    std::cout << path << ": ok" << counts << "\n";
    return 0;
  }
  const std::string url = MaskPostgresUrl(config->postgres->url);
  auto probe = storage::ProbePostgres(PostgresOptions(*config->postgres, "check-config"));
  if (!probe.ok()) {
    std::cerr << "hookvault: " << path << ": postgres.url (" << url
              << "): cannot run SELECT 1: " << probe.status().message() << "\n";
    return 1;
  }
  std::cout << path << ": ok" << counts << "\n";
  std::cout << "postgres.url (" << url << "): reachable, PostgreSQL " << probe->server_version
            << "; ";
  if (probe->pending_migrations.empty()) {
    std::cout << "schema up to date\n";
  } else {
    std::cout << probe->pending_migrations.size()
              << " migrations pending (serve applies them at start, or run hookvault migrate "
                 "--config "
              << path << "):";
    for (const std::string& name : probe->pending_migrations) std::cout << " " << name;
    std::cout << "\n";
  }
  return 0;
}

// `hookvault backup`: an online copy of the SQLite database in `data_dir`, or of the config's.
int RunBackup(const std::string& config_path, std::string data_dir, const std::string& out,
              bool force) {
  if (config_path.empty() == data_dir.empty()) {
    std::cerr << "hookvault backup: give exactly one of --config and --data-dir\n";
    return 2;
  }
  if (!config_path.empty()) {
    auto config = LoadConfigFile(config_path, ProcessEnv());
    if (!config.ok()) {
      std::cerr << "hookvault backup: " << config.status().message() << "\n";
      return 1;
    }
    if (config->postgres) {
      std::cerr << "hookvault backup: the store is PostgreSQL (postgres.url): back it up with "
                   "PostgreSQL's own tools, pg_dump for a logical copy or pg_basebackup (with WAL "
                   "archiving) for a physical one\n";
      return 1;
    }
    data_dir = config->data_dir;
  }
  // Takes no hookvault.lock: it runs beside the serving process by design.
  const std::string db = storage::DatabasePath(data_dir);
  if (auto s = CheckBackupTarget(db, out); !s.ok()) {
    std::cerr << "hookvault backup: " << s.ToString() << "\n";
    return 1;
  }
  auto copied = storage::BackupDatabase(db, out, {.overwrite = force});
  if (!copied.ok()) {
    std::cerr << "hookvault backup: " << copied.status().ToString() << "\n";
    return 1;
  }
  std::cout << "backup: " << out << ": " << copied->pages << " pages, " << copied->bytes
            << " bytes, " << copied->events << " events, max seq " << copied->max_event_seq
            << ", " << std::fixed << std::setprecision(3) << copied->seconds
            << " s, integrity_check ok\n";
  return 0;
}

}  // namespace
}  // namespace hookvault::server

int main(int argc, char** argv) {
  using namespace hookvault::server;
  CLI::App app{
      "hookvault: a self-hosted webhook gateway that stores every webhook before it "
      "answers 200"};
  app.set_version_flag("--version", std::string("hookvault ") + HOOKVAULT_VERSION);
  app.require_subcommand(0, 1);

  std::string config_path, listen, data_dir;
  auto add_serve_options = [&](CLI::App* cmd) {
    cmd->add_option("--config", config_path, "JSON config file (default: the embedded default)")
        ->check(CLI::ExistingFile);
    cmd->add_option("--listen", listen, "HOST:PORT to listen on (overrides the config)");
    cmd->add_option("--data-dir", data_dir, "directory of the database (overrides the config)");
  };
  add_serve_options(&app);
  CLI::App* serve = app.add_subcommand("serve", "run the server (the default command)");
  add_serve_options(serve);

  CLI::App* migrate = app.add_subcommand("migrate", "apply pending migrations and exit");
  std::string migrate_dir, migrate_config;
  migrate
      ->add_option("--config", migrate_config,
                   "JSON config file: migrates its store (PostgreSQL, or SQLite in its data_dir)")
      ->check(CLI::ExistingFile);
  migrate->add_option("--data-dir", migrate_dir,
                      "directory of the SQLite database (overrides the config's data_dir)");

  CLI::App* check = app.add_subcommand(
      "check-config", "validate a config file (and connect to its PostgreSQL database) and exit");
  std::string check_path;
  check->add_option("--config", check_path, "JSON config file")->required();

  CLI::App* backup = app.add_subcommand(
      "backup", "copy the SQLite database while the server runs (online backup)");
  std::string backup_dir, backup_config, backup_out;
  bool backup_force = false;
  backup->add_option("--data-dir", backup_dir, "directory of the database");
  backup
      ->add_option("--config", backup_config,
                   "JSON config file: copies the database in its data_dir (instead of --data-dir)")
      ->check(CLI::ExistingFile);
  backup->add_option("--out", backup_out, "file to write the copy to")->required();
  backup->add_flag("--force", backup_force, "replace --out if it exists");

  CLI11_PARSE(app, argc, argv);
  // Every file hookvault creates (the database, its -wal and -shm, the lock, the secrets,
  // backups) is for its own user only, whatever umask it was started with; EnsureDataDir and
  // BackupDatabase also set the modes explicitly.
  ::umask(077);

  if (*migrate) return RunMigrate(migrate_config, migrate_dir);
  if (*backup) return RunBackup(backup_config, backup_dir, backup_out, backup_force);
  if (*check) return RunCheckConfig(check_path);
  return Serve(config_path, listen, data_dir);
}
