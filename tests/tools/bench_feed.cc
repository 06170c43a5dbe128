// hookvault_bench_feed: the feed consumer of `scripts/bench query`.
//
//   hookvault_bench_feed --url http://127.0.0.1:PORT --token TOKEN [--limit 1000] [--after 0]
//
// Pages through GET /api/v1/feed?after=N&limit=L on one keep-alive connection (libcurl, one
// easy handle), one request at a time, until a page comes back empty. It does not parse the
// JSON (that would make the client the bottleneck): per response it reads `next_after` from
// the tail and scans the body for `"seq":` members (the events' own seq; payloads and headers
// of the bench data hold none), checking that the seqs run after+1, after+2, ... with no gap
// or repeat. Prints one line:
//   FEED events=E pages=P bytes=B seconds=S events_per_s=R mb_per_s=M page_p50_ms=..
//        page_p99_ms=.. page_max_ms=.. last_seq=Q errors=0
// and exits 1 on a non-200 answer, a transport error, an unreadable next_after or a seq out of
// order (with a message on stderr).

#include <curl/curl.h>

#include <algorithm>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

namespace {

size_t Append(char* data, size_t size, size_t n, void* out) {
  static_cast<std::string*>(out)->append(data, size * n);
  return size * n;
}

bool ParseInt(std::string_view s, size_t pos, int64_t* value) {
  size_t end = pos;
  while (end < s.size() && s[end] >= '0' && s[end] <= '9') ++end;
  if (end == pos || end - pos > 18) return false;
  int64_t v = 0;
  for (size_t i = pos; i < end; ++i) v = v * 10 + (s[i] - '0');
  *value = v;
  return true;
}

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t i = static_cast<size_t>(p / 100.0 * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

int Fail(const char* what, int64_t after, const std::string& body) {
  std::fprintf(stderr, "hookvault_bench_feed: %s (page after=%" PRId64 "); body starts: %.300s\n",
               what, after, body.c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  std::string url, token;
  int64_t limit = 1000, after = 0;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (i + 1 >= argc) {
      std::fprintf(stderr, "hookvault_bench_feed: %s needs a value\n", argv[i]);
      return 2;
    }
    if (arg == "--url") {
      url = argv[++i];
    } else if (arg == "--token") {
      token = argv[++i];
    } else if (arg == "--limit") {
      limit = std::strtoll(argv[++i], nullptr, 10);
    } else if (arg == "--after") {
      after = std::strtoll(argv[++i], nullptr, 10);
    } else {
      std::fprintf(stderr, "hookvault_bench_feed: unknown argument %s\n", argv[i]);
      return 2;
    }
  }
  if (url.empty() || token.empty() || limit < 1) {
    std::fprintf(stderr,
                 "usage: hookvault_bench_feed --url BASE --token TOKEN [--limit N] [--after SEQ]\n");
    return 2;
  }

  curl_global_init(CURL_GLOBAL_DEFAULT);
  CURL* curl = curl_easy_init();
  std::string body;
  body.reserve(4 << 20);
  std::string auth = "Authorization: Bearer " + token;
  curl_slist* headers = curl_slist_append(nullptr, auth.c_str());
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, Append);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &body);
  curl_easy_setopt(curl, CURLOPT_TCP_NODELAY, 1L);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT, 60L);

  constexpr std::string_view kSeq = "\"seq\":";
  constexpr std::string_view kNextAfter = "\"next_after\":";
  int64_t events = 0, pages = 0, bytes = 0, expected_seq = after + 1;
  std::vector<double> page_ms;
  int exit_code = 0;
  auto start = std::chrono::steady_clock::now();
  while (true) {
    std::string page_url =
        url + "/api/v1/feed?after=" + std::to_string(after) + "&limit=" + std::to_string(limit);
    curl_easy_setopt(curl, CURLOPT_URL, page_url.c_str());
    body.clear();
    auto t0 = std::chrono::steady_clock::now();
    CURLcode rc = curl_easy_perform(curl);
    page_ms.push_back(
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    if (rc != CURLE_OK) {
      std::fprintf(stderr, "hookvault_bench_feed: %s (page after=%" PRId64 ")\n",
                   curl_easy_strerror(rc), after);
      exit_code = 1;
      break;
    }
    long status = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    if (status != 200) {
      exit_code = Fail(("HTTP " + std::to_string(status)).c_str(), after, body);
      break;
    }
    ++pages;
    bytes += static_cast<int64_t>(body.size());
    std::string_view b = body;
    int64_t in_page = 0;
    bool order_ok = true;
    for (size_t pos = b.find(kSeq); pos != std::string_view::npos; pos = b.find(kSeq, pos)) {
      pos += kSeq.size();
      int64_t seq = 0;
      if (!ParseInt(b, pos, &seq) || seq != expected_seq) {
        order_ok = false;
        break;
      }
      ++expected_seq;
      ++in_page;
    }
    if (!order_ok) {
      exit_code = Fail(("seq out of order, expected " + std::to_string(expected_seq)).c_str(),
                       after, body);
      break;
    }
    size_t tail = b.rfind(kNextAfter);
    int64_t next_after = 0;
    if (tail == std::string_view::npos || !ParseInt(b, tail + kNextAfter.size(), &next_after)) {
      exit_code = Fail("no next_after", after, body);
      break;
    }
    events += in_page;
    if (in_page == 0) break;  // caught up
    if (next_after <= after) {
      exit_code = Fail("next_after did not move", after, body);
      break;
    }
    after = next_after;
  }
  double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  curl_slist_free_all(headers);
  curl_easy_cleanup(curl);
  curl_global_cleanup();

  std::printf(
      "FEED events=%" PRId64 " pages=%" PRId64 " bytes=%" PRId64 " seconds=%.3f events_per_s=%.0f "
      "mb_per_s=%.1f page_p50_ms=%.2f page_p99_ms=%.2f page_max_ms=%.2f last_seq=%" PRId64
      " errors=%d\n",
      events, pages, bytes, seconds, seconds > 0 ? static_cast<double>(events) / seconds : 0,
      seconds > 0 ? static_cast<double>(bytes) / 1e6 / seconds : 0, Percentile(page_ms, 50),
      Percentile(page_ms, 99), page_ms.empty() ? 0 : *std::max_element(page_ms.begin(), page_ms.end()),
      expected_seq - 1, exit_code);
  return exit_code;
}
