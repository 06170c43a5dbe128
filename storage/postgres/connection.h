// A thin RAII layer over libpq: one PostgreSQL connection, its results, bound parameters, and
// the mapping of SQLSTATEs to Status codes. Written by hand over libpq rather than taken from
// libpqxx (Debian's 6.4.5): libpqxx's pipeline joins query strings without bind parameters,
// and the group-commit writer needs libpq's own pipeline mode (one round trip per batch), its
// error fields (SQLSTATE) and binary parameters for raw bodies; a few hundred lines give all
// three without a second abstraction over the same library.
//
// Error mapping (StatusFromPgResult):
//   23505 unique_violation                      -> kAlreadyExists
//   40001 serialization_failure, 40P01 deadlock -> kUnavailable (retry the transaction)
//   08*   connection exception, 57P0* shutdown  -> kUnavailable (and the connection is marked
//                                                  broken: Reset() before the next use)
//   53*   insufficient resources (disk full)    -> kUnavailable
//   25006 read-only transaction (a standby after -> kUnavailable (and the connection is marked
//         failover, read-only mode)                 broken: Reset() may reach the new primary)
//   58*   I/O error, XX001/XX002 corrupted data -> kUnavailable
//   57014 statement_timeout, 55P03 lock_timeout -> kUnavailable
//   anything else                               -> kInternal
#ifndef HOOKVAULT_STORAGE_POSTGRES_CONNECTION_H_
#define HOOKVAULT_STORAGE_POSTGRES_CONNECTION_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "storage/status.h"

struct pg_conn;
struct pg_result;

namespace hookvault::storage::pg {

// Bound parameters of one statement, in order ($1, $2, …). Each value is copied in, so the
// caller's strings may go away after Add*. Text values are sent as text (one holding a NUL
// byte in binary format, so that it is refused whole rather than cut at the NUL), AddBytes as
// binary (bytea, byte for byte), AddNull as SQL NULL.
class Params {
 public:
  Params& Add(std::string_view text);
  Params& Add(int64_t value);
  Params& AddBytes(std::string_view bytes);
  Params& AddNull();
  // Adds `value` or NULL. (Not overloads of Add: a std::string would match both.)
  Params& AddOptional(const std::optional<std::string>& value);
  Params& AddOptional(const std::optional<int64_t>& value);

  int size() const { return static_cast<int>(storage_.size()); }
  // For libpq: pointers into this object, valid while it lives and is not changed.
  const char* const* values() const;
  const int* lengths() const { return lengths_.data(); }
  const int* formats() const { return formats_.data(); }

 private:
  std::vector<std::string> storage_;
  std::vector<bool> null_;
  std::vector<int> lengths_;
  std::vector<int> formats_;
  mutable std::vector<const char*> values_;
};

// One result: rows and columns, read as text (bytea columns arrive in text format, hex-decoded
// by GetBytes). Owns the PGresult.
class Result {
 public:
  Result() = default;
  explicit Result(pg_result* result);
  Result(Result&& other) noexcept;
  Result& operator=(Result&& other) noexcept;
  Result(const Result&) = delete;
  Result& operator=(const Result&) = delete;
  ~Result();

  int rows() const;
  int columns() const;
  bool IsNull(int row, int column) const;
  std::string GetString(int row, int column) const;
  int64_t GetInt64(int row, int column) const;
  // Returns a bytea column's bytes (decoded from libpq's text form).
  std::string GetBytes(int row, int column) const;
  std::optional<std::string> GetOptionalString(int row, int column) const;
  std::optional<int64_t> GetOptionalInt64(int row, int column) const;
  // The number of rows an INSERT/UPDATE/DELETE touched.
  int64_t affected_rows() const;
  // The command tag: "COMMIT", or "ROLLBACK" for a COMMIT of a transaction that had failed.
  std::string command_status() const;

 private:
  pg_result* result_ = nullptr;
};

struct ConnectionOptions {
  std::string url;  // a libpq connection URI or key=value string
  // Shown in pg_stat_activity, so that an operator sees which node holds what.
  std::string application_name = "hookvault";
  int connect_timeout_s = 5;
  // Sent at connect (SET ... for the session): statement_timeout for readers, and
  // idle_in_transaction_session_timeout so that a stuck node never pins the xmin horizon.
  int64_t statement_timeout_ms = 0;  // 0: the server's default
  int64_t idle_in_transaction_timeout_ms = 60000;
  // lock_timeout: how long a statement waits for a lock (the seq counter another node's batch
  // holds) before it fails with 55P03 (kUnavailable). 0: the server's default (no limit).
  int64_t lock_timeout_ms = 0;
};

// One connection. Thread-safety: not thread-safe; one thread at a time.
class Connection {
 public:
  // Connects and sets synchronous_commit = on for the session (a 200 waits for the WAL flush
  // whatever the server's default), the options' timeouts, and the server side's TCP keepalives
  // and tcp_user_timeout (kServerTcpSettings). Returns kUnavailable when the server cannot be
  // reached.
  static StatusOr<std::unique_ptr<Connection>> Open(const ConnectionOptions& options);

  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  ~Connection();

