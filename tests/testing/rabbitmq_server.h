// RabbitMqServer: a throwaway RabbitMQ broker for tests (scripts/rabbitmq-test-server): its own
// node name, loopback ports (AMQP, distribution, epmd) and files in a temp dir, no plugins;
// stopped (by PID) and removed when the test process ends, whatever way it ends. Starting one
// takes seconds, so a test process shares one (Shared()), and when HOOKVAULT_TEST_RABBITMQ_DIR is
// set (scripts/test starts one broker for its whole run: the DIR of scripts/rabbitmq-test-server)
// that broker is used instead. Tests that restart the broker start their own (StartOwn()).
// Every broker also listens for amqps:// with a self-signed certificate for localhost.
//
// AmqpTestPeer: the tests' side of the broker, written with rabbitmq-c like the client under
// test: declares, binds and deletes queues, and reads messages with basic.get.
//
// A test that cannot start or reach the broker fails (ADD_FAILURE): it never skips.
#ifndef HOOKVAULT_TESTS_TESTING_RABBITMQ_SERVER_H_
#define HOOKVAULT_TESTS_TESTING_RABBITMQ_SERVER_H_

#include <sys/types.h>
#include <unistd.h>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace hookvault::testing {

// Thread-safety: Shared() may be called from any thread; the rest from one thread at a time.
class RabbitMqServer {
 public:
  // The broker of this test process (or of HOOKVAULT_TEST_RABBITMQ_DIR), started on first use.
  // Null, with a test failure recorded, if it cannot start.
  static RabbitMqServer* Shared();
  // A broker of this caller's own, which it may Stop() and Restart(). Null, with a test failure
  // recorded, if it cannot start.
  static std::unique_ptr<RabbitMqServer> StartOwn();

  RabbitMqServer(const RabbitMqServer&) = delete;
  RabbitMqServer& operator=(const RabbitMqServer&) = delete;
  // Own broker: stops it and removes its directory (through a watchdog process that also does
  // it when this process dies without running destructors).
  ~RabbitMqServer();

  // amqp://guest:guest@127.0.0.1:PORT
  const std::string& url() const { return url_; }
  // amqps://guest:guest@localhost:PORT, and the PEM certificate its TLS listener presents (its
  // own CA: self-signed, for the name localhost only, so that 127.0.0.1 fails the host name check).
  const std::string& amqps_url() const { return amqps_url_; }
  const std::string& tls_cert_file() const { return tls_cert_file_; }
  int port() const { return port_; }

  // Own broker only: stops it (SIGTERM to its PID, then waits), keeping its data and port.
  // Returns false, with a test failure, on error.
  bool Stop();
  // Own broker only: starts it again on the same port with the same data.
  bool Restart();
  // Own broker only: runs rabbitmqctl with `args` against it (e.g. set_vm_memory_high_watermark
  // 0 raises a memory alarm). Returns false, with a test failure, on error.
  bool Ctl(const std::vector<std::string>& args);

 private:
  RabbitMqServer() = default;
  std::string StartBroker();  // own: spawns the watchdog and starts; returns the error or ""
  std::string Adopt(const std::string& broker_dir);
  std::string ReadUrls(const std::string& broker_dir);  // returns the error or ""

  pid_t owner_ = getpid();
  std::string dir_;  // own broker only
  std::string url_;
  std::string amqps_url_;
  std::string tls_cert_file_;
  int port_ = 0;
  pid_t watchdog_ = -1;
  int watchdog_pipe_ = -1;
};

// One message read from a queue.
struct AmqpTestMessage {
  std::string body;
  std::string message_id;
  std::string content_type;
  int delivery_mode = 0;
  uint64_t timestamp = 0;
  std::string app_id;
  std::map<std::string, std::string> headers;  // the string values of the headers table
};

// Thread-safety: one thread at a time (a rabbitmq-c connection).
class AmqpTestPeer {
 public:
  // Connects to `url` (ADD_FAILURE when it cannot: ok() is then false).
  explicit AmqpTestPeer(const std::string& url);
  AmqpTestPeer(const AmqpTestPeer&) = delete;
  AmqpTestPeer& operator=(const AmqpTestPeer&) = delete;
  ~AmqpTestPeer();

  bool ok() const { return state_ != nullptr; }

  // Declares a durable queue (with x-max-length and x-overflow reject-publish when
  // `reject_beyond` is set). Returns false, with a test failure, on error.
  bool DeclareQueue(const std::string& queue, std::optional<int> reject_beyond = std::nullopt);
  bool DeclareExchange(const std::string& exchange, const std::string& type = "direct");
  bool Bind(const std::string& queue, const std::string& exchange, const std::string& key);
  bool DeleteQueue(const std::string& queue);
  // Reads the next message of `queue` (basic.get, auto-ack), waiting up to timeout_ms for one.
  std::optional<AmqpTestMessage> Get(const std::string& queue, int timeout_ms = 5000);

 private:
  bool Check(const char* what);
  void* state_ = nullptr;  // amqp_connection_state_t
};

}  // namespace hookvault::testing

#endif  // HOOKVAULT_TESTS_TESTING_RABBITMQ_SERVER_H_
