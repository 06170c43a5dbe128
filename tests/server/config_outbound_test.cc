// The config keys of outbound channels and alerts: destinations[].url (amqp://) with
// destinations[].amqp, ordering, rate_limit, circuit, and the top-level alerts; the '_' names
// hookvault keeps for itself. Every error names its key path.
#include <gtest/gtest.h>

#include <string>

#include "server/config.h"

namespace hookvault::server {
namespace {

EnvLookup NoEnv() {
  return [](const std::string&) -> std::optional<std::string> { return std::nullopt; };
}

constexpr char kSource[] = R"({"name": "s", "tokens": ["0123456789abcdef"]})";

// A config with one source and one destination named "d" whose members are `members`.
std::string WithDestination(const std::string& members) {
  return std::string(R"({"sources": [)") + kSource + R"(], "destinations": [{"name": "d", )" +
         members + "}]}";
}

// A config with one source and the top-level `alerts` object `alerts`.
std::string WithAlerts(const std::string& alerts) {
  return std::string(R"({"sources": [)") + kSource + R"(], "alerts": )" + alerts + "}";
}

void ExpectError(const std::string& json, const std::string& path, const std::string& also = "") {
  auto config = ParseConfig(json, NoEnv());
  ASSERT_FALSE(config.ok()) << "accepted: " << json;
  const std::string& m = config.status().message();
  EXPECT_EQ(m.rfind(path + ": ", 0), 0u) << "expected path \"" << path << "\" in: " << m;
  if (!also.empty()) {
    EXPECT_NE(m.find(also), std::string::npos) << m;
  }
}

TEST(ConfigOutboundTest, AnAmqpDestinationNamesItsExchangeAndRoutingKey) {
  auto config = ParseConfig(
      WithDestination(R"("url": "amqp://hv:pw@127.0.0.1:5672/%2f",
                          "amqp": {"exchange": "hooks", "routing_key": "billing"})"),
      NoEnv());
  ASSERT_TRUE(config.ok()) << config.status().message();
  const DestinationConfig& d = config->destinations[0];
  EXPECT_TRUE(IsAmqpUrl(d.url));
  EXPECT_EQ(d.amqp.exchange, "hooks");
  EXPECT_EQ(d.amqp.routing_key, "billing");
}

TEST(ConfigOutboundTest, AmqpKeysAreCheckedAgainstTheUrl) {
  ExpectError(WithDestination(R"("url": "amqp://127.0.0.1")"), "destinations[0].amqp",
              "is required");
  ExpectError(WithDestination(R"("url": "http://127.0.0.1/h", "amqp": {"exchange": "x"})"),
              "destinations[0].amqp", "amqp:// and amqps:// URLs only");
  // The default exchange routes by queue name: without a routing key nothing could arrive.
  ExpectError(WithDestination(R"("url": "amqps://h", "amqp": {"exchange": ""})"),
              "destinations[0].amqp.routing_key");
  ExpectError(WithDestination(R"("url": "amqp://h", "amqp": {"queue": "q"})"),
              "destinations[0].amqp.queue", "unknown key");
  ExpectError(WithDestination(R"("url": "ftp://h/x")"), "destinations[0].url",
              "amqp:// or amqps://");
  // What rabbitmq-c cannot parse could never connect: refused at load, not at every attempt.
  for (const char* bad : {"amqp://h:notaport/v", "amqp://h:99999"}) {
    ExpectError(WithDestination(std::string(R"("url": ")") + bad +
                                R"(", "amqp": {"exchange": "x"})"),
                "destinations[0].url", "not a valid AMQP URL");
  }
}

TEST(ConfigOutboundTest, OrderingByAPointerOrBySource) {
  auto config = ParseConfig(
      WithDestination(R"("url": "http://127.0.0.1:9/h", "ordering": {"key": "/booking/id"})"),
      NoEnv());
  ASSERT_TRUE(config.ok()) << config.status().message();
  const DestinationConfig& d = config->destinations[0];
  EXPECT_EQ(d.ordering, std::optional<std::string>("/booking/id"));
  ASSERT_TRUE(d.filter.ordering.has_value());
  EXPECT_FALSE(d.filter.ordering->by_source);

  config = ParseConfig(
      WithDestination(R"("url": "http://127.0.0.1:9/h", "ordering": {"key": "source"})"),
      NoEnv());
  ASSERT_TRUE(config.ok()) << config.status().message();
  ASSERT_TRUE(config->destinations[0].filter.ordering.has_value());
  EXPECT_TRUE(config->destinations[0].filter.ordering->by_source);

  config = ParseConfig(WithDestination(R"("url": "http://127.0.0.1:9/h")"), NoEnv());
  ASSERT_TRUE(config.ok()) << config.status().message();
  EXPECT_FALSE(config->destinations[0].ordering.has_value());
  EXPECT_FALSE(config->destinations[0].filter.ordering.has_value());

  ExpectError(WithDestination(R"("url": "http://h/x", "ordering": {})"),
              "destinations[0].ordering.key", "is required");
  ExpectError(WithDestination(R"("url": "http://h/x", "ordering": {"key": "booking/id"})"),
              "destinations[0].ordering.key");
  ExpectError(WithDestination(R"("url": "http://h/x", "ordering": {"key": "/a", "by": 1})"),
              "destinations[0].ordering.by", "unknown key");
}

TEST(ConfigOutboundTest, RateLimitAndCircuit) {
  auto config = ParseConfig(WithDestination(R"("url": "http://127.0.0.1:9/h")"), NoEnv());
  ASSERT_TRUE(config.ok()) << config.status().message();
  EXPECT_EQ(config->destinations[0].rate_limit.per_second, 0);  // no limit
  EXPECT_EQ(config->destinations[0].circuit.failures, 20);
  EXPECT_EQ(config->destinations[0].circuit.open_ms, 30000);

  config = ParseConfig(WithDestination(R"("url": "http://127.0.0.1:9/h",
                                          "rate_limit": {"per_second": 0.5},
                                          "circuit": {"failures": 3, "open_ms": 500})"),
                       NoEnv());
  ASSERT_TRUE(config.ok()) << config.status().message();
  EXPECT_EQ(config->destinations[0].rate_limit.per_second, 0.5);
  EXPECT_EQ(config->destinations[0].circuit.failures, 3);
  EXPECT_EQ(config->destinations[0].circuit.open_ms, 500);

  ExpectError(WithDestination(R"("url": "http://h/x", "rate_limit": {})"),
              "destinations[0].rate_limit.per_second", "is required");
  ExpectError(WithDestination(R"("url": "http://h/x", "rate_limit": {"per_second": 0})"),
              "destinations[0].rate_limit.per_second");
  ExpectError(WithDestination(R"("url": "http://h/x", "rate_limit": {"per_second": 1e7})"),
              "destinations[0].rate_limit.per_second");
  ExpectError(WithDestination(R"("url": "http://h/x", "circuit": {"failures": 0})"),
              "destinations[0].circuit.failures");
  ExpectError(WithDestination(R"("url": "http://h/x", "circuit": {"open_ms": 10})"),
              "destinations[0].circuit.open_ms");
  ExpectError(WithDestination(R"("url": "http://h/x", "circuit": {"half_open": 1})"),
              "destinations[0].circuit.half_open", "unknown key");
}

TEST(ConfigOutboundTest, AlertsGoToTheReservedDestination) {
  auto config = ParseConfig(WithAlerts(R"({"url": "http://127.0.0.1:9/alerts",
                                           "signing_secret": "whsec_c2VjcmV0LWJpbGxpbmc=",
                                           "max_attempts": 3, "min_interval_ms": 5000})"),
                            NoEnv());
  ASSERT_TRUE(config.ok()) << config.status().message();
  ASSERT_TRUE(config->alerts.has_value());
  EXPECT_EQ(config->alerts->destination.name, kAlertsName);
  EXPECT_EQ(config->alerts->destination.url, "http://127.0.0.1:9/alerts");
  EXPECT_EQ(config->alerts->destination.max_attempts, 3);
  EXPECT_FALSE(config->alerts->destination.signing_secret.empty());
  EXPECT_EQ(config->alerts->min_interval_ms, 5000);

  config = ParseConfig(WithAlerts(R"({"url": "amqp://h", "amqp": {"exchange": "ops"}})"),
                       NoEnv());
  ASSERT_TRUE(config.ok()) << config.status().message();
  EXPECT_EQ(config->alerts->destination.amqp.exchange, "ops");

  config = ParseConfig(std::string(R"({"sources": [)") + kSource + "]}", NoEnv());
  ASSERT_TRUE(config.ok()) << config.status().message();
  EXPECT_FALSE(config->alerts.has_value());

  ExpectError(WithAlerts("{}"), "alerts.url");
  ExpectError(WithAlerts(R"({"url": "http://h/a", "signing_secret": "whsec_not base64!"})"),
              "alerts.signing_secret");
  ExpectError(WithAlerts(R"({"url": "http://h/a", "min_interval_ms": 5})"),
              "alerts.min_interval_ms");
  // Alerts go to one place; which events reach it is not a choice.
  ExpectError(WithAlerts(R"({"url": "http://h/a", "filter": []})"), "alerts.filter",
              "unknown key");
}

TEST(ConfigOutboundTest, NamesStartingWithAnUnderscoreAreHookvaults) {
  ExpectError(R"({"sources": [{"name": "_hookvault", "tokens": ["0123456789abcdef"]}]})",
              "sources[0].name", "'_'");
  ExpectError(std::string(R"({"sources": [)") + kSource +
                  R"(], "destinations": [{"name": "_x", "url": "http://h/x"}]})",
              "destinations[0].name", "'_'");
}

}  // namespace
}  // namespace hookvault::server