  // Runs one statement (simple query protocol when `params` is empty and `sql` holds several
  // statements, as migrations do). Returns the mapped error of a failed statement.
  StatusOr<Result> Exec(std::string_view sql, const Params& params = Params());

  // Prepares `sql` under `name` on this connection once; later calls with the same name do
  // nothing. Re-prepared automatically after Reset().
  Status Prepare(const std::string& name, std::string_view sql);
  // Runs a statement prepared with Prepare().
  StatusOr<Result> ExecPrepared(const std::string& name, const Params& params);

  // Pipeline mode (libpq 14+): queue statements, then send them all and read every result in
  // one round trip. Between BeginPipeline() and EndPipeline(), only Queue*/Sync/NextResult.
  // Transactions: the statements of one sync unit with no BEGIN form one implicit transaction,
  // committed when the server processes the Sync — so its commit is known only when
  // EndPipeline() returns OK, not from the last statement's result. With an explicit BEGIN …
  // COMMIT the COMMIT's result says it; a failed explicit block is rolled back by EndPipeline().
  Status BeginPipeline();
  // Queues a prepared statement (name from Prepare()) or an unnamed one.
  Status QueuePrepared(const std::string& name, const Params& params);
  Status Queue(std::string_view sql, const Params& params = Params());
  // Marks the end of a unit (PQpipelineSync): a statement that fails makes the rest up to the
  // sync fail as aborted without running.
  Status Sync();
  // Returns the result of the next queued statement, in queue order (skipping the sync
  // markers): its error when it failed (also "aborted" for those after a failure in the same
  // sync unit). Flushes what is queued on its first call.
  StatusOr<Result> NextResult();
  // Reads whatever results remain (through the last Sync) and leaves pipeline mode; the
  // connection is usable again. Returns the first error of the results it read itself, or
  // kUnavailable when the connection was lost (then a commit's outcome is unknown).
  Status EndPipeline();

  // LISTEN support: returns the channels notified since the last call (each once per
  // notification), after reading what arrived on the socket, without blocking.
  std::vector<std::string> ConsumeNotifications();
  // The socket, to poll() for notifications.
  int socket() const;

  // True after a connection-level failure (08*, 57P0*, lost socket): Reset() before reuse.
  bool broken() const;
  // Reconnects with the same options. Returns kUnavailable if it cannot.
  Status Reset();

  pg_conn* raw() { return conn_; }

 private:
  Connection(pg_conn* conn, ConnectionOptions options);
  Status Configure();

  pg_conn* conn_ = nullptr;
  ConnectionOptions options_;
  std::vector<std::pair<std::string, std::string>> prepared_;  // name, sql
  bool broken_ = false;
  bool in_pipeline_ = false;
  int pending_results_ = 0;  // statements queued whose results were not read
  int pending_syncs_ = 0;
  int unflushed_ = 0;  // statements queued since the last Sync or flush request
  int unsynced_ = 0;   // statements queued since the last Sync
};

// Maps a failed result (or a null one, for a lost connection) to a Status whose message starts
// with `what` and carries the server's message and SQLSTATE. Never includes the password.
Status StatusFromPgResult(const pg_result* result, const pg_conn* conn, std::string_view what);

// Runs `body` between BEGIN and COMMIT on `conn`, with ROLLBACK when it returns an error.
// Returns the error of body, BEGIN or COMMIT; a COMMIT that returned OK is durable
// (synchronous_commit = on). A body that returns OK after one of its statements failed (the
// server then answers COMMIT with ROLLBACK, and no error) gets kInternal: nothing was committed.
template <typename Fn>
Status InTransaction(Connection& conn, Fn&& body) {
  if (auto begun = conn.Exec("BEGIN"); !begun.ok()) return begun.status();
  Status s = body();
  if (!s.ok()) {
    (void)conn.Exec("ROLLBACK");
    return s;
  }
  auto committed = conn.Exec("COMMIT");
  if (!committed.ok()) return committed.status();
  if (committed->command_status() != "COMMIT") {
    return Status::Internal("COMMIT rolled back: a statement of the transaction had failed");
  }
  return Status::Ok();
}

}  // namespace hookvault::storage::pg

#endif  // HOOKVAULT_STORAGE_POSTGRES_CONNECTION_H_
