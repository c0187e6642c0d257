// Page-sized buffers kept idle for the next page instead of freed: HTTP response bodies, simdjson
// parsers. pipeline.cpp's fixed mmap threshold gives every block of 1 MB or more a mapping of its
// own, which the kernel zero-fills page by page on first touch and which munmap drops when freed:
// a buffer freed after each page costs the next page its faults again (on a 3,000-issue run, a
// fault for every 4 kB of each response body and parse). Kept, the buffer's pages stay resident
// and are written again without a fault.
//
// What is kept idle is bounded by an allowance in bytes, process-wide (buffers move between the
// threads and clients of a run): each pipeline adds its share (set aside of its memory budget, a
// eighth: pipeline.cpp) for its life and its budget's stages hold that much less, so what runs at
// once plus what is kept stays within the budget. With no pipeline alive the allowance is 0 and
// page-sized buffers are freed when let go.
#pragma once

#include <cstddef>

namespace backfill::kept_buffers {

// Counts `bytes` of an idle buffer as kept when they fit in the allowance beside what is kept
// already: true means keep it (and give the bytes back with release() when it is used or freed),
// false means free it. Holders use `charge`, which gives them back itself.
bool try_keep(std::size_t bytes) noexcept;
// An idle buffer counted by try_keep() is used again or freed.
void release(std::size_t bytes) noexcept;

// The bytes of one idle buffer counted as kept, given back when the charge is dropped (the buffer is
// used again or freed) or destroyed. Empty when nothing is counted: the buffer did not fit (free it),
// or it is small enough to keep uncounted.
class charge {
 public:
  charge() noexcept = default;
  // Counts `bytes` if they fit in the allowance (try_keep()); empty if they do not.
  static charge try_take(std::size_t bytes) noexcept { return try_keep(bytes) ? charge(bytes) : charge(); }
  charge(charge&& other) noexcept : bytes_(other.bytes_) { other.bytes_ = 0; }
  charge& operator=(charge&& other) noexcept {
    if (this != &other) {
      drop();
      bytes_ = other.bytes_;
      other.bytes_ = 0;
    }
    return *this;
  }
  charge(const charge&) = delete;
  charge& operator=(const charge&) = delete;
  ~charge() { drop(); }

  explicit operator bool() const noexcept { return bytes_ > 0; }
  std::size_t bytes() const noexcept { return bytes_; }
  // Gives the bytes back now.
  void drop() noexcept {
    release(bytes_);
    bytes_ = 0;
  }

 private:
  explicit charge(std::size_t bytes) noexcept : bytes_(bytes) {}
  std::size_t bytes_ = 0;
};

// Makes the whole pages inside [data, data + bytes) resident in one call (madvise
// MADV_POPULATE_WRITE): for a buffer just mapped that is written in full next, which would otherwise
// fault each 4 kB in as it is written. The kernel still zero-fills each page, without a trap for
// each. A no-op where the kernel cannot (before Linux 5.14).
void make_resident(void* data, std::size_t bytes) noexcept;

// A pipeline's share, added for its life (pipeline.cpp).
void add_allowance(std::size_t bytes) noexcept;
void remove_allowance(std::size_t bytes) noexcept;

std::size_t kept() noexcept;
std::size_t allowance() noexcept;

// The resident bytes charged for an idle simdjson parser sized for `capacity` bytes of JSON: the
// buffers it allocates are ~14 times that (tape, strings, structural indexes), but a parse touches
// only what the document fills: ~1.6 bytes a byte of a Jira page (faults counted on `backfill run`).
constexpr std::size_t parser_footprint(std::size_t capacity) noexcept { return 2 * capacity; }

}  // namespace backfill::kept_buffers
