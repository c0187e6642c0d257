// Keeping credentials out of messages: URLs lose user info and credential parameters, texts lose
// the client's secrets and well-known token shapes, excerpts of bodies stay short and valid UTF-8.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace backfill::http {

// Removes user info from a URL and masks the values of credential-like query parameters.
std::string scrub_url(std::string_view url);
void scrub_url(std::string_view url, std::string& out);  // into `out`, reusing its capacity
// Masks `secrets` (each at least 4 bytes) and well-known token shapes (Bearer/Basic credentials,
// xox?- Slack tokens, ghp_/gho_/ghs_/github_pat_ GitHub tokens, sk- OpenAI keys) in `text`.
std::string scrub_text(std::string_view text, const std::vector<std::string>& secrets);
// scrub_text with the secrets' spellings (as given, percent-encoded in upper and lower case)
// prepared once, for a client that scrubs many texts with the same secrets.
class scrubber {
 public:
  explicit scrubber(const std::vector<std::string>& secrets);
  std::string operator()(std::string_view text) const;
  void apply(std::string& text) const;  // in place

 private:
  std::vector<std::string> patterns_;
};
// At most `max_bytes` of `body`, cut on a code point, invalid bytes replaced: safe in a message.
std::string excerpt(std::string_view body, std::size_t max_bytes = 500);

}  // namespace backfill::http
