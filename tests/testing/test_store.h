// The SQLite stores on a real database file with the real migrations, for storage and scheduler
// tests.
#ifndef HOOKVAULT_TESTS_TESTING_TEST_STORE_H_
#define HOOKVAULT_TESTS_TESTING_TEST_STORE_H_

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "storage/sqlite/migrations.h"
#include "storage/sqlite/stores.h"

namespace hookvault::testing {

// Migrates the database at `path` (creating it) and opens the stores on it. Returns nullptr,
// with a test failure recorded, if either step fails.
inline std::unique_ptr<storage::SqliteStores> OpenMigratedStore(const std::string& path,
                                                                const storage::Clock& clock,
                                                                int64_t max_db_bytes = 0) {
  auto db = storage::OpenDatabase({.path = path});
  if (!db.ok()) {
    ADD_FAILURE() << db.status().ToString();
    return nullptr;
  }
  auto applied = storage::ApplyMigrations(**db, storage::SqliteMigrations());
  if (!applied.ok()) {
    ADD_FAILURE() << applied.status().ToString();
    return nullptr;
  }
  auto stores = storage::SqliteStores::Open({.path = path, .max_db_bytes = max_db_bytes}, clock);
  if (!stores.ok()) {
    ADD_FAILURE() << stores.status().ToString();
    return nullptr;
  }
  return std::make_unique<storage::SqliteStores>(std::move(stores).value());
}

}  // namespace hookvault::testing

#endif  // HOOKVAULT_TESTS_TESTING_TEST_STORE_H_
