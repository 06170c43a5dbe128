#include "server/delivery/curl_http_client.h"

#include <curl/curl.h>
#include <pthread.h>
#include <signal.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>

#include "storage/base/strings.h"

namespace hookvault::server {
namespace {

constexpr std::string_view kShuttingDown = "client shutting down";
// Easy handles kept for reuse (they carry nothing between requests after curl_easy_reset;
// reusing them only saves the allocations). Connections live in the multi handle's cache.
constexpr size_t kMaxFreeEasyHandles = 32;

using Clock = std::chrono::steady_clock;

struct Transfer {
  CURL* easy = nullptr;
  OutboundRequest request;
  std::function<void(OutboundResponse)> done;
  curl_slist* headers = nullptr;
  OutboundResponse response;
  size_t body_bytes = 0;  // all response body bytes seen, kept or not
  bool cut_off = false;   // we stopped reading a body longer than kMaxDrainBytes
  Clock::time_point start;
  std::string host;  // HostKey() of the URL, when per-host caps apply
  char error_buffer[CURL_ERROR_SIZE] = {};

  ~Transfer() { curl_slist_free_all(headers); }
};

int64_t MicrosSince(Clock::time_point start) {
  return std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - start).count();
}

// Returns `s` without leading optional whitespace and without trailing whitespace or line
// ends: curl hands over header lines with their CR LF, and its error buffer may end in one.
std::string_view TrimLine(std::string_view s) {
  return base::TrimRight(base::TrimLeft(s, base::kOptionalWhitespace), " \t\r\n");
}

// A header name is an RFC 9110 token; a value must not contain CR, LF or NUL (which would
// let a value smuggle further headers into the request).
bool ValidHeaderName(std::string_view name) {
  if (name.empty()) return false;
  for (char c : name) {
    unsigned char u = static_cast<unsigned char>(c);
    bool ok = (u >= '0' && u <= '9') || (u >= 'a' && u <= 'z') || (u >= 'A' && u <= 'Z') ||
              std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
    if (!ok) return false;
  }
  return true;
}

bool ValidHeaderValue(std::string_view value) {
  return value.find_first_of(std::string_view("\r\n\0", 3)) == std::string_view::npos;
}

size_t OnBody(char* data, size_t size, size_t count, void* user) {
  auto* t = static_cast<Transfer*>(user);
  size_t len = size * count;
  std::string& excerpt = t->response.body_excerpt;
  if (excerpt.size() < kResponseExcerptBytes) {
    excerpt.append(data, std::min(len, kResponseExcerptBytes - excerpt.size()));
  }
  t->body_bytes += len;
  if (t->body_bytes > CurlHttpClient::kMaxDrainBytes) {
    t->cut_off = true;
    return 0;  // aborts the transfer with CURLE_WRITE_ERROR
  }
  return len;
}

size_t OnHeader(char* data, size_t size, size_t count, void* user) {
  auto* t = static_cast<Transfer*>(user);
  std::string_view line(data, size * count);
  if (line.starts_with("HTTP/")) {
    // A new response (after a 1xx): only the final response's headers count.
    t->response.retry_after.reset();
  } else if (base::StartsWithIgnoreCase(line, "retry-after:") && !t->response.retry_after) {
    t->response.retry_after = std::string(TrimLine(line.substr(12)));
  }
  return size * count;
}

// Returns "host:port" of `url` (lower case), or "" if it does not parse.
std::string HostKey(const std::string& url) {
  std::string key;
  CURLU* u = curl_url();
  if (u == nullptr) return key;
  char* host = nullptr;
  char* port = nullptr;
  if (curl_url_set(u, CURLUPART_URL, url.c_str(), 0) == CURLUE_OK &&
      curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
      curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) == CURLUE_OK) {
    key = base::AsciiLower(host);
    key += ":";
    key += port;
  }
  curl_free(host);
  curl_free(port);
  curl_url_cleanup(u);
  return key;
}

// Calls `done` once; nothing it throws reaches the client's thread.
void Complete(std::function<void(OutboundResponse)>& done, OutboundResponse response) {
  try {
    done(std::move(response));
  } catch (const std::exception& e) {
    spdlog::error("http client: a completion callback threw: {}", e.what());
  } catch (...) {
    spdlog::error("http client: a completion callback threw");
  }
}

