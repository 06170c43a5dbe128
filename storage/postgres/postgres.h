// storage/postgres/: the PostgreSQL adapter, for several nodes on one database. One class per
// port of the core on one write connection per node (PostgresStores: event log, deliveries,
// operator actions, retention), the reader pool of the QueryStore, the migration runner (the
// migrations themselves are migrations/postgres/*.sql, embedded at build time), the libpq
// connection with its SQLSTATE mapping, check-config's probe, and the commit listener that wakes a node when any
// node commits. Every file that includes libpq-fe.h is here.
//
// May include: storage/ (the core) and libpq. Included only by server/main.cc and the tests.
#ifndef HOOKVAULT_STORAGE_POSTGRES_POSTGRES_H_
#define HOOKVAULT_STORAGE_POSTGRES_POSTGRES_H_

#include "storage/postgres/commit_listener.h"
#include "storage/postgres/connection.h"
#include "storage/postgres/migrations.h"
#include "storage/postgres/probe.h"
#include "storage/postgres/query_store.h"
#include "storage/postgres/stores.h"

#endif  // HOOKVAULT_STORAGE_POSTGRES_POSTGRES_H_
