// The ledger's documents and chunks per sink, what was not sent, and the sink's baseline.
#include <string>
#include <unordered_set>
#include <vector>

#include "backfill/ledger/ledger.hpp"
#include "value_for.hpp"

namespace backfill {

using ledger_detail::value_for;

std::optional<doc_state> ledger::document(std::string_view sink, std::string_view id) {
  const std::int64_t key = sink_key(sink);
  auto& st = db_.cached("SELECT content_hash, updated_at, complete FROM documents WHERE sink=? AND id=?");
  st.bind(1, key).bind(2, id);
  if (!st.step()) {
    st.reset();
    return std::nullopt;
  }
  doc_state out{st.column_string(0), st.column_string(1), st.column_int(2) != 0};
  st.reset();
  return out;
}

doc_lookup ledger::lookup_document(std::string_view sink, std::string_view id) {
  const std::int64_t key = sink_key(sink);
  // A tombstone's row has no content hash; a document has at most one row of each kind.
  auto& st = db_.cached(
      "SELECT content_hash, updated_at, complete FROM documents WHERE sink=?1 AND id=?2"
      " UNION ALL SELECT NULL, updated_at, NULL FROM tombstones WHERE sink=?1 AND id=?2");
  st.bind(1, key).bind(2, id);
  doc_lookup out;
  while (st.step()) {
    if (st.column_null(0))
      out.tombstone = st.column_string(1);
    else
      out.stored = doc_state{st.column_string(0), st.column_string(1), st.column_int(2) != 0};
  }
  return out;
}

bool ledger::holds_documents(std::string_view sink) {
  const std::int64_t key = sink_key(sink);
  if (key < 0) return false;  // a sink the ledger has never written for
  auto& st = db_.cached(
      "SELECT EXISTS(SELECT 1 FROM documents WHERE sink=?1) OR EXISTS(SELECT 1 FROM tombstones WHERE "
      "sink=?1)");
  st.bind(1, key);
  const bool any = st.step() && st.column_int(0) != 0;
  st.reset();
  return any;
}

void ledger::begin_document(std::string_view sink, std::string_view id,
                            const std::vector<chunk_row>& chunks) {
  const std::int64_t key = sink_key(sink, true);
  forget_verified(key);
  auto& st = db_.cached(
      "INSERT INTO chunks(sink, id, doc_id, meta_hash, live) VALUES(?,?,?,?,0)"
      " ON CONFLICT(sink, id) DO NOTHING");
  for (const auto& c : chunks) {
    st.bind(1, key).bind(2, c.id).bind(3, id).bind(4, c.meta_hash);
    st.run();
  }
}

std::vector<std::string> ledger::stale_chunks(std::string_view sink, std::string_view doc_id,
                                              const std::vector<std::string>& keep) {
  const std::int64_t key = sink_key(sink);
  auto& st = db_.cached("SELECT id FROM chunks WHERE sink=? AND doc_id=? ORDER BY id");
  st.bind(1, key).bind(2, doc_id);
  std::vector<std::string> out;
  while (st.step()) {
    std::string_view id = st.column_text(0);
    bool kept = false;
    for (const auto& k : keep) {
      if (k == id) {
        kept = true;
        break;
      }
    }
    if (!kept) out.emplace_back(id);
  }
  return out;
}

void ledger::commit_document(std::string_view sink, std::string_view id, std::string_view partition,
                             std::string_view content_hash, std::string_view updated_at,
                             const std::vector<chunk_row>& chunks, const std::vector<unsent_record>& unsent) {
  const std::int64_t key = sink_key(sink, true);
  // The caller holds the transaction: several documents commit together.
  forget_verified(key);
  // The document's chunks become exactly `chunks`, live. Each has a row already, written with the
  // writer's intent (begin_document) or by an earlier version of the document, and is updated in
  // place: the row's key and its doc_id index entry stay. Rows of other chunks of the document
  // (ones it no longer has, ones not sent) go; a document that has none costs one count to know.
  auto& live = db_.cached("UPDATE chunks SET meta_hash=?3, live=1 WHERE sink=?1 AND id=?2 AND doc_id=?4");
  auto& add =
      db_.cached("INSERT OR REPLACE INTO chunks(sink, id, doc_id, meta_hash, live) VALUES(?,?,?,?,1)");
  for (const auto& c : chunks) {
    live.bind(1, key).bind(2, c.id).bind(3, c.meta_hash).bind(4, id);
    live.run();
    if (db_.changes() == 0) {
      add.bind(1, key).bind(2, c.id).bind(3, id).bind(4, c.meta_hash);
      add.run();
    }
  }
  auto& count = db_.cached("SELECT count(*) FROM chunks WHERE sink=? AND doc_id=?");
  count.bind(1, key).bind(2, id);
  const std::int64_t rows = count.step() ? count.column_int(0) : 0;
  count.reset();
  if (rows != static_cast<std::int64_t>(chunks.size())) {
    std::unordered_set<std::string_view> keep;
    for (const auto& c : chunks) keep.insert(c.id);
    std::vector<std::string> others;
    auto& st = db_.cached("SELECT id FROM chunks WHERE sink=? AND doc_id=?");
    st.bind(1, key).bind(2, id);
    while (st.step())
      if (!keep.count(st.column_text(0))) others.emplace_back(st.column_text(0));
    auto& drop = db_.cached("DELETE FROM chunks WHERE sink=? AND id=?");
    for (const auto& other : others) drop.bind(1, key).bind(2, other).run();
  }
  db_.cached("DELETE FROM unsent WHERE sink=? AND doc_id=?").bind(1, key).bind(2, id).run();
  auto& un = db_.cached("INSERT OR REPLACE INTO unsent(sink, id, doc_id, reason) VALUES(?,?,?,?)");
  for (const auto& u : unsent) {
    un.bind(1, key).bind(2, u.id).bind(3, id).bind(4, u.reason);
    un.run();
  }
  db_.cached("DELETE FROM tombstones WHERE sink=? AND id=?").bind(1, key).bind(2, id).run();
  db_.cached(
         "INSERT OR REPLACE INTO documents(sink, id, partition, content_hash, updated_at, complete, "
         "ingested_at)"
         " VALUES(?,?,?,?,?,?,?)")
      .bind(1, key)
      .bind(2, id)
      .bind(3, partition)
      .bind(4, content_hash)
      .bind(5, updated_at)
      .bind(6, unsent.empty() ? 1 : 0)
      .bind(7, utc_now_iso())
      .run();
}

std::int64_t ledger::unsent_count(std::string_view sink) {
  const std::int64_t key = sink_key(sink);
  return value_for<std::int64_t>(db_, "SELECT count(*) FROM unsent WHERE sink=?", key).value_or(0);
}

std::vector<unsent_record> ledger::unsent(std::string_view sink, std::size_t limit) {
  const std::int64_t key = sink_key(sink);
  auto st = db_.prepare("SELECT id, reason FROM unsent WHERE sink=? ORDER BY id LIMIT ?");
  st.bind(1, key).bind(2, static_cast<std::int64_t>(limit));
  std::vector<unsent_record> out;
  while (st.step()) out.push_back({st.column_string(0), st.column_string(1)});
  return out;
}

bool ledger::mark_chunk_pending(std::string_view sink, std::string_view chunk_id) {
  const std::int64_t key = sink_key(sink);
  forget_verified(key);
  auto& st = db_.cached(
      "UPDATE documents SET complete=0 WHERE sink=?1 AND id=(SELECT doc_id FROM chunks WHERE sink=?1 AND "
      "id=?2)");
  st.bind(1, key).bind(2, chunk_id);
  st.run();
  return db_.changes() > 0;
}

std::int64_t ledger::pending_document_count(std::string_view sink) {
  const std::int64_t key = sink_key(sink);
  return value_for<std::int64_t>(db_, "SELECT count(*) FROM documents WHERE sink=? AND complete=0", key)
      .value_or(0);
}

void ledger::for_each_document(std::string_view sink, const std::function<void(std::string_view)>& fn) {
  const std::int64_t key = sink_key(sink);
  auto st = db_.prepare("SELECT id FROM documents WHERE sink=? ORDER BY id");
  st.bind(1, key);
  while (st.step()) fn(st.column_text(0));
}

void ledger::forget_document(std::string_view sink, std::string_view id) {
  const std::int64_t key = sink_key(sink);
  forget_verified(key);
  db_.cached(
         "INSERT OR REPLACE INTO tombstones(sink, id, updated_at, deleted_at)"
         " SELECT sink, id, updated_at, ? FROM documents WHERE sink=? AND id=?")
      .bind(1, utc_now_iso())
      .bind(2, key)
      .bind(3, id)
      .run();
  db_.cached("DELETE FROM chunks WHERE sink=? AND doc_id=?").bind(1, key).bind(2, id).run();
  db_.cached("DELETE FROM unsent WHERE sink=? AND doc_id=?").bind(1, key).bind(2, id).run();
  db_.cached("DELETE FROM documents WHERE sink=? AND id=?").bind(1, key).bind(2, id).run();
}

std::optional<std::string> ledger::tombstone(std::string_view sink, std::string_view id) {
  const std::int64_t key = sink_key(sink);
  auto& st = db_.cached("SELECT updated_at FROM tombstones WHERE sink=? AND id=?");
  st.bind(1, key).bind(2, id);
  std::optional<std::string> out;
  if (st.step()) out = st.column_string(0);
  st.reset();
  return out;
}

std::int64_t ledger::live_chunk_count(std::string_view sink) {
  const std::int64_t key = sink_key(sink);
  return value_for<std::int64_t>(db_, "SELECT count(*) FROM chunks WHERE sink=? AND live=1", key).value_or(0);
}

void ledger::for_each_live_chunk(std::string_view sink,
                                 const std::function<void(std::string_view, std::string_view)>& fn) {
  const std::int64_t key = sink_key(sink);
  auto st = db_.prepare("SELECT id, meta_hash FROM chunks WHERE sink=? AND live=1 ORDER BY id");
  st.bind(1, key);
  while (st.step()) fn(st.column_text(0), st.column_text(1));
}

std::int64_t ledger::document_count(std::string_view sink) {
  const std::int64_t key = sink_key(sink);
  return value_for<std::int64_t>(db_, "SELECT count(*) FROM documents WHERE sink=? AND complete=1", key)
      .value_or(0);
}

std::optional<std::int64_t> ledger::sink_baseline(std::string_view sink) {
  const std::int64_t key = sink_key(sink);
  return value_for<std::int64_t>(db_, "SELECT baseline FROM sinks WHERE sink=?", key);
}

void ledger::set_sink_baseline(std::string_view sink, std::int64_t count) {
  const std::int64_t key = sink_key(sink, true);
  db_.prepare("INSERT OR REPLACE INTO sinks(sink, baseline) VALUES(?,?)").bind(1, key).bind(2, count).run();
}

}  // namespace backfill
