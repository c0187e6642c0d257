// The ledger (state.sqlite): what has been fetched, what has been ingested into which sink, and the
// embedding cache. Every state change that must survive a crash is one SQLite transaction.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "backfill/core/fields.hpp"
#include "backfill/ledger/sqlite.hpp"

namespace backfill {

namespace ledger_detail {
class vector_files;
}

struct partition_row {
  std::string source;
  std::string name;
  std::string status;  // "pending", "fetching", "done"
  std::string cursor;  // opaque, source-defined; where the next page starts
  std::int64_t pages = 0;
  std::int64_t items = 0;
  std::string updated_at;
  std::string watermark;  // highest change marker seen (incremental sources)
};
// Shown in status reports without its source, cursor and watermark.
BACKFILL_SOME_FIELDS(partition_row, &s::name, &s::status, &s::pages, &s::items, &s::updated_at)

struct page_row {
  std::string source;
  std::string partition;
  std::int64_t seq = 0;
  std::string path;  // relative to the workdir
  std::string hash;  // hash of the body as written
  std::int64_t items = 0;
  std::int64_t bytes = 0;
};

struct doc_state {
  std::string content_hash;
  std::string updated_at;
  bool complete = false;  // every chunk upserted and committed
};

// What the ledger holds for a document id of a sink: its state, or the updated_at of its tombstone
// (reconcile deleted it; see forget_document), or neither.
struct doc_lookup {
  std::optional<doc_state> stored;
  std::optional<std::string> tombstone;
};

struct chunk_row {
  std::string id;
  std::string meta_hash;
};

// A vector for the embedding cache: the hash of the text it embeds, and its values (held by the caller).
struct embedding_ref {
  std::string_view text_hash;
  std::span<const float> values;
};

// A record that was not sent (its metadata cannot fit the sink, the sink refused it, ...), and why.
// Its document stays pending, so the next ingest tries it again; verification fails while any is left.
struct unsent_record {
  std::string id;
  std::string reason;
};
BACKFILL_FIELDS(unsent_record, &s::id, &s::reason)

// An item of a journal page the normalizer could not read (invalid UTF-8, a lone surrogate, too deep,
// a field it needs missing): left out of the documents. The next fetch reads it again (the partition
// from the start, or where the source can ask for it, the item alone: source::requery_cursor), so an
// item the source has fixed since is read then; a later page that reads it ends its quarantine.
struct quarantined_item {
  std::string partition;
  std::string page;       // the journal page, relative to the workdir
  std::int64_t position;  // in the page's items, from 0
  std::string id;         // the document id when it could be read, else ""
  std::string reason;
};
BACKFILL_FIELDS(quarantined_item, &s::partition, &s::page, &s::position, &s::id, &s::reason)

class ledger {
 public:
  // 2: per-sink rows keyed by an integer id (sink_ids), no longer by the sink's identity.
  // 3: cached vectors in files under vectors/ (ledger/vector_files.hpp), their rows say where.
  // 4: the embedding cache's rows keyed by an integer id of the embedder (embedder_ids), in tables
  //    without rowid; no vector kept in a row.
  static constexpr int schema_version = 4;

  explicit ledger(const std::filesystem::path& path);
  ~ledger();
  ledger(const ledger&) = delete;
  ledger& operator=(const ledger&) = delete;

  sql::database& db() noexcept { return db_; }

  // --- partitions and pages -------------------------------------------------------------
  // Adds partitions not yet known (status pending); leaves known ones untouched.
  void add_partition(std::string_view source, std::string_view name);
  std::optional<partition_row> partition(std::string_view source, std::string_view name);
  std::vector<partition_row> partitions(std::string_view source);
  // Records a page durably written to the journal and advances the partition's cursor, atomically.
  // An empty `next_cursor` means the page was the partition's last: the partition becomes done.
  void record_page(const page_row& page, std::string_view next_cursor, std::string_view watermark = {});
  // Opens a finished partition for an incremental fetch starting at `cursor`.
  void reopen_partition(std::string_view source, std::string_view name, std::string_view cursor);
  void finish_partition(std::string_view source, std::string_view name);
  // Forgets a partition's pages and cursor, so the next fetch starts it over.
  void reset_partition(std::string_view source, std::string_view name);
  std::vector<page_row> pages(std::string_view source, std::string_view partition, std::int64_t from_seq = 0);
  // The items of a partition the last ingest quarantined (replacing what was recorded before).
  void set_quarantined(std::string_view source, std::string_view partition,
                       const std::vector<quarantined_item>& items);
  std::int64_t quarantined_count(std::string_view source);
  // The first `limit` quarantined items of a source, by partition, page and position.
  std::vector<quarantined_item> quarantined(std::string_view source, std::size_t limit);
  std::vector<std::string> quarantined_partitions(std::string_view source);
  // The document ids of a partition's quarantined items ("" for one whose id could not be read).
  std::vector<std::string> quarantined_ids(std::string_view source, std::string_view partition);
  std::int64_t page_count(std::string_view source);
  // The journal paths of every recorded page, of every source.
  std::vector<std::string> page_paths();