OutboundResponse ErrorResponse(std::string error, int64_t duration_us = 0) {
  OutboundResponse response;
  response.error = std::move(error);
  response.duration_us = duration_us;
  return response;
}

// The answer to a request the client's destructor cut off or never started.
OutboundResponse CancelledResponse(int64_t duration_us = 0) {
  OutboundResponse response = ErrorResponse(std::string(kShuttingDown), duration_us);
  response.cancelled = true;
  return response;
}

std::string CurlError(CURLcode code, const char* buffer) {
  std::string error = curl_easy_strerror(code);
  std::string_view detail = TrimLine(buffer);
  if (!detail.empty() && detail != error) {
    error += ": ";
    error += detail;
  }
  return error;
}

// Sets `t->easy` up for `t->request`. Returns an error text, or nothing on success.
std::optional<std::string> Configure(Transfer* t) {
  CURL* e = t->easy;
  const OutboundRequest& r = t->request;
  bool has_content_type = false;
  for (const auto& [name, value] : r.headers) {
    if (!ValidHeaderName(name) || !ValidHeaderValue(value)) {
      return "invalid request header: " + (ValidHeaderName(name) ? name : "(bad name)");
    }
    if (base::EqualsIgnoreCase(name, "content-type")) has_content_type = true;
    // "Name:" would tell curl to drop the header; "Name;" sends it with an empty value.
    std::string line = value.empty() ? name + ";" : name + ": " + value;
    curl_slist* next = curl_slist_append(t->headers, line.c_str());
    if (next == nullptr) return "out of memory";
    t->headers = next;
  }
  // No "Expect: 100-continue" round trip; and no curl-invented form content type.
  for (const char* line : {"Expect:", has_content_type ? nullptr : "Content-Type:"}) {
    if (line == nullptr) continue;
    curl_slist* next = curl_slist_append(t->headers, line);
    if (next == nullptr) return "out of memory";
    t->headers = next;
  }

  // CURLOPT_TIMEOUT_MS 0 would mean "never": a request always gets a bound.
  long timeout_ms = static_cast<long>(std::clamp<int64_t>(r.timeout_ms, 1, 24 * 3600 * 1000));
  CURLcode rc = CURLE_OK;
  auto set = [&rc](CURLcode c) {
    if (rc == CURLE_OK) rc = c;
  };
  set(curl_easy_setopt(e, CURLOPT_PRIVATE, t));
  set(curl_easy_setopt(e, CURLOPT_ERRORBUFFER, t->error_buffer));
  set(curl_easy_setopt(e, CURLOPT_URL, r.url.c_str()));
  set(curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https"));
  set(curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https"));
  set(curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L));
  // Straight to the destination: an empty proxy string makes libcurl ignore http_proxy,
  // https_proxy and ALL_PROXY from the environment, which a unit file, container image or
  // shell profile may set for other programs (deliveries would leave through that proxy,
  // payloads and signatures included).
  set(curl_easy_setopt(e, CURLOPT_PROXY, ""));
  set(curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L));
  set(curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout_ms));
  set(curl_easy_setopt(e, CURLOPT_POST, 1L));
  set(curl_easy_setopt(e, CURLOPT_POSTFIELDS, r.body.data()));
  set(curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(r.body.size())));
  set(curl_easy_setopt(e, CURLOPT_HTTPHEADER, t->headers));
  set(curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, OnBody));
  set(curl_easy_setopt(e, CURLOPT_WRITEDATA, t));
  set(curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, OnHeader));
  set(curl_easy_setopt(e, CURLOPT_HEADERDATA, t));
  // Idle connections in the cache are probed, so a peer that vanished is noticed.
  set(curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L));
  // TLS: CURLOPT_SSL_VERIFYPEER and CURLOPT_SSL_VERIFYHOST keep their (verifying) defaults.
  if (rc != CURLE_OK) return CurlError(rc, "");
  return std::nullopt;
}

