#include "storage/postgres/connection.h"

#include <libpq-fe.h>

#include <string>
#include <utility>

namespace hookvault::storage::pg {
namespace {

// libpq's text format for results; parameters choose per value (Params::formats()).
constexpr int kTextFormat = 0;
constexpr int kBinaryFormat = 1;

// States after which this connection is of no more use: Reset() before the next statement.
// 25006 (read-only transaction) is among them: the server became a standby after a failover,
// or was put in read-only mode (a disk nearly full); a new connection may reach the new primary.
bool IsConnectionState(std::string_view sqlstate) {
  return sqlstate.starts_with("08") || sqlstate.starts_with("57P0") || sqlstate == "25006";
}

// The database cannot take writes now, whatever the statement: a read-only server (25006), an
// I/O error (58*), corrupted data (XX001, XX002). kUnavailable (503, not ready) rather than
// kInternal, which would make the writer split each batch into one failing transaction per
// record and keep /readyz saying ready.
bool IsStorageFailure(std::string_view sqlstate) {
  return sqlstate == "25006" || sqlstate.starts_with("58") || sqlstate == "XX001" ||
         sqlstate == "XX002";
}

std::string Trimmed(std::string message) {
  while (!message.empty() && (message.back() == '\n' || message.back() == ' ')) message.pop_back();
  return message;
}

}  // namespace

Params& Params::Add(std::string_view text) {
  storage_.emplace_back(text);
  null_.push_back(false);
  lengths_.push_back(static_cast<int>(text.size()));
  // libpq reads a text-format value up to its first NUL, so a NUL inside would cut the value
  // short without an error. Sent in binary format, the same bytes reach the server whole, and a
  // text column refuses the NUL (kInternal) instead of storing a shortened value. Without a NUL
  // the text format stays: it suits a parameter of any type.
  formats_.push_back(text.find('\0') == std::string_view::npos ? kTextFormat : kBinaryFormat);
  return *this;
}

Params& Params::Add(int64_t value) { return Add(std::to_string(value)); }

Params& Params::AddBytes(std::string_view bytes) {
  storage_.emplace_back(bytes);
  null_.push_back(false);
  lengths_.push_back(static_cast<int>(bytes.size()));
  formats_.push_back(kBinaryFormat);
  return *this;
}

Params& Params::AddNull() {
  storage_.emplace_back();
  null_.push_back(true);
  lengths_.push_back(0);
  formats_.push_back(kTextFormat);
  return *this;
}

Params& Params::AddOptional(const std::optional<std::string>& value) {
  return value ? Add(std::string_view(*value)) : AddNull();
}

Params& Params::AddOptional(const std::optional<int64_t>& value) {
  return value ? Add(*value) : AddNull();
}

const char* const* Params::values() const {
  // Built on demand: the strings' buffers move while the vector grows.
  values_.clear();
  for (size_t i = 0; i < storage_.size(); ++i) {
    values_.push_back(null_[i] ? nullptr : storage_[i].data());
  }
  return values_.data();
}

Result::Result(pg_result* result) : result_(result) {}

Result::Result(Result&& other) noexcept : result_(std::exchange(other.result_, nullptr)) {}

Result& Result::operator=(Result&& other) noexcept {
  if (this != &other) {
    if (result_ != nullptr) PQclear(result_);
    result_ = std::exchange(other.result_, nullptr);
  }
  return *this;
}

Result::~Result() {
  if (result_ != nullptr) PQclear(result_);
}

int Result::rows() const { return result_ == nullptr ? 0 : PQntuples(result_); }

int Result::columns() const { return result_ == nullptr ? 0 : PQnfields(result_); }

bool Result::IsNull(int row, int column) const { return PQgetisnull(result_, row, column) != 0; }

std::string Result::GetString(int row, int column) const {
  return std::string(PQgetvalue(result_, row, column),
                     static_cast<size_t>(PQgetlength(result_, row, column)));
}

int64_t Result::GetInt64(int row, int column) const {
  if (IsNull(row, column)) return 0;
  return std::stoll(PQgetvalue(result_, row, column));
}

std::string Result::GetBytes(int row, int column) const {
  if (IsNull(row, column)) return {};
  size_t length = 0;
  unsigned char* bytes = PQunescapeBytea(
      reinterpret_cast<const unsigned char*>(PQgetvalue(result_, row, column)), &length);
  if (bytes == nullptr) return {};
  std::string out(reinterpret_cast<const char*>(bytes), length);
  PQfreemem(bytes);
  return out;
}

std::optional<std::string> Result::GetOptionalString(int row, int column) const {
  if (IsNull(row, column)) return std::nullopt;
  return GetString(row, column);
}

std::optional<int64_t> Result::GetOptionalInt64(int row, int column) const {
  if (IsNull(row, column)) return std::nullopt;
  return GetInt64(row, column);
}

std::string Result::command_status() const {
  return result_ == nullptr ? std::string() : std::string(PQcmdStatus(result_));
}

int64_t Result::affected_rows() const {
  if (result_ == nullptr) return 0;
  const char* n = PQcmdTuples(result_);
  return (n == nullptr || *n == '\0') ? 0 : std::stoll(n);
}

Status StatusFromPgResult(const pg_result* result, const pg_conn* conn, std::string_view what) {
  std::string sqlstate;
  std::string message;
  if (result != nullptr) {
    if (const char* s = PQresultErrorField(result, PG_DIAG_SQLSTATE)) sqlstate = s;
    message = Trimmed(PQresultErrorMessage(result));
  }
  if (message.empty() && conn != nullptr) message = Trimmed(PQerrorMessage(conn));
  if (message.empty()) message = "no answer from the server";
  std::string text = std::string(what) + ": " + message;
  if (!sqlstate.empty()) text += " (SQLSTATE " + sqlstate + ")";
  if (sqlstate == "23505") return Status::AlreadyExists(std::move(text));
  // 57014: statement_timeout (or a cancel) ended the statement; 55P03: lock_timeout. Both say
  // the database is slow or busy now, not that the statement is wrong: 503 and Retry-After.
  if (sqlstate == "40001" || sqlstate == "40P01" || sqlstate.starts_with("53") ||
      sqlstate == "57014" || sqlstate == "55P03" || IsConnectionState(sqlstate) ||
      IsStorageFailure(sqlstate)) {
    return Status::Unavailable(std::move(text));
  }
  // The server ended the session (a FATAL such as 25P03, idle in transaction too long): whatever
  // the statement's own state says, the connection is gone.
  if (conn != nullptr && PQstatus(conn) == CONNECTION_BAD) {
    return Status::Unavailable(std::move(text));
  }
  // No SQLSTATE: libpq's own failure (lost connection, out of memory), not the statement's.
  if (sqlstate.empty()) return Status::Unavailable(std::move(text));
  return Status::Internal(std::move(text));
}

StatusOr<std::unique_ptr<Connection>> Connection::Open(const ConnectionOptions& options) {
  const std::string timeout = std::to_string(options.connect_timeout_s);
  // TCP keepalives (probe after 10 s of silence, every 5 s, give up after 3) and a 30 s bound
  // on unacknowledged sends: without them a server that vanished without closing the socket
  // (a host down, a partition) would leave a COMMIT, a read or the listener waiting for the
  // kernel's defaults (hours); with them the call fails within about 25-30 s and the store
  // answers kUnavailable. They come before `dbname`, whose expansion overrides them: the URL's
  // own settings win. client_encoding comes after it, so that it wins over the URL's and over
  // PGCLIENTENCODING: keys, sources and bodies are compared and stored as the same bytes
  // whichever node, and whichever environment, they came from.
  const char* keywords[] = {"keepalives",          "keepalives_idle",
                            "keepalives_interval", "keepalives_count",
                            "tcp_user_timeout",    "dbname",
                            "client_encoding",     "application_name",
                            "connect_timeout",     nullptr};
  const char* values[] = {"1",
                          "10",
                          "5",
                          "3",
                          "30000",
                          options.url.c_str(),
                          "UTF8",
                          options.application_name.c_str(),
                          timeout.c_str(),
                          nullptr};
  // expand_dbname = 1: `dbname` may be a whole URI or key=value string.
  pg_conn* conn = PQconnectdbParams(keywords, values, /*expand_dbname=*/1);
  if (conn == nullptr) return Status::Unavailable("connect to PostgreSQL: out of memory");
  if (PQstatus(conn) != CONNECTION_OK) {
    Status s = Status::Unavailable("connect to PostgreSQL: " + Trimmed(PQerrorMessage(conn)));
    PQfinish(conn);
    return s;
  }
  // libpq prints server notices (NOTICE: … skipping) to stderr by default; the wing logs nothing.
  PQsetNoticeProcessor(conn, [](void*, const char*) {}, nullptr);
  std::unique_ptr<Connection> c(new Connection(conn, options));
  if (auto s = c->Configure(); !s.ok()) return s;
  return c;
}

Connection::Connection(pg_conn* conn, ConnectionOptions options)
    : conn_(conn), options_(std::move(options)) {}

Connection::~Connection() {
  if (conn_ != nullptr) PQfinish(conn_);
}

Status Connection::Configure() {
  // The server side's TCP keepalives and tcp_user_timeout, as the client's (Open): a backend
  // whose node vanished without closing the socket (a host down, a partition) notices it in
  // about 30 s and ends its transaction, instead of holding its locks (the seq counter every
  // node's batch waits for) until the kernel gives up hours later. Idle-in-transaction timeouts
  // cannot help there: they do not run while the backend waits for the rest of a pipelined
  // batch. (Ignored by the server on a Unix socket.)
  std::string settings =
      "SET synchronous_commit = on; SET tcp_keepalives_idle = 10; "
      "SET tcp_keepalives_interval = 5; SET tcp_keepalives_count = 3; "
      "SET tcp_user_timeout = 30000";
  if (options_.lock_timeout_ms > 0) {
    settings += "; SET lock_timeout = " + std::to_string(options_.lock_timeout_ms);
  }
  if (options_.statement_timeout_ms > 0) {
    settings += "; SET statement_timeout = " + std::to_string(options_.statement_timeout_ms);
  }
  if (options_.idle_in_transaction_timeout_ms > 0) {
    settings += "; SET idle_in_transaction_session_timeout = " +
                std::to_string(options_.idle_in_transaction_timeout_ms);
  }
  auto set = Exec(settings);
  return set.ok() ? Status::Ok() : set.status();
}

StatusOr<Result> Connection::Exec(std::string_view sql, const Params& params) {
  pg_result* r = nullptr;
  const std::string text(sql);
  if (params.size() == 0) {
    r = PQexec(conn_, text.c_str());  // simple protocol: may hold several statements
  } else {
    r = PQexecParams(conn_, text.c_str(), params.size(), nullptr, params.values(),
                     params.lengths(), params.formats(), kTextFormat);
  }
  Result result(r);
  ExecStatusType st = r == nullptr ? PGRES_FATAL_ERROR : PQresultStatus(r);
  if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) return result;
  Status s = StatusFromPgResult(r, conn_, "query");
  if (PQstatus(conn_) == CONNECTION_BAD || s.code() == StatusCode::kUnavailable) {
    const char* state = r == nullptr ? nullptr : PQresultErrorField(r, PG_DIAG_SQLSTATE);
    if (state == nullptr || IsConnectionState(state) || PQstatus(conn_) == CONNECTION_BAD) {
      broken_ = true;
    }
  }
  return s;
}

