// The ingest fuzz target: one webhook request, written as text, through the real
// api::IngestHandler (configured by server::ParseConfig and wired as server/main.cc does) into
// the real SQLite store behind the real GroupCommitWriter, or into a FakeEventWriter that
// commits, fails or refuses.
//
// Input (lines end with '\n'; a '\r' before it is dropped):
//   <source>              the {source} of POST /webhooks/{source}
//   <name>: <value>       zero or more request headers; the name is lower-cased as the HTTP
//                         adapter does, blanks after the colon are dropped
//   @peer <address>       the socket peer (default 127.0.0.1, a trusted proxy here)
//   @writer <kind>        sqlite (default) | commit | fail | refuse | stopped
//   @logs refuse          the fake writer refuses request-log rows
//   @duplicate            the fake writer commits the event as a duplicate
//   @repeat               sends the same request a second time
//   @at <int64>           received_at (default 1700000000000000)
//   <empty line>
//   <body>                every remaining byte
//
// Invariants: exactly one answer per request; its status is the one the ingest table
// (README, "Ingest") gives for the request, checked in the documented order; 200 only after
// the writer committed, with {"id","seq","duplicate"} naming a stored event that holds the
// request's body, key, type and address; every other answer is problem+json whose status
// field matches, 503 with Retry-After; a rejected request stores no event and writes one
// request-log row with its status; the same request again is the same event, a duplicate.
//
// The real store runs in a temporary directory (TMPDIR; scripts/fuzz points it at /dev/shm so
// that fsync costs nothing) and starts over every kInputsPerDatabase inputs to bound its size.
// Every invariant concerns one input only, so which database an input meets does not matter.
#include <SQLiteCpp/Database.h>
#include <rapidjson/document.h>
#include <stdlib.h>

#include <charconv>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "api/cidr.h"
#include "api/http.h"
#include "api/ingest.h"
#include "api/json.h"
#include "server/config.h"
#include "storage/base/crypto.h"
#include "storage/base/strings.h"
#include "storage/clock.h"
#include "storage/group_commit_writer.h"
#include "storage/sqlite/migrations.h"
#include "storage/sqlite/database.h"
#include "storage/sqlite/query_store.h"
#include "storage/sqlite/stores.h"
#include "tests/fuzz/fuzz_targets.h"
#include "tests/testing/fake_event_writer.h"

namespace hookvault::fuzz {
namespace {

// Sources: a plain one with event type, header and pointer keys and a required field; one
// behind an allow-list (the peer 127.0.0.1 is a trusted proxy, so X-Forwarded-For counts); one
// keyed by the body's hash only. Small max_body_bytes so that 413 is reachable.
constexpr std::string_view kConfig = R"json({
  "max_body_bytes": 1024,
  "trusted_proxies": ["127.0.0.1/32", "::1/128"],
  "request_log": {"keep_rejected_bodies": true, "kept_body_bytes": 64},
  "sources": [
    {"name": "harmonics", "tokens": ["harmonics-token-0001", "harmonics-token-0000"],
     "event_type": "/event", "idempotency": {"header": "Idempotency-Key", "pointer": "/id"},
     "required": ["/event"]},
    {"name": "locked", "tokens": ["locked-token-00000001"],
     "allow_ips": ["10.0.0.0/8", "2001:db8::/32"], "event_type": "/type",
     "idempotency": {"header": "X-Request-Id", "pointer": "/data/id"}},
    {"name": "plain", "tokens": ["plain-token-000000001"], "idempotency": {"header": ""}}
  ],
  "destinations": [
    {"name": "all", "url": "http://127.0.0.1:9/all"},
    {"name": "payments", "url": "http://127.0.0.1:9/payments", "sources": ["harm*"],
     "events": ["payment.*"]}
  ]
})json";

constexpr int kInputsPerDatabase = 20000;
constexpr auto kAnswerTimeout = std::chrono::seconds(30);

enum class WriterKind { kSqlite, kCommit, kFail, kRefuse, kStopped };

struct IngestInput {
  std::string source;
  api::ApiRequest request;
  WriterKind writer = WriterKind::kSqlite;
  bool refuse_logs = false;
  bool duplicate = false;
  bool repeat = false;
};

std::string_view TrimLeft(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  return s;
}

