// The HTTP endpoint in-process, with a router of test handlers: where handlers run, what of a
// request reaches api/ (every query parameter, every X-Forwarded-For line), and a shutdown that
// writes every answer owed.
#include "server/http/http_endpoint.h"

#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <future>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "api/auth.h"
#include "server/http/query_pool.h"
#include "server/http/router.h"
#include "tests/testing/fake_clock.h"
#include "tests/testing/http_client.h"
#include "tests/testing/raw_socket.h"

namespace hookvault::server {
namespace {

using hookvault::testing::ConnectLoopback;
using hookvault::testing::ReadResponse;
using hookvault::testing::SendAll;

int StatusOf(const std::string& response) {
  return response.size() >= 12 ? std::atoi(response.substr(9, 3).c_str()) : 0;
}

void Ok(const api::Responder& respond) { respond(api::JsonOk("{}")); }

class HttpEndpointTest : public ::testing::Test {
 protected:
  void Start(int threads = 1) {
    EndpointOptions options;
    options.port = 0;
    options.threads = threads;
    endpoint_ = std::make_unique<HttpEndpoint>(options, router_, clock_);
    ASSERT_TRUE(endpoint_->Start().ok());
    port_ = endpoint_->port();
  }
  std::string Url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }

  api::Authenticator auth_{std::vector<api::ApiToken>{}};
  QueryPool pool_{1, 4};
  Router router_{auth_, &pool_};
  hookvault::testing::FakeClock clock_;
  std::unique_ptr<HttpEndpoint> endpoint_;
  int port_ = 0;
};

// Finding: REST queries ran on the reactor threads, so one slow query held up every connection
// on that reactor, providers' webhooks included. With one reactor, a read that blocks (until the
// test lets it go) must not keep a webhook or /healthz on the same reactor from being answered.
TEST_F(HttpEndpointTest, SlowQueryDoesNotDelayAnswersOnTheSameReactor) {
  std::promise<void> started;
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  router_.Add(
      "GET", "/api/v1/slow", kPublic,
      [&](const api::ApiRequest&, const RouteContext&, api::Responder respond) {
        started.set_value();
        released.wait();
        respond(api::JsonOk("{\"slow\":true}"));
      },
      Runs::kQueryPool);
  router_.Add("GET", "/healthz", kPublic,
              [](const api::ApiRequest&, const RouteContext&, api::Responder r) { Ok(r); });
  router_.Add("POST", "/webhooks/:source", kSourceToken,
              [](const api::ApiRequest&, const RouteContext&, api::Responder r) { Ok(r); });
  Start(/*threads=*/1);

  int slow = ConnectLoopback(port_);
  ASSERT_GE(slow, 0);
  ASSERT_TRUE(SendAll(slow, "GET /api/v1/slow HTTP/1.1\r\nHost: t\r\n\r\n"));
  ASSERT_EQ(started.get_future().wait_for(std::chrono::seconds(10)), std::future_status::ready);

  hookvault::testing::HttpClient client;
  hookvault::testing::HttpResult health = client.Request("GET", Url("/healthz"), {}, "", 5000);
  hookvault::testing::HttpResult ingest = client.Request(
      "POST", Url("/webhooks/a"), {{"Content-Type", "application/json"}}, "{}", 5000);
  // Only now may the slow read finish: both answers above came while it was still running.
  release.set_value();
  EXPECT_EQ(health.status, 200) << health.error;
  EXPECT_EQ(ingest.status, 200) << ingest.error;
  std::string slow_answer = ReadResponse(slow, 10000);
  EXPECT_EQ(StatusOf(slow_answer), 200) << slow_answer;
  EXPECT_NE(slow_answer.find("{\"slow\":true}"), std::string::npos);
  close(slow);
  endpoint_->Shutdown();
  pool_.Stop();
}

// A request sent on a connection whose previous answer is still owed (pipelined) must not be
// answered first: its answer would be read as the earlier request's (a 401 read as the answer
// to a stored webhook, the 200 as the answer to the refused one). The connection is closed
// instead; whatever the client reads first is never the second request's answer.
TEST_F(HttpEndpointTest, APipelinedRequestIsNeverAnsweredBeforeTheOneOwed) {
  std::promise<void> started;
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  router_.Add(
      "GET", "/api/v1/slow", kPublic,
      [&](const api::ApiRequest&, const RouteContext&, api::Responder respond) {
        started.set_value();
        released.wait();
        respond(api::JsonOk("{\"slow\":true}"));
      },
      Runs::kQueryPool);
  router_.Add("GET", "/healthz", kPublic,
              [](const api::ApiRequest&, const RouteContext&, api::Responder r) {
                r(api::JsonOk("{\"healthz\":true}"));
              });
  Start(/*threads=*/1);
  int fd = ConnectLoopback(port_);
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(SendAll(fd, "GET /api/v1/slow HTTP/1.1\r\nHost: t\r\nConnection: keep-alive\r\n\r\n"));
  ASSERT_EQ(started.get_future().wait_for(std::chrono::seconds(10)), std::future_status::ready);
  ASSERT_TRUE(SendAll(fd, "GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: keep-alive\r\n\r\n"));
  std::string first = ReadResponse(fd, 1000);
  EXPECT_EQ(first.find("healthz"), std::string::npos)
      << "the pipelined request was answered before the one owed: " << first;
  release.set_value();
  std::string rest = ReadResponse(fd, 2000);
  EXPECT_EQ(rest.find("healthz"), std::string::npos) << rest;
  close(fd);
  endpoint_->Shutdown();
  pool_.Stop();
}

// A handler that answers twice (it answered, then threw, and the catch answered again) sends one
// answer and counts it off once. (Pistache 0.0.5's writer itself refuses a second send here, so
// it is the count that shows the guard: without it the endpoint owed -1 answers.)
TEST_F(HttpEndpointTest, AnAnswerIsSentOnceWhateverTheHandlerDoes) {
  router_.Add("GET", "/healthz", kPublic,
              [](const api::ApiRequest&, const RouteContext&, api::Responder r) {
                r(api::JsonOk("{\"first\":true}"));
                r(api::JsonOk("{\"second\":true}"));
              });
  Start(/*threads=*/1);
  int fd = ConnectLoopback(port_);
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(SendAll(fd, "GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: keep-alive\r\n\r\n"));
  std::string first = ReadResponse(fd, 5000);
  EXPECT_NE(first.find("first"), std::string::npos) << first;
  std::string second = ReadResponse(fd, 500);
  EXPECT_EQ(second, "") << "a second answer was sent: " << second;
  // Counted off once: a second count would let a stop believe answers were sent that are owed.
  EXPECT_EQ(endpoint_->owed_answers(), 0);
  close(fd);
  endpoint_->Shutdown();
  pool_.Stop();
}

// Finding: a query parameter given twice kept its first value (Pistache keeps one per name), so
// api/ could not refuse `?status=failed&status=bogus`. Every parameter reaches the handler, in
// order, with empty values and decoded.
TEST_F(HttpEndpointTest, EveryQueryParameterReachesTheHandlerInOrder) {
  std::mutex mu;
  api::HeaderList seen;  // guarded by mu
  router_.Add(
      "GET", "/api/v1/events", kPublic,
      [&](const api::ApiRequest& req, const RouteContext&, api::Responder respond) {
        {
          std::lock_guard<std::mutex> lock(mu);
          seen = req.query;
        }
        respond(api::JsonOk("{}"));
      },
      Runs::kQueryPool);
  Start();
  hookvault::testing::HttpClient client;
  auto r = client.Request(
      "GET", Url("/api/v1/events?status=failed&status=bogus&destination=&flag&&a%20b=c%2Fd&"));
  EXPECT_EQ(r.status, 200) << r.error;
  endpoint_->Shutdown();
  pool_.Stop();
  std::lock_guard<std::mutex> lock(mu);
  EXPECT_EQ(seen, (api::HeaderList{{"status", "failed"},
                                   {"status", "bogus"},
                                   {"destination", ""},
                                   {"flag", ""},
                                   {"a b", "c/d"}}));
}

// Finding: behind a proxy that adds its own X-Forwarded-For line (HAProxy), Pistache kept only
// the first line, the one the client wrote. Every line reaches api/, joined in order, once.
TEST_F(HttpEndpointTest, ForwardedForLinesAreJoinedInOrder) {
  std::mutex mu;
  std::vector<std::string> seen;  // guarded by mu: every x-forwarded-for header api/ got
  router_.Add("POST", "/webhooks/:source", kSourceToken,
              [&](const api::ApiRequest& req, const RouteContext&, api::Responder respond) {
                {
                  std::lock_guard<std::mutex> lock(mu);
                  for (const auto& [name, value] : req.headers) {
                    if (name == "x-forwarded-for") seen.push_back(value);
                  }
                }
                respond(api::JsonOk("{}"));
              });
  Start();
  int fd = ConnectLoopback(port_);
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(SendAll(fd,
                      "POST /webhooks/a HTTP/1.1\r\nHost: t\r\n"
                      "X-Forwarded-For: 198.51.100.1, 10.1.1.1\r\nContent-Length: 2\r\n"
                      "x-forwarded-for: 203.0.113.7\r\n\r\n{}"));
  EXPECT_EQ(StatusOf(ReadResponse(fd, 10000)), 200);
  close(fd);
  endpoint_->Shutdown();
  pool_.Stop();
  std::lock_guard<std::mutex> lock(mu);
  EXPECT_EQ(seen, (std::vector<std::string>{"198.51.100.1, 10.1.1.1, 203.0.113.7"}));
}

// Finding: shutdown waited a fixed 200 ms for answers to reach the reactors, so an answer sent
// later (a slow commit under load) was dropped although its event was stored. Answers owed when
// Shutdown() begins, sent from another thread well after 200 ms, all reach their clients.
TEST_F(HttpEndpointTest, ShutdownWritesEveryAnswerOwed) {
  constexpr int kClients = 16;
  std::mutex mu;
  std::vector<api::Responder> held;  // guarded by mu
  router_.Add("POST", "/webhooks/:source", kSourceToken,
              [&](const api::ApiRequest&, const RouteContext&, api::Responder respond) {
                std::lock_guard<std::mutex> lock(mu);
                held.push_back(std::move(respond));
              });
  Start(/*threads=*/2);
  std::vector<int> fds;
  for (int i = 0; i < kClients; ++i) {
    int fd = ConnectLoopback(port_);
    ASSERT_GE(fd, 0);
    ASSERT_TRUE(SendAll(fd, "POST /webhooks/a HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\n{}"));
    fds.push_back(fd);
  }
  for (int i = 0; i < 1000; ++i) {
    {
      std::lock_guard<std::mutex> lock(mu);
      if (held.size() == kClients) break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_EQ(endpoint_->owed_answers(), kClients);
  // The "writer": answers every request 500 ms after the shutdown began.
  std::thread writer([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    std::lock_guard<std::mutex> lock(mu);
    for (api::Responder& respond : held) respond(api::JsonOk("{\"stored\":true}"));
    held.clear();
  });
  endpoint_->Shutdown(std::chrono::seconds(20));
  writer.join();
  EXPECT_EQ(endpoint_->owed_answers(), 0);
  int answered = 0;
  for (int fd : fds) {
    std::string answer = ReadResponse(fd, 5000);
    if (StatusOf(answer) == 200 && answer.find("stored") != std::string::npos) ++answered;
    close(fd);
  }
  EXPECT_EQ(answered, kClients);
  pool_.Stop();
}

// A client that never reads its (large) answer cannot hold the stop: Pistache's write loop
// retries a full socket until it drains, so the final flush would spin for ever (it did here,
// before the flush got its deadline).
TEST_F(HttpEndpointTest, ShutdownIsBoundedByAClientThatDoesNotRead) {
  router_.Add("GET", "/big", kPublic,
              [](const api::ApiRequest&, const RouteContext&, api::Responder respond) {
                respond(api::JsonOk("\"" + std::string(32 << 20, 'x') + "\""));
              });
  Start();
  int fd = ConnectLoopback(port_);
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(SendAll(fd, "GET /big HTTP/1.1\r\nHost: t\r\n\r\n"));
  for (int i = 0; i < 1000 && endpoint_->owed_answers() != 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  endpoint_->Shutdown(std::chrono::seconds(1));
  endpoint_.reset();
  close(fd);
  pool_.Stop();
}

// An answer the handler drops without sending is no longer owed: shutdown does not wait for it.
TEST_F(HttpEndpointTest, DroppedResponderIsNotOwed) {
  router_.Add("GET", "/healthz", kPublic,
              [](const api::ApiRequest&, const RouteContext&, api::Responder) {});
  Start();
  int fd = ConnectLoopback(port_);
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(SendAll(fd, "GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n"));
  for (int i = 0; i < 1000 && endpoint_->owed_answers() != 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_EQ(endpoint_->owed_answers(), 0);
  close(fd);
  endpoint_->Shutdown();
  pool_.Stop();
}

}  // namespace
}  // namespace hookvault::server
