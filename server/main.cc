// hookvault: the one place where the pieces are wired together.
#include <SQLiteCpp/Database.h>
#include <fcntl.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <map>
#include <random>
#include <thread>

#include "api/auth.h"
#include "api/crypto.h"
#include "api/feed.h"
#include "api/ingest.h"
#include "api/openapi.h"
#include "api/problem.h"
#include "api/rest.h"
#include "server/config.h"
#include "server/delivery/curl_http_client.h"
#include "server/http/http_endpoint.h"
#include "server/logging.h"
#include "server/metrics.h"
#include "server/retention.h"
#include "server/http/route_table.h"
#include "server/http/router.h"
#include "server/delivery/scheduler.h"
#include "storage/clock.h"
#include "storage/group_commit_writer.h"
#include "storage/operator_port.h"
#include "storage/sqlite/backup.h"
#include "storage/sqlite/database.h"
#include "storage/sqlite/query_store.h"
#include "storage/sqlite/stores.h"
#include "storage/sqlite/wal_checkpointer.h"

namespace hookvault::server {
namespace {

// Most long-polls parked at once; each holds only a socket and a small record.
constexpr size_t kMaxParkedLongPolls = 4096;

// Room for the request line and headers on top of the body in Pistache's request limit.
constexpr size_t kHeaderAllowance = 16 << 10;

// The writer thread's nice value: it is the critical path of every acknowledgement. Measured
// with scripts/bench ingest on 2 shared cores: 15-30 % more durable requests per second.
constexpr int kWriterNice = -10;

storage::Status EnsureDataDir(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec)
    return storage::Status::Unavailable("cannot create data dir " + dir + ": " + ec.message());
  return storage::Status::Ok();
}

// Returns a secret of the embedded default config: $`env_name` when set, else the one kept in
// <data_dir>/`file_name` (created with mode 0600 on first start).
storage::StatusOr<std::string> StoredSecret(const std::string& data_dir, const char* env_name,
                                            const std::string& file_name, const char* what) {
  if (const char* env = std::getenv(env_name); env && *env) return std::string(env);
  std::string path = data_dir + "/" + file_name;
  std::ifstream existing(path);
  std::string token;
  if (existing && std::getline(existing, token) && !token.empty()) {
    spdlog::info("{}: read from {}", what, path);
    return token;
  }
  token = api::RandomHex(24);
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (fd < 0) return storage::Status::Unavailable("cannot write " + path + ": " + strerror(errno));
  std::string line = token + "\n";
  bool ok = ::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size());
  ok = (::fsync(fd) == 0) && ok;
  ::close(fd);
  if (!ok) return storage::Status::Unavailable("cannot write " + path);
  spdlog::info("{}: generated and written to {} (mode 0600)", what, path);
  return token;
}

// Takes an exclusive lock on <data_dir>/hookvault.lock for the life of the process. Two servers
// on one database would each release the other's delivery leases at start and deliver twice.
// Returns the open descriptor, or kUnavailable naming the reason.
storage::StatusOr<int> LockDataDir(const std::string& data_dir) {
  std::string path = data_dir + "/hookvault.lock";
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return storage::Status::Unavailable("cannot open " + path + ": " + strerror(errno));
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    ::close(fd);
    return storage::Status::Unavailable("another hookvault is serving " + data_dir + " (it holds " +
                                        path + ")");
  }
  return fd;
}

