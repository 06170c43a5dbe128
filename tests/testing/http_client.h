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

// How an https:// URL is fetched. The defaults are curl's: the system CA store, verification on.
struct TlsOptions {
  std::string ca_file;      // PEM file of the CA to trust instead of the system store
  bool insecure = false;    // skip certificate and host name verification
  long ssl_version = 0;     // CURLOPT_SSLVERSION, e.g. CURL_SSLVERSION_TLSv1_1 | ..._MAX_TLSv1_1
  std::string cipher_list;  // CURLOPT_SSL_CIPHER_LIST ("DEFAULT:@SECLEVEL=0" offers TLS 1.1)
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

  // Applies to the requests that follow.
  void set_tls(TlsOptions tls) { tls_ = std::move(tls); }

 private:
  void* curl_;
  TlsOptions tls_;
};

}  // namespace hookvault::testing

#endif  // HOOKVAULT_TESTS_TESTING_HTTP_CLIENT_H_