IngestInput ParseInput(std::string_view in) {
  IngestInput out;
  out.request.method = "POST";
  out.request.peer_addr = "127.0.0.1";
  out.request.received_at = 1700000000000000;
  size_t nl = in.find('\n');
  out.source = std::string(in.substr(0, nl));
  if (!out.source.empty() && out.source.back() == '\r') out.source.pop_back();
  in = nl == std::string_view::npos ? std::string_view() : in.substr(nl + 1);
  while (!in.empty()) {
    nl = in.find('\n');
    std::string_view line = in.substr(0, nl);
    in = nl == std::string_view::npos ? std::string_view() : in.substr(nl + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) break;  // the body follows
    if (line.front() == '@') {
      std::string_view knob = line.substr(1, line.find(' ') - 1);
      std::string_view arg =
          line.find(' ') == std::string_view::npos ? "" : line.substr(line.find(' ') + 1);
      if (knob == "peer") out.request.peer_addr = std::string(arg);
      if (knob == "writer") {
        if (arg == "commit") out.writer = WriterKind::kCommit;
        if (arg == "fail") out.writer = WriterKind::kFail;
        if (arg == "refuse") out.writer = WriterKind::kRefuse;
        if (arg == "stopped") out.writer = WriterKind::kStopped;
      }
      if (knob == "logs") out.refuse_logs = arg == "refuse";
      if (knob == "duplicate") out.duplicate = true;
      if (knob == "repeat") out.repeat = true;
      if (knob == "at") {
        int64_t at = 0;
        auto [end, ec] = std::from_chars(arg.data(), arg.data() + arg.size(), at);
        if (ec == std::errc()) out.request.received_at = at;
      }
      continue;
    }
    size_t colon = line.find(':');
    std::string_view name = line.substr(0, colon);
    std::string_view value =
        colon == std::string_view::npos ? std::string_view() : TrimLeft(line.substr(colon + 1));
    out.request.headers.emplace_back(base::AsciiLower(name), std::string(value));
  }
  out.request.body = std::string(in);
  out.request.path = "/webhooks/" + out.source;
  return out;
}

api::IngestOptions IngestOptionsFor(const server::Config& config) {
  // As server/main.cc wires them.
  api::IngestOptions options;
  options.max_body_bytes = static_cast<size_t>(config.max_body_bytes);
  options.trusted_proxies = config.trusted_proxies;
  if (config.request_log.keep_rejected_bodies) {
    options.kept_rejected_body_bytes = static_cast<size_t>(config.request_log.kept_body_bytes);
  }
  options.sources = config.sources;
  for (const server::DestinationConfig& d : config.destinations) {
    options.destinations.push_back(d.filter);
  }
  return options;
}

const api::IngestOptions& Options() {
  static const api::IngestOptions* options = [] {
    auto config = server::ParseConfig(kConfig, [](const std::string&) { return std::nullopt; });
    HOOKVAULT_FUZZ_CHECK(config.ok(), config.status().ToString());
    return new api::IngestOptions(IngestOptionsFor(*config));
  }();
  return *options;
}

// --- What the ingest table says (README, "Ingest") ----------------------------------------

struct Expectation {
  int status = 0;           // when the writer commits: 200
  std::string remote_addr;  // what the request log and the event record
  std::string idempotency_key;
  std::string event_type;
  std::vector<std::string> destinations;
};

bool IsJsonMediaType(std::string_view value) {
  std::string type;
  for (char c : value.substr(0, value.find(';'))) {
    if (c != ' ' && c != '\t') type += c;
  }
  type = base::AsciiLower(type);
  return type == "application/json" ||
         (type.starts_with("application/") && type.ends_with("+json"));
}

const std::string* FirstHeader(const api::ApiRequest& r, std::string_view name) {
  for (const auto& [n, v] : r.headers) {
    if (n == name) return &v;
  }
  return nullptr;
}

