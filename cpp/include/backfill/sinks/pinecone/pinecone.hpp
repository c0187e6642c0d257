// Pinecone's data plane (API version 2025-10 by default): upsert, fetch, delete, list,
// describe_index_stats and query, through the HTTP engine.
//   - Upserts go over gRPC (VectorService/Upsert, protobuf over HTTP/2) by default, or over REST
//     (transport "rest"). gRPC is what Pinecone recommends for bulk upserts: 1536 floats are 6 kB of
//     binary instead of ~17 kB of JSON text that costs far more CPU to write. Everything else
//     (fetch, list, delete, stats, query) goes over REST.
//   - One namespace flows through every call. The default namespace ("" or "__default__" in config)
//     is always sent as "__default__", and stats read either key, so writes, reads, counts and
//     verification can never look at different namespaces.
//   - Upserts are packed by count (<= max_records) and by serialized bytes (<= max_request_bytes)
//     by the one packer (pack/packer.hpp); a record that cannot fit even alone is reported
//     (take_unsendable) and never sent; requests go out concurrently (bounded per host) and every
//     upsertedCount is checked (cpp/src/sinks/pinecone/upsert.cpp). Pinecone announces no rate limit:
//     requests and upsert bytes are paced at its documented limits (rate, byte_rate: buckets of a
//     second's worth in the client's quota, http/quota.hpp).
//   - Metadata is sent as it comes: records arrive fitted to metadata_limit() where they were built
//     (pack/sanitize.hpp's fit_metadata: the ingest, and Sink.upsert from Python).
//   - Counts lag behind writes (eventual consistency): count_lags() is true, so verify polls.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <utility>

#include "backfill/core/fields.hpp"
#include "backfill/http/client.hpp"
#include "backfill/sinks/sink.hpp"

namespace backfill {

struct pinecone_options {
  std::string host;  // https://my-index-abc123.svc.pinecone.io, or http://127.0.0.1:PORT for Pinecone Local
  std::string api_key;
  std::string namespace_;
  std::string api_version = "2025-10";
  std::size_t max_records = 1000;
  std::size_t max_request_bytes = 2 * 1000 * 1000;
  int max_in_flight = 16;
  // Pinecone's documented limits, per namespace: upsert (and query, delete) requests a second, and upsert
  // bytes a second. It sends no rate-limit headers: the sink paces at these (0: no limit of its own).
  double rate = 100;
  double byte_rate = 50e6;
  double timeout = 60;
  bool verify_tls = true;
  std::size_t metadata_max_bytes = 40960;
  int max_attempts = 8;
  double base_delay = 0.5;
  std::string transport = "grpc";  // of upserts: "grpc" (needs libcurl with HTTP/2) or "rest"
};
BACKFILL_FIELDS(pinecone_options, &s::host, &s::api_key, &s::namespace_, &s::api_version, &s::max_records,
                &s::max_request_bytes, &s::max_in_flight, &s::rate, &s::byte_rate, &s::timeout,
                &s::verify_tls, &s::metadata_max_bytes, &s::max_attempts, &s::base_delay, &s::transport)

class pinecone_sink final : public sink {
 public:
  explicit pinecone_sink(pinecone_options options);
  ~pinecone_sink() override;

  std::string kind() const override { return "pinecone"; }
  std::string identity() const override;
  std::string describe() const override;
  bool count_lags() const override { return true; }
  std::size_t max_batch() const override;
  std::size_t metadata_limit() const override { return options_.metadata_max_bytes; }
  // Ids of 1..512 bytes without spaces (fetch takes no ids with spaces) go as they are.
  std::string fit_record_id(std::string_view id) const override;
  std::map<std::string, std::string> receipt_info() const override;

  std::int64_t upsert(const std::vector<record>& records) override;
  std::vector<fetched_record> fetch(const std::vector<std::string>& ids) override;
  void remove(const std::vector<std::string>& ids) override;
  std::vector<std::string> list(std::string_view prefix, std::string_view after, std::size_t limit) override;
  sink_stats stats() override;
  std::vector<query_match> query(const std::vector<float>& vector, std::size_t top_k) override;
  // describe_index_stats (the key, the dimension, the metric, what the namespace holds), and with
  // transport "grpc" a gRPC call that must answer within 5 s: preflight.cpp.
  void preflight(preflight_checks& out, int dimension, run_context& ctx) override;

  std::string unsendable_reason(const record& probe) const override;
  std::vector<std::string> take_unsendable() override {
    std::lock_guard<std::mutex> lock(unsendable_mutex_);
    return std::exchange(unsendable_, {});
  }
  // Upserts share nothing but the thread-safe HTTP clients, the atomic LSN and the unsendable list.
  bool concurrent_upserts() const override { return true; }

 private:
  http::request make(std::string method, std::string path, std::string body = {}) const;
  http::request make_grpc(std::string body) const;
  http::response call(http::request r);
  // Waits for a request of `client`; a refused key or permission becomes a sink_error naming the
  // setting to fix (refusals.cpp).
  http::response wait(http::client& client, const http::client::handle& h) const;
  std::exception_ptr explain(const http::http_error& e) const;
  bool grpc() const noexcept { return grpc_client_ != nullptr; }

  pinecone_options options_;
  std::string base_;  // host without a trailing slash
  std::string ns_;    // as sent
  std::unique_ptr<http::client> client_;
  std::unique_ptr<http::client> grpc_client_;  // HTTP/2 for gRPC upserts; null with transport "rest"
  std::atomic<long long> max_lsn_{-1};
  std::mutex unsendable_mutex_;
  std::vector<std::string> unsendable_;
  // Request bodies handed back by the engine after their upsert, their memory kept for the next
  // ones: a 2 MB body written into fresh pages costs page faults on every request.
  std::string spare_body();
  void keep_body(std::string body);
  std::mutex spare_mutex_;
  std::vector<std::string> spare_bodies_;
};

}  // namespace backfill
