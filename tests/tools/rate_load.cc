// hookvault_rate_load: the constant-rate load generator of `scripts/bench ingest` (run 7).
//
//   hookvault_rate_load --url http://127.0.0.1:PORT/webhooks/bench --rate R --duration D
//                       --token TOKEN [--connections 64] [--nonce N] [--body-bytes 1024]
//
// POSTs R requests per second in total for D seconds over C keep-alive HTTP/1.1 connections,
// wrk2-style: request i has an intended send time start + i / R, and its latency runs from that
// intended time to the end of its answer, not from the moment it was actually sent. So a
// server that stalls is not hidden by the client waiting for it ("coordinated omission"):
// a request that is due while every connection still waits for an answer waits in line, and
// that wait counts in its latency. A connection sends its next request only after its previous
// answer. Each body is unique, the same shape as scripts/bench.d/ingest.lua:
//   {"event":"bench.ingest","id":"NONCE-1-I","thread":1,"n":I,"data":"abc...xyz0..9..."}
// padded to --body-bytes, with Idempotency-Key: NONCE-1-I and x-auth-token: TOKEN, so every
// request stores a new event. Requests due in [0, D) are all sent; the answers still missing
// 10 s after D count as errors. Prints one line:
//   RATE target=R achieved=A requests=N ok=.. non2xx=.. errors=.. p50_ms=.. p90_ms=..
//        p99_ms=.. p999_ms=.. max_ms=.. max_queue_ms=.. connections=C duration_s=D
//        client_cpu_us=..
// achieved = answers / (last answer - start); max_queue_ms = the longest a due request waited
// for a free connection; client_cpu_us = this program's own CPU (user + system) per answer,
// what it took from the cores it shares with the server. Exits 1 when a connection cannot be opened
// or fails (closed, reset, an answer it cannot parse, an answer missing at the end; with a message
// on stderr), 2 on a bad argument; non-2xx answers are counted, not failed (scripts/bench checks
// them).
//
// Written by hand on POSIX sockets and epoll, one thread: Debian has no wrk2, and libcurl's
// multi interface would add its own scheduling between the intended time and the send.
// Only what hookvault answers is parsed: a status line, headers, a Content-Length body.

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>
#include <string_view>
#include <vector>

namespace {

constexpr int64_t kDrainNs = 10'000'000'000;  // how long answers may come after D

int64_t NowNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

// One keep-alive connection; at most one request in flight on it. Not thread-safe: the
// program has one thread.
struct Conn {
  int fd = -1;
  bool busy = false;
  int64_t intended_ns = 0;  // the intended send time of the request in flight
  std::string out;          // the rest of the request still to write
  std::string in;           // answer bytes read so far
  bool watch_out = false;   // registered for EPOLLOUT (a rest of `out` waits for room)
};

// Where to send: parsed once from --url, then only read.
struct Target {
  std::string host, port, path;
};

bool ParseUrl(std::string_view url, Target* t) {
  constexpr std::string_view kScheme = "http://";
  if (url.substr(0, kScheme.size()) != kScheme) return false;
  url.remove_prefix(kScheme.size());
  size_t slash = url.find('/');
  std::string_view authority = url.substr(0, slash);
  t->path = slash == std::string_view::npos ? "/" : std::string(url.substr(slash));
  size_t colon = authority.rfind(':');
  if (colon == std::string_view::npos) return false;
  t->host = std::string(authority.substr(0, colon));
  t->port = std::string(authority.substr(colon + 1));
  return !t->host.empty() && !t->port.empty();
}

int Connect(const Target& t) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  if (getaddrinfo(t.host.c_str(), t.port.c_str(), &hints, &res) != 0) return -1;
  int fd = -1;
  for (addrinfo* a = res; a != nullptr; a = a->ai_next) {
    fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) continue;
    if (connect(fd, a->ai_addr, a->ai_addrlen) == 0) break;
    close(fd);
    fd = -1;
  }
  freeaddrinfo(res);
  if (fd < 0) return -1;
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  return fd;
}

