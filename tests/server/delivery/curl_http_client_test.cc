#include "server/delivery/curl_http_client.h"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <condition_variable>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "storage/base/strings.h"
#include "tests/testing/http_client.h"
#include "tests/testing/sink_server.h"

namespace hookvault::server {
namespace {

using namespace std::chrono_literals;
using testing::SinkReply;
using testing::SinkRequest;
using testing::SinkServer;

// Returns a reply (designated initialisers would warn about the fields left
// out).
SinkReply Reply(int status, std::string body = "",
                std::vector<std::pair<std::string, std::string>> headers = {}, int delay_ms = 0) {
  SinkReply reply;
  reply.status = status;
  reply.body = std::move(body);
  reply.headers = std::move(headers);
  reply.delay_ms = delay_ms;
  return reply;
}

SinkReply NeverAnswer() {
  SinkReply reply;
  reply.never_answer = true;
  return reply;
}

// Posts and waits for the answer (10 s at most, then a status of -1).
OutboundResponse Send(HttpClient &client, OutboundRequest request) {
  auto promise = std::make_shared<std::promise<OutboundResponse>>();
  std::future<OutboundResponse> future = promise->get_future();
  client.Post(std::move(request), [promise](OutboundResponse r) { promise->set_value(r); });
  if (future.wait_for(10s) != std::future_status::ready) {
    OutboundResponse timed_out;
    timed_out.status = -1;
    return timed_out;
  }
  return future.get();
}

OutboundRequest Request(const std::string &url, std::string body = "{}") {
  OutboundRequest request;
  request.url = url;
  request.body = std::move(body);
  request.headers = {{"Content-Type", "application/json"}};
  return request;
}

// Returns a port on 127.0.0.1 that nothing listens on (bound, then closed).
int ClosedPort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  bind(fd, reinterpret_cast<sockaddr *>(&addr), sizeof addr);
  getsockname(fd, reinterpret_cast<sockaddr *>(&addr), &len);
  close(fd);
  return ntohs(addr.sin_port);
}

// Counts `done` calls per request index and wakes a waiter when all have come.
class DoneCounter {
 public:
  explicit DoneCounter(size_t n) : calls_(n) {}

  std::function<void(OutboundResponse)> Callback(size_t i) {
    return [this, i](OutboundResponse r) {
      std::lock_guard<std::mutex> lock(mu_);
      if (calls_[i]++ == 0) ++distinct_;
      responses_.push_back(std::move(r));
      cv_.notify_all();
    };
  }
  bool WaitAll(std::chrono::milliseconds timeout) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return distinct_ == calls_.size(); });
  }
  std::vector<int> Calls() {
    std::lock_guard<std::mutex> lock(mu_);
    return calls_;
  }
  std::vector<OutboundResponse> Responses() {
    std::lock_guard<std::mutex> lock(mu_);
    return responses_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<int> calls_;
  size_t distinct_ = 0;
  std::vector<OutboundResponse> responses_;
};

TEST(CurlHttpClientTest, SendsBodyBytesAndHeadersExactly) {
  SinkServer sink;
  CurlHttpClient client;
  std::string body("{\"a\":1}\0tail\xff\r\n", 15);
  OutboundRequest request = Request(sink.Url("/hooks/in?x=1"), body);
  request.headers.push_back({"webhook-id", "evt_123"});
  request.headers.push_back({"X-Hookvault-Attempt", "2"});
  request.headers.push_back({"X-Empty", ""});

  OutboundResponse response = Send(client, request);

  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(response.error, "");
  EXPECT_EQ(response.body_excerpt, "ok");
  EXPECT_GT(response.duration_us, 0);
  ASSERT_EQ(sink.Count(), 1u);
  SinkRequest got = sink.Requests()[0];
  EXPECT_EQ(got.method, "POST");
  EXPECT_EQ(got.path, "/hooks/in?x=1");
  EXPECT_EQ(got.body, body);
  EXPECT_EQ(got.body.size(), 15u);
  EXPECT_EQ(got.headers["content-type"], "application/json");
  EXPECT_EQ(got.headers["content-length"], "15");
  EXPECT_EQ(got.headers["webhook-id"], "evt_123");
  EXPECT_EQ(got.headers["x-hookvault-attempt"], "2");
  ASSERT_EQ(got.headers.count("x-empty"), 1u);
  EXPECT_EQ(got.headers["x-empty"], "");
  EXPECT_EQ(got.headers.count("expect"), 0u);
  EXPECT_EQ(got.headers.count("transfer-encoding"), 0u);
}

