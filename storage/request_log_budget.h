// RequestLogBudget: how many request-log rows of rejected requests are stored. Rejected
// requests come from anyone who can reach the port; each stored row costs disk for
// retention.request_log_days and a place in the writer's transactions. So they are stored
// within a budget per minute, for all addresses together and for each remote address, in rows
// and in bytes; beyond it a row is only counted (by why it was dropped), never stored.
//
// Windows are fixed calendar minutes of the rows' own received_at times (a row stamped in the
// minute before the current window counts in the current one; one older than that means the
// wall clock stepped back, and starts a window there), so at a window's edge an address may
// store up to twice its budget within one rolling minute.
//
// The per-address table holds at most max_tracked_addresses entries and is emptied at every
// new minute; addresses seen after it is full share one entry (and so one address's budget),
// so an attacker with many addresses cannot grow it, and shares the global budget anyway.
#ifndef HOOKVAULT_STORAGE_REQUEST_LOG_BUDGET_H_
#define HOOKVAULT_STORAGE_REQUEST_LOG_BUDGET_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <unordered_map>

#include "storage/event.h"

namespace hookvault::storage {

struct RequestLogBudgetOptions {
  int64_t rows_per_minute = 600;      // all addresses together
  int64_t bytes_per_minute = 131072;  // all addresses together
  int64_t rows_per_address_per_minute = 60;
  int64_t bytes_per_address_per_minute = 32768;
  size_t max_tracked_addresses = 4096;
};

// Bytes a row is charged besides its strings and kept body: the row's fixed columns, its
// index entries and page overhead, roughly.
inline constexpr int64_t kRequestLogRowOverheadBytes = 64;

// Longest remote address kept as a key of the per-address table (an IPv6 address is at most 45).
inline constexpr size_t kMaxTrackedAddressBytes = 64;

// Why a row was not stored.
enum class LogDrop {
  kNone,     // admitted
  kAddress,  // its remote address used up its budget for this minute
  kGlobal,   // all addresses together used up the budget for this minute
  kQueue,    // admitted by the budget, refused by the writer's full log queue
};

// Thread-safety: not thread-safe; the GroupCommitWriter calls it under its mutex.
class RequestLogBudget {
 public:
  explicit RequestLogBudget(RequestLogBudgetOptions options) : options_(options) {}

  // Returns kNone and charges the row to its minute if it fits the budget; else the reason.
  // When the row fits only without its kept body, drops `entry.body` and admits it.
  LogDrop Admit(RequestLogEntry& entry);

  // Returns what `entry` is charged, in bytes.
  static int64_t RowBytes(const RequestLogEntry& entry);

  // Returns the number of addresses tracked in the current minute (for tests).
  size_t tracked_addresses() const { return by_address_.size(); }

 private:
  struct Usage {
    int64_t rows = 0;
    int64_t bytes = 0;
  };

  const RequestLogBudgetOptions options_;
  int64_t minute_ = INT64_MIN;  // the current window
  Usage global_;
  std::unordered_map<std::string, Usage> by_address_;
};

}  // namespace hookvault::storage

#endif  // HOOKVAULT_STORAGE_REQUEST_LOG_BUDGET_H_