// Builds the response of a finished transfer.
OutboundResponse Finish(Transfer* t, CURLcode result) {
  long status = 0;
  curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &status);
  OutboundResponse response = std::move(t->response);
  response.duration_us = MicrosSince(t->start);
  if (result == CURLE_OK || (t->cut_off && result == CURLE_WRITE_ERROR && status > 0)) {
    response.status = static_cast<int>(status);
    response.error.clear();
    return response;
  }
  response.status = 0;
  response.error = CurlError(result, t->error_buffer);
  if (status > 0) {
    // The status line came, the rest did not: not an answer we can count on.
    response.error += " (after a " + std::to_string(status) + " status line)";
  }
  return response;
}

}  // namespace

CurlHttpClient::CurlHttpClient(CurlHttpClientOptions options) : options_(options) {
  // Thread-safe and reference-counted in this libcurl (CURL_VERSION_THREADSAFE).
  curl_global_init(CURL_GLOBAL_DEFAULT);
  CURLM* multi = curl_multi_init();
  if (multi != nullptr) {
    curl_multi_setopt(multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, options_.max_total_connections);
    curl_multi_setopt(multi, CURLMOPT_MAX_HOST_CONNECTIONS, options_.max_host_connections);
    if (options_.max_total_connections > 0) {
      // Keep as many idle connections as may be open at once, for reuse.
      curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS, options_.max_total_connections);
    }
  }
  multi_ = multi;
  thread_ = std::thread([this] { Run(); });
}

CurlHttpClient::~CurlHttpClient() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  if (multi_ != nullptr) curl_multi_wakeup(static_cast<CURLM*>(multi_));
  if (thread_.joinable()) thread_.join();
  if (multi_ != nullptr) curl_multi_cleanup(static_cast<CURLM*>(multi_));
  curl_global_cleanup();
}

void CurlHttpClient::Post(OutboundRequest request, std::function<void(OutboundResponse)> done) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!exited_) {
      queue_.push_back(Pending{std::move(request), std::move(done)});
      if (multi_ != nullptr) curl_multi_wakeup(static_cast<CURLM*>(multi_));
      return;
    }
  }
  // Only reachable when Post() races the destructor, which the contract forbids; still, the
  // request is answered once.
  Complete(done, CancelledResponse());
}

