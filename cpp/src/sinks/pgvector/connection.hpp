// libpq connections for the pgvector sink: RAII holders, a pool the batches share, statements that
// throw a pg_failure naming the server (never the DSN's password) on error.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <libpq-fe.h>

#include "backfill/core/errors.hpp"

namespace backfill::pgvector_detail {

// A failed statement or connection. `sqlstate` is the server's code ("" when there is none, e.g. a
// dropped connection); `connection_lost` tells a retry that the connection is gone.
class pg_failure : public sink_error {
 public:
  pg_failure(const std::string& message, std::string sqlstate, bool connection_lost)
      : sink_error(message), sqlstate_(std::move(sqlstate)), connection_lost_(connection_lost) {}
  const std::string& sqlstate() const noexcept { return sqlstate_; }
  bool connection_lost() const noexcept { return connection_lost_; }
  // Worth one more try on a fresh connection: the connection dropped, or the server chose this
  // transaction as a deadlock's or a serialization conflict's victim. The transaction rolled back.
  bool retryable() const noexcept { return connection_lost_ || sqlstate_ == "40P01" || sqlstate_ == "40001"; }

 private:
  std::string sqlstate_;
  bool connection_lost_;
};

struct result_deleter {
  void operator()(PGresult* r) const noexcept { PQclear(r); }
};
using result = std::unique_ptr<PGresult, result_deleter>;

// Where the DSN points (host:port/database and the user), read from the DSN without its password.
struct target {
  std::string where;  // host:port/database
  std::string user;
  std::vector<std::string> secrets;  // the password, to scrub from any message
};
target parse_dsn(const std::string& dsn);

class connection {
 public:
  connection(const std::string& dsn, int connect_timeout, const target& t);
  ~connection();
  connection(const connection&) = delete;
  connection& operator=(const connection&) = delete;

  // Runs `sql` with text parameters; results come in text, or binary with `binary_results`.
  result exec(std::string_view what, const std::string& sql,
              std::initializer_list<std::string_view> params = {}, bool binary_results = false);
  // COPY `sql` FROM STDIN with `data` as the whole stream; returns the rows it wrote.
  std::int64_t copy_in(std::string_view what, const std::string& sql, std::string_view data);
  bool broken() const noexcept { return PQstatus(conn_) != CONNECTION_OK; }
  bool idle() const noexcept { return PQtransactionStatus(conn_) == PQTRANS_IDLE; }

 private:
  [[noreturn]] void fail(std::string_view what, const PGresult* r) const;
  PGconn* conn_ = nullptr;
  const target& target_;
};

// Connections opened on demand, up to `size`, handed out one per task.
class pool {
 public:
  pool(std::string dsn, int size, int connect_timeout);
  ~pool();

  class lease {
   public:
    lease(pool& p, std::unique_ptr<connection> c) : pool_(p), conn_(std::move(c)) {}
    ~lease();
    lease(const lease&) = delete;
    lease& operator=(const lease&) = delete;
    connection* operator->() const noexcept { return conn_.get(); }
    connection& operator*() const noexcept { return *conn_; }

   private:
    pool& pool_;
    std::unique_ptr<connection> conn_;
  };

  // A connection of its own for the caller; waits while all `size` are taken.
  lease acquire();
  // Runs fn(connection&) on a connection of its own; when that fails in a way a fresh connection
  // may not (retryable(): the transaction rolled back), closes the idle connections if it dropped
  // (a restarted server drops them all) and runs it once more.
  template <class F>
  auto run(F fn) {
    for (int attempt = 1;; ++attempt) {
      try {
        lease c = acquire();
        return fn(*c);
      } catch (const pg_failure& e) {
        if (attempt >= 2 || !e.retryable()) throw;
        if (e.connection_lost()) drop_idle();
        retrying(e);
      }
    }
  }
  const target& where() const noexcept { return target_; }
  int size() const noexcept { return size_; }

 private:
  void give_back(std::unique_ptr<connection> c);
  void drop_idle();
  static void retrying(const pg_failure& e);

  std::string dsn_;
  int size_;
  int connect_timeout_;
  target target_;
  std::mutex mutex_;
  std::condition_variable freed_;
  std::vector<std::unique_ptr<connection>> idle_;
  int open_ = 0;
};

// `name` as a quoted SQL identifier.
std::string quote_ident(std::string_view name);
// A text[] literal ({"a","b"}) for `= ANY($n::text[])`.
std::string text_array(const std::vector<std::string>& values);

}  // namespace backfill::pgvector_detail
