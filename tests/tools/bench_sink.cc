// hookvault_bench_sink: the fast local webhook receiver of `scripts/bench deliver`.
//
//   hookvault_bench_sink --out FILE [--seconds N]
//
// Listens on 127.0.0.1 (a free port), prints "bench_sink listening on http://127.0.0.1:PORT"
// on stdout, answers every request 200 at once (keep-alive), and on SIGTERM or SIGINT (or
// after N seconds) writes one line per received request, "webhook-id receive_time_us"
// (wall clock, microseconds since the epoch, taken when the whole request was read), to
// FILE.tmp and renames it to FILE, then exits 0. The serving is tests/testing/sink_server.cc
// (one thread per connection: hookvault keeps `concurrency` keep-alive connections open, so
// that is a few dozen threads, not one per request).

#include <signal.h>
#include <time.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "tests/testing/sink_server.h"

int main(int argc, char** argv) {
  std::string out;
  long seconds = -1;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--out" && i + 1 < argc) {
      out = argv[++i];
    } else if (arg == "--seconds" && i + 1 < argc) {
      seconds = std::strtol(argv[++i], nullptr, 10);
    } else {
      std::fprintf(stderr, "usage: hookvault_bench_sink --out FILE [--seconds N]\n");
      return 2;
    }
  }
  if (out.empty()) {
    std::fprintf(stderr, "hookvault_bench_sink: --out FILE is required\n");
    return 2;
  }

  // Block the stop signals before any thread starts (threads inherit the mask), then wait for
  // them synchronously in main.
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGTERM);
  sigaddset(&stop, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);

  hookvault::testing::SinkServer sink;
  if (sink.port() == 0) {
    std::fprintf(stderr, "hookvault_bench_sink: cannot listen on 127.0.0.1\n");
    return 1;
  }
  std::printf("bench_sink listening on http://127.0.0.1:%d\n", sink.port());
  std::fflush(stdout);

  while (true) {
    int sig;
    if (seconds >= 0) {
      timespec ts{static_cast<time_t>(seconds), 0};
      sig = sigtimedwait(&stop, nullptr, &ts);
      if (sig < 0 && errno == EINTR) continue;
    } else {
      sig = sigwaitinfo(&stop, nullptr);
      if (sig < 0 && errno == EINTR) continue;
    }
    break;  // a stop signal, or the time is up
  }

  auto requests = sink.Requests();
  std::string tmp = out + ".tmp";
  FILE* f = std::fopen(tmp.c_str(), "w");
  if (!f) {
    std::fprintf(stderr, "hookvault_bench_sink: %s: %s\n", tmp.c_str(), std::strerror(errno));
    return 1;
  }
  for (const auto& r : requests) {
    auto it = r.headers.find("webhook-id");
    std::fprintf(f, "%s %lld\n", it == r.headers.end() ? "-" : it->second.c_str(),
                 static_cast<long long>(r.received_at_us));
  }
  if (std::fclose(f) != 0 || std::rename(tmp.c_str(), out.c_str()) != 0) {
    std::fprintf(stderr, "hookvault_bench_sink: cannot write %s\n", out.c_str());
    return 1;
  }
  std::fprintf(stderr, "bench_sink: %zu requests on %zu connections written to %s\n",
               requests.size(), sink.Connections(), out.c_str());
  return 0;
}
