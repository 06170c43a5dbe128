// Reading a hookvault database directly from tests (read-only, its own connection).
#ifndef HOOKVAULT_TESTS_TESTING_DB_H_
#define HOOKVAULT_TESTS_TESTING_DB_H_

#include <SQLiteCpp/SQLiteCpp.h>

#include <cstdint>
#include <string>

namespace hookvault::testing {

inline int64_t QueryInt(const std::string& db_path, const std::string& sql,
                        const std::string& param = "") {
  SQLite::Database db(db_path, SQLite::OPEN_READONLY, 5000);
  SQLite::Statement s(db, sql);
  if (!param.empty()) s.bind(1, param);
  if (!s.executeStep()) return -1;
  return s.getColumn(0).getInt64();
}

inline std::string QueryText(const std::string& db_path, const std::string& sql,
                             const std::string& param = "") {
  SQLite::Database db(db_path, SQLite::OPEN_READONLY, 5000);
  SQLite::Statement s(db, sql);
  if (!param.empty()) s.bind(1, param);
  if (!s.executeStep()) return "<no row>";
  return s.getColumn(0).getString();
}

}  // namespace hookvault::testing

#endif  // HOOKVAULT_TESTS_TESTING_DB_H_
