// pinecone_sink::upsert: records checked against Pinecone's rules, packed (pack/packer.hpp) into
// REST or gRPC requests that go out as soon as each is packed, and every acknowledgement checked.
// Metadata arrives fitted (pack/sanitize.hpp's fit_metadata, where the record was built).
#include <algorithm>
#include <bit>
#include <cstdlib>
#include <memory>
#include <mutex>

#include <fmt/format.h>

#include "backfill/core/errors.hpp"
#include "backfill/core/log.hpp"
#include "backfill/core/task_group.hpp"
#include "backfill/http/scrub.hpp"
#include "backfill/pack/grpc.hpp"
#include "backfill/pack/packer.hpp"
#include "backfill/pack/rest.hpp"
#include "backfill/sinks/pinecone/pinecone.hpp"
#include "parse.hpp"

namespace backfill {
namespace {

// Refuses locally what Pinecone would refuse for the whole request: an id of 0 or over 512 bytes
// or with a space.
void check_id(const record& rec, const std::string& where) {
  if (rec.id.empty() || rec.id.size() > 512 || rec.id.find(' ') != std::string::npos)
    throw sink_error(fmt::format("{}: record id '{}' is not a Pinecone id (1 to 512 bytes, no spaces)", where,
                                 http::excerpt(rec.id, 80)));
}

// Values Pinecone refuses, checked as each record is packed, while they are in cache for the copy
// that follows: a request holding such a record is never sent, and the call fails naming it. One
// branch-free pass over the bits, which the compiler vectorizes: a non-finite float has every
// exponent bit set; a zero has no bit set but perhaps the sign.
void check_values(const record& rec, const std::string& where) {
  std::uint32_t nonfinite = 0, bits = 0;
  for (float v : rec.values) {
    auto b = std::bit_cast<std::uint32_t>(v);
    nonfinite |= static_cast<std::uint32_t>((b & 0x7f800000u) == 0x7f800000u);
    bits |= b & 0x7fffffffu;
  }
  if (nonfinite)
    throw sink_error(fmt::format("{}: record {} has a value that is not a finite number", where, rec.id));
  if (!bits)
    throw sink_error(
        fmt::format("{}: record {} has no non-zero value; Pinecone needs at least one", where, rec.id));
}

}  // namespace

std::string pinecone_sink::spare_body() {
  std::lock_guard<std::mutex> lock(spare_mutex_);
  if (spare_bodies_.empty()) return {};
  std::string body = std::move(spare_bodies_.back());
  spare_bodies_.pop_back();
  body.clear();
  return body;
}

void pinecone_sink::keep_body(std::string body) {
  if (body.capacity() < (64u << 10)) return;
  std::lock_guard<std::mutex> lock(spare_mutex_);
  // As many as can be in flight or being packed at once, no more.
  if (spare_bodies_.size() < static_cast<std::size_t>(std::max(1, options_.max_in_flight)) + 2)
    spare_bodies_.push_back(std::move(body));
}

std::string pinecone_sink::unsendable_reason(const record& probe) const {
  std::unique_ptr<pack::encoder> enc;
  if (grpc())
    enc = std::make_unique<grpc::upsert_encoder>(ns_);
  else
    enc = std::make_unique<pack::rest_upsert_encoder>(ns_);
  const std::size_t bytes = enc->overhead() + enc->prepare(probe);
  if (bytes <= options_.max_request_bytes) return {};
  return fmt::format(
      "sink.max_request_bytes = {} is too small for any record: one of {} dimensions with the least metadata "
      "backfill writes takes {} bytes; raise it (at most 2000000)",
      options_.max_request_bytes, probe.values.size(), bytes);
}

std::int64_t pinecone_sink::upsert(const std::vector<record>& records) {
  const std::string where = describe();
  for (const record& rec : records) check_id(rec, where);

  // 1. Pack and send: each request holds <= max_records records and <= max_request_bytes of body.
  // Encoding is the costly part (floats as JSON text, or metadata as protobuf), so the records are
  // packed in two halves on two threads when there are enough, and each request is submitted as
  // soon as it is packed, while the next is being written.
  http::client& sender = grpc() ? *grpc_client_ : *client_;
  struct sent {
    std::size_t first_record;  // for ordering
    http::client::handle handle;
    std::vector<std::size_t> members;
  };
  std::mutex mutex;
  std::vector<sent> requests;
  std::vector<std::string> too_large;
  auto pack = [&](std::size_t begin, std::size_t end) {
    std::unique_ptr<pack::encoder> enc;
    if (grpc())
      enc = std::make_unique<grpc::upsert_encoder>(ns_);
    else
      enc = std::make_unique<pack::rest_upsert_encoder>(ns_);
    auto hand_over = [&](pack::request r) {
      http::request call =
          grpc() ? make_grpc(std::move(r.body)) : make("POST", "/vectors/upsert", std::move(r.body));
      call.quota_tokens = static_cast<double>(call.body.size());  // the bytes-a-second bucket's cost
      auto h = sender.submit(std::move(call));
      std::lock_guard<std::mutex> lock(mutex);
      requests.push_back({r.members.front(), std::move(h), std::move(r.members)});
      return spare_body();
    };
    pack::packer packer(*enc, {options_.max_records, options_.max_request_bytes}, hand_over, spare_body());
    for (std::size_t i = begin; i < end; ++i) {
      check_values(records[i], where);
      try {
        packer.add(i, records[i]);
      } catch (const error& e) {  // from the encoder: metadata that is not a JSON object
        throw sink_error(fmt::format("{}: record {}: {}", where, records[i].id, e.what()));
      }
    }
    packer.flush();
    // A record too large to go even alone: reported and skipped, never sent.
    std::lock_guard<std::mutex> lock(mutex);
    for (const auto& o : packer.oversized()) {
      too_large.push_back(records[o.index].id);
      logger()->error("pinecone: record {} is {} bytes serialized, over the {}-byte request limit; not sent",
                      records[o.index].id, o.bytes, options_.max_request_bytes);
    }
  };
  std::exception_ptr failure;
  {
    const std::size_t half = records.size() >= 2 * options_.max_records ? records.size() / 2 : records.size();
    task_group second;
    if (half < records.size()) second.spawn([&] { pack(half, records.size()); });
    try {
      pack(0, half);
    } catch (...) {
      failure = std::current_exception();  // the first half's error: the earlier record
    }
    try {
      second.wait();
    } catch (...) {
      if (!failure) failure = std::current_exception();
    }
  }
  if (!too_large.empty()) {
    std::lock_guard<std::mutex> lock(unsendable_mutex_);
    for (auto& id : too_large) unsendable_.push_back(std::move(id));
  }
  std::sort(requests.begin(), requests.end(),
            [](const sent& a, const sent& b) { return a.first_record < b.first_record; });
  auto cancel_from = [&](std::size_t k) {
    for (std::size_t j = k; j < requests.size(); ++j) sender.cancel(requests[j].handle);
  };
  if (failure) {
    cancel_from(0);
    std::rethrow_exception(failure);
  }

  // 2. Every acknowledgement must count every record of its request.
  std::int64_t acked = 0;
  simdjson::dom::parser parser;
  for (std::size_t k = 0; k < requests.size(); ++k) {
    http::response resp;
    try {
      resp = wait(sender, requests[k].handle);
    } catch (...) {
      cancel_from(k + 1);
      throw;
    }
    if (const auto* lsn = resp.find("x-pinecone-request-lsn")) {
      long long v = std::atoll(lsn->c_str());
      long long prev = max_lsn_.load();
      while (v > prev && !max_lsn_.compare_exchange_weak(prev, v)) {
      }
    }
    std::int64_t count = -1;
    if (grpc()) {
      if (auto n = grpc::read_upserted_count(resp.body)) count = *n;
    } else if (pinecone_detail::parse(parser, resp).at_key("upsertedCount").get(count)) {
      count = -1;
    }
    sender.recycle(std::move(resp));
    keep_body(sender.take_body(requests[k].handle));
    const auto& members = requests[k].members;
    if (count != static_cast<std::int64_t>(members.size())) {
      std::string ids;
      for (std::size_t j = 0; j < members.size() && j < 20; ++j)
        ids += (j ? ", " : "") + records[members[j]].id;
      cancel_from(k + 1);
      throw sink_error(
          fmt::format("{}: an upsert of {} records was acknowledged with {} {}{}; "
                      "the request held {}{}",
                      where, members.size(), grpc() ? "upserted_count" : "upsertedCount", count,
                      count < 0 ? " (missing)" : "", ids, members.size() > 20 ? ", ..." : ""));
    }
    acked += count;
  }
  return acked;
}

}  // namespace backfill
