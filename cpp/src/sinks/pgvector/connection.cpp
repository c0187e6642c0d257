#include "connection.hpp"

#include <algorithm>
#include <cstdlib>

#include <fmt/format.h>

#include "backfill/core/log.hpp"
#include "backfill/http/scrub.hpp"

namespace backfill::pgvector_detail {
namespace {

void ignore_notice(void*, const char*) {}

// libpq's message on one line.
std::string trimmed(std::string s) {
  for (char& ch : s)
    if (ch == '\n' || ch == '\t') ch = ' ';
  while (!s.empty() && s.back() == ' ') s.pop_back();
  return s;
}

}  // namespace

target parse_dsn(const std::string& dsn) {
  char* err = nullptr;
  PQconninfoOption* opts = PQconninfoParse(dsn.c_str(), &err);
  if (opts == nullptr) {
    // libpq's message quotes the text around the fault, which may be the password: not shown.
    if (err != nullptr) PQfreemem(err);
    throw config_error(
        "sink.dsn is not a libpq connection string or URI; write it as "
        "postgresql://user@host:5432/database or \"host=... port=... dbname=... user=...\"");
  }
  std::string host, hostaddr, port, dbname, user, password;
  for (PQconninfoOption* o = opts; o->keyword != nullptr; ++o) {
    if (o->val == nullptr) continue;
    std::string_view k = o->keyword;
    if (k == "host")
      host = o->val;
    else if (k == "hostaddr")
      hostaddr = o->val;
    else if (k == "port")
      port = o->val;
    else if (k == "dbname")
      dbname = o->val;
    else if (k == "user")
      user = o->val;
    else if (k == "password")
      password = o->val;
  }
  PQconninfoFree(opts);
  target t;
  if (host.empty()) host = hostaddr.empty() ? "localhost" : hostaddr;
  if (port.empty()) port = "5432";
  t.user = user;
  if (dbname.empty()) dbname = user;
  t.where = fmt::format("{}:{}/{}", host, port, dbname);
  if (!password.empty()) t.secrets.push_back(password);
  return t;
}

connection::connection(const std::string& dsn, int connect_timeout, const target& t) : target_(t) {
  // Later keywords win: a connect_timeout in the DSN overrides ours.
  const std::string timeout = std::to_string(std::max(connect_timeout, 1));
  const char* keys[] = {"connect_timeout", "fallback_application_name", "dbname", nullptr};
  const char* values[] = {timeout.c_str(), "backfill", dsn.c_str(), nullptr};
  conn_ = PQconnectdbParams(keys, values, 1);
  if (conn_ == nullptr) throw sink_error("libpq could not allocate a connection (out of memory)");
  if (PQstatus(conn_) != CONNECTION_OK) {
    std::string msg = http::scrub_text(trimmed(PQerrorMessage(conn_)), target_.secrets);
    PQfinish(conn_);
    conn_ = nullptr;
    throw pg_failure(fmt::format("cannot connect to PostgreSQL at {}{}: {}; check sink.dsn (host, port, "
                                 "database, user and password) and that the server accepts connections",
                                 target_.where, target_.user.empty() ? "" : " as " + target_.user, msg),
                     "", true);
  }
  PQsetNoticeProcessor(conn_, ignore_notice, nullptr);
}

connection::~connection() {
  if (conn_ != nullptr) PQfinish(conn_);
}

void connection::fail(std::string_view what, const PGresult* r) const {
  std::string state, message, hint;
  if (r != nullptr) {
    if (const char* s = PQresultErrorField(r, PG_DIAG_SQLSTATE)) state = s;
    if (const char* s = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY)) message = s;
    if (const char* s = PQresultErrorField(r, PG_DIAG_MESSAGE_HINT)) hint = s;
  }
  if (message.empty()) message = PQerrorMessage(conn_);
  message = trimmed(std::move(message));
  const bool lost = PQstatus(conn_) != CONNECTION_OK;
  std::string text =
      fmt::format("PostgreSQL at {}: {} failed: {}{}{}", target_.where, what, message,
                  state.empty() ? "" : " (SQLSTATE " + state + ")", hint.empty() ? "" : "; " + hint);
  if (state == "42501")
    text +=
        fmt::format("; grant the user {} the privilege it needs, or use a user that has it", target_.user);
  throw pg_failure(http::scrub_text(text, target_.secrets), state, lost);
}

