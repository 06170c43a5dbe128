#include "storage/sqlite/stores.h"

#include <utility>

namespace hookvault::storage {

StatusOr<SqliteStores> SqliteStores::Open(const DatabaseOptions& options, const Clock& clock) {
  SqliteStores stores;
  auto connection = SqliteWriteConnection::Open(options);
  if (!connection.ok()) return connection.status();
  stores.connection = std::move(connection).value();
  auto events = SqliteEventLog::Create(*stores.connection, clock);
  if (!events.ok()) return events.status();
  stores.events = std::move(events).value();
  auto deliveries = SqliteDeliveryStore::Create(*stores.connection, clock);
  if (!deliveries.ok()) return deliveries.status();
  stores.deliveries = std::move(deliveries).value();
  auto operations = SqliteOperatorStore::Create(*stores.connection);
  if (!operations.ok()) return operations.status();
  stores.operations = std::move(operations).value();
  stores.retention = std::make_unique<SqliteRetentionStore>(*stores.connection);
  return stores;
}

}  // namespace hookvault::storage
