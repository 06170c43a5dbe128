// server/stats/: what GET /api/v1/stats and GET /api/v1/destinations answer, from memory: the
// recorder's bounded time series of the owners' counters (stats_recorder.h), the thread that
// samples them every 5 s (stats_sampler.h) and the two handlers (stats_handler.h). Part of the
// hookvault_server wing.
//
// May include: server/ (metrics, config), server/delivery/ (the scheduler's stats), api/
// (request, rendering), storage/ (the core). Not the SQLite adapter, not the HTTP edge.
#ifndef HOOKVAULT_SERVER_STATS_STATS_H_
#define HOOKVAULT_SERVER_STATS_STATS_H_

#include "server/stats/stats_handler.h"
#include "server/stats/stats_recorder.h"
#include "server/stats/stats_sampler.h"

#endif  // HOOKVAULT_SERVER_STATS_STATS_H_
