// Packing records into upsert requests, bounded by count and by bytes: one packer for every
// transport, over an encoder that knows the wire format (pack/rest.hpp: JSON; pack/grpc.hpp:
// protobuf).
//
//   encoder enc(...);                         // one per thread
//   packer p(enc, {1000, 2'000'000}, send);   // send(request) takes a finished body
//   for (i...) if (!p.add(i, records[i])) ...; // false: too large even alone, see oversized()
//   p.flush();
//
// The packer sizes each record before it writes it (encoder::prepare), so a request is closed
// before the record that would overflow it, never after; a record over the byte limit on its own
// is set aside (oversized()) and the rest go on; no request is ever sent empty.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <vector>

#include "backfill/core/document.hpp"

namespace backfill::pack {

// Writes the body of one upsert request: begin(), then prepare() + append() per record, then
// finish(). The sizes it reports are exact: a body of records r1..rn is
// overhead() + size(r1) + ... + size(rn) + (n - 1) * separator() bytes.
class encoder {
 public:
  virtual ~encoder() = default;
  // Bytes of a finished body holding no record (what begin() and finish() write).
  virtual std::size_t overhead() const noexcept = 0;
  // Bytes between two records (a comma in JSON; nothing in protobuf).
  virtual std::size_t separator() const noexcept = 0;
  // Gets `r` ready for append() and returns the bytes append() will write for it, separator
  // excluded. Throws backfill::error for a record the format cannot carry.
  virtual std::size_t prepare(const record& r) = 0;
  // Starts a body in `body` (cleared first; its memory is kept).
  virtual void begin(std::string& body) = 0;
  // Appends the record prepare() was last called with; `first`: no record precedes it in `body`.
  virtual void append(std::string& body, const record& r, bool first) = 0;
  // Closes the body.
  virtual void finish(std::string& body) = 0;
};

struct limits {
  std::size_t max_records = 1000;
  std::size_t max_bytes = 2 * 1000 * 1000;
};

// A finished request: its body and the indices (as given to add()) of the records it holds.
struct request {
  std::string body;
  std::vector<std::size_t> members;
};

// A record that cannot go even alone: its index and its encoded size.
struct oversized_record {
  std::size_t index = 0;
  std::size_t bytes = 0;
};

class packer {
 public:
  // Takes a finished request; returns memory for the next body (an empty string will do).
  using send_fn = std::function<std::string(request)>;

  packer(encoder& enc, limits lim, send_fn send, std::string body = {});

  // Packs `r`, known to the caller as `index`; sends the request it closes, if any. False, and
  // nothing packed, for a record whose request would exceed max_bytes even alone.
  bool add(std::size_t index, const record& r);
  // Sends the request being packed, if it holds any record.
  void flush();
  const std::vector<oversized_record>& oversized() const noexcept { return oversized_; }

 private:
  encoder& enc_;
  limits limits_;
  send_fn send_;
  std::string body_;
  std::vector<std::size_t> members_;
  std::size_t bytes_ = 0;  // the finished size of the body being packed
  std::vector<oversized_record> oversized_;
};

}  // namespace backfill::pack
