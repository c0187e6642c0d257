// GitHub source: what a repository's fetch carries from page to page and from run to run.
//   - The cursor: "<phase>\n<since>\n<next URL>\n<known>" ("" URL: the phase's start).
//   - `known`: the highest issue `updated_at` seen and the ETag of each phase's first page as last
//     read, "<updated>\t<read at, epoch microseconds>\t<etag issues>\t<etag issue_comments>\t<etag
//     review_comments>". The partition's last page hands it to the ledger as the watermark, which
//     keeps the highest as text: by `updated_at`, then by when it was read. A later run sends the
//     ETags as If-None-Match on each phase's first page; a 304 (free against the primary limit) means
//     nothing in that phase changed since: lists are newest first, so any change is on page 1.
#pragma once

#include <array>
#include <chrono>
#include <cstdio>
#include <string>
#include <string_view>

namespace backfill::github_detail {

inline constexpr std::array<std::string_view, 3> phases = {"issues", "issue_comments", "review_comments"};

inline int phase_index(std::string_view phase) {
  for (std::size_t i = 0; i < phases.size(); ++i)
    if (phases[i] == phase) return static_cast<int>(i);
  return -1;
}

struct known {
  std::string updated;
  std::array<std::string, 3> etags;

  // As a watermark (and the cursor's last line), read now.
  std::string text() const {
    const auto us = std::chrono::duration_cast<std::chrono::microseconds>(
        std::chrono::system_clock::now().time_since_epoch());
    char at[24];
    std::snprintf(at, sizeof at, "%017lld", static_cast<long long>(us.count()));
    std::string out = updated + "\t" + at;
    for (const auto& e : etags) out += "\t" + e;
    return out;
  }

  static known parse(std::string_view text) {
    known k;
    std::size_t field = 0;
    while (true) {
      const auto tab = text.find('\t');
      const std::string_view part = text.substr(0, tab);
      if (field == 0) k.updated = part;
      if (field >= 2 && field < 5) k.etags[field - 2] = part;
      if (tab == std::string_view::npos) break;
      text.remove_prefix(tab + 1);
      ++field;
    }
    return k;
  }

  void saw(std::string_view t) {
    if (t > updated) updated = t;
  }
  // An ETag kept only when it cannot break the text it is stored in.
  void set_etag(int phase, std::string_view etag) {
    etags[phase] = etag.find_first_of("\t\n") == std::string_view::npos ? std::string(etag) : std::string();
  }
};

}  // namespace backfill::github_detail
