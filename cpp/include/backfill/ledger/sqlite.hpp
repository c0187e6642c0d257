// A thin RAII layer over the SQLite C API, shared by the ledger and the local index.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

struct sqlite3;
struct sqlite3_stmt;

namespace backfill::sql {

class statement;

class database {
 public:
  // Opens (creating if needed) with WAL journaling, synchronous=FULL for durability, foreign keys on
  // and a busy timeout. `what` names the file in error messages ("ledger", "local index").
  // `page_size` (a power of two from 512 to 65536; 0 keeps SQLite's 4096) applies to a database this
  // call creates; an existing file keeps the page size it was created with.
  database(const std::filesystem::path& path, std::string what, bool read_only = false, int page_size = 0);
  ~database();
  database(const database&) = delete;
  database& operator=(const database&) = delete;
  database(database&&) = delete;  // cached statements point back at their database
  database& operator=(database&&) = delete;

  void exec(std::string_view sql);
  // exec() of one statement without rows (BEGIN, COMMIT), prepared once for the connection's life.
  void exec_cached(std::string_view sql);
  statement prepare(std::string_view sql);
  // A prepared statement kept for the life of the connection, for hot paths. Reset and unbound
  // when returned; callers must reset() it if they stop stepping before the end.
  statement& cached(std::string_view sql);
  std::int64_t changes() const noexcept;
  // True inside a transaction; how many transactions (sql::transaction, sql::read_snapshot) began on
  // this connection, so a caller can tell one transaction from the next.
  bool in_transaction() const noexcept;
  std::uint64_t transactions_begun() const noexcept { return transactions_begun_; }
  const std::string& what() const noexcept { return what_; }
  const std::filesystem::path& path() const noexcept { return path_; }
  sqlite3* handle() const noexcept { return db_; }
  [[noreturn]] void fail(std::string_view doing) const;

 private:
  sqlite3* db_ = nullptr;
  std::string what_;
  std::filesystem::path path_;
  struct sql_hash : std::hash<std::string_view> {
    using is_transparent = void;  // found by the caller's string_view: no copy of the text a statement
  };
  std::unordered_map<std::string, std::unique_ptr<statement>, sql_hash, std::equal_to<>> cache_;
  std::uint64_t transactions_begun_ = 0;
  friend class transaction;
};

class statement {
 public:
  statement(database& db, std::string_view sql);
  ~statement();
  statement(const statement&) = delete;
  statement& operator=(const statement&) = delete;
  statement(statement&& other) noexcept;
  statement& operator=(statement&&) = delete;

  // Binds are 1-based, like SQLite's. Text and blobs are copied (SQLITE_TRANSIENT) unless `static_`.
  statement& bind(int i, std::int64_t v);
  statement& bind(int i, int v) { return bind(i, static_cast<std::int64_t>(v)); }
  statement& bind(int i, double v);
  statement& bind(int i, std::string_view v);
  statement& bind(int i, const char* v) { return bind(i, std::string_view(v)); }
  statement& bind(int i, const std::string& v) { return bind(i, std::string_view(v)); }
  statement& bind_blob(int i, const void* data, std::size_t n);
  statement& bind_null(int i);

  bool step();  // true while a row is available
  void run();   // step to completion, ignoring rows
  void reset();

  std::int64_t column_int(int i) const;
  double column_double(int i) const;
  std::string_view column_text(int i) const;
  std::string column_string(int i) const { return std::string(column_text(i)); }
  std::string_view column_blob(int i) const;
  bool column_null(int i) const;

 private:
  friend class database;
  database* db_;
  sqlite3_stmt* stmt_ = nullptr;
};

// BEGIN IMMEDIATE ... COMMIT; rolls back in the destructor unless committed.
class transaction {
 public:
  explicit transaction(database& db) : transaction(db, "BEGIN IMMEDIATE") {}
  ~transaction();
  transaction(const transaction&) = delete;
  transaction& operator=(const transaction&) = delete;
  void commit();

 protected:
  transaction(database& db, const char* begin);

 private:
  database& db_;
  bool done_ = false;
};

// BEGIN (deferred) ... COMMIT around reads: one consistent snapshot, and one lock of the WAL for all
// of them where each statement on its own would take and drop one. Ended by end(), else rolled back
// in the destructor. Holds no write lock: a write on the same connection inside it may fail with
// SQLITE_BUSY_SNAPSHOT, so only reads belong there.
class read_snapshot : private transaction {
 public:
  explicit read_snapshot(database& db) : transaction(db, "BEGIN") {}
  void end() { commit(); }
};

}  // namespace backfill::sql
