// Leasing one chosen delivery for storage tests that record attempts without going through
// ClaimDue: RecordAttempts applies an outcome only under the lease its record names (the fence,
// storage/delivery_store.h), so such a test leases the delivery first, as a claim would.
#ifndef HOOKVAULT_TESTS_TESTING_LEASE_H_
#define HOOKVAULT_TESTS_TESTING_LEASE_H_

#include <SQLiteCpp/SQLiteCpp.h>

#include <cstdint>
#include <limits>
#include <string>

namespace hookvault::testing {

// Gives delivery `delivery_id` a new lease token and a lease until `until` on its own
// connection, and returns the token (for AttemptRecord::lease_token); -1 if there is no such
// delivery.
inline int64_t LeaseForTest(const std::string& db_path, int64_t delivery_id,
                            int64_t until = std::numeric_limits<int64_t>::max()) {
  SQLite::Database db(db_path, SQLite::OPEN_READWRITE, 5000);
  SQLite::Statement s(db,
                      "UPDATE deliveries SET lease_token = lease_token + 1, lease_expires_at = ?2 "
                      "WHERE id = ?1 RETURNING lease_token");
  s.bind(1, static_cast<int64_t>(delivery_id));
  s.bind(2, static_cast<int64_t>(until));
  return s.executeStep() ? s.getColumn(0).getInt64() : -1;
}

}  // namespace hookvault::testing

#endif  // HOOKVAULT_TESTS_TESTING_LEASE_H_
