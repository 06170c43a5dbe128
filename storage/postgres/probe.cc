#include "storage/postgres/probe.h"

#include <set>
#include <string_view>

#include "storage/postgres/migrations.h"

namespace hookvault::storage {
namespace {

constexpr std::string_view kSelectOne = "SELECT 1";
constexpr std::string_view kServerVersion = "SHOW server_version";
// NULL until the first `migrate` created the table (MigratePostgres): then every migration is
// pending. Read the table only when it exists, so the probe never fails on a fresh database.
constexpr std::string_view kMigrationsTableExists =
    "SELECT to_regclass('schema_migrations') IS NOT NULL";
constexpr std::string_view kAppliedMigrations = "SELECT name FROM schema_migrations";

}  // namespace

StatusOr<PostgresProbe> ProbePostgres(const pg::ConnectionOptions& options) {
  auto connection = pg::Connection::Open(options);
  if (!connection.ok()) return connection.status();
  pg::Connection& c = **connection;
  if (auto one = c.Exec(kSelectOne); !one.ok()) return one.status();
  PostgresProbe probe;
  auto version = c.Exec(kServerVersion);
  if (!version.ok()) return version.status();
  if (version->rows() > 0) probe.server_version = version->GetString(0, 0);
  auto exists = c.Exec(kMigrationsTableExists);
  if (!exists.ok()) return exists.status();
  std::set<std::string, std::less<>> applied;
  if (exists->rows() > 0 && exists->GetString(0, 0) == "t") {
    auto names = c.Exec(kAppliedMigrations);
    if (!names.ok()) return names.status();
    for (int row = 0; row < names->rows(); ++row) applied.insert(names->GetString(row, 0));
  }
  for (const Migration& m : PostgresMigrations()) {
    if (!applied.contains(m.name)) probe.pending_migrations.emplace_back(m.name);
  }
  return probe;
}

}  // namespace hookvault::storage
