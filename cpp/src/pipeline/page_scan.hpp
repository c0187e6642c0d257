// The item ids of journal pages, gathered for validate: how many items each page holds, which ids
// appear more than once and on which pages.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "backfill/ledger/sqlite.hpp"

namespace backfill {

// Ids go to a private temporary database (on disk, deleted on close), so memory stays flat however
// large the journal is, and nothing in the workdir is written. An ingest that a validate follows in
// the same process (`backfill run`) fills one with the pages it reads, each checked against its
// hash and parsed as it is read; that validate then reads only the pages the ingest did not.
class page_scan {
 public:
  page_scan();

  // Starts the page at `path` whose bytes hash to `hash`; false when it was listed already (a
  // source may read a page twice: its ids count once). A page listed with other bytes (written again
  // since) is forgotten first.
  bool begin_page(const std::string& path, const std::string& hash);
  // An item of the page begun, in `partition`.
  void add(std::string_view id, std::string_view partition);
  // Records the page begun as listed, with the items added since begin_page; `counted` when it is
  // part of the validate's report already.
  void end_page(bool counted = false);
  // Forgets the page begun: its ids are taken out again (a page its source could not read through).
  void abandon_page();
  // Counts the page at `path` in the validate's report when it was listed with these bytes (`hash`):
  // its number of items.
  std::optional<std::int64_t> count(const std::string& path, const std::string& hash);

  // Each id on more than one of the pages counted, in id order: the id, the first partition it is in
  // (by name) and the paths of its pages (one a line). Ends the scan: nothing is added after.
  void duplicates(
      const std::function<void(std::string_view id, std::string_view partition, std::string_view paths)>& fn);

 private:
  sql::database db_;
  std::string path_, hash_;  // of the page begun
  std::int64_t items_ = 0;
};

}  // namespace backfill