Expectation Expect(const api::IngestOptions& options, const IngestInput& in) {
  Expectation e;
  auto answer = [&e](int status) {
    e.status = status;
    return e;
  };
  const api::ApiRequest& r = in.request;
  e.remote_addr =
      api::ClientAddress(r.peer_addr, FirstHeader(r, "x-forwarded-for"), options.trusted_proxies);
  if (in.writer == WriterKind::kStopped) return answer(503);
  const api::SourcePolicy* source = nullptr;
  for (const api::SourcePolicy& s : options.sources) {
    if (s.name == in.source) source = &s;
  }
  if (!source) return answer(404);
  if (!source->allow_ips.empty()) {
    auto ip = api::IpAddress::Parse(e.remote_addr);
    if (!ip || !api::AnyContains(source->allow_ips, *ip)) return answer(403);
  }
  const std::string* token = FirstHeader(r, "x-auth-token");
  bool token_ok = false;
  for (const std::string& t : source->tokens) token_ok |= token && *token == t;
  if (!token_ok) return answer(401);
  if (r.body.size() > options.max_body_bytes) return answer(413);
  const std::string* content_type = FirstHeader(r, "content-type");
  if (!content_type || !IsJsonMediaType(*content_type)) return answer(415);
  rapidjson::Document doc;
  if (!api::ParseJson(r.body, doc).ok()) return answer(400);
  for (const rapidjson::Pointer& p : source->required_pointers) {
    if (!p.Get(doc)) return answer(422);
  }
  const std::string* header_key =
      source->idempotency_header.empty() ? nullptr : FirstHeader(r, source->idempotency_header);
  std::string pointer_key;
  if (source->idempotency_pointer) {
    if (const rapidjson::Value* v = source->idempotency_pointer->Get(doc)) {
      if (v->IsString()) pointer_key.assign(v->GetString(), v->GetStringLength());
      if (v->IsInt64()) pointer_key = std::to_string(v->GetInt64());
      if (!v->IsInt64() && v->IsUint64()) pointer_key = std::to_string(v->GetUint64());
    }
  }
  e.idempotency_key = header_key && !header_key->empty() ? *header_key
                      : !pointer_key.empty()             ? pointer_key
                                                         : base::Sha256Hex(r.body);
  if (e.idempotency_key.size() > api::kMaxIdempotencyKeyBytes) return answer(400);
  if (source->event_type) {
    const rapidjson::Value* v = source->event_type->Get(doc);
    if (v && v->IsString()) e.event_type.assign(v->GetString(), v->GetStringLength());
  }
  for (const api::DestinationFilter& d : options.destinations) {
    if (d.Matches(source->name, e.event_type, doc)) e.destinations.push_back(d.name);
  }
  return answer(in.writer == WriterKind::kFail || in.writer == WriterKind::kRefuse ? 503 : 200);
}

// --- Checks on one answer -------------------------------------------------------------------

std::string Str(const rapidjson::Value& v) {
  return std::string(v.GetString(), v.GetStringLength());
}

struct Stored {
  std::string id;
  int64_t seq = 0;
  bool duplicate = false;
};

// Returns the source name an answer and a request-log row carry: a name that is not configured
// is cut to api::kMaxLoggedSourceBytes.
std::string LoggedSource(const IngestInput& in) {
  for (const api::SourcePolicy& s : Options().sources) {
    if (s.name == in.source) return in.source;
  }
  return in.source.substr(0, api::kMaxLoggedSourceBytes);
}

// Checks the shape every answer must have; returns the id, seq and duplicate flag of a 200.
Stored CheckAnswer(const api::ApiResponse& a, const IngestInput& in, const Expectation& e) {
  const std::string where = "status " + std::to_string(a.status) + ", body " + a.body;
  HOOKVAULT_FUZZ_CHECK(a.status == e.status, "expected " + std::to_string(e.status) + "; " + where);
  HOOKVAULT_FUZZ_CHECK(a.source == LoggedSource(in), where);
  rapidjson::Document doc;
  HOOKVAULT_FUZZ_CHECK(api::ParseJson(a.body, doc).ok() && doc.IsObject(), where);
  Stored stored;
  if (a.status == 200) {
    HOOKVAULT_FUZZ_CHECK(a.content_type == "application/json", where);
    HOOKVAULT_FUZZ_CHECK(doc.MemberCount() == 3 && doc.HasMember("id") && doc["id"].IsString() &&
                             doc.HasMember("seq") && doc["seq"].IsInt64() &&
                             doc.HasMember("duplicate") && doc["duplicate"].IsBool(),
                         where);
    stored = {Str(doc["id"]), doc["seq"].GetInt64(), doc["duplicate"].GetBool()};
    HOOKVAULT_FUZZ_CHECK(!stored.id.empty() && stored.seq > 0, where);
    HOOKVAULT_FUZZ_CHECK(a.event_id == stored.id, where);
    return stored;
  }
  HOOKVAULT_FUZZ_CHECK(a.content_type == "application/problem+json", where);
  HOOKVAULT_FUZZ_CHECK(
      doc.HasMember("status") && doc["status"].IsInt() && doc["status"].GetInt() == a.status,
      where);
  HOOKVAULT_FUZZ_CHECK(doc.HasMember("type") && doc["type"].IsString() &&
                           Str(doc["type"]).starts_with("urn:hookvault:problem:"),
                       where);
  HOOKVAULT_FUZZ_CHECK(doc.HasMember("title") && doc["title"].IsString(), where);
  HOOKVAULT_FUZZ_CHECK(doc.HasMember("detail") && doc["detail"].IsString(), where);
  HOOKVAULT_FUZZ_CHECK(doc.HasMember("instance") && doc["instance"].IsString() &&
                           Str(doc["instance"]) == api::ValidUtf8(in.request.path),
                       where);
  bool retry_after = false;
  for (const auto& [name, value] : a.headers) retry_after |= name == "Retry-After" && value == "1";
  HOOKVAULT_FUZZ_CHECK(retry_after == (a.status == 503), where);
  HOOKVAULT_FUZZ_CHECK(a.event_id.empty(), where);
  return stored;
}

