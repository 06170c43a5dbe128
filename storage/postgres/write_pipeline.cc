#include "storage/postgres/write_pipeline.h"

#include <libpq-fe.h>
#include <poll.h>

#include <utility>

namespace hookvault::storage::pg {
namespace {

// Ends a pipeline that will not commit: sends the Sync its statements wait behind unless
// `synced` (the server sends nothing back before it), reads what remains, and rolls back a
// transaction left open.
void Abandon(Connection& conn, bool synced) {
  if (!synced && !conn.broken()) (void)conn.Sync();
  (void)conn.EndPipeline();
  if (!conn.broken() && PQtransactionStatus(conn.raw()) != PQTRANS_IDLE) {
    (void)conn.Exec("ROLLBACK");
  }
}

}  // namespace

namespace {

void AppendBigEndian32(std::string& out, uint32_t value) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>(value >> shift));
}

}  // namespace

BinaryArray& BinaryArray::Add(std::string_view bytes) {
  AppendBigEndian32(elements_, static_cast<uint32_t>(bytes.size()));
  elements_.append(bytes);
  ++count_;
  return *this;
}

BinaryArray& BinaryArray::Add(int64_t value) {
  AppendBigEndian32(elements_, 8);
  const auto bits = static_cast<uint64_t>(value);
  AppendBigEndian32(elements_, static_cast<uint32_t>(bits >> 32));
  AppendBigEndian32(elements_, static_cast<uint32_t>(bits));
  ++count_;
  return *this;
}

BinaryArray& BinaryArray::AddNull() {
  AppendBigEndian32(elements_, 0xffffffffu);  // -1
  has_nulls_ = true;
  ++count_;
  return *this;
}

std::string BinaryArray::Encode() const {
  std::string out;
  out.reserve(20 + elements_.size());
  AppendBigEndian32(out, 1);  // dimensions
  AppendBigEndian32(out, has_nulls_ ? 1 : 0);
  AppendBigEndian32(out, element_oid_);
  AppendBigEndian32(out, static_cast<uint32_t>(count_));
  AppendBigEndian32(out, 1);  // lower bound
  out += elements_;
  return out;
}

Status HealConnection(Connection& conn) {
  if (!conn.broken()) {
    // An idle write connection is sent nothing (it listens to no channel, and every result of
    // its last round trip was read): input waiting on its socket is the server's goodbye (the
    // FATAL of a terminated backend or a shutdown) or the end of the stream (a pooler's idle
    // timeout). Found now, before the next transaction is sent, it costs a reconnect, not that
    // transaction's 503: its statements, COMMIT included, go out in one round trip, and a
    // transaction whose COMMIT was sent is never redone.
    pollfd idle{.fd = conn.socket(), .events = POLLIN, .revents = 0};
    if (idle.fd < 0 || ::poll(&idle, 1, 0) == 0) return Status::Ok();
  }
  return conn.Reset();
}

Status Annotated(const Status& status, std::string_view what) {
  std::string message = std::string(what) + ": " + status.message();
  switch (status.code()) {
    case StatusCode::kOk:
      return status;
    case StatusCode::kInvalidArgument:
      return Status::InvalidArgument(std::move(message));
    case StatusCode::kNotFound:
      return Status::NotFound(std::move(message));
    case StatusCode::kAlreadyExists:
      return Status::AlreadyExists(std::move(message));
    case StatusCode::kUnauthenticated:
      return Status::Unauthenticated(std::move(message));
    case StatusCode::kPermissionDenied:
      return Status::PermissionDenied(std::move(message));
    case StatusCode::kUnavailable:
      return Status::Unavailable(std::move(message));
    case StatusCode::kInternal:
      break;
  }
  return Status::Internal(std::move(message));
}

StatusOr<WritePipeline> WritePipeline::Start(Connection& conn, Mode mode) {
  if (Status healed = HealConnection(conn); !healed.ok()) return healed;
  if (Status begun = conn.BeginPipeline(); !begun.ok()) return begun;
  WritePipeline pipeline(conn, mode);
  if (mode == Mode::kTransaction) {
    if (Status s = conn.Queue("BEGIN"); !s.ok()) pipeline.failed_ = true;
  }
  return pipeline;
}

WritePipeline::WritePipeline(WritePipeline&& other) noexcept
    : conn_(std::exchange(other.conn_, nullptr)),
      mode_(other.mode_),
      queued_(other.queued_),
      failed_(other.failed_),
      finished_(other.finished_) {}

WritePipeline::~WritePipeline() {
  if (conn_ != nullptr && !finished_) Abandon(*conn_, /*synced=*/false);
}

Status WritePipeline::Queue(const std::string& name, const Params& params) {
  if (failed_) return Status::Unavailable("pipeline: an earlier statement could not be queued");
  Status s = conn_->QueuePrepared(name, params);
  if (!s.ok()) {
    failed_ = true;
    return s;
  }
  ++queued_;
  return Status::Ok();
}

StatusOr<std::vector<Result>> WritePipeline::Finish(std::string_view what) {
  finished_ = true;
  const bool transaction = mode_ == Mode::kTransaction;
  if (failed_ || (transaction && !conn_->Queue("COMMIT").ok()) || !conn_->Sync().ok()) {
    Abandon(*conn_, /*synced=*/false);
    return Status::Unavailable(std::string(what) + ": the statements could not be sent: " +
                               (conn_->broken() ? "connection lost" : "pipeline refused them"));
  }
  // BEGIN's result, then the statements', then COMMIT's.
  const int expected = queued_ + (transaction ? 2 : 0);
  std::vector<Result> results;
  results.reserve(queued_);
  Status first_error;
  for (int i = 0; i < expected; ++i) {
    auto r = conn_->NextResult();
    if (!r.ok()) {
      first_error = r.status();
      break;
    }
    bool ours = !transaction || (i > 0 && i < expected - 1);
    if (ours) results.push_back(std::move(r).value());
  }
  if (!first_error.ok()) {
    Abandon(*conn_, /*synced=*/true);
    return Annotated(first_error, what);
  }
  // Every result read; for a transaction that includes COMMIT's: it is durable whatever the
  // end of the pipeline says (a connection lost now heals at the next write).
  Status ended = conn_->EndPipeline();
  if (!ended.ok() && !transaction) return Annotated(ended, what);
  return results;
}

}  // namespace hookvault::storage::pg
