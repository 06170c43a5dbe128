// A small blocking HTTP client on libcurl for tests: one easy handle per client, so a client
// reuses its connection (keep-alive) across requests.
#ifndef HOOKVAULT_TESTS_TESTING_HTTP_CLIENT_H_
#define HOOKVAULT_TESTS_TESTING_HTTP_CLIENT_H_

#include <map>
#include <string>
#include <utility>
#include <vector>

namespace hookvault::testing {

struct HttpResult {
  int status = 0;                              // 0 when no response arrived (see error)
  std::string error;                           // curl's error text
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
};

// Thread-safety: one client per thread.
class HttpClient {
 public:
  HttpClient();
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  HttpResult Request(const std::string& method, const std::string& url,
                     const std::vector<std::pair<std::string, std::string>>& headers = {},
                     const std::string& body = "", long timeout_ms = 10000);

 private:
  void* curl_;
};

}  // namespace hookvault::testing

#endif  // HOOKVAULT_TESTS_TESTING_HTTP_CLIENT_H_