Status Connection::Prepare(const std::string& name, std::string_view sql) {
  for (const auto& [n, s] : prepared_) {
    if (n == name) return Status::Ok();
  }
  pg_result* r = PQprepare(conn_, name.c_str(), std::string(sql).c_str(), 0, nullptr);
  Result owned(r);
  if (r == nullptr || PQresultStatus(r) != PGRES_COMMAND_OK) {
    if (PQstatus(conn_) == CONNECTION_BAD) broken_ = true;
    return StatusFromPgResult(r, conn_, "prepare " + name);
  }
  prepared_.emplace_back(name, std::string(sql));
  return Status::Ok();
}

StatusOr<Result> Connection::ExecPrepared(const std::string& name, const Params& params) {
  pg_result* r = PQexecPrepared(conn_, name.c_str(), params.size(), params.values(),
                                params.lengths(), params.formats(), kTextFormat);
  Result result(r);
  ExecStatusType st = r == nullptr ? PGRES_FATAL_ERROR : PQresultStatus(r);
  if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) return result;
  Status s = StatusFromPgResult(r, conn_, name);
  const char* state = r == nullptr ? nullptr : PQresultErrorField(r, PG_DIAG_SQLSTATE);
  if (PQstatus(conn_) == CONNECTION_BAD || state == nullptr || IsConnectionState(state)) {
    broken_ = true;
  }
  return s;
}

