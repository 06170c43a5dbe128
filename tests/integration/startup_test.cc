// Startup that fails part-way: every part opened so far is closed, in order, and nothing is
// used after it is gone. Run under AddressSanitizer by `scripts/test --asan`, where a
// use-after-free or a leak on the way out is a report in the output that fails the test.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <string>

#include "tests/testing/http_client.h"
#include "tests/testing/server_process.h"
#include "tests/testing/sink_server.h"
#include "tests/testing/temp_dir.h"

namespace hookvault::testing {
namespace {

constexpr char kToken[] = "startup-token-0123456789";

// A socket listening on a free port of 127.0.0.1, so that nobody else can bind it.
class TakenPort {
 public:
  TakenPort() {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(addr);
    if (fd_ < 0 || bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
        listen(fd_, 1) != 0 || getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      return;
    }
    port_ = ntohs(addr.sin_port);
  }
  ~TakenPort() {
    if (fd_ >= 0) close(fd_);
  }
  TakenPort(const TakenPort&) = delete;
  TakenPort& operator=(const TakenPort&) = delete;
  int port() const { return port_; }

 private:
  int fd_ = -1;
  int port_ = 0;
};

bool SanitizerReported(const std::string& output) {
  for (const char* marker : {"AddressSanitizer", "LeakSanitizer", "ThreadSanitizer",
                             "runtime error:"}) {
    if (output.find(marker) != std::string::npos) return true;
  }
  return false;
}

// The failure comes after the scheduler started and has deliveries in flight to a sink that
// never answers: the HTTP client's completions call back into the scheduler, so the scheduler
// must stop and the client must finish before either is destroyed.
TEST(StartupTest, PortTakenAfterTheSchedulerStartedClosesEveryPartCleanly) {
  SinkServer sink;
  sink.SetHandler([](const SinkRequest&) {
    SinkReply reply;
    reply.never_answer = true;
    return reply;
  });
  TempDir dir;
  std::string config = dir.Write(
      "config.json", R"({"listen": "127.0.0.1:0", "data_dir": ")" + dir.path() +
                         R"(", "log": {"level": "info"},
        "sources": [{"name": "pms", "tokens": [")" + kToken + R"("]}],
        "destinations": [{"name": "sink", "url": ")" + sink.Url("/hooks") +
                         R"(", "timeout_ms": 30000}]})");
  {
    // Leaves three deliveries leased and pending, as a crash does.
    ServerProcess first({"serve", "--config", config}, dir.File("first.log"));
    ASSERT_TRUE(first.started()) << first.Log();
    HttpClient client;
    for (int i = 0; i < 3; ++i) {
      HttpResult r = client.Request("POST", first.Url("/webhooks/pms"),
                                    {{"x-auth-token", kToken}, {"Content-Type", "application/json"}},
                                    R"({"n":)" + std::to_string(i) + "}");
      ASSERT_EQ(r.status, 200) << r.body;
    }
    ASSERT_TRUE(sink.WaitForCount(3, std::chrono::seconds(15))) << first.Log();
    first.Signal(SIGKILL);
  }

  TakenPort taken;
  ASSERT_GT(taken.port(), 0);
  CommandResult second = RunCommand("timeout 60 " + HookvaultBinary() + " serve --config " +
                                    config + " --listen 127.0.0.1:" +
                                    std::to_string(taken.port()));
  EXPECT_EQ(second.exit_code, 1) << second.output;  // 124 would be a hang
  // The scheduler had started: it released the leases of the killed run and claimed again.
  EXPECT_NE(second.output.find("released 3 delivery leases"), std::string::npos) << second.output;
  EXPECT_FALSE(SanitizerReported(second.output)) << second.output;
  EXPECT_EQ(second.output.find("listening on"), std::string::npos) << second.output;
}

}  // namespace
}  // namespace hookvault::testing
