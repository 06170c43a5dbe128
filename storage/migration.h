// Migration: one schema change of a backend, as its wing embeds it (migrations/<dialect>/).
#ifndef HOOKVAULT_STORAGE_MIGRATION_H_
#define HOOKVAULT_STORAGE_MIGRATION_H_

#include <string_view>

namespace hookvault::storage {

struct Migration {
  std::string_view name;  // the file name, e.g. "0001_create_core_tables.sql"
  std::string_view sql;
};

}  // namespace hookvault::storage

#endif  // HOOKVAULT_STORAGE_MIGRATION_H_