  // --- documents and chunks, per sink ---------------------------------------------------
  std::optional<doc_state> document(std::string_view sink, std::string_view id);
  // document() and tombstone() in one statement (one read of the WAL): what ingest asks of every
  // document it sees.
  doc_lookup lookup_document(std::string_view sink, std::string_view id);
  // Whether the ledger holds any document or tombstone of the sink (none before its first ingest).
  bool holds_documents(std::string_view sink);
  // Step 1 of ingesting a document: remember the chunk ids about to be written (state pending), so a
  // crash between upsert and commit leaves no id the ledger does not know about.
  void begin_document(std::string_view sink, std::string_view id, const std::vector<chunk_row>& chunks);
  // Chunk ids the ledger holds for a document that are not in `keep` (stale: to delete from the sink).
  std::vector<std::string> stale_chunks(std::string_view sink, std::string_view doc_id,
                                        const std::vector<std::string>& keep);
  // Step 2: after the sink acknowledged every chunk and stale ids were deleted. `chunks` are the ones
  // sent; `unsent` the ones that were not, which leave the document pending (written again next time).
  void commit_document(std::string_view sink, std::string_view id, std::string_view partition,
                       std::string_view content_hash, std::string_view updated_at,
                       const std::vector<chunk_row>& chunks, const std::vector<unsent_record>& unsent = {});
  std::int64_t unsent_count(std::string_view sink);
  // The first `limit` unsent records of a sink, in id order.
  std::vector<unsent_record> unsent(std::string_view sink, std::size_t limit);
  // Marks the document of a chunk pending (verify found the chunk missing or altered in the sink):
  // the next ingest writes the document again, its vectors from the embedding cache. Returns false
  // when the ledger does not know the chunk.
  bool mark_chunk_pending(std::string_view sink, std::string_view chunk_id);
  std::int64_t pending_document_count(std::string_view sink);
  std::int64_t live_chunk_count(std::string_view sink);
  // Streams (id, meta_hash) of every committed chunk of a sink, in id order.
  void for_each_live_chunk(std::string_view sink,
                           const std::function<void(std::string_view, std::string_view)>& fn);
  std::int64_t document_count(std::string_view sink);
  // Streams the ids of a sink's ingested documents, in id order.
  void for_each_document(std::string_view sink, const std::function<void(std::string_view)>& fn);
  // Forgets a document and its chunks (after they were deleted from the sink), leaving a tombstone
  // with its updated_at: the journal still holds the document, and ingest must not bring it back
  // unless a later version of it is fetched.
  void forget_document(std::string_view sink, std::string_view id);
  std::optional<std::string> tombstone(std::string_view sink, std::string_view id);

  // The sink's record count before this workdir first wrote to it; verification expects
  // baseline + live chunks.
  std::optional<std::int64_t> sink_baseline(std::string_view sink);
  void set_sink_baseline(std::string_view sink, std::int64_t count);

  // --- embedding cache --------------------------------------------------------------------
  // A cached vector is kept in a file under vectors/ beside the ledger (vector_files.hpp), as
  // embedded or compacted by gc (half precision); its row in `embeddings` says where. A heal copy is
  // kept in heal_groups. A vector whose file bytes are gone or fail their checksum (a power
  // loss) is not found, and its text is embedded again.
  // The vector cached for a text: as embedded (or compacted by gc), else its heal copy.
  std::optional<std::vector<float>> cached_embedding(std::string_view embedder, std::string_view text_hash);
  // The same, each from one place only: the cache as embedded, or the heal copies.
  std::optional<std::vector<float>> whole_embedding(std::string_view embedder, std::string_view text_hash);
  std::optional<std::vector<float>> heal_copy(std::string_view embedder, std::string_view text_hash);
  // True when any heal copy is kept (a run before any verified one has none: no need to look).
  bool has_heal_copies();
  // Appends the vectors to this connection's vector file, then commits their rows in one transaction.
  void store_embeddings(std::string_view embedder, std::span<const embedding_ref> vectors);
  void store_embeddings(std::string_view embedder,
                        const std::vector<std::pair<std::string, std::vector<float>>>& vectors);
  std::int64_t cached_embedding_count(std::string_view embedder);
  // The bytes the embedding cache takes in the ledger's file (SQLite's page accounting where it has
  // the dbstat table, else the stored bytes of its rows) and its vector files.
  std::int64_t cached_embedding_bytes();
  // The vector files' part of that (files beside the ledger, not in it).
  std::int64_t vector_file_bytes();
  // Removes the vector files no row points at (what a killed run wrote and never committed, what
  // eviction left); returns how many.
  std::int64_t remove_unreferenced_vector_files();
  // Forgets every cached embedding and heal copy; returns how many there were.
  std::int64_t clear_embedding_cache();
  // Rewrites the cached vectors still in float32 in half precision, into a new vector file (half the
  // bytes; cached_embedding reads both); returns how many. For vectors the sink holds and verified, kept for
  // reuse.
  std::int64_t compact_embedding_cache();
  // Replaces every cached vector by its heal copy (one byte a component; half_vectors.hpp) in one
  // transaction; returns how many. For vectors the sink holds and a full verification saw: the copy
  // is what heals a record the sink loses later without embedding its text again. cached_embedding
  // reads a heal copy when the cache has no vector for the text.
  std::int64_t keep_heal_copies();

