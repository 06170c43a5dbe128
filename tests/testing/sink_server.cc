#include "tests/testing/sink_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <exception>
#include <string_view>

#include "storage/base/strings.h"

namespace hookvault::testing {
namespace {

constexpr size_t kMaxHeaderBytes = 64 * 1024;

// Returns `s` without leading optional whitespace and without trailing whitespace or CR.
std::string_view Trim(std::string_view s) {
  return base::TrimRight(base::TrimLeft(s, base::kOptionalWhitespace), " \t\r");
}

const char* Reason(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 202:
      return "Accepted";
    case 204:
      return "No Content";
    case 301:
      return "Moved Permanently";
    case 302:
      return "Found";
    case 400:
      return "Bad Request";
    case 404:
      return "Not Found";
    case 410:
      return "Gone";
    case 429:
      return "Too Many Requests";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    default:
      return "Status";
  }
}

int64_t NowMicros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

bool SendAll(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

// Reads more bytes into `buffer`; returns false on EOF, error or shutdown.
bool ReadMore(int fd, std::string& buffer) {
  char chunk[16 * 1024];
  while (true) {
    ssize_t n = recv(fd, chunk, sizeof chunk, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    buffer.append(chunk, static_cast<size_t>(n));
    return true;
  }
}

}  // namespace

SinkServer::SinkServer() {
  handler_ = [](const SinkRequest&) {
    SinkReply reply;
    reply.body = "ok";
    return reply;
  };
  listen_fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (listen_fd_ < 0) return;
  int one = 1;
  setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  if (bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      listen(listen_fd_, 512) != 0 ||
      getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    close(listen_fd_);
    listen_fd_ = -1;
    return;
  }
  port_ = ntohs(addr.sin_port);
  accept_thread_ = std::thread([this] { AcceptLoop(); });
}

SinkServer::~SinkServer() {
  std::vector<std::thread> threads;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
    // Wakes blocked accept() and recv() calls; the fds are closed by their owners.
    if (listen_fd_ >= 0) shutdown(listen_fd_, SHUT_RDWR);
    for (int fd : open_fds_) shutdown(fd, SHUT_RDWR);
  }
  cv_.notify_all();
  if (accept_thread_.joinable()) accept_thread_.join();
  {
    std::lock_guard<std::mutex> lock(mu_);
    threads.swap(connection_threads_);
  }
  for (std::thread& t : threads) t.join();
  if (listen_fd_ >= 0) close(listen_fd_);
}

std::string SinkServer::Url(const std::string& path) const {
  return "http://127.0.0.1:" + std::to_string(port_) + path;
}

void SinkServer::SetHandler(std::function<SinkReply(const SinkRequest&)> handler) {
  std::lock_guard<std::mutex> lock(mu_);
  handler_ = std::move(handler);
}

std::vector<SinkRequest> SinkServer::Requests() const {
  std::lock_guard<std::mutex> lock(mu_);
  return requests_;
}

size_t SinkServer::Count() const {
  std::lock_guard<std::mutex> lock(mu_);
  return requests_.size();
}

size_t SinkServer::Connections() const {
  std::lock_guard<std::mutex> lock(mu_);
  return connections_;
}

bool SinkServer::WaitForCount(size_t n, std::chrono::milliseconds timeout) const {
  std::unique_lock<std::mutex> lock(mu_);
  return cv_.wait_for(lock, timeout, [&] { return requests_.size() >= n; });
}

bool SinkServer::Sleep(int ms) {
  std::unique_lock<std::mutex> lock(mu_);
  if (ms < 0) {
    cv_.wait(lock, [&] { return stopping_; });
  } else {
    cv_.wait_for(lock, std::chrono::milliseconds(ms), [&] { return stopping_; });
  }
  return !stopping_;
}

void SinkServer::AcceptLoop() {
  while (true) {
    int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) {
      if (fd >= 0) close(fd);
      return;
    }
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED || errno == EMFILE || errno == ENFILE) {
        continue;
      }
      return;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    open_fds_.insert(fd);
    size_t connection = ++connections_;
    connection_threads_.emplace_back([this, fd, connection] { Serve(fd, connection); });
  }
}

