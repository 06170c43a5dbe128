#include "storage/request_log_budget.h"

#include <algorithm>

namespace hookvault::storage {
namespace {

constexpr int64_t kMicrosPerMinute = 60'000'000;

// The key shared by the addresses that arrive after the table is full. Not an address.
constexpr char kOverflowKey[] = "*";

}  // namespace

int64_t RequestLogBudget::RowBytes(const RequestLogEntry& entry) {
  int64_t bytes = kRequestLogRowOverheadBytes;
  bytes +=
      static_cast<int64_t>(entry.source.size() + entry.remote_addr.size() + entry.reason.size());
  if (entry.event_id) bytes += static_cast<int64_t>(entry.event_id->size());
  if (entry.body) bytes += static_cast<int64_t>(entry.body->size());
  return bytes;
}

LogDrop RequestLogBudget::Admit(RequestLogEntry& entry) {
  int64_t minute = std::max<int64_t>(entry.received_at, 0) / kMicrosPerMinute;
  // A row from an earlier minute counts in the current window (rows arrive slightly out of
  // order), unless it is older than the minute before: then the wall clock stepped back, and the
  // window follows it rather than count every row in one "current" minute until the clock
  // catches up.
  if (minute > minute_ || minute < minute_ - 1) {
    minute_ = minute;
    global_ = Usage{};
    by_address_.clear();
  }
  std::string key = entry.remote_addr.substr(0, kMaxTrackedAddressBytes);
  auto it = by_address_.find(key);
  if (it == by_address_.end()) {
    if (by_address_.size() >= std::max<size_t>(options_.max_tracked_addresses, 1)) {
      key = kOverflowKey;
      it = by_address_.find(key);
    }
    if (it == by_address_.end()) it = by_address_.emplace(std::move(key), Usage{}).first;
  }
  Usage& address = it->second;

  auto fits = [&](int64_t bytes) -> LogDrop {
    if (address.rows + 1 > options_.rows_per_address_per_minute ||
        address.bytes + bytes > options_.bytes_per_address_per_minute) {
      return LogDrop::kAddress;
    }
    if (global_.rows + 1 > options_.rows_per_minute ||
        global_.bytes + bytes > options_.bytes_per_minute) {
      return LogDrop::kGlobal;
    }
    return LogDrop::kNone;
  };
  int64_t bytes = RowBytes(entry);
  LogDrop drop = fits(bytes);
  if (drop != LogDrop::kNone && entry.body) {
    // The row itself says what arrived from where; the body is the expendable part.
    int64_t without_body = bytes - static_cast<int64_t>(entry.body->size());
    if (fits(without_body) == LogDrop::kNone) {
      entry.body.reset();
      bytes = without_body;
      drop = LogDrop::kNone;
    }
  }
  if (drop != LogDrop::kNone) return drop;
  ++address.rows;
  address.bytes += bytes;
  ++global_.rows;
  global_.bytes += bytes;
  return LogDrop::kNone;
}

}  // namespace hookvault::storage
