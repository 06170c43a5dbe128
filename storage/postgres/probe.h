// ProbePostgres: what `hookvault check-config` learns of the database a config names.
#ifndef HOOKVAULT_STORAGE_POSTGRES_PROBE_H_
#define HOOKVAULT_STORAGE_POSTGRES_PROBE_H_

#include <string>
#include <vector>

#include "storage/postgres/connection.h"
#include "storage/status.h"

namespace hookvault::storage {

struct PostgresProbe {
  std::string server_version;                    // SHOW server_version, e.g. "15.10 (Debian …)"
  std::vector<std::string> pending_migrations;   // names, in the order migrate would apply them
};

// Connects with `options`, runs SELECT 1, and lists the migrations of PostgresMigrations() that
// schema_migrations does not record (all of them on a database never migrated). Changes
// nothing. Returns kUnavailable if the database cannot be reached, or the error of a query.
StatusOr<PostgresProbe> ProbePostgres(const pg::ConnectionOptions& options);

}  // namespace hookvault::storage

#endif  // HOOKVAULT_STORAGE_POSTGRES_PROBE_H_
