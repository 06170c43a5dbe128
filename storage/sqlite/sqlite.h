// storage/sqlite/: the SQLite adapter. One class per port of the core on one shared write
// connection (SqliteStores: event log, deliveries, operator actions, retention), the reader
// pool of the QueryStore, the connection settings and the migration runner (the migrations
// themselves are migrations/sqlite/*.sql, embedded at build time), the WAL checkpointer and the
// online backup. Every file that includes SQLiteCpp or sqlite3.h is here.
//
// May include: storage/ (the core), SQLiteCpp and SQLite. Included only by server/main.cc and
// the tests.
#ifndef HOOKVAULT_STORAGE_SQLITE_SQLITE_H_
#define HOOKVAULT_STORAGE_SQLITE_SQLITE_H_

#include "storage/sqlite/backup.h"
#include "storage/sqlite/database.h"
#include "storage/sqlite/migrations.h"
#include "storage/sqlite/query_store.h"
#include "storage/sqlite/stores.h"
#include "storage/sqlite/wal_checkpointer.h"

#endif  // HOOKVAULT_STORAGE_SQLITE_SQLITE_H_