void CurlHttpClient::Run() {
  pthread_setname_np(pthread_self(), "hv-http");
  // With CURLOPT_NOSIGNAL libcurl does not guard OpenSSL's writes against SIGPIPE; a blocked
  // SIGPIPE turns a write to a closed peer into EPIPE on this thread whatever the process does.
  sigset_t pipe_set;
  sigemptyset(&pipe_set);
  sigaddset(&pipe_set, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe_set, nullptr);

  auto* multi = static_cast<CURLM*>(multi_);
  std::vector<CURL*> free_easy;
  std::unordered_map<CURL*, std::unique_ptr<Transfer>> in_flight;
  std::deque<Pending> batch;
  // Requests wait here, not inside libcurl, for a connection under the caps: libcurl does
  // not time out a transfer that waits for a connection (CURLMOPT_MAX_*_CONNECTIONS), and
  // fails it with a bogus "Connection timed out after 0 milliseconds" once one frees up if
  // its timeout passed meanwhile. Here the timeout and duration_us cover the request only.
  struct Waiting {
    Pending pending;
    std::string host;
  };
  std::deque<Waiting> waiting;
  std::unordered_map<std::string, long> per_host;  // transfers in flight per HostKey()
  const long max_total = options_.max_total_connections;
  const long max_host = options_.max_host_connections;

  auto release_easy = [&free_easy](CURL* easy) {
    curl_easy_reset(easy);
    if (free_easy.size() < kMaxFreeEasyHandles) {
      free_easy.push_back(easy);
    } else {
      curl_easy_cleanup(easy);
    }
  };

  auto start = [&](Pending& p, std::string host) {
    auto t = std::make_unique<Transfer>();
    t->request = std::move(p.request);
    t->done = std::move(p.done);
    t->start = Clock::now();
    t->host = std::move(host);
    if (multi == nullptr) {
      Complete(t->done, ErrorResponse("curl_multi_init failed"));
      return;
    }
    if (!free_easy.empty()) {
      t->easy = free_easy.back();
      free_easy.pop_back();
    } else {
      t->easy = curl_easy_init();
      if (t->easy == nullptr) {
        Complete(t->done, ErrorResponse("curl_easy_init failed"));
        return;
      }
    }
    std::optional<std::string> error = Configure(t.get());
    if (!error) {
      CURLMcode mc = curl_multi_add_handle(multi, t->easy);
      if (mc != CURLM_OK) error = std::string("curl_multi_add_handle: ") + curl_multi_strerror(mc);
    }
    if (error) {
      release_easy(t->easy);
      Complete(t->done, ErrorResponse(std::move(*error), MicrosSince(t->start)));
      return;
    }
    if (!t->host.empty()) ++per_host[t->host];
    CURL* easy = t->easy;
    in_flight.emplace(easy, std::move(t));
  };

  auto admit = [&] {
    std::deque<Waiting> blocked;
    while (!waiting.empty()) {
      if (max_total > 0 && static_cast<long>(in_flight.size()) >= max_total) break;
      Waiting w = std::move(waiting.front());
      waiting.pop_front();
      if (max_host > 0 && !w.host.empty()) {
        auto it = per_host.find(w.host);
        if (it != per_host.end() && it->second >= max_host) {
          blocked.push_back(std::move(w));  // its host is full; later ones may go
          continue;
        }
      }
      start(w.pending, std::move(w.host));
    }
    // Keeps arrival order among the ones still waiting.
    while (!blocked.empty()) {
      waiting.push_front(std::move(blocked.back()));
      blocked.pop_back();
    }
  };

  auto reap = [&] {
    int queued = 0;
    while (CURLMsg* msg = curl_multi_info_read(multi, &queued)) {
      if (msg->msg != CURLMSG_DONE) continue;
      CURL* easy = msg->easy_handle;
      CURLcode result = msg->data.result;  // msg is invalid after remove_handle
      auto it = in_flight.find(easy);
      if (it == in_flight.end()) continue;
      std::unique_ptr<Transfer> t = std::move(it->second);
      in_flight.erase(it);
      if (!t->host.empty()) {
        auto host = per_host.find(t->host);
        if (host != per_host.end() && --host->second <= 0) per_host.erase(host);
      }
      OutboundResponse response = Finish(t.get(), result);
      curl_multi_remove_handle(multi, easy);
      release_easy(easy);
      t->easy = nullptr;
      Complete(t->done, std::move(response));
    }
  };

  while (true) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stopping_) break;
      batch.swap(queue_);
    }
    for (Pending& p : batch) {
      std::string host = max_host > 0 ? HostKey(p.request.url) : std::string();
      waiting.push_back(Waiting{std::move(p), std::move(host)});
    }
    batch.clear();
    admit();
    if (multi == nullptr) {
      // Nothing can be sent; wait for Post() or the destructor. Rare enough (out of memory at
      // construction) that polling is fine.
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
      continue;
    }
    int running = 0;
    CURLMcode mc = curl_multi_perform(multi, &running);
    if (mc != CURLM_OK) {
      spdlog::error("http client: curl_multi_perform: {}", curl_multi_strerror(mc));
    }
    reap();
    admit();  // into the slots that completions freed
    // Returns early on socket activity, on a libcurl timer (request timeouts; a newly added
    // transfer has one due at once) or on wakeup.
    mc = curl_multi_poll(multi, nullptr, 0, 1000, nullptr);
    if (mc != CURLM_OK) {
      spdlog::error("http client: curl_multi_poll: {}", curl_multi_strerror(mc));
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }

  // Shutting down: answer everything still in flight, then everything queued — including
  // what `done` callbacks post meanwhile — before declaring the thread gone.
  for (auto& [easy, t] : in_flight) {
    curl_multi_remove_handle(multi, easy);
    curl_easy_cleanup(easy);
    t->easy = nullptr;
    Complete(t->done, CancelledResponse(MicrosSince(t->start)));
  }
  in_flight.clear();
  for (Waiting& w : waiting) {
    Complete(w.pending.done, CancelledResponse());
  }
  waiting.clear();
  while (true) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (queue_.empty()) {
        exited_ = true;
        break;
      }
      batch.swap(queue_);
    }
    for (Pending& p : batch) Complete(p.done, CancelledResponse());
    batch.clear();
  }
  for (CURL* easy : free_easy) curl_easy_cleanup(easy);
}

}  // namespace hookvault::server
