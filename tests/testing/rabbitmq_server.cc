#include "tests/testing/rabbitmq_server.h"

#include <amqp.h>
#include <amqp_framing.h>
#include <amqp_tcp_socket.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>
#include <vector>

extern char** environ;

namespace hookvault::testing {
namespace {

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// Runs argv[0] (a path) with stdin from /dev/null and stdout and stderr into `log`. Returns its
// exit status (-1 if it could not run).
int Run(const std::vector<std::string>& argv, const std::string& log) {
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  pid_t pid = -1;
  int rc = posix_spawn(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) return -1;
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return -1;
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

std::string Script() { return std::string(HOOKVAULT_SOURCE_DIR) + "/scripts/rabbitmq-test-server"; }

amqp_bytes_t Bytes(const std::string& s) { return amqp_bytes_t{s.size(), const_cast<char*>(s.data())}; }

std::string Text(amqp_bytes_t b) { return std::string(static_cast<const char*>(b.bytes), b.len); }

}  // namespace

RabbitMqServer* RabbitMqServer::Shared() {
  static std::mutex mu;
  static std::string failure;  // guarded by mu
  static std::unique_ptr<RabbitMqServer> instance;
  std::lock_guard<std::mutex> lock(mu);
  if (!instance && failure.empty()) {
    std::unique_ptr<RabbitMqServer> server(new RabbitMqServer());
    if (const char* dir = std::getenv("HOOKVAULT_TEST_RABBITMQ_DIR"); dir && *dir) {
      failure = server->Adopt(dir);
    } else {
      failure = server->StartBroker();
    }
    if (failure.empty()) instance = std::move(server);
  }
  if (!instance) {
    ADD_FAILURE() << "RabbitMqServer: no RabbitMQ for this test: " << failure;
    return nullptr;
  }
  return instance.get();
}

std::unique_ptr<RabbitMqServer> RabbitMqServer::StartOwn() {
  std::unique_ptr<RabbitMqServer> server(new RabbitMqServer());
  if (std::string failure = server->StartBroker(); !failure.empty()) {
    ADD_FAILURE() << "RabbitMqServer: cannot start a broker: " << failure;
    return nullptr;
  }
  return server;
}

std::string RabbitMqServer::Adopt(const std::string& broker_dir) {
  if (std::string e = ReadUrls(broker_dir); !e.empty()) {
    return "HOOKVAULT_TEST_RABBITMQ_DIR: " + e;
  }
  AmqpTestPeer probe(url_);
  if (!probe.ok()) {
    return "the broker of HOOKVAULT_TEST_RABBITMQ_DIR (" + url_ + ") does not answer";
  }
  return "";
}

std::string RabbitMqServer::ReadUrls(const std::string& broker_dir) {
  auto read_line = [](const std::string& path) {
    std::string text = ReadFile(path);
    while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
    return text;
  };
  url_ = read_line(broker_dir + "/url");
  amqps_url_ = read_line(broker_dir + "/amqps_url");
  tls_cert_file_ = broker_dir + "/tls/cert.pem";
  size_t colon = url_.rfind(':');
  if (url_.empty() || amqps_url_.empty() || colon == std::string::npos) {
    return "no url or amqps_url in " + broker_dir;
  }
  port_ = std::atoi(url_.c_str() + colon + 1);
  return "";
}

std::string RabbitMqServer::StartBroker() {
  std::string pattern = (std::filesystem::temp_directory_path() / "hookvault-rmq-XXXXXX").string();
  if (!mkdtemp(pattern.data())) return std::string("mkdtemp: ") + std::strerror(errno);
  dir_ = pattern;
  const std::string script = Script();
  // The watchdog: waits for the end of its stdin (our pipe's write end, held by this process
  // only: O_CLOEXEC), then stops the broker and removes the directory: whenever this process
  // ends (destructor, exit, crash, SIGKILL by ctest's timeout), no broker is left running.
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return std::string("pipe2: ") + std::strerror(errno);
  std::vector<std::string> watch = {
      "/bin/sh", "-c", "cat >/dev/null; \"$0\" stop \"$1/broker\"; rm -rf \"$1\"", script, dir_};
  std::vector<char*> args;
  for (const std::string& a : watch) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, fds[0], 0);
  // Never ctest's pipes: ctest waits for every holder of the test's output to close it.
  posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSID);
  int rc = posix_spawn(&watchdog_, "/bin/sh", &actions, &attr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  close(fds[0]);
  if (rc != 0) {
    close(fds[1]);
    watchdog_ = -1;
    std::filesystem::remove_all(dir_);
    return std::string("posix_spawn of the watchdog: ") + std::strerror(rc);
  }
  watchdog_pipe_ = fds[1];
  const std::string log = dir_ + "/start.log";
  if (Run({script, "start", dir_ + "/broker"}, log) != 0) {
    return "scripts/rabbitmq-test-server start failed:\n" + ReadFile(log);
  }
  if (std::string e = ReadUrls(dir_ + "/broker"); !e.empty()) {
    return "scripts/rabbitmq-test-server: " + e + ":\n" + ReadFile(log);
  }
  return "";
}

bool RabbitMqServer::Stop() {
  if (dir_.empty()) {
    ADD_FAILURE() << "RabbitMqServer::Stop: not a broker of this test's own";
    return false;
  }
  const std::string log = dir_ + "/stop.log";
  if (Run({Script(), "stop", "--keep", dir_ + "/broker"}, log) != 0) {
    ADD_FAILURE() << "scripts/rabbitmq-test-server stop --keep failed:\n" << ReadFile(log);
    return false;
  }
  return true;
}

bool RabbitMqServer::Restart() {
  if (dir_.empty()) {
    ADD_FAILURE() << "RabbitMqServer::Restart: not a broker of this test's own";
    return false;
  }
  const std::string log = dir_ + "/restart.log";
  if (Run({Script(), "start", dir_ + "/broker"}, log) != 0) {
    ADD_FAILURE() << "scripts/rabbitmq-test-server start (restart) failed:\n" << ReadFile(log);
    return false;
  }
  return true;
}

bool RabbitMqServer::Ctl(const std::vector<std::string>& args) {
  if (dir_.empty()) {
    ADD_FAILURE() << "RabbitMqServer::Ctl: not a broker of this test's own";
    return false;
  }
  const std::string log = dir_ + "/ctl.log";
  std::vector<std::string> argv{Script(), "ctl", dir_ + "/broker"};
  argv.insert(argv.end(), args.begin(), args.end());
  if (Run(argv, log) != 0) {
    ADD_FAILURE() << "scripts/rabbitmq-test-server ctl failed:\n" << ReadFile(log);
    return false;
  }
  return true;
}

RabbitMqServer::~RabbitMqServer() {
  // A forked child that ran static destructors must not stop its parent's broker.
  if (getpid() != owner_) return;
  if (watchdog_ > 0) {
    close(watchdog_pipe_);
    int status = 0;
    while (waitpid(watchdog_, &status, 0) < 0 && errno == EINTR) {
    }
  }
}

AmqpTestPeer::AmqpTestPeer(const std::string& url) {
  std::string text = url;
  amqp_connection_info info;
  amqp_default_connection_info(&info);
  if (amqp_parse_url(text.data(), &info) != AMQP_STATUS_OK) {
    ADD_FAILURE() << "AmqpTestPeer: bad URL " << url;
    return;
  }
  amqp_connection_state_t conn = amqp_new_connection();
  amqp_socket_t* socket = amqp_tcp_socket_new(conn);
  timeval tv{5, 0};
  if (socket == nullptr || amqp_socket_open_noblock(socket, info.host, info.port, &tv) != 0) {
    ADD_FAILURE() << "AmqpTestPeer: cannot connect to " << url;
    amqp_destroy_connection(conn);
    return;
  }
  amqp_set_rpc_timeout(conn, &tv);
  amqp_rpc_reply_t r = amqp_login(conn, "/", 0, 131072, 0, AMQP_SASL_METHOD_PLAIN, info.user,
                                  info.password);
  if (r.reply_type != AMQP_RESPONSE_NORMAL) {
    ADD_FAILURE() << "AmqpTestPeer: login to " << url << " failed";
    amqp_destroy_connection(conn);
    return;
  }
  amqp_channel_open(conn, 1);
  if (amqp_get_rpc_reply(conn).reply_type != AMQP_RESPONSE_NORMAL) {
    ADD_FAILURE() << "AmqpTestPeer: channel.open failed";
    amqp_destroy_connection(conn);
    return;
  }
  state_ = conn;
}

AmqpTestPeer::~AmqpTestPeer() {
  if (state_ == nullptr) return;
  auto conn = static_cast<amqp_connection_state_t>(state_);
  amqp_channel_close(conn, 1, AMQP_REPLY_SUCCESS);
  amqp_connection_close(conn, AMQP_REPLY_SUCCESS);
  amqp_destroy_connection(conn);
}

bool AmqpTestPeer::Check(const char* what) {
  auto conn = static_cast<amqp_connection_state_t>(state_);
  amqp_rpc_reply_t r = amqp_get_rpc_reply(conn);
  if (r.reply_type == AMQP_RESPONSE_NORMAL) return true;
  std::string detail;
  if (r.reply_type == AMQP_RESPONSE_SERVER_EXCEPTION && r.reply.id == AMQP_CHANNEL_CLOSE_METHOD) {
    auto* m = static_cast<amqp_channel_close_t*>(r.reply.decoded);
    detail = std::to_string(m->reply_code) + " " + Text(m->reply_text);
  } else if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION) {
    detail = amqp_error_string2(r.library_error);
  }
  ADD_FAILURE() << "AmqpTestPeer: " << what << " failed: " << detail;
  return false;
}

