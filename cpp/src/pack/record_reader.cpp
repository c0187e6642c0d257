#include "backfill/pack/record_reader.hpp"

namespace backfill::pack {
namespace {

constexpr std::size_t worth_helpers = 64;    // fewer records are read faster alone
constexpr std::size_t records_per_grab = 8;  // small enough to even out the helpers' shares

}  // namespace

std::size_t record_reader::helpers_for(std::size_t records) {
  return records >= worth_helpers ? crew::default_helpers() : 0;
}

record_reader::record_reader(std::size_t helpers) : crew_(helpers, records_per_grab), scratch_(helpers + 1) {}

void record_reader::read(std::size_t n, std::vector<record>& out, const plain_fn& plain,
                         const general_fn& general) {
  out.resize(n);
  std::vector<char> declined(n, 0);
  crew_.run(n, [&](std::size_t lo, std::size_t hi, std::size_t worker) {
    for (std::size_t i = lo; i < hi; ++i) declined[i] = !plain(i, out[i], scratch_[worker]);
  });
  for (std::size_t i = 0; i < n; ++i)
    if (declined[i]) general(i, out[i]);
}

}  // namespace backfill::pack