// Checks a stored (or handed over) event against the request and the expectation.
void CheckEvent(const storage::NewEvent& event, const IngestInput& in, const Expectation& e) {
  HOOKVAULT_FUZZ_CHECK(event.source == in.source, event.source);
  HOOKVAULT_FUZZ_CHECK(event.idempotency_key == e.idempotency_key, event.idempotency_key);
  HOOKVAULT_FUZZ_CHECK(event.event_type == e.event_type, event.event_type);
  HOOKVAULT_FUZZ_CHECK(event.destinations == e.destinations, "destinations differ");
  HOOKVAULT_FUZZ_CHECK(event.remote_addr == e.remote_addr, event.remote_addr);
  HOOKVAULT_FUZZ_CHECK(event.received_at == in.request.received_at, "received_at differs");
  HOOKVAULT_FUZZ_CHECK(event.body == in.request.body, "the stored body differs");
  rapidjson::Document headers;
  HOOKVAULT_FUZZ_CHECK(api::ParseJson(event.headers_json, headers).ok() && headers.IsObject(),
                       event.headers_json);
  for (auto it = headers.MemberBegin(); it != headers.MemberEnd(); ++it) {
    HOOKVAULT_FUZZ_CHECK(!api::IsSecretHeader(Str(it->name)),
                         "a secret header was stored: " + event.headers_json);
  }
}

// Collects the answers to one request, from whichever thread gives them.
class Answers {
 public:
  api::Responder Responder() {
    return [this](api::ApiResponse r) {
      std::lock_guard<std::mutex> lock(mu_);
      answers_.push_back(std::move(r));
      cv_.notify_all();
    };
  }
  // Waits for the first answer; false on timeout.
  bool WaitForOne() {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, kAnswerTimeout, [&] { return !answers_.empty(); });
  }
  std::vector<api::ApiResponse> Take() {
    std::lock_guard<std::mutex> lock(mu_);
    return std::move(answers_);
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<api::ApiResponse> answers_;  // guarded by mu_
};

// --- The real store -------------------------------------------------------------------------

// A migrated SQLite database in a temporary directory with the writer, a reader and a handler
// on it, as server/main.cc builds them.
class SqliteHarness {
 public:
  SqliteHarness() { Open(); }
  ~SqliteHarness() { Close(); }
  SqliteHarness(const SqliteHarness&) = delete;
  SqliteHarness& operator=(const SqliteHarness&) = delete;

  api::IngestHandler& handler() { return *handler_; }
  storage::QueryStore& queries() { return *queries_; }

  // Returns once everything submitted before the call has been written (log rows included)
  // and its callbacks have run.
  void Barrier() {
    std::mutex mu;
    std::condition_variable cv;
    bool done = false;
    storage::Status queued = writer_->SubmitTask([&] {
      std::lock_guard<std::mutex> lock(mu);
      done = true;
      cv.notify_all();
    });
    HOOKVAULT_FUZZ_CHECK(queued.ok(), queued.ToString());
    std::unique_lock<std::mutex> lock(mu);
    HOOKVAULT_FUZZ_CHECK(cv.wait_for(lock, kAnswerTimeout, [&] { return done; }),
                         "the writer did not get through its queue");
  }