bool AmqpTestPeer::DeclareQueue(const std::string& queue, std::optional<int> reject_beyond) {
  if (!ok()) return false;
  auto conn = static_cast<amqp_connection_state_t>(state_);
  amqp_table_entry_t entries[2];
  amqp_table_t args{0, entries};
  if (reject_beyond) {
    entries[0].key = amqp_cstring_bytes("x-max-length");
    entries[0].value.kind = AMQP_FIELD_KIND_I32;
    entries[0].value.value.i32 = *reject_beyond;
    entries[1].key = amqp_cstring_bytes("x-overflow");
    entries[1].value.kind = AMQP_FIELD_KIND_UTF8;
    entries[1].value.value.bytes = amqp_cstring_bytes("reject-publish");
    args.num_entries = 2;
  }
  amqp_queue_declare(conn, 1, Bytes(queue), 0, /*durable=*/1, 0, 0, args);
  return Check("queue.declare");
}

bool AmqpTestPeer::DeclareExchange(const std::string& exchange, const std::string& type) {
  if (!ok()) return false;
  auto conn = static_cast<amqp_connection_state_t>(state_);
  amqp_exchange_declare(conn, 1, Bytes(exchange), Bytes(type), 0, /*durable=*/1, 0, 0,
                        amqp_empty_table);
  return Check("exchange.declare");
}

