// The embedded default sink: one SQLite file, vectors as little-endian float32 blobs, metadata as the
// JSON text the caller gave (canonical JSON from the packer), partitioned by namespace.
//
// Layout (schema version 1):
//   meta(key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID   -- 'schema_version' = '1'
//   vectors(namespace, id, dim, vector, metadata, PRIMARY KEY(namespace, id)) WITHOUT ROWID
// The primary key keeps a namespace's ids together in bytewise (BINARY collation) order, so list() is
// a range scan and query() (query.cpp) streams one namespace without touching the others.
//
// Not thread-safe: one local_index is used by one thread at a time (the SQLite handle is opened with
// SQLITE_OPEN_NOMUTEX). Several processes may share a file; SQLite's locking serializes their writes.
#include "backfill/sinks/local/local_index.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <limits>
#include <string>
#include <system_error>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include "backfill/core/errors.hpp"
#include "backfill/core/private_files.hpp"
#include "sinks/local/storage.hpp"

namespace backfill {
namespace {

using local_store::decode_vector;
using local_store::encode_vector;
using local_store::in_quotes;
using local_store::read_snapshot;
using local_store::translate;

constexpr std::int64_t kSchemaVersion = 1;
// The page size of a new index file. A record (the id, a float32 vector, canonical metadata that
// carries the chunk's text: 1-4 KB typically) is one entry of a WITHOUT ROWID b-tree, which keeps at
// most about a quarter of a page in the leaf: with SQLite's 4 KB pages every record over ~1 KB spills
// into an overflow page of its own, mostly empty, so the file was 2.5x the data and every upsert and
// read touched two pages per record. 16 KB pages hold such records whole (~4 KB in the leaf): a
// quarter of the pages to write to the WAL, to checkpoint and to read back when verifying. Files
// created with another page size keep theirs.
constexpr int kPageSize = 16384;
// Ids per fetch statement: well under SQLite's variable limit (999 before 3.32, 32766 after).
constexpr std::size_t kFetchChunk = 500;

sql::database open_database(const std::filesystem::path& path) {
  if (path.empty()) throw config_error("local index: the path is empty");
  std::filesystem::path parent = path.parent_path();
  if (!parent.empty()) {
    try {
      make_private_dirs(parent);
    } catch (const io_error& e) {
      throw io_error("cannot create the directory of local index " + path.string() + ": " + e.what());
    }
  }
  // A file that is not SQLite is refused here, before SQLite opens it, with a message that says so.
  std::error_code ec;
  if (std::filesystem::is_regular_file(path, ec) && std::filesystem::file_size(path, ec) > 0 && !ec) {
    static constexpr char magic[16] = {'S', 'Q', 'L', 'i', 't', 'e', ' ', 'f',
                                       'o', 'r', 'm', 'a', 't', ' ', '3', '\0'};
    char header[16] = {};
    std::ifstream in(path, std::ios::binary);
    in.read(header, sizeof header);
    if (in.gcount() != static_cast<std::streamsize>(sizeof header) ||
        std::memcmp(header, magic, sizeof magic) != 0)
      throw sink_error("local index " + path.string() + " is not a SQLite database");
  }
  return sql::database(path, "local index", false, kPageSize);
}

std::filesystem::path absolute_path(const std::filesystem::path& path) {
  std::error_code ec;
  std::filesystem::path abs = std::filesystem::absolute(path, ec);
  if (ec) return path.lexically_normal();
  return abs.lexically_normal();
}

// The smallest string greater than every string starting with `prefix`, or nullopt when there is none
// (empty prefix, or a prefix of 0xFF bytes only).
std::optional<std::string> prefix_successor(std::string_view prefix) {
  std::string s(prefix);
  while (!s.empty() && static_cast<unsigned char>(s.back()) == 0xFF) s.pop_back();
  if (s.empty()) return std::nullopt;
  s.back() = static_cast<char>(static_cast<unsigned char>(s.back()) + 1);
  return s;
}

}  // namespace

local_index::local_index(const std::filesystem::path& path, std::string name_space)
    : path_(absolute_path(path)),
      namespace_(std::move(name_space)),
      db_(translate([&] { return open_database(path); })) {
  translate([&] {
    sql::transaction tx(db_);
    db_.exec("CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID");
    std::optional<std::string> version;
    {
      auto st = db_.prepare("SELECT value FROM meta WHERE key = 'schema_version'");
      if (st.step()) version = st.column_string(0);
    }
    if (version) {
      std::int64_t v = 0;
      std::size_t used = 0;
      try {
        v = std::stoll(*version, &used);
      } catch (const std::exception&) {
        used = 0;
      }
      if (used == 0 || used != version->size())
        throw sink_error("local index " + path_.string() + " has an unreadable schema version " +
                         in_quotes(*version));
      if (v > kSchemaVersion)
        throw sink_error("local index " + path_.string() + " has schema version " + std::to_string(v) +
                         ", newer than this backfill supports (" + std::to_string(kSchemaVersion) +
                         "); upgrade backfill to use it");
    } else {
      auto st = db_.prepare("INSERT INTO meta(key, value) VALUES('schema_version', ?1)");
      st.bind(1, std::to_string(kSchemaVersion)).run();
    }
    db_.exec(
        "CREATE TABLE IF NOT EXISTS vectors("
        "namespace TEXT NOT NULL, id TEXT NOT NULL, dim INTEGER NOT NULL, vector BLOB NOT NULL, "
        "metadata TEXT NOT NULL, PRIMARY KEY(namespace, id)) WITHOUT ROWID");
    tx.commit();
  });
}

std::string local_index::identity() const { return "local:" + path_.string() + "#" + namespace_; }

std::string local_index::describe() const {
  std::string out = "local index " + path_.string();
  if (namespace_.empty())
    out += " (default namespace)";
  else
    out += " (namespace " + in_quotes(namespace_) + ")";
  return out;
}

std::int64_t local_index::upsert(const std::vector<record>& records) {
  if (records.empty()) return 0;
  return translate([&]() -> std::int64_t {
    sql::transaction tx(db_);
    int dim = 0;
    {
      auto st = db_.prepare("SELECT dim FROM vectors WHERE namespace = ?1 LIMIT 1");
      st.bind(1, namespace_);
      if (st.step()) dim = static_cast<int>(st.column_int(0));
    }
    const std::string where = "local index " + path_.string() + ": ";
    for (const auto& r : records) {
      if (r.id.empty()) throw sink_error(where + "a record has an empty id");
      if (r.values.empty()) throw sink_error(where + "record " + in_quotes(r.id) + " has no values");
      if (r.values.size() > static_cast<std::size_t>(std::numeric_limits<int>::max()))
        throw sink_error(where + "record " + in_quotes(r.id) + " has too many values");
      const int d = static_cast<int>(r.values.size());
      if (dim == 0) dim = d;  // an empty namespace takes the dimension of the first record
      if (d != dim)
        throw sink_error(where + "record " + in_quotes(r.id) + " has dimension " + std::to_string(d) +
                         " but the index has dimension " + std::to_string(dim) + " in " +
                         (namespace_.empty() ? std::string("the default namespace")
                                             : "namespace " + in_quotes(namespace_)));
      for (std::size_t i = 0; i < r.values.size(); ++i)
        if (!std::isfinite(r.values[i]))
          throw sink_error(where + "record " + in_quotes(r.id) + " has a non-finite value at position " +
                           std::to_string(i));
    }
    auto st = db_.prepare(
        "INSERT OR REPLACE INTO vectors(namespace, id, dim, vector, metadata) VALUES(?1, ?2, ?3, ?4, ?5)");
    std::string blob;
    std::int64_t written = 0;
    for (const auto& r : records) {
      encode_vector(r.values, blob);
      st.bind(1, namespace_)
          .bind(2, r.id)
          .bind(3, static_cast<std::int64_t>(r.values.size()))
          .bind_blob(4, blob.data(), blob.size())
          .bind(5, r.metadata_json);
      st.run();
      written += db_.changes() > 0 ? 1 : 0;
    }
    tx.commit();
    return written;
  });
}

std::vector<fetched_record> local_index::fetch(const std::vector<std::string>& ids) {
  // Unique ids, first occurrence kept, so the result follows the caller's order.
  std::vector<const std::string*> unique;
  unique.reserve(ids.size());
  {
    std::unordered_set<std::string_view> seen;
    seen.reserve(ids.size());
    for (const auto& id : ids)
      if (seen.insert(id).second) unique.push_back(&id);
  }
  std::vector<fetched_record> out;
  if (unique.empty()) return out;
  return translate([&] {
    read_snapshot snap(db_);
    std::unordered_map<std::string, fetched_record> found;
    for (std::size_t begin = 0; begin < unique.size(); begin += kFetchChunk) {
      const std::size_t n = std::min(kFetchChunk, unique.size() - begin);
      std::string sql = "SELECT id, dim, vector, metadata FROM vectors WHERE namespace = ?1 AND id IN (";
      for (std::size_t i = 0; i < n; ++i) {
        if (i) sql += ',';
        sql += '?';
        sql += std::to_string(i + 2);
      }
      sql += ')';
      auto st = db_.prepare(sql);
      st.bind(1, namespace_);
      for (std::size_t i = 0; i < n; ++i) st.bind(static_cast<int>(i + 2), *unique[begin + i]);
      found.clear();
      while (st.step()) {
        fetched_record r;
        r.id = st.column_string(0);
        const std::int64_t dim = st.column_int(1);
        std::string_view blob = st.column_blob(2);
        if (dim < 0 || blob.size() != static_cast<std::size_t>(dim) * 4)
          throw sink_error("local index " + path_.string() + ": record " + in_quotes(r.id) + " is damaged (" +
                           std::to_string(blob.size()) + " vector bytes for dimension " +
                           std::to_string(dim) + ")");
        r.values.resize(static_cast<std::size_t>(dim));
        decode_vector(blob, r.values);
        r.metadata_json = st.column_string(3);
        std::string key = r.id;
        found.emplace(std::move(key), std::move(r));
      }
      for (std::size_t i = 0; i < n; ++i) {
        auto it = found.find(*unique[begin + i]);
        if (it != found.end()) out.push_back(std::move(it->second));
      }
    }
    snap.end();
    return std::move(out);
  });
}

void local_index::remove(const std::vector<std::string>& ids) {
  if (ids.empty()) return;
  translate([&] {
    sql::transaction tx(db_);
    auto st = db_.prepare("DELETE FROM vectors WHERE namespace = ?1 AND id = ?2");
    for (const auto& id : ids) {
      st.bind(1, namespace_).bind(2, id);
      st.run();
    }
    tx.commit();
  });
}

std::vector<std::string> local_index::list(std::string_view prefix, std::string_view after,
                                           std::size_t limit) {
  std::vector<std::string> out;
  if (limit == 0) return out;
  // A range scan on the primary key: BINARY collation compares bytes (memcmp), which is exactly the
  // bytewise order the sink contract promises; LIKE would fold case and treat % and _ as wildcards.
  const std::optional<std::string> upper = prefix_successor(prefix);
  const std::int64_t lim = limit > static_cast<std::size_t>(std::numeric_limits<std::int64_t>::max())
                               ? std::numeric_limits<std::int64_t>::max()
                               : static_cast<std::int64_t>(limit);
  return translate([&] {
    std::string sql = "SELECT id FROM vectors WHERE namespace = ?1 AND id >= ?2 AND id > ?3";
    if (upper) sql += " AND id < ?5";
    sql += " ORDER BY id LIMIT ?4";
    auto st = db_.prepare(sql);
    st.bind(1, namespace_).bind(2, prefix).bind(3, after).bind(4, lim);
    if (upper) st.bind(5, *upper);
    while (st.step()) out.push_back(st.column_string(0));
    return std::move(out);
  });
}

sink_stats local_index::stats() {
  return translate([&] {
    read_snapshot snap(db_);
    sink_stats s;
    {
      auto st = db_.prepare("SELECT count(*) FROM vectors WHERE namespace = ?1");
      st.bind(1, namespace_);
      if (st.step()) s.count = st.column_int(0);
    }
    {
      auto st = db_.prepare("SELECT dim FROM vectors WHERE namespace = ?1 LIMIT 1");
      st.bind(1, namespace_);
      if (st.step()) s.dimension = static_cast<int>(st.column_int(0));
    }
    snap.end();
    return s;
  });
}

std::vector<std::pair<std::string, std::int64_t>> local_index::namespaces() {
  return translate([&] {
    std::vector<std::pair<std::string, std::int64_t>> out;
    auto st = db_.prepare("SELECT namespace, count(*) FROM vectors GROUP BY namespace ORDER BY namespace");
    while (st.step()) out.emplace_back(st.column_string(0), st.column_int(1));
    return out;
  });
}

}  // namespace backfill
