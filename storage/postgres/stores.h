// PostgresStores: one node's write connection to the shared PostgreSQL database and the
// PostgreSQL adapters of the write ports over it, opened together for the server's wiring and
// for tests (as SqliteStores is for SQLite).
#ifndef HOOKVAULT_STORAGE_POSTGRES_STORES_H_
#define HOOKVAULT_STORAGE_POSTGRES_STORES_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "storage/clock.h"
#include "storage/postgres/connection.h"
#include "storage/postgres/delivery_store.h"
#include "storage/postgres/event_log.h"
#include "storage/postgres/operator_store.h"
#include "storage/postgres/retention_store.h"

namespace hookvault::storage {

// The application_name of the write connection, shown in pg_stat_activity, unless the caller's
// options name it otherwise.
inline constexpr char kWriterApplicationName[] = "hookvault-writer";

// The write connection's idle_in_transaction_session_timeout at most (a smaller one configured
// stays): see PostgresStores::Open.
inline constexpr int64_t kWriterIdleInTransactionTimeoutMs = 5000;

// The write connection's lock_timeout and statement_timeout at most (smaller ones configured
// stay): see PostgresStores::Open.
inline constexpr int64_t kWriterLockTimeoutMs = 5000;
inline constexpr int64_t kWriterStatementTimeoutMs = 15000;

// Thread-safety: as its members: each is used by the writer thread only (an ingest batch or a
// WriteSerializer task).
struct PostgresStores {
  // Connects to the database of options.url (as kWriterApplicationName when options keep the
  // default application_name), with an idle_in_transaction_session_timeout, a lock_timeout and
  // a statement_timeout of at most kWriterIdleInTransactionTimeoutMs, kWriterLockTimeoutMs and
  // kWriterStatementTimeoutMs, and prepares the stores over that connection (migrations
  // must have been applied); `clock` must outlive them. `destination_concurrency`:
  // PostgresDeliveryStore::Create's. Returns kUnavailable if the database cannot be reached or a
  // store's statements cannot be prepared (a database not migrated).
  static StatusOr<PostgresStores> Open(const pg::ConnectionOptions& options, const Clock& clock,
                                       std::map<std::string, int> destination_concurrency);

  PostgresStores() = default;
  PostgresStores(PostgresStores&&) = default;
  // No assignment: member by member, it would close the old connection while the old stores
  // still use it.
  PostgresStores& operator=(PostgresStores&&) = delete;

  // Declared first, so destroyed last: the stores use it.
  std::unique_ptr<pg::Connection> connection;
  std::unique_ptr<PostgresEventLog> events;
  std::unique_ptr<PostgresDeliveryStore> deliveries;
  std::unique_ptr<PostgresOperatorStore> operations;
  std::unique_ptr<PostgresRetentionStore> retention;
};

}  // namespace hookvault::storage

#endif  // HOOKVAULT_STORAGE_POSTGRES_STORES_H_
