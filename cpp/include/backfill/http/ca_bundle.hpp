// Where HTTPS finds the certificates it trusts when the client names no bundle.
#pragma once

#include <string>

namespace backfill::http {

// $SSL_CERT_FILE, $CURL_CA_BUNDLE or $REQUESTS_CA_BUNDLE when set; else the first CA bundle file the
// system has, at the places the Linux distributions and macOS keep one; "" when there is none (then
// the TLS library's own default paths apply). A wheel carries its own libcurl and OpenSSL, whose
// compiled-in paths are those of the machine that built it, so both transports ask here.
std::string default_ca_bundle();

}  // namespace backfill::http
