// The pgvector sink's writes: each batch one transaction on a connection of its own, COPY (FORMAT
// BINARY) straight into the table while its ids are new, else into a temporary table and then one
// INSERT ... ON CONFLICT into the table.
#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <unordered_map>

#include <fmt/format.h>

#include "backfill/core/failpoint.hpp"
#include "backfill/core/hash.hpp"
#include "backfill/core/log.hpp"
#include "backfill/core/task_group.hpp"
#include "backfill/sinks/pgvector/copy_binary.hpp"
#include "backfill/sinks/pgvector/pgvector.hpp"
#include "connection.hpp"
#include "schema.hpp"

namespace backfill {

using namespace pgvector_detail;

namespace {

// The temporary table each connection stages its batches in; emptied by every commit.
constexpr const char* stage_sql =
    "CREATE TEMP TABLE IF NOT EXISTS backfill_stage (namespace text, id text COLLATE \"C\", embedding "
    "vector, "
    "metadata jsonb, metadata_hash text) ON COMMIT DELETE ROWS";
constexpr const char* columns = "(namespace, id, embedding, metadata, metadata_hash)";

std::string encode(const std::vector<const record*>& batch, std::string_view name_space) {
  std::size_t bytes = 32;
  for (const record* r : batch)
    bytes += 96 + name_space.size() + r->id.size() + 4 * r->values.size() + r->metadata_json.size();
  std::string out;
  out.reserve(bytes);
  pgcopy::append_header(out);
  for (const record* r : batch) {
    pgcopy::append_row_start(out, 5);
    pgcopy::append_text(out, name_space);
    pgcopy::append_text(out, r->id);
    pgcopy::append_vector(out, r->values);
    pgcopy::append_jsonb(out, r->metadata_json);
    pgcopy::append_text(out, hash_hex(r->metadata_json));
  }
  pgcopy::append_trailer(out);
  return out;
}

}  // namespace

// With `deferred`, the batch's commit does not wait for its WAL to reach the disk (upsert() then waits
// once for all its batches: flush_commits). The batch is atomic either way: recovery replays it whole
// or not at all.
//
// Until the table has refused an id this sink wrote (a first load: the ids are new), a batch is
// copied straight into the table: each row written once instead of twice (staged, then merged), and
// no question asked first. A batch holding an id the table has fails the COPY on the primary key
// (SQLSTATE 23505) at that row; its transaction rolls back and the batch is staged and merged by
// INSERT ... ON CONFLICT instead, as is every later batch of this sink (the ids of a rerun, an
// update or a concurrent writer's are not new). bench/pgvector_bench.py measures both paths.
std::int64_t pgvector_sink::write_batch(const std::vector<const record*>& batch, int dimension,
                                        bool deferred) {
  const std::string data = encode(batch, options_.namespace_);
  const std::string target = options_.schema + "." + options_.table;
  const std::string copy = fmt::format("COPY {} {} FROM STDIN (FORMAT BINARY)", qualified_, columns);
  const std::string merge = fmt::format(
      "INSERT INTO {0} {1} SELECT namespace, id, embedding::vector({2}), metadata, metadata_hash "
      "FROM backfill_stage ON CONFLICT (namespace, id) DO UPDATE SET embedding = EXCLUDED.embedding, "
      "metadata = EXCLUDED.metadata, metadata_hash = EXCLUDED.metadata_hash, updated_at = now()",
      qualified_, columns, dimension);
  return pool_->run([&](connection& c) {
    const auto begin = [&] {
      c.exec("BEGIN", "BEGIN");
      if (deferred) c.exec("deferring the commit's flush", "SET LOCAL synchronous_commit = off");
    };
    begin();
    if (ids_new_.load(std::memory_order_relaxed)) {
      try {
        const std::int64_t written = c.copy_in("COPY of a batch into " + target, copy, data);
        failpoint("pgvector.batch_copied");
        c.exec("COMMIT", "COMMIT");
        return written;
      } catch (const pg_failure& e) {
        if (e.sqlstate() != "23505") throw;
        ids_new_.store(false, std::memory_order_relaxed);
        c.exec("ROLLBACK", "ROLLBACK");
        begin();
      }
    }
    c.exec("creating the staging table", stage_sql);
    c.copy_in("COPY of a batch", "COPY backfill_stage FROM STDIN (FORMAT BINARY)", data);
    failpoint("pgvector.batch_copied");
    result r = c.exec("INSERT of a batch into " + target, merge);
    const std::int64_t written = std::atoll(PQcmdTuples(r.get()));
    c.exec("COMMIT", "COMMIT");
    return written;
  });
}

// Batches that committed without waiting for the disk become durable here: one more commit that
// waits (it rewrites a row of the call unchanged, so that it has WAL of its own) flushes the WAL up
// to its own record, which comes after every batch's. So when upsert() returns each batch is as
// durable as if it had waited, for one flush a call instead of one a batch; should the server crash
// before, the call fails, the ledger never marks its records, and the next run writes them again.
// (Were the row deleted meanwhile, the deleting commit came after the batches' and flushed them too.)
void pgvector_sink::flush_commits(const record& written) {
  const std::string sql =
      fmt::format("UPDATE {} SET metadata_hash = metadata_hash WHERE namespace = $1 AND id = $2", qualified_);
  pool_->run([&](connection& c) {
    c.exec("flushing the batches' commits", sql, {options_.namespace_, written.id});
  });
}

std::int64_t pgvector_sink::upsert(const std::vector<record>& records) {
  if (records.empty()) return 0;
  const std::size_t dim = records.front().values.size();
  for (const record& r : records)
    if (r.values.size() != dim || dim == 0)
      throw sink_error(
          fmt::format("{}: record {} has {} values, the first of the batch {}; every vector of "
                      "one table has the same dimension",
                      describe(), r.id, r.values.size(), dim));
  const table_state& t = table(static_cast<int>(dim));
  if (!t.exists)
    throw sink_error(fmt::format("{}: the table does not exist and sink.create is false", describe()));
  if (static_cast<std::size_t>(t.dimension) != dim)
    throw sink_error(
        fmt::format("{} holds vectors of dimension {}, but record {} has {}; use an embedder of "
                    "dimension {} or another sink.table",
                    describe(), t.dimension, records.front().id, dim, t.dimension));
  // One row per id (the last one wins, as it would over several calls), in id order so concurrent
  // transactions lock shared rows in the same order.
  std::unordered_map<std::string_view, const record*> last;
  last.reserve(records.size());
  for (const record& r : records) last[r.id] = &r;
  std::vector<const record*> rows;
  rows.reserve(last.size());
  for (const auto& [id, r] : last) rows.push_back(r);
  std::sort(rows.begin(), rows.end(), [](const record* a, const record* b) { return a->id < b->id; });
  const auto duplicates = static_cast<std::int64_t>(records.size() - rows.size());

  const std::size_t per = options_.batch_size;
  const std::size_t batches = (rows.size() + per - 1) / per;
  std::atomic<std::int64_t> written{0};
  const bool deferred = batches > 1;  // a lone batch waits for its own flush: no cheaper
  task_group group;
  group.for_each(batches, static_cast<std::size_t>(pool_->size()), [&](std::size_t b, std::size_t) {
    std::vector<const record*> batch(
        rows.begin() + static_cast<std::ptrdiff_t>(b * per),
        rows.begin() + static_cast<std::ptrdiff_t>(std::min(rows.size(), (b + 1) * per)));
    written += write_batch(batch, t.dimension, deferred);
  });
  group.wait();
  if (deferred) flush_commits(*rows.front());
  return written.load() + duplicates;
}

}  // namespace backfill
