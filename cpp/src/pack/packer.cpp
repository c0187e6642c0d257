#include "backfill/pack/packer.hpp"

#include <algorithm>
#include <utility>

namespace backfill::pack {

packer::packer(encoder& enc, limits lim, send_fn send, std::string body)
    : enc_(enc), limits_(lim), send_(std::move(send)), body_(std::move(body)) {}

bool packer::add(std::size_t index, const record& r) {
  const std::size_t size = enc_.prepare(r);
  if (enc_.overhead() + size > limits_.max_bytes) {
    oversized_.push_back({index, size});
    return false;
  }
  if (!members_.empty() &&
      (members_.size() >= limits_.max_records || bytes_ + enc_.separator() + size > limits_.max_bytes))
    flush();
  const bool first = members_.empty();
  if (first) {
    // Room for a full request, written once into memory kept between requests: the largest a
    // request may be, so a body kept from an earlier request never has to grow into a new mapping
    // (bodies are page-sized: each growth is a fresh mapping, faulted in page by page). Only what
    // a request writes is ever touched.
    body_.reserve(limits_.max_bytes);
    enc_.begin(body_);
    bytes_ = enc_.overhead();
  } else {
    bytes_ += enc_.separator();
  }
  enc_.append(body_, r, first);
  bytes_ += size;
  members_.push_back(index);
  return true;
}

void packer::flush() {
  if (members_.empty()) return;
  enc_.finish(body_);
  bytes_ = 0;
  body_ = send_(request{std::move(body_), std::exchange(members_, {})});
}

}  // namespace backfill::pack
