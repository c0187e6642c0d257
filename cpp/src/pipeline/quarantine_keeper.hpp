// Which of a partition's quarantined items stay quarantined once all its pages are read (ingest and
// validate read them in order).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "backfill/ledger/ledger.hpp"

namespace backfill {

// The items a partition's pages quarantined. For a source that asks for quarantined items again
// (source::requeries_items), less those a later page of the partition read (the source fixed them)
// and, of an id held more than once, all but the last.
class quarantine_keeper {
 public:
  explicit quarantine_keeper(bool requeried) : requeried_(requeried) {}
  std::vector<quarantined_item> held;
  // A document the normalizer read: ends the quarantine of the items of its id held before it.
  void read(std::string_view id) {
    if (!requeried_) return;
    note_held();
    if (last_.empty()) return;
    if (auto it = last_.find(std::string(id)); it != last_.end()) it->second.read_after = held.size();
  }
  std::vector<quarantined_item> still_held() {
    if (!requeried_) return held;
    note_held();
    std::vector<quarantined_item> out;
    for (std::size_t i = 0; i < held.size(); ++i) {
      auto it = last_.find(held[i].id);
      if (it == last_.end() || (it->second.index == i && it->second.read_after <= i)) out.push_back(held[i]);
    }
    return out;
  }

 private:
  void note_held() {
    for (; known_ < held.size(); ++known_)
      if (!held[known_].id.empty()) last_[held[known_].id] = {known_, 0};
  }
  struct mark {
    std::size_t index;       // the last item held with the id
    std::size_t read_after;  // held.size() when a document of the id was last read
  };
  bool requeried_;
  std::unordered_map<std::string, mark> last_;
  std::size_t known_ = 0;
};

}  // namespace backfill
