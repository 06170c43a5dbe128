// SqliteStores: the write connection and the SQLite adapters of the write ports over it, opened
// together for the server's wiring and for tests.
#ifndef HOOKVAULT_STORAGE_SQLITE_STORES_H_
#define HOOKVAULT_STORAGE_SQLITE_STORES_H_

#include <memory>

#include "storage/clock.h"
#include "storage/sqlite/database.h"
#include "storage/sqlite/delivery_store.h"
#include "storage/sqlite/event_log.h"
#include "storage/sqlite/operator_store.h"
#include "storage/sqlite/retention_store.h"
#include "storage/sqlite/write_connection.h"

namespace hookvault::storage {

// Thread-safety: as its members: each is used by the writer thread only (an ingest batch or a
// WriteSerializer task); set the WAL listener before the writer starts.
struct SqliteStores {
  // Opens the database at options.path (migrations must have been applied) and prepares the
  // stores over it; `clock` must outlive them. Returns kUnavailable if the database cannot be
  // opened or a store's statements cannot be prepared.
  static StatusOr<SqliteStores> Open(const DatabaseOptions& options, const Clock& clock);

  SqliteStores() = default;
  SqliteStores(SqliteStores&&) = default;
  // No assignment: member by member, it would close the old connection while the old stores'
  // statements still belong to it.
  SqliteStores& operator=(SqliteStores&&) = delete;

  // Declared first, so destroyed last: the stores' statements belong to it.
  std::unique_ptr<SqliteWriteConnection> connection;
  std::unique_ptr<SqliteEventLog> events;
  std::unique_ptr<SqliteDeliveryStore> deliveries;
  std::unique_ptr<SqliteOperatorStore> operations;
  std::unique_ptr<SqliteRetentionStore> retention;
};

}  // namespace hookvault::storage

#endif  // HOOKVAULT_STORAGE_SQLITE_STORES_H_