bool AmqpTestPeer::Bind(const std::string& queue, const std::string& exchange,
                        const std::string& key) {
  if (!ok()) return false;
  auto conn = static_cast<amqp_connection_state_t>(state_);
  amqp_queue_bind(conn, 1, Bytes(queue), Bytes(exchange), Bytes(key), amqp_empty_table);
  return Check("queue.bind");
}

bool AmqpTestPeer::DeleteQueue(const std::string& queue) {
  if (!ok()) return false;
  auto conn = static_cast<amqp_connection_state_t>(state_);
  amqp_queue_delete(conn, 1, Bytes(queue), 0, 0);
  return Check("queue.delete");
}

std::optional<AmqpTestMessage> AmqpTestPeer::Get(const std::string& queue, int timeout_ms) {
  if (!ok()) return std::nullopt;
  auto conn = static_cast<amqp_connection_state_t>(state_);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  for (;;) {
    amqp_rpc_reply_t r = amqp_basic_get(conn, 1, Bytes(queue), /*no_ack=*/1);
    if (r.reply_type != AMQP_RESPONSE_NORMAL) {
      Check("basic.get");
      return std::nullopt;
    }
    if (r.reply.id == AMQP_BASIC_GET_OK_METHOD) {
      amqp_message_t message;
      if (amqp_read_message(conn, 1, &message, 0).reply_type != AMQP_RESPONSE_NORMAL) {
        ADD_FAILURE() << "AmqpTestPeer: reading a message failed";
        return std::nullopt;
      }
      AmqpTestMessage m;
      m.body = Text(message.body);
      const amqp_basic_properties_t& p = message.properties;
      if (p._flags & AMQP_BASIC_MESSAGE_ID_FLAG) m.message_id = Text(p.message_id);
      if (p._flags & AMQP_BASIC_CONTENT_TYPE_FLAG) m.content_type = Text(p.content_type);
      if (p._flags & AMQP_BASIC_DELIVERY_MODE_FLAG) m.delivery_mode = p.delivery_mode;
      if (p._flags & AMQP_BASIC_TIMESTAMP_FLAG) m.timestamp = p.timestamp;
      if (p._flags & AMQP_BASIC_APP_ID_FLAG) m.app_id = Text(p.app_id);
      if (p._flags & AMQP_BASIC_HEADERS_FLAG) {
        for (int i = 0; i < p.headers.num_entries; ++i) {
          const amqp_table_entry_t& e = p.headers.entries[i];
          if (e.value.kind == AMQP_FIELD_KIND_UTF8 || e.value.kind == AMQP_FIELD_KIND_BYTES) {
            m.headers[Text(e.key)] = Text(e.value.value.bytes);
          }
        }
      }
      amqp_destroy_message(&message);
      amqp_maybe_release_buffers(conn);
      return m;
    }
    amqp_maybe_release_buffers(conn);
    if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

}  // namespace hookvault::testing
