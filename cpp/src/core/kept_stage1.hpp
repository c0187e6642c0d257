// simdjson's stage-1 index of one JSON text (where every structural character and scalar starts).
// The engine's answer check (json_items.cpp) makes one for every answer it expects to be JSON and hands
// it on with the response; it and the walk over a page (json_walk.cpp) also keep one a thread for
// texts that come without.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>

#include <simdjson.h>

#include "backfill/core/json_walk.hpp"
#include "backfill/core/kept_buffers.hpp"

namespace backfill::json {

enum class shape { whole, broken, too_deep };

// The grammar of JSON over the structural characters stage 1 found in `buf` (json_items.cpp): what
// simdjson's stage 2 checks, without building a tape or copying strings. too_deep past `max_depth`.
shape grammar(const char* buf, std::size_t len, const std::uint32_t* at, std::size_t n,
              std::size_t max_depth);

// The index of one text: made where the text is checked, and read there or by whoever the text is
// handed to (json_walk.hpp's text_index is this).
class text_index {
 public:
  // Indexes `len` bytes at `buf`, which has simdjson's padding past them. MEMALLOC when there is no
  // memory for the index. Until the next call, indexes() tells whether the index is of a text.
  simdjson::error_code index(const char* buf, std::size_t len) {
    text_ = nullptr;
    if (!stage1_ || stage1_->capacity() < len) {
      stage1_.reset();
      touched_ = 0;
      const std::size_t room = std::max(len + len / 4, std::size_t{4} << 10);
      if (simdjson::get_active_implementation()->create_dom_parser_implementation(
              room, simdjson::DEFAULT_MAX_DEPTH, stage1_) != simdjson::SUCCESS)
        return simdjson::MEMALLOC;
    }
    if (len == 0) return simdjson::EMPTY;
    const auto err =
        stage1_->stage1(reinterpret_cast<const std::uint8_t*>(buf), len, simdjson::stage1_mode::regular);
    // Four bytes an entry (and a few entries past the last): the pages written stay resident.
    touched_ = std::max(touched_, (std::size_t{stage1_->n_structural_indexes} + 64) * sizeof(std::uint32_t));
    if (err == simdjson::SUCCESS) {
      text_ = buf;
      len_ = len;
    }
    return err;
  }
  // Whether the index is of `len` bytes at `buf` (indexed without an error, not forgotten since).
  bool indexes(const char* buf, std::size_t len) const noexcept {
    return text_ != nullptr && text_ == buf && len_ == len;
  }
  void forget() noexcept { text_ = nullptr; }
  const std::uint32_t* at() const noexcept { return stage1_->structural_indexes.get(); }
  std::size_t count() const noexcept { return stage1_->n_structural_indexes; }
  // The bytes of its memory its texts have written, which stay resident: what keeping it idle is
  // charged. (It has room for several times more: one entry for every byte of the largest text.)
  std::size_t resident() const noexcept { return touched_; }

 private:
  std::unique_ptr<simdjson::internal::dom_parser_implementation> stage1_;
  const char* text_ = nullptr;  // the text indexed, with len_ bytes
  std::size_t len_ = 0;
  std::size_t touched_ = 0;
};

// A thread's index, kept from one text to the next.
class kept_stage1 {
 public:
  // The index, in use until let_go().
  text_index& use() noexcept {
    kept_.drop();
    return index_;
  }

  // The index is no longer read: one sized for a page is kept for the next text within the run's
  // allowance of idle buffers (core/kept_buffers.hpp), freed past it; small ones are always kept.
  void let_go() noexcept {
    if (index_.resident() <= small_index || kept_) return;
    kept_ = kept_buffers::charge::try_take(index_.resident());
    if (!kept_) index_ = text_index();
  }

 private:
  text_index index_;
  kept_buffers::charge kept_;  // while it waits for the next text
};

}  // namespace backfill::json