Status Connection::BeginPipeline() {
  if (PQenterPipelineMode(conn_) != 1) {
    return Status::Internal("enter pipeline mode: " + Trimmed(PQerrorMessage(conn_)));
  }
  in_pipeline_ = true;
  pending_results_ = 0;
  pending_syncs_ = 0;
  unflushed_ = 0;
  unsynced_ = 0;
  return Status::Ok();
}

Status Connection::QueuePrepared(const std::string& name, const Params& params) {
  if (PQsendQueryPrepared(conn_, name.c_str(), params.size(), params.values(), params.lengths(),
                          params.formats(), kTextFormat) != 1) {
    broken_ = PQstatus(conn_) == CONNECTION_BAD;
    return Status::Unavailable("queue " + name + ": " + Trimmed(PQerrorMessage(conn_)));
  }
  ++pending_results_;
  ++unflushed_;
  ++unsynced_;
  return Status::Ok();
}

Status Connection::Queue(std::string_view sql, const Params& params) {
  // PQsendQuery is not allowed in pipeline mode: always the extended protocol.
  if (PQsendQueryParams(conn_, std::string(sql).c_str(), params.size(), nullptr, params.values(),
                        params.lengths(), params.formats(), kTextFormat) != 1) {
    broken_ = PQstatus(conn_) == CONNECTION_BAD;
    return Status::Unavailable("queue query: " + Trimmed(PQerrorMessage(conn_)));
  }
  ++pending_results_;
  ++unflushed_;
  ++unsynced_;
  return Status::Ok();
}

