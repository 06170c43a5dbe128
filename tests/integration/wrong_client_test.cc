// The wrong-client guard (server/http_endpoint.cc, onDisconnection). Pistache 0.0.5 keys
// pending writes by fd number, so a response for a client that just disconnected could be
// written to a new connection that reused the fd. Here clients that disconnect early hammer
// the server while idle probes (which never send a byte) and keep-alive clients (which check
// that every answer is theirs) watch for anything that was not meant for them.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include "tests/testing/raw_socket.h"
#include "tests/testing/server_process.h"
#include "tests/testing/temp_dir.h"

namespace hookvault::testing {
namespace {

constexpr char kToken[] = "wrong-client-token-0123456789";

int Connect(int port) { return ConnectLoopback(port); }

bool SendAll(int fd, const std::string& data) {
  size_t sent = 0;
  while (sent < data.size()) {
    ssize_t n = send(fd, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) return false;
    sent += static_cast<size_t>(n);
  }
  return true;
}

// Reads one HTTP response (headers + Content-Length body). Returns "" on timeout or close.
std::string ReadResponse(int fd, int timeout_ms) {
  std::string buf;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  size_t header_end = std::string::npos;
  size_t need = 0;
  while (true) {
    if (header_end == std::string::npos) {
      header_end = buf.find("\r\n\r\n");
      if (header_end != std::string::npos) {
        size_t cl = buf.find("Content-Length: ");
        size_t len = cl == std::string::npos ? 0 : std::stoul(buf.substr(cl + 16));
        need = header_end + 4 + len;
      }
    }
    if (header_end != std::string::npos && buf.size() >= need) return buf.substr(0, need);
    int left = static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                    deadline - std::chrono::steady_clock::now())
                                    .count());
    if (left <= 0) return "";
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, left) <= 0) return "";
    char chunk[4096];
    ssize_t n = recv(fd, chunk, sizeof(chunk), 0);
    if (n <= 0) return "";
    buf.append(chunk, static_cast<size_t>(n));
  }
}

std::string Ingest(const std::string& key, bool keep_alive) {
  std::string body = R"({"id":")" + key + R"(","event":"guard"})";
  return "POST /webhooks/guard HTTP/1.1\r\nHost: t\r\nx-auth-token: " + std::string(kToken) +
         "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
         (keep_alive ? "\r\nConnection: keep-alive" : "") + "\r\n\r\n" + body;
}

TEST(WrongClientGuardTest, NobodyReceivesAResponseThatWasNotTheirs) {
  TempDir dir;
  std::string config = dir.Write("config.json", R"({
    "listen": "127.0.0.1:0", "threads": 2, "data_dir": ")" +
                                                    dir.path() + R"(",
    "log": {"level": "warn"},
    "sources": [{"name": "guard", "tokens": [")" + std::string(kToken) +
                                                    R"("]}]
  })");
  ServerProcess server({"serve", "--config", config}, dir.File("server.log"));
  ASSERT_TRUE(server.started()) << server.Log();
  const int port = server.port();

  std::atomic<bool> stop{false};
  std::atomic<int> early_disconnects{0};
  std::atomic<int> probes{0};
  std::atomic<int> probe_violations{0};
  std::atomic<int> echoes{0};
  std::atomic<int> echo_violations{0};
  std::string first_violation;
  std::mutex violation_mu;
  auto record = [&](const std::string& what) {
    std::lock_guard<std::mutex> lock(violation_mu);
    if (first_violation.empty()) first_violation = what;
  };

  std::vector<std::thread> threads;
  // Clients that send a request and hang up before the answer: a webhook (answered later,
  // from the writer thread, after the commit) or a request answered at once.
  for (int t = 0; t < 6; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; !stop.load(); ++i) {
        int fd = Connect(port);
        if (fd < 0) continue;
        if (t % 3 == 0) {
          SendAll(fd, Ingest("early-" + std::to_string(t) + "-" + std::to_string(i), true));
        } else {
          SendAll(fd, "GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: keep-alive\r\n\r\n");
        }
        close(fd);
        ++early_disconnects;
      }
    });
  }
  // Probes: connect and never send; nothing may ever arrive.
  for (int t = 0; t < 6; ++t) {
    threads.emplace_back([&] {
      while (!stop.load()) {
        int fd = Connect(port);
        if (fd < 0) continue;
        pollfd p{fd, POLLIN, 0};
        if (poll(&p, 1, 100) > 0) {
          char buf[512];
          ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
          if (n > 0) {
            ++probe_violations;
            record("probe received: " + std::string(buf, static_cast<size_t>(n)));
          }
        }
        close(fd);
        ++probes;
      }
    });
  }
  // Keep-alive clients: each answer must name what this client asked for.
  for (int t = 0; t < 2; ++t) {
    threads.emplace_back([&, t] {
      int fd = Connect(port);
      std::string my_id;
      for (int i = 0; !stop.load() && fd >= 0; ++i) {
        // An unknown source echoes its name in the 404; a repeated key echoes its event id.
        if (i % 2 == 0) {
          std::string name = "echo-" + std::to_string(t) + "-" + std::to_string(i);
          SendAll(fd, "POST /webhooks/" + name +
                          " HTTP/1.1\r\nHost: t\r\nConnection: keep-alive\r\n"
                          "Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{}");
          std::string r = ReadResponse(fd, 5000);
          if (r.find("404") == std::string::npos ||
              r.find("\\\"" + name + "\\\"") == std::string::npos) {
            ++echo_violations;
            record("echo " + name + " got: " + r);
          }
        } else {
          SendAll(fd, Ingest("mine-" + std::to_string(t), true));
          std::string r = ReadResponse(fd, 5000);
          size_t at = r.find("\"id\":\"");
          std::string id = at == std::string::npos ? "" : r.substr(at + 6, 36);
          if (my_id.empty()) my_id = id;
          if (id.empty() || id != my_id) {
            ++echo_violations;
            record("keep-alive client " + std::to_string(t) + " expected id " + my_id +
                   ", got: " + r);
          }
        }
        ++echoes;
      }
      if (fd >= 0) close(fd);
    });
  }
  // At least 6 s, and until the keep-alive clients had 100 answers (a sanitizer build is many
  // times slower), but never more than 60 s.
  const auto begin = std::chrono::steady_clock::now();
  while (std::chrono::steady_clock::now() - begin < std::chrono::seconds(6) ||
         (echoes.load() <= 100 &&
          std::chrono::steady_clock::now() - begin < std::chrono::seconds(60))) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  stop = true;
  for (auto& t : threads) t.join();

  std::cout << "early disconnects " << early_disconnects.load() << ", probes " << probes.load()
            << ", keep-alive answers " << echoes.load() << "\n";
  EXPECT_GT(early_disconnects.load(), 500);
  EXPECT_GT(probes.load(), 50);
  EXPECT_GT(echoes.load(), 100);
  EXPECT_EQ(probe_violations.load(), 0) << first_violation;
  EXPECT_EQ(echo_violations.load(), 0) << first_violation;
}

}  // namespace
}  // namespace hookvault::testing
