// storage/: the core. The domain's records (event.h), errors as values (status.h), the ports a
// backend implements — EventLog, DeliveryStore, OperatorStore, RetentionStore, QueryStore —
// and the parts every backend shares: the group-commit writer and the WriteSerializer that
// serialises every write, the OperatorPort the REST API calls, the clock, event ids, the audit
// chain. storage/base/ holds the small helpers of every wing (strings, encodings, hashes).
//
// May include: the C++ standard library and OpenSSL (storage/base). Nothing of another wing:
// no SQL library, no HTTP, no JSON. The ports promise nothing one backend alone could keep (no
// pages, no "this thread only").
//
// This header includes the ports and the writer, for code that wires them (server/main.cc).
#ifndef HOOKVAULT_STORAGE_STORAGE_H_
#define HOOKVAULT_STORAGE_STORAGE_H_

#include "storage/audit_chain.h"
#include "storage/clock.h"
#include "storage/delivery_store.h"
#include "storage/event.h"
#include "storage/event_log.h"
#include "storage/event_writer.h"
#include "storage/group_commit_writer.h"
#include "storage/operator_port.h"
#include "storage/operator_store.h"
#include "storage/query_store.h"
#include "storage/retention_store.h"
#include "storage/status.h"
#include "storage/write_serializer.h"

#endif  // HOOKVAULT_STORAGE_STORAGE_H_
