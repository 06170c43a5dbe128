// hookvault's own TLS ("tls": {"cert_file", "key_file"}), for small deployments: the real binary
// serving HTTPS with a self-signed certificate made by the test.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <string>

#include "tests/testing/db.h"
#include "tests/testing/http_client.h"
#include "tests/testing/self_signed_cert.h"
#include "tests/testing/server_process.h"
#include "tests/testing/temp_dir.h"

namespace hookvault::testing {
namespace {

constexpr char kToken[] = "tls-test-token-0123456789";

std::string Config(const TempDir& dir, const std::string& cert, const std::string& key) {
  return dir.Write("config.json", R"({
    "listen": "127.0.0.1:0", "data_dir": ")" +
                                      dir.path() + R"(",
    "tls": {"cert_file": ")" + cert + R"(", "key_file": ")" +
                                      key + R"("},
    "sources": [{"name": "pms", "tokens": [")" +
                                      std::string(kToken) + R"("]}]
  })");
}

HttpResult PostWebhook(HttpClient& client, const std::string& url) {
  return client.Request("POST", url,
                        {{"x-auth-token", kToken}, {"Content-Type", "application/json"}},
                        R"({"event":"booking.created"})");
}

class TlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    cert_ = MakeSelfSignedCert(dir_.path());
    ASSERT_TRUE(cert_.error.empty()) << cert_.error;
    server_ = std::make_unique<ServerProcess>(
        std::vector<std::string>{"serve", "--config",
                                 Config(dir_, cert_.cert_file, cert_.key_file)},
        dir_.File("server.log"));
    ASSERT_TRUE(server_->started()) << server_->Log();
    TlsOptions tls;
    tls.ca_file = cert_.cert_file;
    client_.set_tls(tls);
  }

  std::string PlainUrl(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(server_->port()) + path;
  }

  TempDir dir_;
  SelfSignedCert cert_;
  std::unique_ptr<ServerProcess> server_;
  HttpClient client_;
};

TEST_F(TlsTest, ServesHttpsVerifiedAgainstTheConfiguredCertificate) {
  EXPECT_EQ(server_->scheme(), "https");
  EXPECT_NE(server_->Log().find("listening on https://127.0.0.1:"), std::string::npos)
      << server_->Log();
  HttpResult r = PostWebhook(client_, server_->Url("/webhooks/pms"));
  ASSERT_EQ(r.status, 200) << r.error << r.body;
  EXPECT_EQ(QueryInt(dir_.File("hookvault.db"), "SELECT count(*) FROM events"), 1);
  // The same connection serves the next request (keep-alive over TLS).
  HttpResult health = client_.Request("GET", server_->Url("/healthz"));
  EXPECT_EQ(health.status, 200) << health.error;
}

TEST_F(TlsTest, RefusesPlainHttpAndClientsThatDoNotTrustTheCertificate) {
  HttpClient plain;
  HttpResult r = PostWebhook(plain, PlainUrl("/webhooks/pms"));
  EXPECT_EQ(r.status, 0) << "plain HTTP was answered: " << r.body;
  HttpClient system_ca;  // the system's CA store does not know the self-signed certificate
  HttpResult unverified = system_ca.Request("GET", server_->Url("/healthz"));
  EXPECT_EQ(unverified.status, 0);
  EXPECT_FALSE(unverified.error.empty());
  // Nothing was stored by the refused requests, and the server still serves HTTPS.
  EXPECT_EQ(QueryInt(dir_.File("hookvault.db"), "SELECT count(*) FROM events"), 0);
  HttpResult ok = PostWebhook(client_, server_->Url("/webhooks/pms"));
  EXPECT_EQ(ok.status, 200) << ok.error;
}

// A known limit of the tls option, kept visible: Debian's Pistache 0.0.5 runs each TLS
// handshake on its single accept thread, blocking, with a fixed 10 s timeout. A client that
// connects and never sends its hello holds up the next client that long, and no longer; nginx
// in front (the documented internet-facing path) removes the stall.
TEST_F(TlsTest, AStalledHandshakeHoldsUpOtherClientsForAtMostTenSeconds) {
  int stalled = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(stalled, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(server_->port()));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::connect(stalled, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  auto start = std::chrono::steady_clock::now();
  HttpResult r = client_.Request("GET", server_->Url("/healthz"), {}, "", 30000);
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  ::close(stalled);
  EXPECT_EQ(r.status, 200) << r.error;
  EXPECT_LT(seconds, 13.0);
}

TEST(TlsStartTest, ServeFailsClearlyWhenTheKeyDoesNotMatchTheCertificate) {
  TempDir dir;
  SelfSignedCert a = MakeSelfSignedCert(dir.path(), "a");
  SelfSignedCert b = MakeSelfSignedCert(dir.path(), "b");
  ASSERT_TRUE(a.error.empty() && b.error.empty()) << a.error << b.error;
  ServerProcess server({"serve", "--config", Config(dir, a.cert_file, b.key_file)},
                       dir.File("server.log"));
  EXPECT_FALSE(server.started());
  EXPECT_NE(server.Wait(), 0);
  EXPECT_NE(server.Log().find("TLS"), std::string::npos) << server.Log();
}

}  // namespace
}  // namespace hookvault::testing
