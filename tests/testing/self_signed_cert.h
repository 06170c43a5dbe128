// A self-signed certificate for 127.0.0.1 and localhost, made with the openssl command line
// tool, for tests of HTTPS (hookvault's own TLS and nginx in front of it).
#ifndef HOOKVAULT_TESTS_TESTING_SELF_SIGNED_CERT_H_
#define HOOKVAULT_TESTS_TESTING_SELF_SIGNED_CERT_H_

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

namespace hookvault::testing {

struct SelfSignedCert {
  std::string cert_file;  // PEM; also the CA file a client verifies it with
  std::string key_file;   // PEM, unencrypted, mode 0600
  std::string error;      // non-empty when it could not be made
};

// Writes <dir>/<name>.crt and <dir>/<name>.key (a P-256 key, valid for two days).
inline SelfSignedCert MakeSelfSignedCert(const std::string& dir, const std::string& name = "tls") {
  SelfSignedCert out{dir + "/" + name + ".crt", dir + "/" + name + ".key", ""};
  std::string log = dir + "/" + name + ".openssl.log";
  std::string cmd =
      "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"
      " -days 2 -subj /CN=localhost"
      " -addext subjectAltName=IP:127.0.0.1,DNS:localhost"
      " -keyout '" +
      out.key_file + "' -out '" + out.cert_file + "' >'" + log + "' 2>&1";
  if (std::system(cmd.c_str()) != 0) {
    std::ifstream in(log);
    std::stringstream s;
    s << in.rdbuf();
    out.error =
        "openssl req failed (is the openssl package installed? scripts/setup installs "
        "it): " +
        s.str();
  }
  return out;
}

}  // namespace hookvault::testing

#endif  // HOOKVAULT_TESTS_TESTING_SELF_SIGNED_CERT_H_
