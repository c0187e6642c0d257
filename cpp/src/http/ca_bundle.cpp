#include "backfill/http/ca_bundle.hpp"

#include <unistd.h>

#include "http/text.hpp"

namespace backfill::http {

std::string default_ca_bundle() {
  if (std::string env = env_first({"SSL_CERT_FILE", "CURL_CA_BUNDLE", "REQUESTS_CA_BUNDLE"}); !env.empty())
    return env;
  static const char* const known[] = {
      "/etc/ssl/certs/ca-certificates.crt",                 // Debian, Ubuntu, Arch, Gentoo
      "/etc/pki/tls/certs/ca-bundle.crt",                   // Fedora, RHEL
      "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",  // CentOS, RHEL 7+
      "/etc/ssl/ca-bundle.pem",                             // openSUSE
      "/etc/ssl/cert.pem",                                  // Alpine, macOS
  };
  for (const char* path : known)
    if (::access(path, R_OK) == 0) return path;
  return {};
}

}  // namespace backfill::http
