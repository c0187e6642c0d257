// Records read from a list that another runtime owns (Sink.upsert's list of Python dicts), in two
// passes: a plain reader that runs on the calling thread and a crew of helpers at once, each with a
// scratch space of its own, then a general reader on the calling thread alone for every record the
// plain one declined. Why the helpers may read while Python's GIL is held elsewhere is in
// docs/architecture.md ("Reading records from Python").
#pragma once

#include <cstddef>
#include <deque>
#include <functional>
#include <string>
#include <vector>

#include "backfill/core/document.hpp"
#include "backfill/pack/crew.hpp"

namespace backfill::pack {

// Scratch space of one reading thread: texts in use (a dict's keys stay in use while it is sorted).
// A deque, so that views into earlier texts stay valid as more are added; its strings only grow, so
// that their memory is written once and reused.
struct text_scratch {
  std::deque<std::string> texts;
  std::size_t used = 0;
  std::string& next_text() {
    if (used == texts.size()) texts.emplace_back();
    return texts[used++];
  }
};

class record_reader {
 public:
  // plain(i, out, scratch): item i into `out`, or false (`out` in any state) to leave it to general.
  using plain_fn = std::function<bool(std::size_t i, record& out, text_scratch& scratch)>;
  using general_fn = std::function<void(std::size_t i, record& out)>;

  // Helpers for reading `records` records: none for a few (they are read faster alone).
  static std::size_t helpers_for(std::size_t records);

  explicit record_reader(std::size_t helpers);

  // Items [0, n) into `out`, resized to n: records already there (a slice handed back for reuse)
  // keep their memory. The general reader starts once every helper is done; its errors propagate.
  void read(std::size_t n, std::vector<record>& out, const plain_fn& plain, const general_fn& general);

 private:
  crew crew_;
  std::deque<text_scratch> scratch_;  // [0] is the calling thread's
};

}  // namespace backfill::pack