Status Connection::Sync() {
  if (PQpipelineSync(conn_) != 1) {
    broken_ = PQstatus(conn_) == CONNECTION_BAD;
    return Status::Unavailable("pipeline sync: " + Trimmed(PQerrorMessage(conn_)));
  }
  ++pending_syncs_;
  unflushed_ = 0;
  unsynced_ = 0;
  return Status::Ok();
}

StatusOr<Result> Connection::NextResult() {
  if (pending_results_ <= 0) return Status::Internal("pipeline: no result pending");
  // The server holds its answers back until a Sync or a flush request: without either queued
  // after the last statement, reading its result would wait for ever. (A Sync queued before
  // that statement is not enough: it flushes only what came before it.)
  if (unflushed_ > 0) {
    if (PQsendFlushRequest(conn_) != 1) {
      broken_ = PQstatus(conn_) == CONNECTION_BAD;
      return Status::Unavailable("pipeline flush request: " + Trimmed(PQerrorMessage(conn_)));
    }
    unflushed_ = 0;
  }
  if (PQflush(conn_) != 0) {
    broken_ = true;
    return Status::Unavailable("pipeline flush: " + Trimmed(PQerrorMessage(conn_)));
  }
  for (;;) {
    pg_result* r = PQgetResult(conn_);
    if (r == nullptr) {
      // Between two statements' results libpq answers null once; twice in a row, or on a
      // broken connection, nothing more is coming.
      if (PQstatus(conn_) == CONNECTION_BAD) {
        broken_ = true;
        return Status::Unavailable("pipeline: connection lost: " + Trimmed(PQerrorMessage(conn_)));
      }
      r = PQgetResult(conn_);
      if (r == nullptr) {
        broken_ = true;
        return Status::Unavailable("pipeline: no result: " + Trimmed(PQerrorMessage(conn_)));
      }
    }
    ExecStatusType st = PQresultStatus(r);
    if (st == PGRES_PIPELINE_SYNC) {
      PQclear(r);
      --pending_syncs_;
      continue;
    }
    Result result(r);
    --pending_results_;
    // Each statement's result is followed by a null that ends it.
    if (pg_result* end = PQgetResult(conn_); end != nullptr) PQclear(end);
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) return result;
    if (st == PGRES_PIPELINE_ABORTED) {
      return Status::Internal("pipeline: aborted by an earlier statement's error");
    }
    Status s = StatusFromPgResult(r, conn_, "pipeline");
    const char* state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
    if (PQstatus(conn_) == CONNECTION_BAD || state == nullptr || IsConnectionState(state)) {
      broken_ = true;
    }
    return s;
  }
}

