#include "storage/postgres/stores.h"

#include <utility>

namespace hookvault::storage {

StatusOr<PostgresStores> PostgresStores::Open(const pg::ConnectionOptions& options,
                                              const Clock& clock,
                                              std::map<std::string, int> destination_concurrency) {
  pg::ConnectionOptions writer = options;
  // A name the caller chose (the server's says which node) stays; the default becomes ours.
  if (writer.application_name == pg::ConnectionOptions().application_name) {
    writer.application_name = kWriterApplicationName;
  }
  // The writer's transactions never wait for the node between statements (each is sent in one
  // pipelined round trip), yet an ingest batch holds the seq counter that every node's batches
  // wait for: a node that stalls mid-transaction (a paused VM, a send that stopped half-way)
  // must lose it within seconds, not the default minute.
  if (writer.idle_in_transaction_timeout_ms <= 0 ||
      writer.idle_in_transaction_timeout_ms > kWriterIdleInTransactionTimeoutMs) {
    writer.idle_in_transaction_timeout_ms = kWriterIdleInTransactionTimeoutMs;
  }
  // Neither helps while the backend waits for the rest of a batch that holds the counter, nor
  // while the database itself is stuck (an operator's LOCK TABLE, a REINDEX, a frozen server):
  // every node's batch would wait behind it with no end, and its requests with it. A waiting
  // batch gives up after the lock_timeout (55P03) and any statement after the
  // statement_timeout (57014): both roll the batch back and answer kUnavailable (503 and
  // Retry-After), so an accepted request waits seconds, never for ever.
  if (writer.lock_timeout_ms <= 0 || writer.lock_timeout_ms > kWriterLockTimeoutMs) {
    writer.lock_timeout_ms = kWriterLockTimeoutMs;
  }
  if (writer.statement_timeout_ms <= 0 || writer.statement_timeout_ms > kWriterStatementTimeoutMs) {
    writer.statement_timeout_ms = kWriterStatementTimeoutMs;
  }
  PostgresStores stores;
  auto connection = pg::Connection::Open(writer);
  if (!connection.ok()) return connection.status();
  stores.connection = std::move(connection).value();
  auto events = PostgresEventLog::Create(*stores.connection, clock);
  if (!events.ok()) return events.status();
  stores.events = std::move(events).value();
  auto deliveries =
      PostgresDeliveryStore::Create(*stores.connection, clock, std::move(destination_concurrency));
  if (!deliveries.ok()) return deliveries.status();
  stores.deliveries = std::move(deliveries).value();
  auto operations = PostgresOperatorStore::Create(*stores.connection);
  if (!operations.ok()) return operations.status();
  stores.operations = std::move(operations).value();
  stores.retention = std::make_unique<PostgresRetentionStore>(*stores.connection);
  return stores;
}

}  // namespace hookvault::storage
