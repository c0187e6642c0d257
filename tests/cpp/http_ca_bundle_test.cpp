#include "backfill/http/ca_bundle.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

namespace backfill::http {
namespace {

struct saved_env {
  explicit saved_env(const char* n) : name(n) {
    if (const char* v = std::getenv(n)) value = v, was_set = true;
    ::unsetenv(n);
  }
  ~saved_env() {
    if (was_set) ::setenv(name, value.c_str(), 1);
  }
  const char* name;
  std::string value;
  bool was_set = false;
};

TEST(CaBundle, TheEnvironmentNamesItFirst) {
  saved_env a("SSL_CERT_FILE"), b("CURL_CA_BUNDLE"), c("REQUESTS_CA_BUNDLE");
  ::setenv("CURL_CA_BUNDLE", "/tmp/from-curl.pem", 1);
  EXPECT_EQ(default_ca_bundle(), "/tmp/from-curl.pem");
  ::setenv("SSL_CERT_FILE", "/tmp/from-ssl.pem", 1);
  EXPECT_EQ(default_ca_bundle(), "/tmp/from-ssl.pem");
  ::unsetenv("SSL_CERT_FILE");
  ::unsetenv("CURL_CA_BUNDLE");
}

TEST(CaBundle, ElseTheSystemsBundleFile) {
  saved_env a("SSL_CERT_FILE"), b("CURL_CA_BUNDLE"), c("REQUESTS_CA_BUNDLE");
  std::string found = default_ca_bundle();
  if (::access("/etc/ssl/certs/ca-certificates.crt", R_OK) == 0) {
    EXPECT_EQ(found, "/etc/ssl/certs/ca-certificates.crt");  // Debian, where the tests run
  }
  if (!found.empty()) {
    EXPECT_EQ(::access(found.c_str(), R_OK), 0);
  }
}

}  // namespace
}  // namespace backfill::http
