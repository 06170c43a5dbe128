// StatsHandler: GET /api/v1/stats (the console's charts and destination table) and
// GET /api/v1/destinations (the configured destinations with their health). Both answer from
// memory only — the StatsRecorder's copy of the last sample and the configuration — so a
// console refreshing every few seconds costs no database read (the sampler reads the backlog
// once per tick, server/stats/stats_sampler.h).
#ifndef HOOKVAULT_SERVER_STATS_STATS_HANDLER_H_
#define HOOKVAULT_SERVER_STATS_STATS_HANDLER_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "api/http.h"
#include "server/config.h"
#include "server/delivery/display_url.h"
#include "server/stats/stats_recorder.h"
#include "storage/clock.h"

namespace hookvault::server {

// The `window` of GET /api/v1/stats: default, and the accepted range (a year at most).
inline constexpr int64_t kDefaultStatsWindowSeconds = 900;
inline constexpr int64_t kMinStatsWindowSeconds = 60;
inline constexpr int64_t kMaxStatsWindowSeconds = 31'536'000;

// Thread-safety: Stats() and Destinations() may be called from any number of threads at once;
// the configuration is immutable after construction and the recorder locks its own state.
class StatsHandler {
 public:
  // `recorder` and `clock` must outlive the handler. Of `destinations` only what may be shown
  // is kept (never the signing secret, nor the URL's credentials).
  StatsHandler(const StatsRecorder& recorder, const std::vector<DestinationConfig>& destinations,
               const storage::Clock& clock);
  StatsHandler(const StatsHandler&) = delete;
  StatsHandler& operator=(const StatsHandler&) = delete;

  // GET /api/v1/stats?window=SECONDS.
  void Stats(const api::ApiRequest& req, api::Responder respond) const;
  // GET /api/v1/destinations.
  void Destinations(const api::ApiRequest& req, api::Responder respond) const;

 private:
  struct Shown {
    std::string name;
    std::string url;  // DisplayUrl()
    std::vector<std::string> sources;
    std::vector<std::string> events;
    std::string filter = "[]";  // the payload filter's normalised JSON array
    int64_t timeout_ms = 0;
    int max_attempts = 0;
    bool is_signed = false;
    CircuitPolicy circuit;
    RateLimit rate_limit;
    std::optional<std::string> ordering;  // the ordering key as configured
    std::optional<AmqpTarget> amqp;       // amqp:// and amqps:// destinations only
  };
  static std::vector<Shown> Show(const std::vector<DestinationConfig>& destinations);

  const StatsRecorder& recorder_;
  const std::vector<Shown> destinations_;
  const storage::Clock& clock_;
};

}  // namespace hookvault::server

#endif  // HOOKVAULT_SERVER_STATS_STATS_HANDLER_H_