// Parses one complete answer at the start of `in`: its status and its total length. Returns
// 0 when incomplete, -1 when it is not an HTTP/1.x answer with a Content-Length.
int64_t ParseAnswer(std::string_view in, int* status, bool* close_after) {
  size_t head_end = in.find("\r\n\r\n");
  if (head_end == std::string_view::npos) return 0;
  if (in.size() < 12 || in.substr(0, 7) != "HTTP/1.") return -1;
  *status = std::atoi(std::string(in.substr(9, 3)).c_str());
  std::string head(in.substr(0, head_end + 2));
  std::transform(head.begin(), head.end(), head.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  size_t cl = head.find("\r\ncontent-length:");
  if (cl == std::string::npos) return -1;
  int64_t length = std::strtoll(head.c_str() + cl + 17, nullptr, 10);
  *close_after = head.find("\r\nconnection: close") != std::string::npos;
  int64_t total = static_cast<int64_t>(head_end) + 4 + length;
  return static_cast<int64_t>(in.size()) >= total ? total : 0;
}

// Request number n (from 1): HEAD (request line and the fixed headers), then its
// Idempotency-Key and a unique body of about body_bytes, shaped as ingest.lua's.
std::string Request(const std::string& head, const std::string& nonce, int64_t n,
                    int64_t body_bytes) {
  static const std::string kPad = [] {
    std::string pad;
    for (int i = 0; i < 1024; ++i) pad += "abcdefghijklmnopqrstuvwxyz0123456789";
    return pad;
  }();
  std::string id = nonce + "-1-" + std::to_string(n);
  std::string body = "{\"event\":\"bench.ingest\",\"id\":\"" + id +
                     "\",\"thread\":1,\"n\":" + std::to_string(n) + ",\"data\":\"";
  int64_t pad = std::max<int64_t>(0, body_bytes - static_cast<int64_t>(body.size()) - 2);
  body.append(kPad, 0, static_cast<size_t>(pad));
  body += "\"}";
  return head + "Idempotency-Key: " + id + "\r\nContent-Length: " + std::to_string(body.size()) +
         "\r\n\r\n" + body;
}

double PercentileMs(const std::vector<int64_t>& sorted_ns, double p) {
  if (sorted_ns.empty()) return 0;
  size_t i = static_cast<size_t>(p / 100.0 * static_cast<double>(sorted_ns.size()));
  return static_cast<double>(sorted_ns[std::min(i, sorted_ns.size() - 1)]) / 1e6;
}

int Usage() {
  std::fprintf(stderr,
               "usage: hookvault_rate_load --url http://HOST:PORT/PATH --rate R --duration D "
               "--token TOKEN [--connections C] [--nonce N] [--body-bytes B]\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::string url, token, nonce = std::to_string(std::time(nullptr));
  double rate = 0;
  int64_t duration_s = 0, connections = 64, body_bytes = 1024;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (i + 1 >= argc) return Usage();
    const char* value = argv[++i];
    if (arg == "--url") {
      url = value;
    } else if (arg == "--token") {
      token = value;
    } else if (arg == "--nonce") {
      nonce = value;
    } else if (arg == "--rate") {
      rate = std::strtod(value, nullptr);
    } else if (arg == "--duration") {
      duration_s = std::strtoll(value, nullptr, 10);
    } else if (arg == "--connections") {
      connections = std::strtoll(value, nullptr, 10);
    } else if (arg == "--body-bytes") {
      body_bytes = std::strtoll(value, nullptr, 10);
    } else {
      return Usage();
    }
  }
  Target target;
  if (!ParseUrl(url, &target) || token.empty() || rate <= 0 || duration_s < 1 || connections < 1 ||
      body_bytes < 0 || body_bytes > 36 * 1024) {
    return Usage();
  }

  int ep = epoll_create1(EPOLL_CLOEXEC);
  std::vector<Conn> conns(static_cast<size_t>(connections));
  std::vector<size_t> idle;  // connections without a request in flight
  auto open_conn = [&](size_t c) {
    conns[c] = Conn{};
    conns[c].fd = Connect(target);
    if (conns[c].fd < 0) {
      std::fprintf(stderr, "hookvault_rate_load: cannot connect to %s:%s: %s\n",
                   target.host.c_str(), target.port.c_str(), std::strerror(errno));
      std::exit(1);
    }
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = c;
    epoll_ctl(ep, EPOLL_CTL_ADD, conns[c].fd, &ev);
    idle.push_back(c);
  };
  for (size_t c = 0; c < conns.size(); ++c) open_conn(c);

  const std::string head = "POST " + target.path + " HTTP/1.1\r\nHost: " + target.host + ":" +
                           target.port +
                           "\r\nContent-Type: application/json\r\nConnection: keep-alive\r\n"
                           "x-auth-token: " +
                           token + "\r\n";

  const int64_t total = static_cast<int64_t>(rate * static_cast<double>(duration_s));
  const int64_t start = NowNs();
  const int64_t deadline = start + duration_s * 1'000'000'000 + kDrainNs;
  auto intended = [&](int64_t i) {
    return start + static_cast<int64_t>(static_cast<double>(i) * 1e9 / rate);
  };
  std::vector<int64_t> latencies;
  latencies.reserve(static_cast<size_t>(total));
  int64_t next = 0, ok = 0, non2xx = 0, errors = 0, in_flight = 0, max_queue_ns = 0;
  int64_t last_answer = start;

  auto write_some = [&](size_t c) {  // writes what it can; EPOLLOUT while a rest remains
    Conn& k = conns[c];
    while (!k.out.empty()) {
      ssize_t n = send(k.fd, k.out.data(), k.out.size(), MSG_NOSIGNAL);
      if (n < 0 && errno == EAGAIN) break;
      if (n <= 0) return false;
      k.out.erase(0, static_cast<size_t>(n));
    }
    if (k.watch_out != !k.out.empty()) {  // only on a change: a syscall per request shows
      k.watch_out = !k.out.empty();
      epoll_event ev{};
      ev.events = EPOLLIN | (k.watch_out ? static_cast<uint32_t>(EPOLLOUT) : 0u);
      ev.data.u64 = c;
      epoll_ctl(ep, EPOLL_CTL_MOD, k.fd, &ev);
    }
    return true;
  };
  auto fail_conn = [&](size_t c, const char* why) {
    std::fprintf(stderr, "hookvault_rate_load: connection %zu: %s\n", c, why);
    if (conns[c].busy) {
      --in_flight;
      ++errors;
    }
    close(conns[c].fd);
    idle.erase(std::remove(idle.begin(), idle.end(), c), idle.end());
    open_conn(c);
  };

  while (true) {
    int64_t now = NowNs();
    // Send every request that is due, as long as a connection is free.
    while (next < total && intended(next) <= now && !idle.empty()) {
      size_t c = idle.back();
      idle.pop_back();
      Conn& k = conns[c];
      k.out = Request(head, nonce, next + 1, body_bytes);
      k.busy = true;
      k.intended_ns = intended(next);
      max_queue_ns = std::max(max_queue_ns, now - k.intended_ns);
      ++next;
      ++in_flight;
      if (!write_some(c)) fail_conn(c, "send failed");
    }
    if (next >= total && in_flight == 0) break;
    if (now >= deadline) {
      std::fprintf(stderr,
                   "hookvault_rate_load: %" PRId64 " answers still missing and %" PRId64
                   " requests not sent %" PRId64 " s after the run\n",
                   in_flight, total - next, kDrainNs / 1'000'000'000);
      errors += in_flight + (total - next);
      break;
    }
    // Sleep until the next request is due (if a connection is free for it) or an answer comes.
    int64_t wake = deadline;
    if (next < total && !idle.empty()) wake = std::min(wake, intended(next));
    int64_t wait_ns = std::max<int64_t>(0, wake - now);
    timespec timeout{wait_ns / 1'000'000'000, wait_ns % 1'000'000'000};
    epoll_event events[64];
    int n = epoll_pwait2(ep, events, 64, &timeout, nullptr);
    if (n < 0 && errno != EINTR) {
      std::perror("hookvault_rate_load: epoll_pwait2");
      return 1;
    }
    for (int e = 0; e < n; ++e) {
      size_t c = events[e].data.u64;
      Conn& k = conns[c];
      if ((events[e].events & EPOLLOUT) && !write_some(c)) {
        fail_conn(c, "send failed");
        continue;
      }
      if (!(events[e].events & (EPOLLIN | EPOLLERR | EPOLLHUP))) continue;
      char buf[16384];
      bool closed = false;
      // Epoll is level-triggered: a short read took all there was; the rest, if any, comes
      // with the next event (saves a recv() per answer, which the client's CPU shows).
      while (true) {
        ssize_t r = recv(k.fd, buf, sizeof buf, 0);
        if (r > 0) {
          k.in.append(buf, static_cast<size_t>(r));
          if (static_cast<size_t>(r) < sizeof buf) break;
          continue;
        }
        if (r < 0 && errno == EAGAIN) break;
        closed = true;  // 0: the server closed it; < 0: reset or another error
        break;
      }
      int status = 0;
      bool close_after = false;
      int64_t length = k.in.empty() ? 0 : ParseAnswer(k.in, &status, &close_after);
      if (length < 0 || (length > 0 && !k.busy)) {
        fail_conn(c, "an answer that is not HTTP/1.x with a Content-Length, or one not asked for");
        continue;
      }
      if (length > 0) {
        int64_t done = NowNs();
        latencies.push_back(done - k.intended_ns);
        last_answer = done;
        (status >= 200 && status < 300 ? ok : non2xx) += 1;
        --in_flight;
        k.busy = false;
        k.in.erase(0, static_cast<size_t>(length));
        if (close_after) {
          close(k.fd);
          open_conn(c);
        } else {
          idle.push_back(c);
        }
      } else if (closed) {
        fail_conn(c, "closed by the server");
      }
    }
  }

  std::sort(latencies.begin(), latencies.end());
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  double client_cpu_s = static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
                        static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
  double seconds = static_cast<double>(last_answer - start) / 1e9;
  std::printf("RATE target=%.0f achieved=%.0f requests=%" PRId64 " ok=%" PRId64 " non2xx=%" PRId64
              " errors=%" PRId64
              " p50_ms=%.2f p90_ms=%.2f p99_ms=%.2f p999_ms=%.2f max_ms=%.2f"
              " max_queue_ms=%.2f connections=%" PRId64 " duration_s=%" PRId64
              " client_cpu_us=%.1f\n",
              rate, seconds > 0 ? static_cast<double>(latencies.size()) / seconds : 0.0, next, ok,
              non2xx, errors, PercentileMs(latencies, 50), PercentileMs(latencies, 90),
              PercentileMs(latencies, 99), PercentileMs(latencies, 99.9),
              latencies.empty() ? 0.0 : static_cast<double>(latencies.back()) / 1e6,
              static_cast<double>(max_queue_ns) / 1e6, connections, duration_s,
              latencies.empty() ? 0.0 : client_cpu_s * 1e6 / static_cast<double>(latencies.size()));
  for (Conn& k : conns) close(k.fd);
  close(ep);
  return errors > 0 ? 1 : 0;
}