void SinkServer::Serve(int fd, size_t connection) {
  std::string buffer;
  bool keep_alive = true;
  // Serves one request; returns false when the connection is to be closed.
  auto serve_one = [&]() -> bool {
    size_t header_end;
    while ((header_end = buffer.find("\r\n\r\n")) == std::string::npos) {
      if (buffer.size() > kMaxHeaderBytes || !ReadMore(fd, buffer)) return false;
    }
    SinkRequest request;
    std::string_view head(buffer.data(), header_end);
    size_t line_end = head.find("\r\n");
    std::string_view request_line = head.substr(0, line_end);
    size_t sp1 = request_line.find(' ');
    size_t sp2 = request_line.rfind(' ');
    if (sp1 == std::string_view::npos || sp2 <= sp1) return false;
    request.method = std::string(request_line.substr(0, sp1));
    request.path = std::string(request_line.substr(sp1 + 1, sp2 - sp1 - 1));
    std::string version(request_line.substr(sp2 + 1));
    std::string_view rest =
        line_end == std::string_view::npos ? std::string_view() : head.substr(line_end + 2);
    while (!rest.empty()) {
      size_t eol = rest.find("\r\n");
      std::string_view line = rest.substr(0, eol);
      rest = eol == std::string_view::npos ? std::string_view() : rest.substr(eol + 2);
      size_t colon = line.find(':');
      if (colon == std::string_view::npos) continue;
      std::string name = base::AsciiLower(Trim(line.substr(0, colon)));
      std::string value(Trim(line.substr(colon + 1)));
      auto [it, inserted] = request.headers.emplace(name, value);
      if (!inserted) it->second += ", " + value;
    }
    buffer.erase(0, header_end + 4);

    std::string connection_header =
        request.headers.count("connection") ? base::AsciiLower(request.headers["connection"]) : "";
    keep_alive =
        version == "HTTP/1.1" ? connection_header != "close" : connection_header == "keep-alive";
    if (request.headers.count("transfer-encoding")) {
      SendAll(fd,
              "HTTP/1.1 501 Not Implemented\r\nContent-Length: 0\r\n"
              "Connection: close\r\n\r\n");
      return false;
    }
    size_t content_length = 0;
    if (auto it = request.headers.find("content-length"); it != request.headers.end()) {
      content_length = std::strtoull(it->second.c_str(), nullptr, 10);
    }
    while (buffer.size() < content_length) {
      if (!ReadMore(fd, buffer)) return false;
    }
    request.body = buffer.substr(0, content_length);
    buffer.erase(0, content_length);
    request.received_at_us = NowMicros();
    request.connection = connection;

    std::function<SinkReply(const SinkRequest&)> handler;
    {
      std::lock_guard<std::mutex> lock(mu_);
      requests_.push_back(request);
      handler = handler_;
    }
    cv_.notify_all();

    SinkReply reply;
    try {
      reply = handler(request);
    } catch (const std::exception& e) {
      reply = SinkReply();
      reply.status = 500;
      reply.body = e.what();
    }
    if (reply.never_answer) {
      Sleep(-1);
      return false;
    }
    if (reply.delay_ms > 0 && !Sleep(reply.delay_ms)) return false;

    std::string out =
        "HTTP/1.1 " + std::to_string(reply.status) + " " + Reason(reply.status) + "\r\n";
    bool has_length = false;
    for (const auto& [name, value] : reply.headers) {
      if (base::EqualsIgnoreCase(name, "content-length")) has_length = true;
      out += name + ": " + value + "\r\n";
    }
    if (!has_length) out += "Content-Length: " + std::to_string(reply.body.size()) + "\r\n";
    if (!keep_alive) out += "Connection: close\r\n";
    out += "\r\n";
    out += reply.body;
    return SendAll(fd, out) && keep_alive;
  };
  while (serve_one()) {
  }
  std::lock_guard<std::mutex> lock(mu_);
  open_fds_.erase(fd);
  close(fd);
}

}  // namespace hookvault::testing
