// `hookvault backup`: an online copy taken by the real binary while the real server ingests
// over real HTTP, checked row by row, then restored the way the README says.
#include <SQLiteCpp/SQLiteCpp.h>
#include <gtest/gtest.h>
#include <rapidjson/document.h>
#include <signal.h>
#include <sys/wait.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <mutex>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "tests/testing/db.h"
#include "tests/testing/http_client.h"
#include "tests/testing/server_process.h"
#include "tests/testing/sink_server.h"
#include "tests/testing/temp_dir.h"

namespace hookvault::testing {
namespace {

constexpr char kToken[] = "backup-test-token-0123456789";
constexpr int kConnections = 4;
constexpr size_t kEventsBeforeBackup = 3000;

// Two destinations matching every event, so each stored event must carry two delivery rows.
std::string Config(const std::string& data_dir, const std::string& sink_url) {
  return R"({"listen": "127.0.0.1:0", "data_dir": ")" + data_dir + R"(",
    "sources": [{"name": "pms", "tokens": [")" +
         kToken + R"("], "event_type": "/event",
                 "idempotency": {"header": "Idempotency-Key", "pointer": "/id"}}],
    "destinations": [{"name": "a", "url": ")" +
         sink_url + R"("},
                     {"name": "b", "url": ")" +
         sink_url + R"("}]})";
}

struct Ack {
  std::string key;
  std::string id;
  int64_t seq = 0;
  bool duplicate = false;
};

HttpResult Post(HttpClient& client, const ServerProcess& server, const std::string& key,
                const std::string& padding = "") {
  return client.Request(
      "POST", server.Url("/webhooks/pms"),
      {{"x-auth-token", kToken},
       {"Content-Type", "application/json"},
       {"Connection", "keep-alive"}},
      R"({"id":")" + key + R"(","event":"booking.created","pad":")" + padding + R"("})");
}

bool ParseAck(const std::string& key, const HttpResult& r, Ack& ack) {
  if (r.status != 200) return false;
  rapidjson::Document d;
  d.Parse(r.body.c_str());
  if (d.HasParseError() || !d.IsObject() || !d.HasMember("id")) return false;
  ack = {key, d["id"].GetString(), d["seq"].GetInt64(), d["duplicate"].GetBool()};
  return true;
}

// Posts new events on several keep-alive connections until stopped, recording every 200 after
// its response arrived (so anything recorded before a moment was acknowledged before it).
class Load {
 public:
  explicit Load(const ServerProcess& server) {
    for (int t = 0; t < kConnections; ++t) {
      threads_.emplace_back([this, &server, t] {
        HttpClient client;
        const std::string padding(1024, 'x');  // grows the database to a few MB
        for (int n = 0; !stop_.load(); ++n) {
          std::string key = "load-" + std::to_string(t) + "-" + std::to_string(n);
          HttpResult r = Post(client, server, key, padding);
          Ack ack;
          if (!ParseAck(key, r, ack)) {
            ++not_acknowledged_;
            continue;
          }
          std::lock_guard lock(mu_);
          acks_.push_back(std::move(ack));
        }
      });
    }
  }
  ~Load() { Stop(); }

  void Stop() {
    stop_ = true;
    for (std::thread& t : threads_) {
      if (t.joinable()) t.join();
    }
  }
  // Returns the events acknowledged so far, in the order their answers arrived.
  std::vector<Ack> Acked() const {
    std::lock_guard lock(mu_);
    return acks_;
  }
  size_t Count() const {
    std::lock_guard lock(mu_);
    return acks_.size();
  }
  int not_acknowledged() const { return not_acknowledged_.load(); }

 private:
  std::atomic<bool> stop_{false};
  std::atomic<int> not_acknowledged_{0};
  mutable std::mutex mu_;
  std::vector<Ack> acks_;  // guarded by mu_
  std::vector<std::thread> threads_;
};

int64_t Int(SQLite::Database& db, const std::string& sql) { return db.execAndGet(sql).getInt64(); }

bool Exists(const std::string& path) { return std::filesystem::exists(path); }