result connection::exec(std::string_view what, const std::string& sql,
                        std::initializer_list<std::string_view> params, bool binary_results) {
  std::vector<std::string> owned(params.begin(), params.end());
  std::vector<const char*> values;
  values.reserve(owned.size());
  for (const auto& p : owned) values.push_back(p.c_str());
  result r(PQexecParams(conn_, sql.c_str(), static_cast<int>(values.size()), nullptr, values.data(), nullptr,
                        nullptr, binary_results ? 1 : 0));
  const ExecStatusType st = r ? PQresultStatus(r.get()) : PGRES_FATAL_ERROR;
  if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) fail(what, r.get());
  return r;
}

std::int64_t connection::copy_in(std::string_view what, const std::string& sql, std::string_view data) {
  result start(PQexec(conn_, sql.c_str()));
  if (!start || PQresultStatus(start.get()) != PGRES_COPY_IN) fail(what, start.get());
  constexpr std::size_t piece = 1 << 20;
  for (std::size_t at = 0; at < data.size(); at += piece) {
    const std::size_t n = std::min(piece, data.size() - at);
    if (PQputCopyData(conn_, data.data() + at, static_cast<int>(n)) != 1) fail(what, nullptr);
  }
  if (PQputCopyEnd(conn_, nullptr) != 1) fail(what, nullptr);
  result failed;
  std::int64_t rows = 0;
  while (PGresult* r = PQgetResult(conn_)) {
    if (PQresultStatus(r) == PGRES_COMMAND_OK) {
      rows += std::atoll(PQcmdTuples(r));
      PQclear(r);
    } else if (!failed) {
      failed.reset(r);
    } else {
      PQclear(r);
    }
  }
  if (failed) fail(what, failed.get());
  return rows;
}

pool::pool(std::string dsn, int size, int connect_timeout)
    : dsn_(std::move(dsn)),
      size_(std::max(size, 1)),
      connect_timeout_(connect_timeout),
      target_(parse_dsn(dsn_)) {}

pool::~pool() = default;

pool::lease pool::acquire() {
  std::unique_lock<std::mutex> lock(mutex_);
  freed_.wait(lock, [&] { return !idle_.empty() || open_ < size_; });
  if (!idle_.empty()) {
    auto c = std::move(idle_.back());
    idle_.pop_back();
    return lease(*this, std::move(c));
  }
  ++open_;
  lock.unlock();
  try {
    return lease(*this, std::make_unique<connection>(dsn_, connect_timeout_, target_));
  } catch (...) {
    lock.lock();
    --open_;
    freed_.notify_one();
    throw;
  }
}

void pool::give_back(std::unique_ptr<connection> c) {
  std::lock_guard<std::mutex> lock(mutex_);
  // A connection that dropped, or that a failure left inside a transaction, is closed, not reused.
  if (c && !c->broken() && c->idle())
    idle_.push_back(std::move(c));
  else
    --open_;
  freed_.notify_one();
}

void pool::drop_idle() {
  std::lock_guard<std::mutex> lock(mutex_);
  open_ -= static_cast<int>(idle_.size());
  idle_.clear();
  freed_.notify_all();
}

void pool::retrying(const pg_failure& e) {
  logger()->warn("{}; trying once more on a new connection", e.what());
}

pool::lease::~lease() { pool_.give_back(std::move(conn_)); }

std::string quote_ident(std::string_view name) {
  std::string out = "\"";
  for (char ch : name) {
    if (ch == '"') out += '"';
    out += ch;
  }
  return out + '"';
}

std::string text_array(const std::vector<std::string>& values) {
  std::string out = "{";
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (i) out += ',';
    out += '"';
    for (char ch : values[i]) {
      if (ch == '"' || ch == '\\') out += '\\';
      out += ch;
    }
    out += '"';
  }
  return out + '}';
}

}  // namespace backfill::pgvector_detail