Status Connection::EndPipeline() {
  Status first;
  // Statements queued after the last Sync are an unfinished unit: the caller gave up on it.
  // Left as they are, the server would keep their transaction open, and the connection's next
  // statement, whatever it is, would commit them. ROLLBACK ends that transaction (implicit or
  // explicit; it is skipped as aborted if one of them failed, and then the Sync rolls back).
  if (unsynced_ > 0 && !broken_) {
    first = Status::Internal("pipeline ended before its last statements' Sync: rolled back");
    if (!Queue("ROLLBACK").ok() || !Sync().ok()) broken_ = true;
  }
  while (pending_results_ > 0 && !broken_) {
    auto r = NextResult();
    if (!r.ok() && first.ok()) first = r.status();
  }
  while (pending_syncs_ > 0 && !broken_) {
    pg_result* r = PQgetResult(conn_);
    if (r == nullptr) {
      if (PQstatus(conn_) == CONNECTION_BAD) broken_ = true;
      continue;
    }
    if (PQresultStatus(r) == PGRES_PIPELINE_SYNC) --pending_syncs_;
    PQclear(r);
  }
  in_pipeline_ = false;
  pending_results_ = 0;
  pending_syncs_ = 0;
  unflushed_ = 0;
  unsynced_ = 0;
  if (broken_) return Status::Unavailable("pipeline: connection lost");
  if (PQexitPipelineMode(conn_) != 1) {
    return Status::Internal("exit pipeline mode: " + Trimmed(PQerrorMessage(conn_)));
  }
  // An explicit BEGIN whose block failed stays open, aborted, past the sync: end it, so that
  // the connection's next statement does not fail with 25P02.
  if (PQtransactionStatus(conn_) == PQTRANS_INERROR) {
    if (auto rolled = Exec("ROLLBACK"); !rolled.ok() && first.ok()) first = rolled.status();
  }
  return first;
}

std::vector<std::string> Connection::ConsumeNotifications() {
  std::vector<std::string> channels;
  if (PQconsumeInput(conn_) != 1) {
    broken_ = true;
    return channels;
  }
  while (PGnotify* n = PQnotifies(conn_)) {
    channels.emplace_back(n->relname);
    PQfreemem(n);
  }
  return channels;
}

int Connection::socket() const { return PQsocket(conn_); }

bool Connection::broken() const { return broken_ || PQstatus(conn_) == CONNECTION_BAD; }

Status Connection::Reset() {
  if (in_pipeline_) {
    PQexitPipelineMode(conn_);  // fails while results are pending; PQreset clears them anyway
    in_pipeline_ = false;
    pending_results_ = 0;
    pending_syncs_ = 0;
    unflushed_ = 0;
    unsynced_ = 0;
  }
  PQreset(conn_);
  if (PQstatus(conn_) != CONNECTION_OK) {
    broken_ = true;
    return Status::Unavailable("reconnect to PostgreSQL: " + Trimmed(PQerrorMessage(conn_)));
  }
  broken_ = false;
  if (auto s = Configure(); !s.ok()) return s;
  std::vector<std::pair<std::string, std::string>> statements = std::move(prepared_);
  prepared_.clear();
  for (const auto& [name, sql] : statements) {
    if (auto s = Prepare(name, sql); !s.ok()) {
      // Keep every statement for the next Reset(): dropped here, the ones not yet prepared
      // again would fail "does not exist" on this connection for good.
      prepared_ = std::move(statements);
      broken_ = true;
      return s;
    }
  }
  return Status::Ok();
}

}  // namespace hookvault::storage::pg
