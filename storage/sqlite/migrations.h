// The SQLite schema migrations, embedded into the binary from migrations/sqlite/NNNN_verb_noun.sql.
#ifndef HOOKVAULT_STORAGE_SQLITE_MIGRATIONS_H_
#define HOOKVAULT_STORAGE_SQLITE_MIGRATIONS_H_

#include <string_view>
#include <vector>

namespace hookvault::storage {

struct Migration {
  std::string_view name;  // the file name, e.g. "0001_create_core_tables.sql"
  std::string_view sql;
};

// Returns every SQLite migration in the order it must be applied. Defined in the file the
// build generates (migrations/embed.cmake). The names are those recorded in schema_migrations,
// so they never change once released.
const std::vector<Migration>& SqliteMigrations();

}  // namespace hookvault::storage

#endif  // HOOKVAULT_STORAGE_SQLITE_MIGRATIONS_H_
