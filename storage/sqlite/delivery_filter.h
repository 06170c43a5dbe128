// Binding a DeliveryFilter to a statement composed with sql::DeliveryKeysSql (query_sql.h).
// Shared by SqliteQueryStore's delivery list and SqliteOperatorStore::Reprocess, which selects
// deliveries with the same filter; defined in query_store.cc beside the other filters' binding.
#ifndef HOOKVAULT_STORAGE_SQLITE_DELIVERY_FILTER_H_
#define HOOKVAULT_STORAGE_SQLITE_DELIVERY_FILTER_H_

#include "storage/query_store.h"

namespace SQLite {
class Statement;
}

namespace hookvault::storage::internal {

// Returns the sql::FilterBits that `filter` sets.
unsigned DeliveryFilterBits(const DeliveryFilter& filter);
// Binds the values of `filter` to a statement composed with sql::DeliveryKeysSql.
void BindDeliveryFilter(SQLite::Statement& statement, const DeliveryFilter& filter);

}  // namespace hookvault::storage::internal

#endif  // HOOKVAULT_STORAGE_SQLITE_DELIVERY_FILTER_H_
