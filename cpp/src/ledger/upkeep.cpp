// The ledger's upkeep: the embedding cache's size and eviction, and what `backfill gc` asks before
// evicting (did a full verification pass, and has nothing been written for the sink since?).
#include <cstring>

#include <fmt/format.h>

#include "backfill/ledger/ledger.hpp"
#include "half_vectors.hpp"

namespace backfill {

std::int64_t ledger::cached_embedding_bytes() {
  auto rows = db_.prepare("SELECT EXISTS(SELECT 1 FROM embeddings)");
  if (!rows.step() || rows.column_int(0) == 0) return 0;  // an empty table keeps only its root page
  // dbstat is SQLite's page accounting (SQLITE_ENABLE_DBSTAT_VTAB, on in Debian's and most builds).
  try {
    auto st = db_.prepare("SELECT coalesce(sum(pgsize), 0) FROM dbstat WHERE name='embeddings'");
    if (st.step()) return st.column_int(0);
  } catch (const std::exception&) {
    // no dbstat: the rows' own bytes, a slight undercount of the pages they fill
  }
  auto st = db_.prepare(
      "SELECT coalesce(sum(length(vector) + length(text_hash) + length(embedder) + 8), 0) FROM embeddings");
  return st.step() ? st.column_int(0) : 0;
}

std::int64_t ledger::clear_embedding_cache() {
  sql::transaction tx(db_);
  auto st = db_.prepare("SELECT count(*) FROM embeddings");
  std::int64_t n = st.step() ? st.column_int(0) : 0;
  st.reset();
  db_.exec("DELETE FROM embeddings");
  tx.commit();
  return n;
}

namespace {
std::string verified_key(std::int64_t sink) { return fmt::format("verified:{}", sink); }
}  // namespace

void ledger::note_verified(std::string_view sink) {
  set_meta(verified_key(sink_key(sink, true)), utc_now_iso());
}

bool ledger::verified_as_is(std::string_view sink) {
  return get_meta(verified_key(sink_key(sink))).has_value();
}

void ledger::forget_verified(std::int64_t sink_key) {
  db_.cached("DELETE FROM meta WHERE key=?").bind(1, verified_key(sink_key)).run();
}

std::int64_t ledger::compact_embedding_cache() {
  sql::transaction tx(db_);
  // The rows still in float32 (a multiple of 4 bytes); a row rewritten is odd-sized, so the scan
  // never takes it twice.
  auto read = db_.prepare("SELECT embedder, text_hash, vector FROM embeddings WHERE length(vector) % 4 = 0");
  auto write = db_.prepare("UPDATE embeddings SET vector=? WHERE embedder=? AND text_hash=?");
  std::int64_t n = 0;
  std::vector<float> v;
  while (read.step()) {
    std::string_view blob = read.column_blob(2);
    v.resize(blob.size() / sizeof(float));
    std::memcpy(v.data(), blob.data(), v.size() * sizeof(float));
    const std::string half = ledger_detail::to_half_blob(v.data(), v.size());
    write.bind_blob(1, half.data(), half.size()).bind(2, read.column_text(0)).bind(3, read.column_text(1));
    write.run();
    ++n;
  }
  tx.commit();
  return n;
}

std::vector<std::string> ledger::page_paths() {
  auto st = db_.prepare("SELECT path FROM pages");
  std::vector<std::string> out;
  while (st.step()) out.push_back(st.column_string(0));
  return out;
}

void ledger::compact() {
  db_.exec("VACUUM");
  db_.exec("PRAGMA wal_checkpoint(TRUNCATE)");
}

}  // namespace backfill