// Sets environment variables for the lifetime of the object and restores them after. Only
// while no other thread of the test reads the environment (libcurl does, per transfer): the
// client is created after it and destroyed before it.
class ScopedEnvironment {
 public:
  explicit ScopedEnvironment(std::vector<std::pair<std::string, std::string>> vars) {
    for (auto& [name, value] : vars) {
      const char* old = std::getenv(name.c_str());
      saved_.emplace_back(name, old ? std::optional<std::string>(old) : std::nullopt);
      if (value.empty()) {
        unsetenv(name.c_str());
      } else {
        setenv(name.c_str(), value.c_str(), 1);
      }
    }
  }
  ~ScopedEnvironment() {
    for (auto& [name, old] : saved_) {
      if (old) {
        setenv(name.c_str(), old->c_str(), 1);
      } else {
        unsetenv(name.c_str());
      }
    }
  }

 private:
  std::vector<std::pair<std::string, std::optional<std::string>>> saved_;
};

// Deliveries go straight to the destination: a proxy named in the process environment (as
// systemd, a container image or a shell profile may set one) is never contacted.
TEST(CurlHttpClientTest, IgnoresProxiesNamedInTheEnvironment) {
  SinkServer sink;
  SinkServer proxy;  // counts every connection it accepts
  ASSERT_NE(proxy.port(), 0);
  std::string proxy_url = "http://127.0.0.1:" + std::to_string(proxy.port());
  ScopedEnvironment env({{"http_proxy", proxy_url},
                         {"https_proxy", proxy_url},
                         {"ALL_PROXY", proxy_url},
                         {"all_proxy", proxy_url},
                         {"no_proxy", ""},
                         {"NO_PROXY", ""}});
  {
    CurlHttpClient client;
    OutboundResponse response = Send(client, Request(sink.Url("/hooks/direct")));
    EXPECT_EQ(response.status, 200) << response.error;
  }
  EXPECT_EQ(sink.Count(), 1u);
  EXPECT_EQ(proxy.Connections(), 0u);
  EXPECT_EQ(proxy.Count(), 0u);
}

TEST(CurlHttpClientTest, SendsNoContentTypeOfItsOwn) {
  SinkServer sink;
  CurlHttpClient client;
  OutboundRequest request;
  request.url = sink.Url("/");
  request.body = "x";
  EXPECT_EQ(Send(client, request).status, 200);
  ASSERT_EQ(sink.Count(), 1u);
  EXPECT_EQ(sink.Requests()[0].headers.count("content-type"), 0u);
}

TEST(CurlHttpClientTest, LargeBodyWithoutExpectContinue) {
  SinkServer sink;
  CurlHttpClient client;
  std::string body(3 << 20,
                   'b');  // curl would send Expect: 100-continue above 1 MiB
  body[12345] = '\0';
  OutboundResponse response = Send(client, Request(sink.Url("/big"), body));
  EXPECT_EQ(response.status, 200);
  ASSERT_EQ(sink.Count(), 1u);
  EXPECT_EQ(sink.Requests()[0].body, body);
  EXPECT_EQ(sink.Requests()[0].headers.count("expect"), 0u);
}

