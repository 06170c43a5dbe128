#include "server/logging.h"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include "api/json.h"

namespace hookvault::server {
namespace {

// %* in the JSON pattern: the message as a JSON string literal.
class JsonMessageFlag final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&,
              spdlog::memory_buf_t& dest) override {
    std::string quoted = api::JsonQuote(std::string_view(msg.payload.data(), msg.payload.size()));
    dest.append(quoted.data(), quoted.data() + quoted.size());
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<JsonMessageFlag>();
  }
};

}  // namespace

void InitLogging(const LogConfig& config) {
  auto logger = std::make_shared<spdlog::logger>("hookvault",
                                                 std::make_shared<spdlog::sinks::stderr_sink_mt>());
  if (config.format == "json") {
    auto formatter = std::make_unique<spdlog::pattern_formatter>(spdlog::pattern_time_type::utc);
    formatter->add_flag<JsonMessageFlag>('*').set_pattern(
        R"({"time":"%Y-%m-%dT%H:%M:%S.%fZ","level":"%l","msg":%*})");
    logger->set_formatter(std::move(formatter));
  } else {
    logger->set_pattern("%Y-%m-%dT%H:%M:%S.%fZ %^%l%$ %v", spdlog::pattern_time_type::utc);
  }
  logger->set_level(spdlog::level::from_str(config.level));
  logger->flush_on(spdlog::level::warn);
  spdlog::set_default_logger(std::move(logger));
}

void LogRequest(std::string_view method, std::string_view path, int status, double latency_ms,
                std::string_view source, std::string_view event_id) {
  if (!spdlog::should_log(spdlog::level::info)) return;
  spdlog::info("request method={} path={} status={} latency_ms={:.3f} source={} event_id={}",
               method, path, status, latency_ms, source.empty() ? "-" : source,
               event_id.empty() ? "-" : event_id);
}

}  // namespace hookvault::server