  // --- upkeep --------------------------------------------------------------------------------
  // Remembers that a full verification of the sink passed with the ledger as it is now. Writing a
  // document for the sink, forgetting one or marking one pending forgets it again.
  void note_verified(std::string_view sink);
  // True when the last full verification of the sink passed and nothing changed for it since.
  bool verified_as_is(std::string_view sink);
  // Gives the file's free pages back to the file system (VACUUM, then a truncating checkpoint of
  // the WAL). It rewrites the whole file: `backfill gc` always, a run only when free_share() is large.
  void compact();
  // The share of the file's pages that are free (0 to 1): what compact() would give back. SQLite
  // reuses free pages for later writes, so a small share is not worth a rewrite of the file.
  double free_share();

  // --- key/value -----------------------------------------------------------------------------
  std::optional<std::string> get_meta(std::string_view key);
  void set_meta(std::string_view key, std::string_view value);

 private:
  // The integer a sink's rows are keyed by (sink_ids); created on first use when `create`, else
  // -1 for a sink the ledger has never seen (which matches no row).
  std::int64_t sink_key(std::string_view sink, bool create = false);
  // Rewrites a schema-1 ledger's per-sink tables with integer sink ids, in one transaction.
  void migrate_to_sink_ids();
  // The integer the embedding cache's rows of an embedder are keyed by (embedder_ids), as sink_key.
  std::int64_t embedder_key(std::string_view embedder, bool create = false);
  // Rewrites the embedding cache of a ledger before schema 4 (rows keyed by the embedder's identity,
  // vectors of the oldest ledgers in their rows) with embedder ids, in one transaction.
  void migrate_to_embedder_ids();
  void forget_verified(std::int64_t sink_key);

  // Reads the cached vector of the row `st` stands on, whose columns from `first` on are
  // (file, offset, size, checksum); nullopt when its file bytes are gone or altered.
  std::optional<std::vector<float>> cached_vector(sql::statement& st, int first, std::string_view text_hash);
  // The pages the cache's tables take in the ledger's file.
  std::int64_t cached_embedding_bytes_in_ledger();

  sql::database db_;
  std::unique_ptr<ledger_detail::vector_files> files_;
  // A table of integer ids for identities (sink_ids, embedder_ids) and the ids this connection knows.
  struct id_table {
    const char* insert;  // adds an identity, if new
    const char* select;  // its id
    std::mutex mutex;
    struct text_hash : std::hash<std::string_view> {
      using is_transparent = void;  // looked up by a string_view: no string made for each statement
    };
    std::unordered_map<std::string, std::int64_t, text_hash, std::equal_to<>> known;
  };
  // The id of `identity` in `table`: added when `create`, else -1 for one never stored (it matches no
  // row, and is not remembered: it gets its id when something is first written for it).
  std::int64_t identity_key(id_table& table, std::string_view identity, bool create);
  id_table sink_ids_{"INSERT OR IGNORE INTO sink_ids(identity) VALUES(?)",
                     "SELECT id FROM sink_ids WHERE identity=?",
                     {},
                     {}};
  id_table embedder_ids_{"INSERT OR IGNORE INTO embedder_ids(identity) VALUES(?)",
                         "SELECT id FROM embedder_ids WHERE identity=?",
                         {},
                         {}};
  // The sink whose verification the current transaction already forgot (forget_verified), and which
  // transaction that is; -1: none.
  std::int64_t forgotten_sink_ = -1;
  std::uint64_t forgotten_in_ = 0;
};

std::string utc_now_iso();

}  // namespace backfill