  // Counts an input; starts over on a fresh database every kInputsPerDatabase.
  void CountInput() {
    if (++inputs_ % kInputsPerDatabase != 0) return;
    Close();
    Open();
  }

 private:
  void Open() {
    std::string pattern = std::filesystem::temp_directory_path() / "hookvault-fuzz-XXXXXX";
    HOOKVAULT_FUZZ_CHECK(mkdtemp(pattern.data()) != nullptr, "mkdtemp " + pattern);
    dir_ = pattern;
    std::string path = storage::DatabasePath(dir_);
    {
      auto db = storage::OpenDatabase({.path = path});
      HOOKVAULT_FUZZ_CHECK(db.ok(), db.status().ToString());
      auto applied = storage::ApplyMigrations(**db, storage::SqliteMigrations());
      HOOKVAULT_FUZZ_CHECK(applied.ok(), applied.status().ToString());
    }
    auto stores = storage::SqliteStores::Open({.path = path}, clock_);
    HOOKVAULT_FUZZ_CHECK(stores.ok(), stores.status().ToString());
    stores_ = std::make_unique<storage::SqliteStores>(std::move(stores).value());
    writer_ =
        std::make_unique<storage::GroupCommitWriter>(*stores_->events, storage::WriterOptions{});
    auto queries = storage::SqliteQueryStore::Open({.path = path}, 1);
    HOOKVAULT_FUZZ_CHECK(queries.ok(), queries.status().ToString());
    queries_ = std::move(queries).value();
    handler_ = std::make_unique<api::IngestHandler>(Options(), *writer_);
  }

