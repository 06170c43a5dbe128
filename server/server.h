// server/: the process. main.cc — the only file that knows every wing and wires them (its
// Gateway opens the parts in order and closes them on every way out) — with what it needs of
// its own: the config file (config.h), the data directory's lock and default secrets, logging,
// the Prometheus metrics, the retention driver and the console's stats (server/stats/). The two adapters of the serving side have
// folders of their own: server/http/ (the HTTP edge) and server/delivery/ (the delivery
// engine).
//
// May include (all but main.cc): api/, server/delivery/, storage/ (the core). Not the SQLite
// adapter and not the HTTP edge; main.cc includes everything.
#ifndef HOOKVAULT_SERVER_SERVER_H_
#define HOOKVAULT_SERVER_SERVER_H_

#include "server/alerts/alerter.h"
#include "server/config.h"
#include "server/data_dir.h"
#include "server/destination_tester.h"
#include "server/logging.h"
#include "server/metrics.h"
#include "server/retention.h"
#include "server/stats/stats.h"
#include "server/systemd_notifier.h"

#endif  // HOOKVAULT_SERVER_SERVER_H_
