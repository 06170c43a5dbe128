// The "tls" key of the config: both files together, both readable.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>

#include "server/config.h"
#include "tests/testing/temp_dir.h"

namespace hookvault::server {
namespace {

using ::hookvault::testing::TempDir;

EnvLookup NoEnv() {
  return [](const std::string&) -> std::optional<std::string> { return std::nullopt; };
}

std::string WithTls(const std::string& tls) {
  return R"({"sources": [{"name": "s", "tokens": ["0123456789abcdef"]}], "tls": )" + tls + "}";
}

// Expects the config to be refused with a message starting with "<path>: ".
void ExpectError(const std::string& json, const std::string& path) {
  auto config = ParseConfig(json, NoEnv());
  ASSERT_FALSE(config.ok()) << "accepted: " << json;
  EXPECT_EQ(config.status().message().rfind(path + ": ", 0), 0u)
      << "expected \"" << path << "\" in: " << config.status().message();
}

TEST(TlsConfigTest, AbsentMeansPlainHttp) {
  auto config =
      ParseConfig(R"({"sources": [{"name": "s", "tokens": ["0123456789abcdef"]}]})", NoEnv());
  ASSERT_TRUE(config.ok()) << config.status().message();
  EXPECT_FALSE(config->tls.has_value());
}

TEST(TlsConfigTest, ReadsBothFiles) {
  TempDir dir;
  std::string cert = dir.Write("cert.pem", "x"), key = dir.Write("key.pem", "y");
  auto config = ParseConfig(
      WithTls(R"({"cert_file": ")" + cert + R"(", "key_file": ")" + key + R"("})"), NoEnv());
  ASSERT_TRUE(config.ok()) << config.status().message();
  ASSERT_TRUE(config->tls.has_value());
  EXPECT_EQ(config->tls->cert_file, cert);
  EXPECT_EQ(config->tls->key_file, key);
}

TEST(TlsConfigTest, PathsMayComeFromTheEnvironment) {
  TempDir dir;
  std::string cert = dir.Write("cert.pem", "x"), key = dir.Write("key.pem", "y");
  auto env = [&](const std::string& name) -> std::optional<std::string> {
    if (name == "TLS_DIR") return dir.path();
    return std::nullopt;
  };
  auto config = ParseConfig(
      WithTls(R"({"cert_file": "${TLS_DIR}/cert.pem", "key_file": "${TLS_DIR}/key.pem"})"), env);
  ASSERT_TRUE(config.ok()) << config.status().message();
  EXPECT_EQ(config->tls->key_file, key);
}

TEST(TlsConfigTest, BothFilesAreRequiredTogether) {
  TempDir dir;
  std::string cert = dir.Write("cert.pem", "x"), key = dir.Write("key.pem", "y");
  ExpectError(WithTls(R"({"cert_file": ")" + cert + R"("})"), "tls.key_file");
  ExpectError(WithTls(R"({"key_file": ")" + key + R"("})"), "tls.cert_file");
  ExpectError(WithTls("{}"), "tls.cert_file");
  ExpectError(WithTls(R"({"cert_file": "", "key_file": ")" + key + R"("})"), "tls.cert_file");
}

TEST(TlsConfigTest, FilesMustExistAndBeReadable) {
  TempDir dir;
  std::string cert = dir.Write("cert.pem", "x"), key = dir.Write("key.pem", "y");
  ExpectError(WithTls(R"({"cert_file": ")" + dir.File("missing.pem") + R"(", "key_file": ")" + key +
                      R"("})"),
              "tls.cert_file");
  ExpectError(WithTls(R"({"cert_file": ")" + cert + R"(", "key_file": ")" +
                      dir.File("missing.pem") + R"("})"),
              "tls.key_file");
  if (geteuid() != 0) {  // root reads any file
    ::chmod(key.c_str(), 0);
    ExpectError(WithTls(R"({"cert_file": ")" + cert + R"(", "key_file": ")" + key + R"("})"),
                "tls.key_file");
  }
}

TEST(TlsConfigTest, RefusesUnknownKeysAndWrongTypes) {
  TempDir dir;
  std::string cert = dir.Write("cert.pem", "x"), key = dir.Write("key.pem", "y");
  ExpectError(
      WithTls(R"({"cert_file": ")" + cert + R"(", "key_file": ")" + key + R"(", "ca_file": "x"})"),
      "tls.ca_file");
  ExpectError(WithTls(R"("on")"), "tls");
  ExpectError(WithTls(R"({"cert_file": 1, "key_file": ")" + key + R"("})"), "tls.cert_file");
}

}  // namespace
}  // namespace hookvault::server
