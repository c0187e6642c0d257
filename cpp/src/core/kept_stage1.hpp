// simdjson's stage-1 index of one JSON text (where every structural character and scalar starts),
// kept by a thread from one text to the next. The engine's answer check (json_items.cpp) and the
// walk over a page (json_walk.cpp) each keep one a thread.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>

#include <simdjson.h>

#include "backfill/core/kept_buffers.hpp"

namespace backfill::json {

enum class shape { whole, broken, too_deep };

// The grammar of JSON over the structural characters stage 1 found in `buf` (json_items.cpp): what
// simdjson's stage 2 checks, without building a tape or copying strings. too_deep past `max_depth`.
shape grammar(const char* buf, std::size_t len, const std::uint32_t* at, std::size_t n,
              std::size_t max_depth);

class kept_stage1 {
 public:
  // Indexes `len` bytes at `buf`, which has simdjson's padding past them. MEMALLOC when there is no
  // memory for the index; the index is valid until the next call.
  simdjson::error_code index(const char* buf, std::size_t len) {
    kept_.drop();  // in use
    if (!stage1_ || stage1_->capacity() < len) {
      stage1_.reset();
      const std::size_t room = std::max(len + len / 4, std::size_t{4} << 10);
      if (simdjson::get_active_implementation()->create_dom_parser_implementation(
              room, simdjson::DEFAULT_MAX_DEPTH, stage1_) != simdjson::SUCCESS)
        return simdjson::MEMALLOC;
    }
    if (len == 0) return simdjson::EMPTY;
    return stage1_->stage1(reinterpret_cast<const std::uint8_t*>(buf), len, simdjson::stage1_mode::regular);
  }
  const std::uint32_t* at() const noexcept { return stage1_->structural_indexes.get(); }
  std::size_t count() const noexcept { return stage1_->n_structural_indexes; }

  // The index is no longer read: one sized for a page is kept for the next text within the run's
  // allowance of idle buffers (core/kept_buffers.hpp), freed past it; small ones are always kept.
  void let_go() noexcept {
    // Four bytes an entry, one entry for every few bytes of a text at most.
    constexpr std::size_t always_kept = 128u << 10;  // bytes of JSON
    if (!stage1_ || stage1_->capacity() <= always_kept || kept_) return;
    kept_ = kept_buffers::charge::try_take(stage1_->capacity());
    if (!kept_) stage1_.reset();
  }

 private:
  std::unique_ptr<simdjson::internal::dom_parser_implementation> stage1_;
  kept_buffers::charge kept_;  // while it waits for the next text
};

}  // namespace backfill::json
