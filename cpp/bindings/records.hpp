// Core records from the record dicts Sink.upsert takes (see records.cpp). Needs the GIL.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "backfill/document.hpp"
#include "backfill/sink.hpp"
#include "bindings.hpp"

namespace backfill::python {

// Scratch space of one thread reading records (records.cpp).
struct scratch_space {
  // UTF-8 of the non-ASCII strings in use (a dict's keys are all in use while it is sorted); a deque,
  // so that views into earlier texts stay valid as more are added.
  std::deque<std::string> texts;
  std::size_t used = 0;
  std::string& next_text() {
    if (used == texts.size()) texts.emplace_back();
    return texts[used++];
  }
};

// Threads that read records alongside the calling thread while it holds the GIL; records.cpp says
// why that is safe for what they read. Lives for one call: the threads end with it.
class reader_crew {
 public:
  using part_fn = std::function<void(std::size_t begin, std::size_t end, scratch_space&)>;
  static constexpr std::size_t worth_helpers = 64;  // fewer records are read faster alone
  static std::size_t default_helpers();  // one per further core, at most 3; none without a GIL

  explicit reader_crew(std::size_t helpers);
  ~reader_crew();
  reader_crew(const reader_crew&) = delete;
  reader_crew& operator=(const reader_crew&) = delete;

  // part(begin, end, scratch) over [0, count) in small pieces, on this thread and the helpers at
  // once; returns when all are done, with the first exception any of them raised.
  void run(std::size_t count, const part_fn& part);
  scratch_space& own_scratch() { return scratch_.front(); }

 private:
  void serve(std::size_t who);
  void take_parts(std::size_t who);

  std::mutex mutex_;
  std::condition_variable start_, done_;
  const part_fn* part_ = nullptr;
  std::size_t count_ = 0;
  std::atomic<std::size_t> next_{0};
  std::uint64_t round_ = 0;
  std::size_t busy_ = 0;
  bool stop_ = false;
  std::exception_ptr failure_;
  std::deque<scratch_space> scratch_;  // [0] is the calling thread's
  std::vector<std::thread> threads_;
};

// float.__repr__ of a finite double (so json.dumps's): the shortest digits that read back as the
// same double, in fixed notation for decimal exponents -4 to 15, else d.ddde+XX.
void append_float_repr(std::string& out, double d);

std::vector<record> records_from_python(const py::handle& records);
// Records [begin, end) of `records` into `out`, whose records (a slice handed back for reuse) keep
// their memory; `crew` reads with the calling thread. Needs the GIL.
void records_from_python(const py::list& records, std::size_t begin, std::size_t end, std::vector<record>& out,
                         reader_crew& crew);
// sink.upsert(records) of a list of record dicts: converting slices overlaps with sending the
// previous ones. Raises the first error of either.
std::int64_t upsert_from_python(sink& target, const py::list& records);

}  // namespace backfill::python
