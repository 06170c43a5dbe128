#include "server/delivery/channel_router.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace hookvault::server {
namespace {

// Records the URLs it is given and answers at once with its own status.
class RecordingClient final : public HttpClient {
 public:
  explicit RecordingClient(int status) : status_(status) {}
  void Post(OutboundRequest request, std::function<void(OutboundResponse)> done) override {
    urls.push_back(request.url);
    OutboundResponse r;
    r.status = status_;
    done(r);
  }
  std::vector<std::string> urls;

 private:
  int status_;
};

TEST(ChannelRouterTest, AmqpUrlsGoToTheAmqpClientAndTheRestToHttp) {
  RecordingClient http(200), amqp(0);
  ChannelRouter router(http, amqp);
  std::vector<int> answers;
  for (std::string url : {"http://a/x", "amqp://u:p@rabbit/vh", "https://b/y", "amqps://rabbit"}) {
    OutboundRequest request;
    request.url = url;
    router.Post(request, [&](OutboundResponse r) { answers.push_back(r.status); });
  }
  EXPECT_EQ(http.urls, (std::vector<std::string>{"http://a/x", "https://b/y"}));
  EXPECT_EQ(amqp.urls, (std::vector<std::string>{"amqp://u:p@rabbit/vh", "amqps://rabbit"}));
  EXPECT_EQ(answers, (std::vector<int>{200, 0, 200, 0}));
}

}  // namespace
}  // namespace hookvault::server