TEST(CurlHttpClientTest, ReportsStatuses) {
  SinkServer sink;
  sink.SetHandler([](const SinkRequest &r) {
    SinkReply reply;
    reply.status = std::stoi(r.path.substr(1));
    reply.body = "status " + r.path.substr(1);
    return reply;
  });
  CurlHttpClient client;
  for (int status : {200, 201, 204, 400, 404, 410, 429, 500, 503}) {
    OutboundResponse response = Send(client, Request(sink.Url("/" + std::to_string(status))));
    EXPECT_EQ(response.status, status);
    EXPECT_EQ(response.error, "");
    if (status != 204) {
      EXPECT_EQ(response.body_excerpt, "status " + std::to_string(status));
    }
  }
}

TEST(CurlHttpClientTest, KeepsOnlyTheFirstKibOfTheResponse) {
  SinkServer sink;
  std::string big;
  for (int i = 0; i < 5000; ++i) big += static_cast<char>('a' + i % 26);
  sink.SetHandler([&big](const SinkRequest &) { return Reply(500, big); });
  CurlHttpClient client;
  OutboundResponse response = Send(client, Request(sink.Url("/")));
  EXPECT_EQ(response.status, 500);
  EXPECT_EQ(response.error, "");
  EXPECT_EQ(response.body_excerpt, big.substr(0, 1024));
  // The rest was read: the connection is reused.
  EXPECT_EQ(Send(client, Request(sink.Url("/"))).status, 500);
  EXPECT_EQ(sink.Connections(), 1u);
}

TEST(CurlHttpClientTest, CutsOffAHugeResponseButKeepsTheStatus) {
  SinkServer sink;
  std::string huge(CurlHttpClient::kMaxDrainBytes + 100000, 'h');
  sink.SetHandler([&huge](const SinkRequest &) { return Reply(200, huge); });
  CurlHttpClient client;
  OutboundResponse response = Send(client, Request(sink.Url("/")));
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(response.error, "");
  EXPECT_EQ(response.body_excerpt, std::string(1024, 'h'));
  // The cut-off connection is not reused.
  EXPECT_EQ(Send(client, Request(sink.Url("/"))).status, 200);
  EXPECT_EQ(sink.Connections(), 2u);
}

TEST(CurlHttpClientTest, CapturesRetryAfter) {
  SinkServer sink;
  sink.SetHandler([](const SinkRequest &r) {
    SinkReply reply;
    if (r.path == "/busy") {
      reply.status = 429;
      reply.headers = {{"retry-AFTER", "  120 "}};
    } else if (r.path == "/date") {
      reply.status = 503;
      reply.headers = {{"Retry-After", "Wed, 21 Oct 2015 07:28:00 GMT"}};
    }
    return reply;
  });
  CurlHttpClient client;
  OutboundResponse busy = Send(client, Request(sink.Url("/busy")));
  EXPECT_EQ(busy.status, 429);
  EXPECT_EQ(busy.retry_after, "120");
  OutboundResponse date = Send(client, Request(sink.Url("/date")));
  EXPECT_EQ(date.status, 503);
  EXPECT_EQ(date.retry_after, "Wed, 21 Oct 2015 07:28:00 GMT");
  OutboundResponse plain = Send(client, Request(sink.Url("/")));
  EXPECT_EQ(plain.status, 200);
  EXPECT_FALSE(plain.retry_after.has_value());
}

