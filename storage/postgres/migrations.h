// The PostgreSQL schema migrations, embedded into the binary from
// migrations/postgres/NNNN_verb_noun.sql, and the runner that applies them.
#ifndef HOOKVAULT_STORAGE_POSTGRES_MIGRATIONS_H_
#define HOOKVAULT_STORAGE_POSTGRES_MIGRATIONS_H_

#include <string>
#include <vector>

#include "storage/migration.h"
#include "storage/status.h"

namespace hookvault::storage {

// Returns every PostgreSQL migration in the order it must be applied. Defined in the file the
// build generates (migrations/embed.cmake). Same version numbers as SqliteMigrations().
const std::vector<Migration>& PostgresMigrations();

// Applies the migrations not yet recorded in schema_migrations of the database at `url`, each
// in its own transaction, under a session advisory lock (kMigrationLock), so several nodes
// starting at once migrate once: the others wait, then find nothing left to do. Returns the
// names applied. Returns kUnavailable if the database cannot be reached, kInternal if a
// migration fails (it is rolled back; those before it stay applied).
StatusOr<std::vector<std::string>> MigratePostgres(const std::string& url);

}  // namespace hookvault::storage

#endif  // HOOKVAULT_STORAGE_POSTGRES_MIGRATIONS_H_
