// SinkServer: a real HTTP/1.1 server on 127.0.0.1 (port 0) for tests of forwarding. It
// records every request and answers as a handler says: any status, headers and body, late,
// or never. Keep-alive; request bodies by Content-Length only (no chunked encoding).
#ifndef HOOKVAULT_TESTS_TESTING_SINK_SERVER_H_
#define HOOKVAULT_TESTS_TESTING_SINK_SERVER_H_

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace hookvault::testing {

struct SinkRequest {
  std::string method, path;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
  int64_t received_at_us = 0;  // wall clock (system_clock), microseconds since the epoch
  size_t connection = 0;       // which accepted connection (1, 2, ...) carried it
};

struct SinkReply {
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  int delay_ms = 0;           // wait this long before answering
  bool never_answer = false;  // hold the connection open, send nothing
};

// Thread-safety: every method may be called from any thread. The handler runs on the
// connection's thread, possibly on several at once.
class SinkServer {
 public:
  SinkServer();   // listening when it returns; port() is 0 if it could not listen
  ~SinkServer();  // returns promptly, even with never-answered connections open
  SinkServer(const SinkServer&) = delete;
  SinkServer& operator=(const SinkServer&) = delete;

  int port() const { return port_; }
  std::string Url(const std::string& path) const;

  // Replaces the handler (the default answers 200 "ok").
  void SetHandler(std::function<SinkReply(const SinkRequest&)> handler);

  // Returns the requests received so far, in order of arrival.
  std::vector<SinkRequest> Requests() const;
  size_t Count() const;
  // Returns the number of TCP connections accepted so far.
  size_t Connections() const;
  // Waits until at least `n` requests have arrived; returns false on timeout.
  bool WaitForCount(size_t n, std::chrono::milliseconds timeout) const;

 private:
  void AcceptLoop();
  void Serve(int fd, size_t connection);
  // Sleeps up to `ms` (forever if negative); returns false if the server is stopping.
  bool Sleep(int ms);

  int listen_fd_ = -1;
  int port_ = 0;

  mutable std::mutex mu_;
  mutable std::condition_variable cv_;                    // signalled on each request and on stop
  std::function<SinkReply(const SinkRequest&)> handler_;  // guarded by mu_
  std::vector<SinkRequest> requests_;                     // guarded by mu_
  size_t connections_ = 0;                                // guarded by mu_
  std::set<int> open_fds_;                                // guarded by mu_
  std::vector<std::thread> connection_threads_;           // guarded by mu_
  bool stopping_ = false;                                 // guarded by mu_

  std::thread accept_thread_;
};

}  // namespace hookvault::testing

#endif  // HOOKVAULT_TESTS_TESTING_SINK_SERVER_H_
