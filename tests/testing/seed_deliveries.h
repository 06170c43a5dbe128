// Fills a migrated hookvault database with many failed deliveries at once (plain SQL, one
// transaction), for tests of bulk reprocessing: ingest would take minutes for 100,000.
#ifndef HOOKVAULT_TESTS_TESTING_SEED_DELIVERIES_H_
#define HOOKVAULT_TESTS_TESTING_SEED_DELIVERIES_H_

#include <SQLiteCpp/SQLiteCpp.h>

#include <cstdint>
#include <string>

namespace hookvault::testing {

// Adds `n` failed events of source `source`, each with one failed delivery to `destination`
// (5 attempts counted, none recorded), received and created at `at`. Event ids and idempotency
// keys are "<source>-<i>". Returns the number of deliveries added.
inline int64_t SeedFailedDeliveries(const std::string& db_path, int64_t n,
                                    const std::string& source, const std::string& destination,
                                    int64_t at) {
  SQLite::Database db(db_path, SQLite::OPEN_READWRITE, 5000);
  SQLite::Transaction txn(db);
  SQLite::Statement events(db, R"sql(
    WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?1)
    INSERT INTO events (id, source, event_type, idempotency_key, received_at, remote_addr,
                        headers, body, status)
    SELECT ?2 || '-' || i, ?2, 'seeded', ?2 || '-' || i, ?3, '127.0.0.1', '{}', '{}', 'failed'
    FROM n
  )sql");
  events.bind(1, static_cast<int64_t>(n));
  events.bind(2, source);
  events.bind(3, static_cast<int64_t>(at));
  events.exec();
  SQLite::Statement deliveries(db, R"sql(
    INSERT INTO deliveries (event_seq, destination, status, attempts, next_attempt_at,
                            last_error, created_at, updated_at)
    SELECT seq, ?2, 'failed', 5, ?3, 'HTTP 500', ?3, ?3 FROM events WHERE source = ?1
    ORDER BY seq
  )sql");
  deliveries.bind(1, source);
  deliveries.bind(2, destination);
  deliveries.bind(3, static_cast<int64_t>(at));
  int64_t added = deliveries.exec();
  txn.commit();
  return added;
}

}  // namespace hookvault::testing

#endif  // HOOKVAULT_TESTS_TESTING_SEED_DELIVERIES_H_
