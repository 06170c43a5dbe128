// A SqliteStore on a real database file with the real migrations, for storage and scheduler
// tests.
#ifndef HOOKVAULT_TESTS_TESTING_TEST_STORE_H_
#define HOOKVAULT_TESTS_TESTING_TEST_STORE_H_

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "storage/sqlite/migrations.h"
#include "storage/sqlite/store.h"

namespace hookvault::testing {

// Migrates the database at `path` (creating it) and opens a store on it. Returns nullptr, with
// a test failure recorded, if either step fails.
inline std::unique_ptr<storage::SqliteStore> OpenMigratedStore(const std::string& path,
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
  auto store = storage::SqliteStore::Open({.path = path, .max_db_bytes = max_db_bytes}, clock);
  if (!store.ok()) {
    ADD_FAILURE() << store.status().ToString();
    return nullptr;
  }
  return std::move(store).value();
}

}  // namespace hookvault::testing

#endif  // HOOKVAULT_TESTS_TESTING_TEST_STORE_H_
