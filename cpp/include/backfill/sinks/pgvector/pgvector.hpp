// A PostgreSQL table with the pgvector extension, through libpq.
//   - One table holds many backfills: its key is (namespace, id). Columns: namespace, id (bytewise
//     "C" collation, so list() pages in the contract's order), embedding vector(d), metadata jsonb
//     (the record's metadata: the chunk's text, doc_id, source, title, url, ...), text (generated
//     from metadata->>'text'), metadata_hash (of the canonical metadata JSON as written) and
//     updated_at. Together they are everything a restore from the table needs.
//   - Upserts: each call is cut into batches of batch_size records; each batch is one transaction
//     on its own connection (up to `connections` at once). While no batch has met an id the table
//     holds (a first load), COPY ... FROM STDIN (FORMAT BINARY) straight into the table; from the
//     first batch that fails on the key (it rolls back and is redone so), COPY into a temporary
//     table, then one INSERT ... ON CONFLICT (namespace, id) DO UPDATE. A crash never leaves half a
//     batch, and the acknowledged count is the rows the COPY or the INSERT wrote (a trigger that
//     drops rows shows as a short count). A batch whose connection dropped, or that lost a deadlock,
//     is retried once on a fresh connection.
//   - create = true creates the extension, the table and its indexes when missing and checks an
//     existing table's columns, dimension and vector index otherwise; create = false only checks.
//     The vector index (hnsw or ivfflat) of a new table is built after its first load (when stats()
//     or query() first reads it: the end of a run's ingest), which is faster than maintaining it
//     row by row during a bulk load (bench/pgvector_bench.py measures both).
//   - The DSN (a libpq connection string or URI, TLS options passed through) may carry a password:
//     identity(), describe(), errors, logs and receipts name host, port, database and user only.
#pragma once

#include <atomic>
#include <cstddef>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "backfill/core/fields.hpp"
#include "backfill/sinks/sink.hpp"

namespace backfill {

struct pgvector_options {
  std::string dsn;  // "postgresql://user:pass@host:5432/db?sslmode=require" or "host=... dbname=..."
  std::string schema = "public";
  std::string table = "backfill_chunks";
  std::string namespace_;
  bool create = true;
  std::string index = "hnsw";     // "hnsw", "ivfflat" or "none"
  std::string metric = "cosine";  // "cosine", "l2" or "inner_product"
  int dimension = 0;              // 0: the table's, or the first write's for a new table
  int hnsw_m = 16;
  int hnsw_ef_construction = 64;
  int ivfflat_lists = 100;
  int ef_search = 0;  // hnsw.ef_search for queries; 0 = the server's setting
  std::size_t batch_size = 1000;
  int connections = 4;
  std::size_t metadata_max_bytes = 1000000;  // 0 = no limit (jsonb itself takes up to 255 MB)
  int connect_timeout = 10;                  // seconds, unless the DSN sets connect_timeout
};
BACKFILL_FIELDS(pgvector_options, &s::dsn, &s::schema, &s::table, &s::namespace_, &s::create, &s::index,
                &s::metric, &s::dimension, &s::hnsw_m, &s::hnsw_ef_construction, &s::ivfflat_lists,
                &s::ef_search, &s::batch_size, &s::connections, &s::metadata_max_bytes, &s::connect_timeout)

namespace pgvector_detail {
class pool;
struct table_state;
}  // namespace pgvector_detail

class pgvector_sink final : public sink {
 public:
  explicit pgvector_sink(pgvector_options options);
  ~pgvector_sink() override;

  std::string kind() const override { return "pgvector"; }
  std::string identity() const override;
  std::string describe() const override;
  std::size_t metadata_limit() const override { return options_.metadata_max_bytes; }
  std::size_t max_batch() const override;
  std::map<std::string, std::string> receipt_info() const override;
  // Each batch takes a connection of its own from the pool.
  bool concurrent_upserts() const override { return true; }

  std::int64_t upsert(const std::vector<record>& records) override;
  std::vector<fetched_record> fetch(const std::vector<std::string>& ids) override;
  void remove(const std::vector<std::string>& ids) override;
  std::vector<std::string> list(std::string_view prefix, std::string_view after, std::size_t limit) override;
  sink_stats stats() override;
  std::vector<query_match> query(const std::vector<float>& vector, std::size_t top_k) override;
  // Read from the catalog, nothing created: the connection, the extension, the table (or that it
  // may be created), the user's privileges, what the namespace holds (preflight.cpp).
  void preflight(preflight_checks& out, int dimension, run_context& ctx) override;

 private:
  // The table's state, checked (and created, with create = true) on first use; `dimension` > 0
  // creates a missing table with that many dimensions.
  pgvector_detail::table_state& table(int dimension = 0);
  void build_pending_index();
  std::int64_t write_batch(const std::vector<const record*>& batch, int dimension, bool deferred);
  void flush_commits(const record& written);

  pgvector_options options_;
  std::string where_;      // host:port/database, for messages
  std::string qualified_;  // "schema"."table", quoted
  std::unique_ptr<pgvector_detail::pool> pool_;
  std::mutex table_mutex_;
  std::unique_ptr<pgvector_detail::table_state> table_;
  // No batch has met an id the table already holds: batches COPY straight into the table.
  std::atomic<bool> ids_new_{true};
};

}  // namespace backfill
