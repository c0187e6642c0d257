#include "backfill/ledger/sqlite.hpp"

#include <sqlite3.h>

#include <string>
#include <utility>

#include "backfill/core/errors.hpp"
#include "backfill/core/private_files.hpp"

namespace backfill::sql {

database::database(const std::filesystem::path& path, std::string what, bool read_only, int page_size)
    : what_(std::move(what)), path_(path) {
  int flags = read_only ? SQLITE_OPEN_READONLY : (SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
  flags |= SQLITE_OPEN_NOMUTEX;
  // Created 0600 before SQLite opens it: SQLite gives its -wal and -shm files the database's mode.
  // When that fails, SQLite's own attempt below says why.
  if (!read_only && !path.empty()) {
    try {
      make_private_file(path);
    } catch (const io_error&) {
    }
  }
  int rc = sqlite3_open_v2(path.c_str(), &db_, flags, nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
    sqlite3_close(db_);
    db_ = nullptr;
    throw io_error("cannot open " + what_ + " " + path.string() + ": " + msg);
  }
  sqlite3_busy_timeout(db_, 10000);
  sqlite3_extended_result_codes(db_, 1);
  try {
    if (!read_only) {
      // Before the switch to WAL, which writes the header of a new file: afterwards the page size
      // of a database in WAL mode cannot change. On an existing file this is a no-op.
      if (page_size > 0) exec("PRAGMA page_size=" + std::to_string(page_size));
      exec("PRAGMA journal_mode=WAL");
      exec("PRAGMA synchronous=FULL");
    }
    exec("PRAGMA foreign_keys=ON");
  } catch (...) {
    sqlite3_close_v2(db_);
    db_ = nullptr;
    throw;
  }
}

database::~database() {
  cache_.clear();  // finalize cached statements before closing
  if (db_) sqlite3_close_v2(db_);
}

statement& database::cached(std::string_view sql) {
  auto it = cache_.find(sql);
  if (it == cache_.end())
    it = cache_.emplace(std::string(sql), std::make_unique<statement>(*this, sql)).first;
  it->second->reset();
  return *it->second;
}

void database::fail(std::string_view doing) const {
  int code = sqlite3_extended_errcode(db_);
  std::string msg =
      std::string(what_) + " " + path_.string() + ": " + std::string(doing) + ": " + sqlite3_errmsg(db_);
  if ((code & 0xff) == SQLITE_BUSY || (code & 0xff) == SQLITE_LOCKED)
    throw io_error(msg + " (is another backfill process using it?)");
  if ((code & 0xff) == SQLITE_CORRUPT || (code & 0xff) == SQLITE_NOTADB)
    throw io_error(msg + " (the file is damaged or not a database)");
  throw io_error(msg);
}

void database::exec(std::string_view sql) {
  std::string s(sql);
  char* err = nullptr;
  if (sqlite3_exec(db_, s.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
    sqlite3_free(err);
    fail("executing " + s.substr(0, 60));
  }
}

statement database::prepare(std::string_view sql) { return statement(*this, sql); }

std::int64_t database::changes() const noexcept { return sqlite3_changes64(db_); }

bool database::in_transaction() const noexcept { return sqlite3_get_autocommit(db_) == 0; }

statement::statement(database& db, std::string_view sql) : db_(&db) {
  if (sqlite3_prepare_v2(db.handle(), sql.data(), static_cast<int>(sql.size()), &stmt_, nullptr) != SQLITE_OK)
    db.fail("preparing " + std::string(sql.substr(0, 60)));
}

statement::~statement() {
  if (stmt_) sqlite3_finalize(stmt_);
}

statement::statement(statement&& other) noexcept
    : db_(other.db_), stmt_(std::exchange(other.stmt_, nullptr)) {}

statement& statement::bind(int i, std::int64_t v) {
  if (sqlite3_bind_int64(stmt_, i, v) != SQLITE_OK) db_->fail("binding");
  return *this;
}

statement& statement::bind(int i, double v) {
  if (sqlite3_bind_double(stmt_, i, v) != SQLITE_OK) db_->fail("binding");
  return *this;
}

statement& statement::bind(int i, std::string_view v) {
  // An empty view may have a null data pointer, which SQLite would bind as NULL rather than ''.
  const char* data = v.data() ? v.data() : "";
  if (sqlite3_bind_text64(stmt_, i, data, v.size(), SQLITE_TRANSIENT, SQLITE_UTF8) != SQLITE_OK)
    db_->fail("binding");
  return *this;
}

statement& statement::bind_blob(int i, const void* data, std::size_t n) {
  if (sqlite3_bind_blob64(stmt_, i, data, n, SQLITE_TRANSIENT) != SQLITE_OK) db_->fail("binding");
  return *this;
}

statement& statement::bind_null(int i) {
  if (sqlite3_bind_null(stmt_, i) != SQLITE_OK) db_->fail("binding");
  return *this;
}

bool statement::step() {
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  db_->fail("running a statement");
}

void statement::run() {
  while (step()) {
  }
  reset();
}

void statement::reset() {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
}

std::int64_t statement::column_int(int i) const { return sqlite3_column_int64(stmt_, i); }
double statement::column_double(int i) const { return sqlite3_column_double(stmt_, i); }

std::string_view statement::column_text(int i) const {
  const unsigned char* p = sqlite3_column_text(stmt_, i);
  if (!p) return {};
  return {reinterpret_cast<const char*>(p), static_cast<std::size_t>(sqlite3_column_bytes(stmt_, i))};
}

std::string_view statement::column_blob(int i) const {
  const void* p = sqlite3_column_blob(stmt_, i);
  if (!p) return {};
  return {static_cast<const char*>(p), static_cast<std::size_t>(sqlite3_column_bytes(stmt_, i))};
}

bool statement::column_null(int i) const { return sqlite3_column_type(stmt_, i) == SQLITE_NULL; }

void database::exec_cached(std::string_view sql) {
  statement& st = cached(sql);
  const int rc = sqlite3_step(st.stmt_);
  sqlite3_reset(st.stmt_);  // keeps the step's error as the connection's, for fail()
  if (rc != SQLITE_DONE && rc != SQLITE_ROW) fail("executing " + std::string(sql));
}

// A connection begins and commits many transactions (one a journaled page, one an embedding call's
// vectors): their statements are prepared once, not parsed again each time.
transaction::transaction(database& db, const char* begin) : db_(db) {
  db_.exec_cached(begin);
  ++db_.transactions_begun_;
}

transaction::~transaction() {
  if (!done_) {
    char* err = nullptr;
    sqlite3_exec(db_.handle(), "ROLLBACK", nullptr, nullptr, &err);
    sqlite3_free(err);
  }
}

void transaction::commit() {
  db_.exec_cached("COMMIT");
  done_ = true;
}

}  // namespace backfill::sql