TEST(CurlHttpClientTest, TimesOutAfterTimeoutMs) {
  SinkServer sink;
  sink.SetHandler([](const SinkRequest &) { return NeverAnswer(); });
  CurlHttpClient client;
  OutboundRequest request = Request(sink.Url("/slow"));
  request.timeout_ms = 300;
  auto start = std::chrono::steady_clock::now();
  OutboundResponse response = Send(client, request);
  auto elapsed = std::chrono::steady_clock::now() - start;

  EXPECT_EQ(response.status, 0);
  EXPECT_NE(base::AsciiLower(response.error).find("timeout"), std::string::npos) << response.error;
  EXPECT_GE(response.duration_us, 290'000);
  EXPECT_LT(response.duration_us, 1'000'000);
  EXPECT_LT(elapsed, 1500ms);
  EXPECT_EQ(sink.Count(), 1u);
}

TEST(CurlHttpClientTest, TimeoutCoversASlowBody) {
  // Headers at once, then nothing: the whole request is bounded, not just the
  // wait.
  SinkServer sink;
  sink.SetHandler([](const SinkRequest &) {
    return Reply(200, "partial", {{"Content-Length", "100"}});
  });
  CurlHttpClient client;
  OutboundRequest request = Request(sink.Url("/"));
  request.timeout_ms = 300;
  OutboundResponse response = Send(client, request);
  EXPECT_EQ(response.status, 0);
  EXPECT_NE(base::AsciiLower(response.error).find("timeout"), std::string::npos) << response.error;
  EXPECT_NE(response.error.find("200"), std::string::npos) << response.error;
  EXPECT_LT(response.duration_us, 1'000'000);
}

TEST(CurlHttpClientTest, ConnectionRefused) {
  CurlHttpClient client;
  OutboundResponse response =
      Send(client, Request("http://127.0.0.1:" + std::to_string(ClosedPort()) + "/"));
  EXPECT_EQ(response.status, 0);
  EXPECT_NE(response.error, "");
  EXPECT_NE(base::AsciiLower(response.error).find("connect"), std::string::npos) << response.error;
}

TEST(CurlHttpClientTest, UnresolvableHost) {
  CurlHttpClient client;
  OutboundRequest request = Request("http://no-such-host.invalid/");
  request.timeout_ms = 3000;
  OutboundResponse response = Send(client, request);
  EXPECT_EQ(response.status, 0);
  EXPECT_NE(response.error, "");
}

TEST(CurlHttpClientTest, OnlyHttpAndHttps) {
  CurlHttpClient client;
  for (const char *url : {"ftp://127.0.0.1/x", "file:///etc/passwd", "gopher://127.0.0.1/"}) {
    OutboundResponse response = Send(client, Request(url));
    EXPECT_EQ(response.status, 0) << url;
    EXPECT_NE(response.error, "") << url;
  }
}

TEST(CurlHttpClientTest, RejectsHeadersThatWouldInjectLines) {
  SinkServer sink;
  CurlHttpClient client;
  OutboundRequest request = Request(sink.Url("/"));
  request.headers.push_back({"X-Hookvault-Event-Type", "a\r\nX-Injected: yes"});
  OutboundResponse response = Send(client, request);
  EXPECT_EQ(response.status, 0);
  EXPECT_NE(response.error.find("invalid request header"), std::string::npos) << response.error;
  OutboundRequest bad_name = Request(sink.Url("/"));
  bad_name.headers.push_back({"X Bad", "v"});
  EXPECT_EQ(Send(client, bad_name).status, 0);
  std::this_thread::sleep_for(50ms);
  EXPECT_EQ(sink.Count(), 0u);
}

TEST(CurlHttpClientTest, DoesNotFollowRedirects) {
  SinkServer sink;
  sink.SetHandler([&sink](const SinkRequest &r) {
    SinkReply reply;
    if (r.path == "/moved") {
      reply.status = 302;
      reply.headers = {{"Location", sink.Url("/target")}};
      reply.body = "see /target";
    }
    return reply;
  });
  CurlHttpClient client;
  OutboundResponse response = Send(client, Request(sink.Url("/moved")));
  EXPECT_EQ(response.status, 302);
  EXPECT_EQ(response.body_excerpt, "see /target");
  std::this_thread::sleep_for(100ms);
  ASSERT_EQ(sink.Count(), 1u);
  EXPECT_EQ(sink.Requests()[0].path, "/moved");
}

TEST(CurlHttpClientTest, ReusesConnections) {
  SinkServer sink;
  CurlHttpClient client;
  for (int i = 0; i < 50; ++i) {
    ASSERT_EQ(Send(client, Request(sink.Url("/"), std::to_string(i))).status, 200);
  }
  EXPECT_EQ(sink.Count(), 50u);
  EXPECT_LE(sink.Connections(), 2u);
}

TEST(CurlHttpClientTest, ConcurrentPostsCompleteExactlyOnce) {
  SinkServer sink;
  sink.SetHandler([](const SinkRequest &) { return Reply(200, "ok", {}, 5); });
  CurlHttpClient client;
  constexpr size_t kRequests = 200;
  DoneCounter counter(kRequests);
  std::vector<std::thread> posters;
  for (size_t p = 0; p < 4; ++p) {
    posters.emplace_back([&, p] {
      for (size_t i = p; i < kRequests; i += 4) {
        client.Post(Request(sink.Url("/" + std::to_string(i))), counter.Callback(i));
      }
    });
  }
  for (std::thread &t : posters) t.join();
  ASSERT_TRUE(counter.WaitAll(20s));
  std::this_thread::sleep_for(100ms);
  for (int calls : counter.Calls()) EXPECT_EQ(calls, 1);
  for (const OutboundResponse &r : counter.Responses()) EXPECT_EQ(r.status, 200) << r.error;
  EXPECT_EQ(sink.Count(), kRequests);
  EXPECT_LE(sink.Connections(), 64u);  // the default connection cap
}

TEST(CurlHttpClientTest, RespectsTheConnectionCaps) {
  SinkServer sink;
  sink.SetHandler([](const SinkRequest &) { return Reply(200, "ok", {}, 50); });
  CurlHttpClient client(
      CurlHttpClientOptions{.max_total_connections = 8, .max_host_connections = 3});
  constexpr size_t kRequests = 12;
  DoneCounter counter(kRequests);
  for (size_t i = 0; i < kRequests; ++i) {
    client.Post(Request(sink.Url("/")), counter.Callback(i));
  }
  ASSERT_TRUE(counter.WaitAll(10s));
  for (const OutboundResponse &r : counter.Responses()) EXPECT_EQ(r.status, 200) << r.error;
  EXPECT_LE(sink.Connections(), 3u);
}

// libcurl alone would fail the second request with "Connection timed out after 0
// milliseconds" when the first one frees the connection: it does not time out a transfer
// waiting for a connection under its caps, then finds the deadline long gone.
TEST(CurlHttpClientTest, WaitingForAConnectionDoesNotCountAgainstTheTimeout) {
  for (CurlHttpClientOptions options :
       {CurlHttpClientOptions{.max_total_connections = 1, .max_host_connections = 0},
        CurlHttpClientOptions{.max_total_connections = 64, .max_host_connections = 1}}) {
    SinkServer sink;
    sink.SetHandler(
        [](const SinkRequest &r) { return Reply(200, r.path, {}, r.path == "/slow" ? 600 : 0); });
    CurlHttpClient client(options);
    DoneCounter counter(2);
    OutboundRequest slow = Request(sink.Url("/slow"));
    slow.timeout_ms = 5000;
    OutboundRequest quick = Request(sink.Url("/quick"));
    quick.timeout_ms = 300;
    client.Post(slow, counter.Callback(0));
    client.Post(quick, counter.Callback(1));
    ASSERT_TRUE(counter.WaitAll(10s));
    std::vector<OutboundResponse> responses = counter.Responses();
    ASSERT_EQ(responses.size(), 2u);
    EXPECT_EQ(responses[0].body_excerpt, "/slow");
    EXPECT_EQ(responses[1].status, 200) << responses[1].error;
    EXPECT_EQ(responses[1].body_excerpt, "/quick");
    EXPECT_LT(responses[1].duration_us, 300'000);  // the wait is not the request's
    EXPECT_EQ(sink.Connections(), 1u);
  }
}

TEST(CurlHttpClientTest, PerHostCapLetsOtherHostsThrough) {
  SinkServer a, b;
  a.SetHandler([](const SinkRequest &) { return Reply(200, "a", {}, 500); });
  CurlHttpClient client(
      CurlHttpClientOptions{.max_total_connections = 64, .max_host_connections = 1});
  DoneCounter counter(4);
  client.Post(Request(a.Url("/")), counter.Callback(0));
  client.Post(Request(a.Url("/")), counter.Callback(1));
  client.Post(Request(a.Url("/")), counter.Callback(2));
  ASSERT_TRUE(a.WaitForCount(1, 5s));
  OutboundResponse other = Send(client, Request(b.Url("/")));
  EXPECT_EQ(other.status, 200);
  EXPECT_LT(other.duration_us, 400'000);
  EXPECT_EQ(a.Count(), 1u);  // the other two wait for a's one connection
  counter.Callback(3)(other);
  ASSERT_TRUE(counter.WaitAll(10s));
  EXPECT_EQ(a.Count(), 3u);
  EXPECT_EQ(a.Connections(), 1u);
}

TEST(CurlHttpClientTest, CallsDoneOnItsOwnThreadAndAcceptsPostsFromDone) {
  SinkServer sink;
  CurlHttpClient client;
  std::promise<std::vector<std::string>> names;
  auto seen = std::make_shared<std::vector<std::string>>();
  std::function<void(OutboundResponse)> chain = [&](OutboundResponse r) {
    char name[16] = {};
    pthread_getname_np(pthread_self(), name, sizeof name);
    seen->push_back(std::string(name) + ":" + std::to_string(r.status));
    if (seen->size() < 5) {
      client.Post(Request(sink.Url("/")), chain);
    } else {
      names.set_value(*seen);
    }
  };
  client.Post(Request(sink.Url("/")), chain);
  auto future = names.get_future();
  ASSERT_EQ(future.wait_for(10s), std::future_status::ready);
  EXPECT_EQ(future.get(), std::vector<std::string>(5, "hv-http:200"));
}

TEST(CurlHttpClientTest, SurvivesACallbackThatThrows) {
  SinkServer sink;
  CurlHttpClient client;
  client.Post(Request(sink.Url("/")), [](OutboundResponse) { throw std::runtime_error("boom"); });
  EXPECT_EQ(Send(client, Request(sink.Url("/"))).status, 200);
}

TEST(CurlHttpClientTest, DestructorCompletesEverythingInFlightOnce) {
  SinkServer sink;
  sink.SetHandler([](const SinkRequest &) { return NeverAnswer(); });
  constexpr size_t kRequests = 30;
  DoneCounter counter(kRequests);
  auto start = std::chrono::steady_clock::now();
  {
    CurlHttpClient client;
    for (size_t i = 0; i < 20; ++i) {
      OutboundRequest request = Request(sink.Url("/"));
      request.timeout_ms = 60'000;
      client.Post(std::move(request), counter.Callback(i));
    }
    ASSERT_TRUE(sink.WaitForCount(20, 5s));    // these are in flight, waiting for an answer
    for (size_t i = 20; i < kRequests; ++i) {  // these may still be queued
      client.Post(Request(sink.Url("/")), counter.Callback(i));
    }
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
  ASSERT_TRUE(counter.WaitAll(0ms));
  for (int calls : counter.Calls()) EXPECT_EQ(calls, 1);
  for (const OutboundResponse &r : counter.Responses()) {
    EXPECT_EQ(r.status, 0);
    EXPECT_EQ(r.error, "client shutting down");
  }
}

TEST(CurlHttpClientTest, DestructorCompletesRequestsWaitingForAConnection) {
  SinkServer sink;
  sink.SetHandler([](const SinkRequest &) { return NeverAnswer(); });
  constexpr size_t kRequests = 10;
  DoneCounter counter(kRequests);
  {
    CurlHttpClient client(
        CurlHttpClientOptions{.max_total_connections = 3, .max_host_connections = 0});
    for (size_t i = 0; i < kRequests; ++i) {
      client.Post(Request(sink.Url("/")), counter.Callback(i));
    }
    ASSERT_TRUE(sink.WaitForCount(3, 5s));
    std::this_thread::sleep_for(50ms);
    EXPECT_EQ(sink.Count(), 3u);
  }
  ASSERT_TRUE(counter.WaitAll(0ms));
  for (int calls : counter.Calls()) EXPECT_EQ(calls, 1);
  for (const OutboundResponse &r : counter.Responses()) {
    EXPECT_EQ(r.status, 0);
    EXPECT_EQ(r.error, "client shutting down");
  }
}

TEST(CurlHttpClientTest, DestructorAnswersPostsMadeByDoneDuringShutdown) {
  SinkServer sink;
  sink.SetHandler([](const SinkRequest &) { return NeverAnswer(); });
  std::atomic<int> first{0}, second{0};
  {
    CurlHttpClient client;
    client.Post(Request(sink.Url("/")), [&](OutboundResponse) {
      ++first;
      client.Post(Request(sink.Url("/")), [&](OutboundResponse r) {
        EXPECT_EQ(r.error, "client shutting down");
        ++second;
      });
    });
    ASSERT_TRUE(sink.WaitForCount(1, 5s));
  }
  EXPECT_EQ(first.load(), 1);
  EXPECT_EQ(second.load(), 1);
}

TEST(SinkServerTest, RecordsRequestsAndAnswersOk) {
  SinkServer sink;
  ASSERT_GT(sink.port(), 0);
  testing::HttpClient http;
  testing::HttpResult result =
      http.Request("POST", sink.Url("/a/b"), {{"X-Thing", "One"}}, std::string("x\0y", 3));
  EXPECT_EQ(result.status, 200);
  EXPECT_EQ(result.body, "ok");
  ASSERT_TRUE(sink.WaitForCount(1, 1s));
  SinkRequest got = sink.Requests()[0];
  EXPECT_EQ(got.method, "POST");
  EXPECT_EQ(got.path, "/a/b");
  EXPECT_EQ(got.headers["x-thing"], "One");
  EXPECT_EQ(got.body, std::string("x\0y", 3));
  EXPECT_GT(got.received_at_us, 1'600'000'000'000'000);
  EXPECT_EQ(got.connection, 1u);
  EXPECT_FALSE(sink.WaitForCount(2, 10ms));
}

TEST(SinkServerTest, KeepsConnectionsAliveAndCountsThem) {
  SinkServer sink;
  testing::HttpClient a, b;
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(a.Request("POST", sink.Url("/"), {}, "a").status, 200);
    EXPECT_EQ(b.Request("POST", sink.Url("/"), {}, "b").status, 200);
  }
  EXPECT_EQ(sink.Count(), 6u);
  EXPECT_EQ(sink.Connections(), 2u);
}

TEST(SinkServerTest, AnswersLateAndWithTheGivenReply) {
  SinkServer sink;
  sink.SetHandler([](const SinkRequest &) { return Reply(418, "tea", {{"X-Reply", "yes"}}, 200); });
  testing::HttpClient http;
  auto start = std::chrono::steady_clock::now();
  testing::HttpResult result = http.Request("POST", sink.Url("/"), {}, "");
  EXPECT_GE(std::chrono::steady_clock::now() - start, 190ms);
  EXPECT_EQ(result.status, 418);
  EXPECT_EQ(result.headers["x-reply"], "yes");
  EXPECT_EQ(result.body, "tea");
}

TEST(SinkServerTest, DestructorReturnsPromptlyWithConnectionsHeldOpen) {
  auto sink = std::make_unique<SinkServer>();
  sink->SetHandler([](const SinkRequest &) { return NeverAnswer(); });
  std::vector<std::thread> clients;
  std::vector<testing::HttpResult> results(3);
  for (size_t i = 0; i < results.size(); ++i) {
    clients.emplace_back([&, i] {
      testing::HttpClient http;
      results[i] = http.Request("POST", sink->Url("/"), {}, "x", 30'000);
    });
  }
  ASSERT_TRUE(sink->WaitForCount(3, 5s));
  auto start = std::chrono::steady_clock::now();
  sink.reset();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 1s);
  for (std::thread &t : clients) t.join();
  for (const testing::HttpResult &r : results) EXPECT_EQ(r.status, 0);
}

}  // namespace
}  // namespace hookvault::server
