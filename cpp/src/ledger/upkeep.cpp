// The ledger's upkeep: the embedding cache's size and eviction (to heal copies after a verified run,
// or entirely by `backfill gc`), and what both ask before evicting (did a full verification pass, and
// has nothing been written for the sink since?).
#include <unordered_set>

#include <fmt/format.h>

#include "backfill/ledger/ledger.hpp"
#include "half_vectors.hpp"
#include "vector_files.hpp"

namespace backfill {

std::int64_t ledger::vector_file_bytes() { return files_->bytes(); }

std::int64_t ledger::remove_unreferenced_vector_files() {
  std::unordered_set<std::int64_t> used;
  auto st = db_.prepare("SELECT DISTINCT file FROM embeddings WHERE file > 0");
  while (st.step()) used.insert(st.column_int(0));
  return files_->remove_except(used);
}

std::int64_t ledger::cached_embedding_bytes() {
  const std::int64_t in_files = files_->bytes();
  auto rows = db_.prepare("SELECT EXISTS(SELECT 1 FROM embeddings) OR EXISTS(SELECT 1 FROM heal_copies)");
  if (!rows.step() || rows.column_int(0) == 0) return in_files;  // an empty table keeps only its root page
  return in_files + cached_embedding_bytes_in_ledger();
}

std::int64_t ledger::cached_embedding_bytes_in_ledger() {
  // dbstat is SQLite's page accounting (SQLITE_ENABLE_DBSTAT_VTAB, on in Debian's and most builds).
  try {
    auto st = db_.prepare(
        "SELECT coalesce(sum(pgsize), 0) FROM dbstat WHERE name IN"
        " ('embedder_ids', 'sqlite_autoindex_embedder_ids_1', 'embeddings', 'heal_copies', 'heal_groups')");
    if (st.step()) return st.column_int(0);
  } catch (const std::exception&) {
    // no dbstat: the rows' own bytes, a slight undercount of the pages they fill
  }
  auto st = db_.prepare(
      "SELECT coalesce(sum(length(text_hash) + 16), 0) FROM embeddings"
      " UNION ALL SELECT coalesce(sum(length(copies)), 0) FROM heal_groups");
  std::int64_t n = 0;
  while (st.step()) n += st.column_int(0);
  return n;
}

std::int64_t ledger::clear_embedding_cache() {
  sql::transaction tx(db_);
  auto st = db_.prepare("SELECT (SELECT count(*) FROM embeddings) + (SELECT count(*) FROM heal_copies)");
  std::int64_t n = st.step() ? st.column_int(0) : 0;
  st.reset();
  db_.exec("DELETE FROM embeddings; DELETE FROM heal_copies; DELETE FROM heal_groups");
  tx.commit();
  remove_unreferenced_vector_files();
  return n;
}

// Heal copies are written side by side, many to a row of heal_groups: a row larger than a page
// fills whole overflow pages, where rows of one copy each would leave a third of every page empty.
std::int64_t ledger::keep_heal_copies() {
  constexpr std::size_t group_bytes = 64 << 10;
  sql::transaction tx(db_);
  // In file order, so the vector files are read front to back.
  auto read = db_.prepare(
      "SELECT e.embedder, e.text_hash, e.file, e.offset, e.size, e.checksum FROM embeddings e"
      " WHERE NOT EXISTS"
      " (SELECT 1 FROM heal_copies h WHERE h.embedder = e.embedder AND h.text_hash = e.text_hash)"
      " ORDER BY e.file, e.offset");
  auto last = db_.prepare("SELECT coalesce(max(id), 0) FROM heal_groups");
  std::int64_t id = last.step() ? last.column_int(0) : 0;
  last.reset();
  auto add_group = db_.prepare("INSERT INTO heal_groups(id, copies) VALUES(?,?)");
  auto add_copy =
      db_.prepare("INSERT INTO heal_copies(embedder, text_hash, grp, offset, size) VALUES(?,?,?,?,?)");
  struct placed {
    std::int64_t embedder;
    std::string text_hash;
    std::size_t offset, size;
  };
  std::string group;
  std::vector<placed> in_group;
  auto write_group = [&] {
    if (in_group.empty()) return;
    add_group.bind(1, ++id).bind_blob(2, group.data(), group.size()).run();
    for (const auto& c : in_group) {
      add_copy.bind(1, c.embedder).bind(2, c.text_hash).bind(3, id);
      add_copy.bind(4, static_cast<std::int64_t>(c.offset)).bind(5, static_cast<std::int64_t>(c.size)).run();
    }
    group.clear();
    in_group.clear();
  };
  std::int64_t n = 0;
  while (read.step()) {
    const auto v = cached_vector(read, 2, read.column_text(1));
    if (!v) continue;  // its file bytes are lost: nothing to keep
    const std::string copy = ledger_detail::to_byte_blob(v->data(), v->size());
    in_group.push_back({read.column_int(0), std::string(read.column_text(1)), group.size(), copy.size()});
    group += copy;
    if (group.size() >= group_bytes) write_group();
    ++n;
  }
  write_group();
  db_.exec("DELETE FROM embeddings");
  tx.commit();
  remove_unreferenced_vector_files();
  return n;
}

std::optional<std::vector<float>> ledger::heal_copy(std::string_view embedder, std::string_view text_hash) {
  auto& st = db_.cached(
      "SELECT substr(g.copies, h.offset + 1, h.size) FROM heal_copies h JOIN heal_groups g ON g.id = h.grp"
      " WHERE h.embedder=? AND h.text_hash=?");
  st.bind(1, embedder_key(embedder)).bind(2, text_hash);
  std::optional<std::vector<float>> out;
  if (st.step()) out = ledger_detail::from_byte_blob(st.column_blob(0));
  st.reset();
  return out;
}

namespace {
std::string verified_key(std::int64_t sink) { return fmt::format("verified:{}", sink); }
}  // namespace

void ledger::note_verified(std::string_view sink) {
  forgotten_sink_ = -1;
  set_meta(verified_key(sink_key(sink, true)), utc_now_iso());
}

bool ledger::verified_as_is(std::string_view sink) {
  return get_meta(verified_key(sink_key(sink))).has_value();
}

void ledger::forget_verified(std::int64_t sink_key) {
  // Every document written forgets its sink's verification. Once a transaction is enough: only
  // note_verified, on this connection, which holds the write lock meanwhile, could note it again.
  const bool in_transaction = db_.in_transaction();
  if (in_transaction && forgotten_sink_ == sink_key && forgotten_in_ == db_.transactions_begun()) return;
  db_.cached("DELETE FROM meta WHERE key=?").bind(1, verified_key(sink_key)).run();
  forgotten_sink_ = in_transaction ? sink_key : -1;
  forgotten_in_ = db_.transactions_begun();
}

std::int64_t ledger::compact_embedding_cache() {
  // The vectors still in float32 are written in half precision to a new file and their rows pointed
  // there; a half blob is odd-sized, so the scan never takes one twice. The files that held them are removed
  // once no row needs them.
  files_->start_new_file();
  sql::transaction tx(db_);
  auto read = db_.prepare(
      "SELECT embedder, text_hash, file, offset, size, checksum FROM embeddings WHERE size % 4 = 0"
      " ORDER BY file, offset");
  auto write = db_.prepare(
      "UPDATE embeddings SET file=?, offset=?, size=?, checksum=? WHERE embedder=? AND text_hash=?");
  auto drop = db_.prepare("DELETE FROM embeddings WHERE embedder=? AND text_hash=?");
  std::int64_t n = 0;
  while (read.step()) {
    const std::string_view text_hash = read.column_text(1);
    const auto v = cached_vector(read, 2, text_hash);
    if (!v) {  // its file bytes are lost: the row points at nothing
      drop.bind(1, read.column_int(0)).bind(2, text_hash).run();
      continue;
    }
    std::string half = ledger_detail::to_half_blob(v->data(), v->size());
    const auto [file, at] = files_->append({iovec{half.data(), half.size()}});
    write.bind(1, file).bind(2, at).bind(3, static_cast<std::int64_t>(half.size()));
    write.bind(4, ledger_detail::vector_checksum(text_hash, half.data(), half.size()));
    write.bind(5, read.column_int(0)).bind(6, text_hash).run();
    ++n;
  }
  // The rows committed below point at the new file only, and the old files go after the commit: the
  // new bytes must be on disk first (a row that points at bytes a power loss dropped is a miss).
  files_->sync();
  tx.commit();
  remove_unreferenced_vector_files();
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

double ledger::free_share() {
  auto pages = db_.prepare("PRAGMA page_count");
  auto free = db_.prepare("PRAGMA freelist_count");
  if (!pages.step() || !free.step() || pages.column_int(0) <= 0) return 0;
  return static_cast<double>(free.column_int(0)) / static_cast<double>(pages.column_int(0));
}

}  // namespace backfill