TEST(BackupTest, CopyTakenUnderLoadHoldsEveryAcknowledgedEventAndRestores) {
  TempDir dir;
  SinkServer sink;
  std::string data = dir.File("data");
  std::string config = dir.Write("config.json", Config(data, sink.Url("/hooks")));
  std::string copy = dir.File("backup.db");

  std::vector<Ack> before;  // acknowledged before the backup began
  Ack after_backup;         // acknowledged after the backup had finished
  int64_t reported_max_seq = -1;
  {
    ServerProcess server({"serve", "--config", config}, dir.File("server.log"));
    ASSERT_TRUE(server.started()) << server.Log();
    // A reader that stays in one read transaction (a long query, a slow feed) keeps checkpoints
    // from moving later commits into hookvault.db: every event of the load lives only in the
    // -wal file when the backup runs, so a copy of the database file alone would miss them.
    auto pin = std::make_unique<SQLite::Database>(data + "/hookvault.db", SQLite::OPEN_READONLY);
    pin->exec("BEGIN");
    pin->execAndGet("SELECT count(*) FROM events");
    Load load(server);
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (load.Count() < kEventsBeforeBackup && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    before = load.Acked();
    ASSERT_GE(before.size(), kEventsBeforeBackup) << server.Log();

    ASSERT_GT(std::filesystem::file_size(data + "/hookvault.db-wal"), 1u << 20)
        << "the events are not in the WAL: the test would not notice a file copy";
    auto started = std::chrono::steady_clock::now();
    CommandResult backup = RunHookvault("backup --data-dir " + data + " --out " + copy);
    double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    size_t acked_by_end = load.Count();
    pin.reset();
    // Keep ingesting a little after the copy so that the restore can tell the two apart.
    while (load.Count() < acked_by_end + 50 && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    load.Stop();
    std::vector<Ack> all = load.Acked();
    ASSERT_EQ(backup.exit_code, 0) << backup.output;
    ASSERT_GT(all.size(), acked_by_end);
    after_backup = all.back();
    std::printf(
        "backup of %zu events took %.3f s with the binary (%zu acknowledged meanwhile, "
        "%d not acknowledged overall): %s",
        before.size(), seconds, acked_by_end - before.size(), load.not_acknowledged(),
        backup.output.c_str());
    // The backup ran beside a busy server: answers kept arriving while it ran.
    EXPECT_GT(acked_by_end, before.size());

    std::smatch m;
    static const std::regex kSummary(R"(max seq (\d+))");
    ASSERT_TRUE(std::regex_search(backup.output, m, kSummary)) << backup.output;
    reported_max_seq = std::stoll(m[1]);
    EXPECT_NE(backup.output.find("integrity_check ok"), std::string::npos) << backup.output;
    EXPECT_EQ(server.Signal(SIGTERM), 0) << server.Log();
  }

  // The copy is one self-contained file in rollback-journal mode.
  EXPECT_FALSE(Exists(copy + "-wal"));
  EXPECT_FALSE(Exists(copy + "-journal"));
  for (const auto& entry : std::filesystem::directory_iterator(dir.path())) {
    EXPECT_EQ(entry.path().filename().string().find(".tmp-"), std::string::npos)
        << "temporary file left behind: " << entry.path();
  }
  {
    SQLite::Database db(copy, SQLite::OPEN_READONLY);
    EXPECT_EQ(db.execAndGet("PRAGMA journal_mode").getString(), "delete");
    EXPECT_EQ(db.execAndGet("PRAGMA integrity_check").getString(), "ok");
    SQLite::Statement fk(db, "PRAGMA foreign_key_check");
    EXPECT_FALSE(fk.executeStep()) << "a row refers to one missing from the copy";

    // Every event acknowledged before the backup began is there, under its id and seq.
    SQLite::Statement find(db, "SELECT seq FROM events WHERE id = ? AND idempotency_key = ?");
    size_t missing = 0;
    for (const Ack& ack : before) {
      find.bind(1, ack.id);
      find.bind(2, ack.key);
      if (!find.executeStep() || find.getColumn(0).getInt64() != ack.seq) {
        if (++missing <= 5) ADD_FAILURE() << "missing from the copy: " << ack.key << " " << ack.id;
      }
      find.reset();
    }
    EXPECT_EQ(missing, 0u) << "of " << before.size();

    // One snapshot: seq 1..max with no gap (whole batches only), each event with its key and
    // its two deliveries, no key without its event.
    int64_t events = Int(db, "SELECT count(*) FROM events");
    int64_t max_seq = Int(db, "SELECT max(seq) FROM events");
    EXPECT_EQ(max_seq, reported_max_seq);
    EXPECT_EQ(Int(db, "SELECT min(seq) FROM events"), 1);
    EXPECT_EQ(events, max_seq) << "a gap in seq: the copy holds part of a batch";
    EXPECT_EQ(Int(db, R"sql(
        SELECT count(*) FROM events e LEFT JOIN idempotency_keys k
          ON k.source = e.source AND k.key = e.idempotency_key AND k.event_id = e.id
        WHERE k.event_id IS NULL)sql"),
              0);
    EXPECT_EQ(Int(db, R"sql(
        SELECT count(*) FROM idempotency_keys k LEFT JOIN events e ON e.id = k.event_id
        WHERE e.id IS NULL)sql"),
              0);
    EXPECT_EQ(Int(db, R"sql(
        SELECT count(*) FROM events e
        WHERE (SELECT count(*) FROM deliveries d WHERE d.event_seq = e.seq) != 2)sql"),
              0);
    EXPECT_EQ(Int(db, "SELECT count(*) FROM events WHERE id = '" + after_backup.id + "'"), 0)
        << "an event acknowledged after the backup finished is in the copy";
  }

  // Restore as the README says: stop, copy over hookvault.db, remove -wal/-shm, start.
  std::string db_path = data + "/hookvault.db";
  std::filesystem::copy_file(copy, db_path, std::filesystem::copy_options::overwrite_existing);
  std::filesystem::remove(db_path + "-wal");
  std::filesystem::remove(db_path + "-shm");
  ServerProcess restored({"serve", "--config", config}, dir.File("restored.log"));
  ASSERT_TRUE(restored.started()) << restored.Log();
  HttpClient client;
  for (const Ack& original : {before.front(), before.back()}) {
    Ack again;
    ASSERT_TRUE(ParseAck(original.key, Post(client, restored, original.key), again));
    EXPECT_TRUE(again.duplicate) << original.key;
    EXPECT_EQ(again.id, original.id);
    EXPECT_EQ(again.seq, original.seq);
  }
  // The database really went back to the copy: a later event is new again, after the copy's.
  Ack later;
  ASSERT_TRUE(ParseAck(after_backup.key, Post(client, restored, after_backup.key), later));
  EXPECT_FALSE(later.duplicate);
  EXPECT_GT(later.seq, reported_max_seq);
  EXPECT_EQ(restored.Signal(SIGTERM), 0) << restored.Log();
  EXPECT_EQ(QueryText(db_path, "PRAGMA integrity_check"), "ok");
}

TEST(BackupTest, RefusesAMissingDatabaseAnExistingOutAndAMissingDirectory) {
  TempDir dir;
  std::string out = dir.File("copy.db");

  CommandResult none = RunHookvault("backup --data-dir " + dir.File("nowhere") + " --out " + out);
  EXPECT_NE(none.exit_code, 0);
  EXPECT_NE(none.output.find("no database at " + dir.File("nowhere")), std::string::npos)
      << none.output;
  EXPECT_FALSE(Exists(out));
  EXPECT_FALSE(Exists(dir.File("nowhere"))) << "backup created the data dir";

  std::string data = dir.File("data");
  ASSERT_EQ(RunHookvault("migrate --data-dir " + data).exit_code, 0);
  CommandResult first = RunHookvault("backup --data-dir " + data + " --out " + out);
  ASSERT_EQ(first.exit_code, 0) << first.output;
  EXPECT_NE(first.output.find("0 events, max seq 0"), std::string::npos) << first.output;
  EXPECT_GE(QueryInt(out, "SELECT count(*) FROM schema_migrations"), 1);

  // A second backup to the same file is refused and leaves it as it was.
  std::filesystem::resize_file(out, 0);  // marks the old file: a replacement would be larger
  CommandResult second = RunHookvault("backup --data-dir " + data + " --out " + out);
  EXPECT_NE(second.exit_code, 0);
  EXPECT_NE(second.output.find("exists (use --force"), std::string::npos) << second.output;
  EXPECT_EQ(std::filesystem::file_size(out), 0u);

  CommandResult forced = RunHookvault("backup --data-dir " + data + " --out " + out + " --force");
  EXPECT_EQ(forced.exit_code, 0) << forced.output;
  EXPECT_GT(std::filesystem::file_size(out), 0u);
  EXPECT_EQ(QueryText(out, "PRAGMA integrity_check"), "ok");

  CommandResult no_dir =
      RunHookvault("backup --data-dir " + data + " --out " + dir.File("missing/copy.db"));
  EXPECT_NE(no_dir.exit_code, 0);
  EXPECT_NE(no_dir.output.find("no directory"), std::string::npos) << no_dir.output;

  CommandResult no_out = RunHookvault("backup --data-dir " + data);
  EXPECT_NE(no_out.exit_code, 0);
  EXPECT_NE(no_out.output.find("--out"), std::string::npos) << no_out.output;

  for (const auto& entry : std::filesystem::directory_iterator(dir.path())) {
    EXPECT_EQ(entry.path().filename().string().find(".tmp-"), std::string::npos)
        << "temporary file left behind: " << entry.path();
  }
}

}  // namespace
}  // namespace hookvault::testing
