// Process logging on spdlog: text (default) or one JSON object per line. Secrets never reach
// a log: nothing here is given a token.
#ifndef HOOKVAULT_SERVER_LOGGING_H_
#define HOOKVAULT_SERVER_LOGGING_H_

#include <string_view>

#include "server/config.h"

namespace hookvault::server {

// Sets up the default spdlog logger (stderr) from the config. Call before any thread starts.
void InitLogging(const LogConfig& config);

// Writes the access-log line of one request.
void LogRequest(std::string_view method, std::string_view path, int status, double latency_ms,
                std::string_view source, std::string_view event_id);

}  // namespace hookvault::server

#endif  // HOOKVAULT_SERVER_LOGGING_H_