storage::Status Migrate(const std::string& data_dir) {
  if (auto s = EnsureDataDir(data_dir); !s.ok()) return s;
  auto db = storage::OpenDatabase({.path = storage::DatabasePath(data_dir)});
  if (!db.ok()) return db.status();
  auto applied = storage::ApplyMigrations(**db, storage::SqliteMigrations());
  if (!applied.ok()) return applied.status();
  for (const std::string& name : *applied) spdlog::info("applied migration {}", name);
  return storage::Status::Ok();
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

  Config config;
  if (!config_path.empty()) {
    auto loaded = LoadConfigFile(config_path, ProcessEnv());
    if (!loaded.ok()) {
      std::cerr << "hookvault: " << loaded.status().message() << "\n";
      return 2;
    }
    config = std::move(loaded).value();
  }
  if (!data_dir_override.empty()) config.data_dir = data_dir_override;
  if (!listen_override.empty()) config.listen = listen_override;
  auto host_port = SplitHostPort(config.listen);
  if (!host_port.ok()) {
    std::cerr << "hookvault: --listen: " << host_port.status().message() << "\n";
    return 2;
  }
  InitLogging(config.log);

  if (auto s = EnsureDataDir(config.data_dir); !s.ok()) {
    spdlog::critical("{}", s.ToString());
    return 1;
  }
  auto lock = LockDataDir(config.data_dir);  // held until the process exits
  if (!lock.ok()) {
    spdlog::critical("{}", lock.status().message());
    return 1;
  }
  if (auto s = Migrate(config.data_dir); !s.ok()) {
    spdlog::critical("migrate: {}", s.ToString());
    return 1;
  }
  if (config_path.empty()) {
    auto token = StoredSecret(config.data_dir, "HOOKVAULT_TOKEN", "default-token",
                              "default source token");
    auto admin = StoredSecret(config.data_dir, "HOOKVAULT_API_TOKEN", "default-api-token",
                              "default admin API token");
    if (!token.ok() || !admin.ok()) {
      spdlog::critical("{}", (token.ok() ? admin.status() : token.status()).ToString());
      return 1;
    }
    Config defaults = DefaultConfig(*token, *admin);
    defaults.listen = config.listen;
    defaults.data_dir = config.data_dir;
    config = std::move(defaults);
  }

  storage::SystemClock clock;
  auto store = storage::SqliteStores::Open(
      {.path = storage::DatabasePath(config.data_dir), .max_db_bytes = config.max_db_bytes}, clock);
  if (!store.ok()) {
    spdlog::critical("open database: {}", store.status().ToString());
    return 1;
  }
  // Keeps the WAL small without checkpoints inside the writer's commits
  // (storage/sqlite_wal_checkpointer.h). Before the writer, whose commits notify it.
  auto checkpointer =
      storage::SqliteWalCheckpointer::Open({.path = storage::DatabasePath(config.data_dir)});
  if (!checkpointer.ok()) {
    spdlog::critical("open database checkpointer: {}", checkpointer.status().ToString());
    return 1;
  }
  store->connection->set_wal_listener(
      [cp = checkpointer->get()](int64_t wal_frames) { cp->Notify(wal_frames); });
  // Before the writer: answers (and so the endpoint's metrics observer) may run on the writer
  // thread until it is joined.
  std::vector<std::string> source_names;
  for (const api::SourcePolicy& s : config.sources) source_names.push_back(s.name);
  Metrics metrics(std::move(source_names), HOOKVAULT_VERSION);
  storage::GroupCommitWriter writer(*store->events,
                                    {.max_batch = static_cast<size_t>(config.writer_max_batch),
                                     .max_queue = static_cast<size_t>(config.writer_max_queue),
                                     .thread_nice = kWriterNice});
  (*checkpointer)->Start([&writer, &store, cp = checkpointer->get()] {
    storage::Status queued = writer.SubmitTask([&store, cp] {
      // Busy only if another connection checkpoints: the checkpointer asks again later.
      if (auto s = store->connection->CheckpointWal(); !s.ok()) spdlog::debug("{}", s.ToString());
      cp->RestartDone();
    });
    if (!queued.ok()) cp->RestartDone();  // stopping
  });
  // Its thread submits to the writer: on every way out, stop it before the writer goes.
  struct StopBeforeWriter {
    storage::SqliteWalCheckpointer& checkpointer;
    ~StopBeforeWriter() { checkpointer.Stop(); }
  } stop_checkpointer{**checkpointer};

  auto http_client = std::make_unique<CurlHttpClient>();
  SchedulerOptions scheduler_options;
  scheduler_options.user_agent = std::string("hookvault/") + HOOKVAULT_VERSION;
  Scheduler scheduler(
      std::vector<OutboundDestination>(config.destinations.begin(), config.destinations.end()),
      writer, *store->deliveries, *http_client, clock,
      [rng = std::mt19937_64(std::random_device{}())]() mutable { return rng(); },
      scheduler_options);
  if (auto s = scheduler.Start(); !s.ok()) {
    spdlog::critical("start forwarding: {}", s.ToString());
    return 1;
  }
  // Prunes through writer tasks in small batches (server/retention.h); stopped before the writer.
  Retention retention(config.retention, writer, *store->retention, clock);
  retention.Start();

  api::IngestOptions ingest_options;
  ingest_options.max_body_bytes = static_cast<size_t>(config.max_body_bytes);
  ingest_options.trusted_proxies = config.trusted_proxies;
  if (config.request_log.keep_rejected_bodies) {
    ingest_options.kept_rejected_body_bytes = static_cast<size_t>(config.request_log.kept_body_bytes);
  }
  ingest_options.sources = config.sources;
  for (const DestinationConfig& d : config.destinations) {
    ingest_options.destinations.push_back(d.filter);
  }
  api::IngestHandler ingest(std::move(ingest_options), writer);

  auto queries = storage::SqliteQueryStore::Open(
      {.path = storage::DatabasePath(config.data_dir)},
      // A query holds its connection only while it runs: one per HTTP worker, one for the
      // feed thread, one for /metrics.
      config.threads + 2);
  if (!queries.ok()) {
    spdlog::critical("open database readers: {}", queries.status().ToString());
    return 1;
  }
  api::FeedWaiters waiters(**queries, kMaxParkedLongPolls);
  writer.set_commit_listener([&scheduler, &waiters] {
    scheduler.Wake();
    waiters.Notify();
  });

  std::vector<api::ApiToken> api_tokens;
  for (const ApiTokenConfig& t : config.api_tokens) {
    api_tokens.push_back({t.name, t.token, *api::ParseRole(t.role)});  // validated by config
  }
  api::Authenticator authenticator(std::move(api_tokens));
  storage::SerializedOperatorPort operations(writer, *store->operations, clock,
                                             [&scheduler] { scheduler.Wake(); });
  api::RestApi rest({.auth = authenticator,
                     .queries = **queries,
                     .operations = operations,
                     .waiters = waiters,
                     .clock = clock});

  // One handler per operation of the route table (server/route_table.h).
  using Params = PathParams;
  using Req = api::ApiRequest;
  std::map<std::string_view, RouteHandler> handlers = {
      {"ingestWebhook",
       [&ingest](const Req& req, const Params& p, api::Responder respond) {
         ingest.Handle(req, p[0], std::move(respond));
       }},
      {"getHealth",
       [](const Req&, const Params&, api::Responder respond) {
         respond(api::JsonOk("{\"status\":\"ok\"}"));
       }},
      {"getReadiness",
       [&writer, &ingest](const Req& req, const Params&, api::Responder respond) {
         std::string path = req.path;
         if (!ingest.accepting()) {  // draining: tell load balancers to go elsewhere
           return respond(api::Problem(api::ProblemKind::kUnavailable, "shutting down", path));
         }
         auto answer = [respond, path](const storage::Status& s) {
           if (s.ok()) return respond(api::JsonOk("{\"status\":\"ready\"}"));
           respond(api::Problem(api::ProblemKind::kUnavailable,
                                "database is not writable: " + s.message(), path));
         };
         if (auto queued = writer.SubmitProbe(answer); !queued.ok()) answer(queued);
       }},
      {"getMetrics",
       [&](const Req&, const Params&, api::Responder respond) {
         MetricsInputs inputs;
         inputs.writer = writer.stats();
         inputs.destinations = scheduler.stats();
         if (auto p = (*queries)->Pending(); p.ok()) inputs.pending = std::move(p).value();
         if (auto c = (*queries)->ListConsumers(); c.ok()) inputs.consumers = std::move(c).value();
         if (auto l = (*queries)->LatestSeq(); l.ok()) inputs.latest_seq = *l;
         inputs.now = clock.NowMicros();
         api::ApiResponse r;
         r.content_type = std::string(kMetricsContentType);
         r.body = metrics.Render(inputs);
         respond(std::move(r));
       }},
      {"getOpenApi",
       [](const Req&, const Params&, api::Responder respond) {
         respond(api::JsonOk(std::string(api::OpenApiJson())));
       }},
      {"listEvents", [&rest](const Req& req, const Params&,
                             api::Responder respond) { rest.ListEvents(req, std::move(respond)); }},
      {"getEvent", [&rest](const Req& req, const Params& p,
                           api::Responder respond) { rest.GetEvent(req, p[0], std::move(respond)); }},
      {"listEventAttempts",
       [&rest](const Req& req, const Params& p, api::Responder respond) {
         rest.ListEventAttempts(req, p[0], std::move(respond));
       }},
      {"reprocessEvent",
       [&rest](const Req& req, const Params& p, api::Responder respond) {
         rest.ReprocessEvent(req, p[0], std::move(respond));
       }},
      {"listDeliveries",
       [&rest](const Req& req, const Params&, api::Responder respond) {
         rest.ListDeliveries(req, std::move(respond));
       }},
      {"listAttempts",
       [&rest](const Req& req, const Params&, api::Responder respond) {
         rest.ListAttempts(req, std::move(respond));
       }},
      {"reprocessBulk",
       [&rest](const Req& req, const Params&, api::Responder respond) {
         rest.ReprocessBulk(req, std::move(respond));
       }},
      {"listAudit", [&rest](const Req& req, const Params&,
                            api::Responder respond) { rest.ListAudit(req, std::move(respond)); }},
      {"verifyAudit",
       [&rest](const Req& req, const Params&, api::Responder respond) {
         rest.VerifyAudit(req, std::move(respond));
       }},
      {"listRequests",
       [&rest](const Req& req, const Params&, api::Responder respond) {
         rest.ListRequests(req, std::move(respond));
       }},
      {"getFeed", [&rest](const Req& req, const Params&,
                          api::Responder respond) { rest.Feed(req, std::move(respond)); }},
      {"getConsumerEvents",
       [&rest](const Req& req, const Params& p, api::Responder respond) {
         rest.ConsumerEvents(req, p[0], std::move(respond));
       }},
      {"ackConsumer",
       [&rest](const Req& req, const Params& p, api::Responder respond) {
         rest.AckConsumer(req, p[0], std::move(respond));
       }},
  };
  Router router;
  for (const RouteSpec& route : kRouteTable) {
    auto handler = handlers.find(route.operation_id);
    if (handler == handlers.end()) {
      spdlog::critical("no handler for route {} {}", route.method, route.pattern);
      return 1;
    }
    router.Add(std::string(route.method), std::string(route.pattern), handler->second);
  }

  EndpointOptions endpoint_options;
  endpoint_options.host = host_port->first;
  endpoint_options.port = host_port->second;
  endpoint_options.threads = config.threads;
  endpoint_options.max_request_bytes =
      static_cast<size_t>(config.max_body_bytes) + kHeaderAllowance;
  if (config.tls) {
    endpoint_options.tls_cert_file = config.tls->cert_file;
    endpoint_options.tls_key_file = config.tls->key_file;
  }
  endpoint_options.observer = [&metrics](std::string_view method, std::string_view path,
                                         const api::ApiResponse& response, double seconds) {
    constexpr std::string_view kIngest = "/webhooks/";
    if (method != "POST" || path.substr(0, kIngest.size()) != kIngest) return;
    metrics.ObserveIngest(path.substr(kIngest.size()), response.status, seconds);
  };
  HttpEndpoint endpoint(endpoint_options, router, clock);
  // Order matters (design.md): refuse new ingest, stop forwarding (it records through the
  // writer), write and answer everything queued, let the queued responses reach the reactors,
  // then stop the endpoint and the HTTP client.
  auto shut_down = [&] {
    ingest.StopAccepting();
    waiters.Stop();  // parked long-polls get their (empty) answers now
    scheduler.Stop();
    retention.Stop();
    writer.Stop();
    (*checkpointer)->Stop();
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    endpoint.Shutdown();
    http_client.reset();
  };
  if (auto s = endpoint.Start(); !s.ok()) {
    spdlog::critical("{}", s.ToString());
    shut_down();
    return 1;
  }
  std::string shown_host = host_port->first.find(':') != std::string::npos
                               ? "[" + host_port->first + "]"
                               : host_port->first;
  // Printed whatever the log level: scripts and tests wait for this line to learn the port.
  std::cout << "hookvault listening on " << endpoint.scheme() << "://" << shown_host << ":" << endpoint.port()
            << " (data in " << config.data_dir << ")" << std::endl;

  int sig = 0;
  sigwait(&stop_signals, &sig);
  spdlog::info("received {}, draining", strsignal(sig));
  shut_down();
  storage::WriterStats stats = writer.stats();
  spdlog::info("stopped: {} commits, {} records, {:.1f} records per commit, {} failed batches",
               stats.commits, stats.records,
               stats.commits ? static_cast<double>(stats.records) / stats.commits : 0.0,
               stats.failed_batches);
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
  std::string migrate_dir;
  migrate->add_option("--data-dir", migrate_dir, "directory of the database")->required();

  CLI::App* check = app.add_subcommand("check-config", "validate a config file and exit");
  std::string check_path;
  check->add_option("--config", check_path, "JSON config file")->required();

  CLI::App* backup =
      app.add_subcommand("backup", "copy the database while the server runs (online backup)");
  std::string backup_dir, backup_out;
  bool backup_force = false;
  backup->add_option("--data-dir", backup_dir, "directory of the database")->required();
  backup->add_option("--out", backup_out, "file to write the copy to")->required();
  backup->add_flag("--force", backup_force, "replace --out if it exists");

  CLI11_PARSE(app, argc, argv);

  if (*migrate) {
    InitLogging(LogConfig{});
    auto s = hookvault::server::Migrate(migrate_dir);
    if (!s.ok()) {
      std::cerr << "hookvault migrate: " << s.ToString() << "\n";
      return 1;
    }
    return 0;
  }
  if (*backup) {
    // Takes no hookvault.lock: it runs beside the serving process by design.
    auto copied =
        hookvault::storage::BackupDatabase(hookvault::storage::DatabasePath(backup_dir),
                                           backup_out, {.overwrite = backup_force});
    if (!copied.ok()) {
      std::cerr << "hookvault backup: " << copied.status().ToString() << "\n";
      return 1;
    }
    std::cout << "backup: " << backup_out << ": " << copied->pages << " pages, "
              << copied->bytes << " bytes, " << copied->events << " events, max seq "
              << copied->max_event_seq << ", " << std::fixed << std::setprecision(3)
              << copied->seconds << " s, integrity_check ok\n";
    return 0;
  }
  if (*check) {
    auto config = LoadConfigFile(check_path, ProcessEnv());
    if (!config.ok()) {
      std::cerr << "hookvault: " << config.status().message() << "\n";
      return 1;
    }
    std::cout << check_path << ": ok (" << config->sources.size() << " sources, "
              << config->destinations.size() << " destinations)\n";
    return 0;
  }
  return Serve(config_path, listen, data_dir);
}