  void Close() {
    handler_.reset();
    if (writer_) writer_->Stop();
    writer_.reset();
    queries_.reset();
    stores_.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  std::string dir_;
  storage::SystemClock clock_;
  std::unique_ptr<storage::SqliteStores> stores_;
  std::unique_ptr<storage::GroupCommitWriter> writer_;
  std::unique_ptr<storage::SqliteQueryStore> queries_;
  std::unique_ptr<api::IngestHandler> handler_;
  int64_t inputs_ = 0;
};

SqliteHarness& Harness() {
  static SqliteHarness harness;  // destroyed at exit: the writer is joined, the files removed
  return harness;
}

// Sends `in` to the real store; returns the id, seq and duplicate flag of a 200.
std::optional<Stored> SendToSqlite(const IngestInput& in, const Expectation& e) {
  SqliteHarness& h = Harness();
  Answers answers;
  h.handler().Handle(in.request, in.source, answers.Responder());
  HOOKVAULT_FUZZ_CHECK(answers.WaitForOne(), "no answer");
  h.Barrier();
  std::vector<api::ApiResponse> got = answers.Take();
  HOOKVAULT_FUZZ_CHECK(got.size() == 1, std::to_string(got.size()) + " answers");
  Stored stored = CheckAnswer(got[0], in, e);
  if (got[0].status != 200) return std::nullopt;
  auto row = h.queries().GetEvent(stored.id);
  HOOKVAULT_FUZZ_CHECK(row.ok() && row->has_value(), "200 for an event that is not stored");
  const storage::EventRow& event = **row;
  HOOKVAULT_FUZZ_CHECK(event.seq == stored.seq, "seq differs");
  HOOKVAULT_FUZZ_CHECK(event.source == in.source && event.idempotency_key == e.idempotency_key,
                       "the stored event has another source or key: " + event.idempotency_key);
  if (!stored.duplicate) {
    storage::NewEvent as_stored;
    as_stored.source = event.source;
    as_stored.idempotency_key = event.idempotency_key;
    as_stored.event_type = event.event_type;
    as_stored.destinations = e.destinations;  // checked below through the deliveries
    as_stored.remote_addr = event.remote_addr;
    as_stored.received_at = event.received_at;
    as_stored.body = event.body;
    as_stored.headers_json = event.headers_json;
    CheckEvent(as_stored, in, e);
    auto deliveries = h.queries().EventDeliveries(event.seq);
    HOOKVAULT_FUZZ_CHECK(deliveries.ok(), deliveries.status().ToString());
    std::vector<std::string> names;
    for (const storage::DeliveryRow& d : *deliveries) names.push_back(d.destination);
    HOOKVAULT_FUZZ_CHECK(names == e.destinations, "the deliveries differ from the filters");
  }
  return stored;
}

// Sends `in` to a FakeEventWriter that commits, fails or refuses as the input says.
void SendToFake(const IngestInput& in, const Expectation& e) {
  testing::FakeEventWriter writer;
  writer.set_refuse_events(in.writer == WriterKind::kRefuse);
  writer.set_refuse_logs(in.refuse_logs);
  api::IngestHandler handler(Options(), writer);
  if (in.writer == WriterKind::kStopped) handler.StopAccepting();
  Answers answers;
  handler.Handle(in.request, in.source, answers.Responder());

  bool handed_over = e.status == 200 || (e.status == 503 && in.writer == WriterKind::kFail);
  std::vector<api::ApiResponse> early = answers.Take();
  HOOKVAULT_FUZZ_CHECK(early.size() == (handed_over ? 0u : 1u),
                       early.empty() ? "no answer"
                                     : "answered " + std::to_string(early[0].status) +
                                           " at once; expected " + std::to_string(e.status));
  HOOKVAULT_FUZZ_CHECK(writer.events().size() == (handed_over ? 1u : 0u),
                       std::to_string(writer.events().size()) + " events handed over");
  if (handed_over) {
    const storage::IngestRecord& record = writer.events()[0].record;
    HOOKVAULT_FUZZ_CHECK(record.event.has_value() && record.log.has_value(), "incomplete record");
    CheckEvent(*record.event, in, e);
    HOOKVAULT_FUZZ_CHECK(record.log->status == 200 && record.log->source == in.source &&
                             record.log->remote_addr == e.remote_addr && !record.log->body,
                         "the event's log row is wrong");
    if (in.writer == WriterKind::kFail) {
      writer.Fail(0, storage::Status::Unavailable("fuzz: the disk is full"));
    } else {
      writer.Commit(0, {.id = "fuzz-event-id", .seq = 42, .duplicate = in.duplicate});
    }
  }
  std::vector<api::ApiResponse> got = handed_over ? answers.Take() : std::move(early);
  HOOKVAULT_FUZZ_CHECK(got.size() == 1, std::to_string(got.size()) + " answers");
  Stored stored = CheckAnswer(got[0], in, e);
  if (got[0].status == 200) {
    HOOKVAULT_FUZZ_CHECK(
        stored.id == "fuzz-event-id" && stored.seq == 42 && stored.duplicate == in.duplicate,
        got[0].body);
    HOOKVAULT_FUZZ_CHECK(writer.logs().empty(), "a stored event was also logged alone");
    return;
  }
  // A rejected request, or a failed commit: one request-log row of its own, unless refused.
  HOOKVAULT_FUZZ_CHECK(writer.logs().size() == (in.refuse_logs ? 0u : 1u),
                       std::to_string(writer.logs().size()) + " log rows");
  if (in.refuse_logs) return;
  const storage::RequestLogEntry& log = writer.logs()[0];
  HOOKVAULT_FUZZ_CHECK(log.status == got[0].status && log.source == LoggedSource(in) &&
                           log.remote_addr == e.remote_addr && !log.reason.empty() &&
                           log.body_bytes == static_cast<int64_t>(in.request.body.size()),
                       "log row: " + std::to_string(log.status) + " " + log.reason);
  if (log.status < 500) {
    HOOKVAULT_FUZZ_CHECK(log.body == in.request.body.substr(0, Options().kept_rejected_body_bytes),
                         "the kept body of a rejected request is wrong");
  } else {
    HOOKVAULT_FUZZ_CHECK(!log.body.has_value(), "kept the body of a 5xx");
  }
}

}  // namespace

int FuzzIngest(const uint8_t* data, size_t size) {
  IngestInput in = ParseInput(std::string_view(reinterpret_cast<const char*>(data), size));
  Expectation e = Expect(Options(), in);
  if (in.writer != WriterKind::kSqlite) {
    SendToFake(in, e);  // a fresh writer each time: @repeat means nothing here
    return 0;
  }
  std::optional<Stored> first = SendToSqlite(in, e);
  if (in.repeat) {
    std::optional<Stored> second = SendToSqlite(in, e);
    HOOKVAULT_FUZZ_CHECK(first.has_value() == second.has_value(),
                         "the repeat was answered otherwise");
    if (first) {
      HOOKVAULT_FUZZ_CHECK(
          second->id == first->id && second->seq == first->seq && second->duplicate,
          "the same request again is not the same event as a duplicate");
    }
  }
  Harness().CountInput();
  return 0;
}

}  // namespace hookvault::fuzz
