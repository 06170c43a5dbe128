// The SQLite schema migrations, embedded into the binary from migrations/sqlite/NNNN_verb_noun.sql.
#ifndef HOOKVAULT_STORAGE_SQLITE_MIGRATIONS_H_
#define HOOKVAULT_STORAGE_SQLITE_MIGRATIONS_H_

#include <vector>

#include "storage/migration.h"

namespace hookvault::storage {

// Returns every SQLite migration in the order it must be applied. Defined in the file the
// build generates (migrations/embed.cmake). The names are those recorded in schema_migrations,
// so they never change once released.
const std::vector<Migration>& SqliteMigrations();

}  // namespace hookvault::storage

#endif  // HOOKVAULT_STORAGE_SQLITE_MIGRATIONS_H_
