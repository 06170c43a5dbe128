#include "server/delivery/display_url.h"

#include <gtest/gtest.h>

#include <string>

namespace hookvault::server {
namespace {

TEST(DisplayUrlTest, LeavesOutUserinfoQueryAndFragment) {
  EXPECT_EQ(DisplayUrl("http://127.0.0.1:9000/hooks"), "http://127.0.0.1:9000/hooks");
  EXPECT_EQ(DisplayUrl("https://user:pw@billing.internal/hooks?key=1#x"),
            "https://billing.internal/hooks");
  EXPECT_EQ(DisplayUrl("https://token@billing.internal:8443/a/b"),
            "https://billing.internal:8443/a/b");
  EXPECT_EQ(DisplayUrl("https://billing.internal"), "https://billing.internal/");
  EXPECT_EQ(DisplayUrl("http://[::1]:8080/x?y"), "http://[::1]:8080/x");
  // What libcurl cannot parse is cut by hand, never shown whole.
  std::string odd = DisplayUrl("http://user:pa/ss@host/x?k=v");
  EXPECT_EQ(odd.find("pa/ss"), std::string::npos) << odd;
  EXPECT_EQ(odd.find("k=v"), std::string::npos) << odd;
  std::string bad = DisplayUrl("https://us er:p w@ho st/?q=secret");
  EXPECT_EQ(bad.find("secret"), std::string::npos) << bad;
  EXPECT_EQ(bad.find("p w"), std::string::npos) << bad;
}

TEST(DisplayUrlTest, LeavesOutTheCredentialsOfAmqpUrls) {
  EXPECT_EQ(DisplayUrl("amqp://hookvault:s3cret@rabbit.internal:5672/prod"),
            "amqp://rabbit.internal:5672/prod");
  EXPECT_EQ(DisplayUrl("amqps://u:p%40ss@rabbit.internal/%2F?heartbeat=10"),
            "amqps://rabbit.internal/%2F");
  EXPECT_EQ(DisplayUrl("amqp://rabbit.internal"), "amqp://rabbit.internal");
}

}  // namespace
}  // namespace hookvault::server
