// WritePipeline: the statements of one write, sent in one round trip (libpq's pipeline mode),
// with the connection healed first if it broke. Used by the stores of the write connection
// (PostgresEventLog, PostgresDeliveryStore), whose transactions hold a lock other nodes wait for
// (the seq counter, a destination's claims): one round trip keeps that wait short.
#ifndef HOOKVAULT_STORAGE_POSTGRES_WRITE_PIPELINE_H_
#define HOOKVAULT_STORAGE_POSTGRES_WRITE_PIPELINE_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "storage/postgres/connection.h"
#include "storage/status.h"

namespace hookvault::storage::pg {

// Reconnects `conn` if a connection-level failure (a restarted or unreachable server, a
// terminated backend) broke it, or if its socket has input while it is idle (the server ended
// the session since the last round trip), so that the next write heals without restarting
// hookvault. Only for connections that LISTEN to nothing. Returns kUnavailable if the server
// cannot be reached.
Status HealConnection(Connection& conn);

// Returns `status` with its code and `what: ` before its message.
Status Annotated(const Status& status, std::string_view what);

// A one-dimensional array parameter in PostgreSQL's binary format (what array_recv reads), for
// a statement that casts the parameter to `element[]` and unnests it: a whole batch's column in
// one value, so that a batch is a few statements however many rows it has. Elements are sent
// as their bytes (text is checked by the server: a NUL byte or invalid UTF-8 is refused).
//
// Thread-safety: a plain value.
class BinaryArray {
 public:
  // Element type OIDs (pg_type.h).
  static constexpr uint32_t kBytea = 17;
  static constexpr uint32_t kInt8 = 20;
  static constexpr uint32_t kText = 25;

  explicit BinaryArray(uint32_t element_oid) : element_oid_(element_oid) {}

  // Adds a text or bytea element.
  BinaryArray& Add(std::string_view bytes);
  // Adds a bigint element (kInt8 arrays).
  BinaryArray& Add(int64_t value);
  BinaryArray& AddNull();

  int size() const { return count_; }
  // Returns the array's bytes, for Params::AddBytes.
  std::string Encode() const;

 private:
  uint32_t element_oid_;
  int count_ = 0;
  bool has_nulls_ = false;
  std::string elements_;  // each: int32 length (-1: NULL), then its bytes
};

// One pipelined round trip. Either a transaction (kTransaction: BEGIN, the statements, COMMIT,
// one Sync: the results are returned only after COMMIT returned, so the write is durable) or
// reads in the Sync's implicit transaction (kRead).
//
// Thread-safety: not thread-safe; lives for one write on the connection's thread.
class WritePipeline {
 public:
  enum class Mode { kRead, kTransaction };

  // Heals the connection (HealConnection) and enters pipeline mode.
  static StatusOr<WritePipeline> Start(Connection& conn, Mode mode);

  WritePipeline(WritePipeline&& other) noexcept;
  WritePipeline& operator=(WritePipeline&&) = delete;
  WritePipeline(const WritePipeline&) = delete;
  WritePipeline& operator=(const WritePipeline&) = delete;
  // Leaves pipeline mode if Finish() was not called (a queueing error): nothing is committed.
  ~WritePipeline();

  // Queues a statement prepared on the connection. Its result is the next one of Finish().
  Status Queue(const std::string& name, const Params& params);

  // Sends what is queued (with COMMIT in kTransaction) and returns each queued statement's
  // result, in queue order. On any failure returns the first error, annotated with `what`, and
  // nothing of a transaction is stored: kAlreadyExists for 23505, kUnavailable for the
  // connection (then a COMMIT's outcome is unknown to us: the caller treats it as failed) or
  // resources, kInternal for a statement the server refused.
  StatusOr<std::vector<Result>> Finish(std::string_view what);

 private:
  WritePipeline(Connection& conn, Mode mode) : conn_(&conn), mode_(mode) {}

  Connection* conn_;  // null once moved from
  Mode mode_;
  int queued_ = 0;  // statements queued by Queue()
  bool failed_ = false;
  bool finished_ = false;
};

}  // namespace hookvault::storage::pg

#endif  // HOOKVAULT_STORAGE_POSTGRES_WRITE_PIPELINE_H_
