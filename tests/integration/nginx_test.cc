// Real nginx, configured by the shipped scripts/deploy/nginx-hookvault.conf (only ports and
// paths substituted), terminating TLS in front of the real hookvault: the forwarded-address
// rules, TLS versions and the body limit as a deployment sees them. Skipped only where nginx is
// not installed (scripts/setup installs nginx-light).
#include <arpa/inet.h>
#include <curl/curl.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <rapidjson/document.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/testing/db.h"
#include "tests/testing/http_client.h"
#include "tests/testing/self_signed_cert.h"
#include "tests/testing/server_process.h"
#include "tests/testing/temp_dir.h"

namespace hookvault::testing {
namespace {

constexpr char kToken[] = "nginx-test-token-0123456789";
constexpr long kOnlyTls11 = long{CURL_SSLVERSION_TLSv1_1} | long{CURL_SSLVERSION_MAX_TLSv1_1};
constexpr long kOnlyTls12 = long{CURL_SSLVERSION_TLSv1_2} | long{CURL_SSLVERSION_MAX_TLSv1_2};
constexpr long kOnlyTls13 = long{CURL_SSLVERSION_TLSv1_3} | long{CURL_SSLVERSION_MAX_TLSv1_3};

TlsOptions Trusting(const SelfSignedCert& cert) {
  TlsOptions tls;
  tls.ca_file = cert.cert_file;
  return tls;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// Returns the nginx binary, or "" when it is not installed.
std::string FindNginx() {
  std::vector<std::string> dirs = {"/usr/sbin", "/usr/local/sbin", "/usr/local/nginx/sbin"};
  if (const char* path = std::getenv("PATH")) {
    std::stringstream s(path);
    for (std::string dir; std::getline(s, dir, ':');) dirs.push_back(dir);
  }
  for (const std::string& dir : dirs) {
    std::string candidate = dir + "/nginx";
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return "";
}

// Returns a port on 127.0.0.1 that was free a moment ago.
int FreePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

bool Accepts(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  ::close(fd);
  return ok;
}

// Replaces the one occurrence of `from` in `text`; records an error when there is not exactly
// one (the shipped file changed in a way this test must follow).
void ReplaceOnce(std::string& text, const std::string& from, const std::string& to,
                 std::string& errors) {
  size_t at = text.find(from);
  if (at == std::string::npos || text.find(from, at + 1) != std::string::npos) {
    errors += "expected exactly one \"" + from + "\" in nginx-hookvault.conf\n";
    return;
  }
  text.replace(at, from.size(), to);
}

// nginx run unprivileged (or as root) from a temp dir, with the shipped server blocks included
// in an http {} block that keeps every path it writes inside that dir.
class NginxProcess {
 public:
  NginxProcess(const std::string& binary, const std::string& dir, const SelfSignedCert& cert,
               int upstream_port)
      : dir_(dir), https_port_(FreePort()), http_port_(FreePort()) {
    std::string site =
        ReadFile(std::string(HOOKVAULT_SOURCE_DIR) + "/scripts/deploy/nginx-hookvault.conf");
    if (site.empty()) {
      error_ = "cannot read scripts/deploy/nginx-hookvault.conf";
      return;
    }
    ReplaceOnce(site, "server 127.0.0.1:8080;",
                "server 127.0.0.1:" + std::to_string(upstream_port) + ";", error_);
    ReplaceOnce(site, "listen 80;", "listen 127.0.0.1:" + std::to_string(http_port_) + ";", error_);
    ReplaceOnce(site, "listen [::]:80;", "", error_);
    ReplaceOnce(site, "listen 443 ssl;",
                "listen 127.0.0.1:" + std::to_string(https_port_) + " ssl;", error_);
    ReplaceOnce(site, "listen [::]:443 ssl;", "", error_);
    ReplaceOnce(site, "/etc/ssl/hookvault/fullchain.pem", cert.cert_file, error_);
    ReplaceOnce(site, "/etc/ssl/hookvault/privkey.pem", cert.key_file, error_);
    ReplaceOnce(site, "/var/log/nginx/hookvault.access.log", dir + "/access.log", error_);
    if (!error_.empty()) return;
    std::ofstream(dir + "/hookvault-site.conf") << site;
    std::ofstream(dir + "/nginx.conf") << "daemon off;\n"
                                          "master_process on;\n"
                                          "worker_processes 1;\n"
                                          "pid "
                                       << dir << "/nginx.pid;\n"
                                       << "error_log " << dir << "/error.log info;\n"
                                       << "events { worker_connections 256; }\n"
                                          "http {\n"
                                          "  client_body_temp_path "
                                       << dir << "/client_body;\n"
                                       << "  proxy_temp_path " << dir << "/proxy;\n"
                                       << "  fastcgi_temp_path " << dir << "/fastcgi;\n"
                                       << "  uwsgi_temp_path " << dir << "/uwsgi;\n"
                                       << "  scgi_temp_path " << dir << "/scgi;\n"
                                       << "  include " << dir << "/hookvault-site.conf;\n"
                                       << "}\n";
    // Run as root, nginx's workers drop to nobody and must reach the temp paths.
    ::chmod(dir.c_str(), 0755);
    pid_ = fork();
    if (pid_ == 0) {
      int fd = open((dir + "/nginx.out").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      dup2(fd, 1);
      dup2(fd, 2);
      std::string prefix = dir + "/", conf = dir + "/nginx.conf", err = dir + "/error.log";
      execl(binary.c_str(), binary.c_str(), "-p", prefix.c_str(), "-c", conf.c_str(), "-e",
            err.c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (std::chrono::steady_clock::now() < deadline) {
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        error_ = "nginx exited: " + ReadFile(dir + "/nginx.out") + ReadFile(dir + "/error.log");
        return;
      }
      if (Accepts(https_port_) && Accepts(http_port_)) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    error_ = "nginx did not listen: " + ReadFile(dir + "/error.log");
  }
  ~NginxProcess() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);  // fast shutdown: the master stops its workers and exits
    int status = 0;
    for (int i = 0; i < 500 && waitpid(pid_, &status, WNOHANG) == 0; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    if (waitpid(pid_, &status, WNOHANG) == 0) {
      ::kill(pid_, SIGKILL);
      waitpid(pid_, &status, 0);
    }
  }
  NginxProcess(const NginxProcess&) = delete;
  NginxProcess& operator=(const NginxProcess&) = delete;

  const std::string& error() const { return error_; }
  std::string HttpsUrl(const std::string& path) const {
    return "https://127.0.0.1:" + std::to_string(https_port_) + path;
  }
  std::string HttpUrlToHttpsPort(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(https_port_) + path;
  }
  std::string HttpUrl(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(http_port_) + path;
  }
  std::string ErrorLog() const { return ReadFile(dir_ + "/error.log"); }

 private:
  std::string dir_;
  int https_port_;
  int http_port_;
  pid_t pid_ = -1;
  std::string error_;
};

// One hookvault (its own data dir) behind its own nginx.
struct Stack {
  std::unique_ptr<ServerProcess> hookvault;
  std::unique_ptr<NginxProcess> nginx;
  std::string db;
};

class NginxTest : public ::testing::Test {
 protected:
  void SetUp() override {
    nginx_ = FindNginx();
    if (nginx_.empty()) {
      // scripts/setup installs it; a run without it must not pass as if the front were tested.
      FAIL() << "nginx is not installed (apt-get install nginx-light, or run scripts/setup): "
                "the nginx front of scripts/deploy/nginx-hookvault.conf cannot be tested";
    }
    cert_ = MakeSelfSignedCert(dir_.path());
    ASSERT_TRUE(cert_.error.empty()) << cert_.error;
    client_.set_tls(Trusting(cert_));
  }

  // Starts hookvault (the source "harmonics" allows only 203.0.113.0/24) behind nginx.
  // `trusted_proxies` is the JSON array of the config.
  void Start(Stack& stack, const std::string& name, const std::string& trusted_proxies) {
    std::string dir = dir_.File(name);
    std::filesystem::create_directories(dir + "/nginx");
    std::string config = dir_.Write(name + "/config.json", R"({
      "listen": "127.0.0.1:0", "data_dir": ")" + dir + R"(",
      "max_body_bytes": 1048576,
      "trusted_proxies": )" + trusted_proxies + R"(,
      "sources": [{"name": "harmonics", "tokens": [")" + std::string(kToken) +
                                                               R"("],
                   "allow_ips": ["203.0.113.0/24"]}]
    })");
    stack.db = dir + "/hookvault.db";
    stack.hookvault = std::make_unique<ServerProcess>(
        std::vector<std::string>{"serve", "--config", config}, dir + "/server.log");
    ASSERT_TRUE(stack.hookvault->started()) << stack.hookvault->Log();
    stack.nginx =
        std::make_unique<NginxProcess>(nginx_, dir + "/nginx", cert_, stack.hookvault->port());
    ASSERT_TRUE(stack.nginx->error().empty()) << stack.nginx->error();
  }

  HttpResult Post(const Stack& stack, const std::string& forwarded_for,
                  const std::string& body = R"({"event":"booking.created"})") {
    std::vector<std::pair<std::string, std::string>> h = {{"x-auth-token", kToken},
                                                          {"Content-Type", "application/json"}};
    if (!forwarded_for.empty()) h.emplace_back("X-Forwarded-For", forwarded_for);
    return client_.Request("POST", stack.nginx->HttpsUrl("/webhooks/harmonics"), h, body);
  }

  // The remote_addr of the newest request-log row with `status` (the log is written after the
  // answer, so it is waited for).
  std::string LoggedAddress(const Stack& stack, int status) {
    std::string sql =
        "SELECT remote_addr FROM request_log WHERE status = " + std::to_string(status) +
        " ORDER BY id DESC LIMIT 1";
    for (int i = 0; i < 200; ++i) {
      std::string addr = QueryText(stack.db, sql);
      if (addr != "<no row>") return addr;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return "<no row>";
  }

  TempDir dir_;
  std::string nginx_;
  SelfSignedCert cert_;
  HttpClient client_;
};

// nginx appends its peer (127.0.0.1, trusted) to the X-Forwarded-For the client sent, so the
// rightmost untrusted entry, the client's, is what allow_ips checks and what is stored.
TEST_F(NginxTest, ForwardedAddressIsCheckedAgainstAllowIpsAndStored) {
  Stack stack;
  Start(stack, "trusted", R"(["127.0.0.1/32"])");
  HttpResult allowed = Post(stack, "203.0.113.7");
  ASSERT_EQ(allowed.status, 200) << allowed.error << allowed.body << stack.nginx->ErrorLog();
  rapidjson::Document d;
  d.Parse(allowed.body.c_str());
  ASSERT_TRUE(d.IsObject() && d.HasMember("id")) << allowed.body;
  std::string id = d["id"].GetString();
  EXPECT_EQ(QueryText(stack.db, "SELECT remote_addr FROM events WHERE id = ?", id), "203.0.113.7");
  EXPECT_EQ(LoggedAddress(stack, 200), "203.0.113.7");
  // The headers nginx adds reach hookvault and are stored with the event.
  std::string headers = QueryText(stack.db, "SELECT headers FROM events WHERE id = ?", id);
  EXPECT_NE(headers.find("203.0.113.7, 127.0.0.1"), std::string::npos) << headers;
  EXPECT_NE(headers.find("https"), std::string::npos) << headers;  // X-Forwarded-Proto

  HttpResult outside = Post(stack, "198.51.100.9");
  EXPECT_EQ(outside.status, 403) << outside.body;
  EXPECT_EQ(LoggedAddress(stack, 403), "198.51.100.9");
  // An allowed address spoofed on the left does not help a client outside the list.
  EXPECT_EQ(Post(stack, "203.0.113.7, 198.51.100.9").status, 403);
  // Without the header the client is nginx's peer, 127.0.0.1, which is not allowed.
  EXPECT_EQ(Post(stack, "").status, 403);
  EXPECT_EQ(QueryInt(stack.db, "SELECT count(*) FROM events"), 1);
}

// Behind a proxy it does not trust, hookvault ignores X-Forwarded-For altogether: the client is
// nginx's address, so nobody can claim an allowed address by sending the header.
TEST_F(NginxTest, SpoofedForwardedForFromAnUntrustedPeerIsIgnored) {
  Stack stack;
  Start(stack, "untrusted", "[]");
  HttpResult spoofed = Post(stack, "203.0.113.7");
  EXPECT_EQ(spoofed.status, 403) << spoofed.error << spoofed.body;
  EXPECT_EQ(LoggedAddress(stack, 403), "127.0.0.1");
  EXPECT_EQ(QueryInt(stack.db, "SELECT count(*) FROM events"), 0);
}

TEST_F(NginxTest, OnlyTls12AndNewerIsServedAndPlainHttpIsRefusedOrRedirected) {
  Stack stack;
  Start(stack, "tls", R"(["127.0.0.1/32"])");
  std::string url = stack.nginx->HttpsUrl("/healthz");
  for (long version : {kOnlyTls12, kOnlyTls13}) {
    HttpClient client;
    TlsOptions tls = Trusting(cert_);
    tls.ssl_version = version;
    client.set_tls(tls);
    HttpResult r = client.Request("GET", url);
    EXPECT_EQ(r.status, 200) << "curl ssl version " << version << ": " << r.error;
  }
  // The client is allowed to offer TLS 1.1 (OpenSSL 3 refuses it below security level 0), so
  // the refusal is the server's.
  HttpClient old;
  TlsOptions tls11_only = Trusting(cert_);
  tls11_only.ssl_version = kOnlyTls11;
  tls11_only.cipher_list = "DEFAULT:@SECLEVEL=0";
  old.set_tls(tls11_only);
  HttpResult tls11 = old.Request("GET", url);
  EXPECT_EQ(tls11.status, 0) << "TLS 1.1 was answered";
  EXPECT_FALSE(tls11.error.empty());

  // Plain HTTP to the TLS port never reaches hookvault.
  HttpClient plain;
  HttpResult wrong_port =
      plain.Request("POST", stack.nginx->HttpUrlToHttpsPort("/webhooks/harmonics"),
                    {{"x-auth-token", kToken},
                     {"Content-Type", "application/json"},
                     {"X-Forwarded-For", "203.0.113.7"}},
                    "{}");
  EXPECT_EQ(wrong_port.status, 400);
  EXPECT_NE(wrong_port.body.find("HTTPS port"), std::string::npos) << wrong_port.body;
  // Port 80 only redirects to HTTPS.
  HttpResult redirect = plain.Request("GET", stack.nginx->HttpUrl("/webhooks/harmonics"));
  EXPECT_EQ(redirect.status, 301);
  EXPECT_EQ(redirect.headers["location"].rfind("https://", 0), 0u) << redirect.headers["location"];
  EXPECT_EQ(QueryInt(stack.db, "SELECT count(*) FROM request_log"), 0);
}

// client_max_body_size and max_body_bytes are both 1 MiB: a body of exactly 1 MiB is stored, one
// byte more is refused by nginx at once, from its Content-Length, without reaching hookvault.
TEST_F(NginxTest, BodyOverTheLimitIsRefusedByNginxWith413) {
  Stack stack;
  Start(stack, "limit", R"(["127.0.0.1/32"])");
  const std::string prefix = R"({"event":"x","pad":")";
  const std::string suffix = R"("})";
  std::string at_limit =
      prefix + std::string(1048576 - prefix.size() - suffix.size(), 'a') + suffix;
  ASSERT_EQ(at_limit.size(), 1048576u);
  HttpResult stored = Post(stack, "203.0.113.7", at_limit);
  EXPECT_EQ(stored.status, 200) << stored.error << stored.body;

  std::string over = prefix + std::string(1048577 - prefix.size() - suffix.size(), 'a') + suffix;
  auto start = std::chrono::steady_clock::now();
  HttpResult refused = Post(stack, "203.0.113.7", over);
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_EQ(refused.status, 413) << refused.error;
  EXPECT_LT(seconds, 2.0);
  EXPECT_NE(stack.nginx->ErrorLog().find("client intended to send too large body"),
            std::string::npos);
  // hookvault saw only the first request.
  EXPECT_EQ(LoggedAddress(stack, 200), "203.0.113.7");
  EXPECT_EQ(QueryInt(stack.db, "SELECT count(*) FROM request_log"), 1);
}

// /readyz and /metrics are for the operator's side: nginx does not pass them on, in any
// spelling nginx normalises to them, while hookvault itself still answers them on loopback.
TEST_F(NginxTest, ReadinessAndMetricsAreNotExposedThroughNginx) {
  Stack stack;
  Start(stack, "private", R"(["127.0.0.1/32"])");
  HttpClient direct;
  EXPECT_EQ(direct.Request("GET", stack.hookvault->Url("/readyz")).status, 200);
  for (const char* path : {"/readyz", "/readyz?verbose=1", "//readyz", "/%72eadyz", "/metrics",
                           "/./metrics"}) {
    HttpResult r = client_.Request("GET", stack.nginx->HttpsUrl(path));
    EXPECT_EQ(r.status, 404) << path << ": " << r.error << r.body;
  }
  EXPECT_EQ(client_.Request("GET", stack.nginx->HttpsUrl("/healthz")).status, 200);
  // hookvault saw none of them: only the direct request reached it.
  std::string log = stack.hookvault->Log();
  size_t readyz = 0;
  for (size_t at = log.find("path=/readyz"); at != std::string::npos;
       at = log.find("path=/readyz", at + 1)) {
    ++readyz;
  }
  EXPECT_LE(readyz, 1u) << log;
  EXPECT_EQ(log.find("path=/metrics"), std::string::npos) << log;
}

}  // namespace
}  // namespace hookvault::testing
