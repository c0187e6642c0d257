// The pgvector sink but its writes (upsert.cpp): options, identity, and the reads.
#include "backfill/sinks/pgvector/pgvector.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "backfill/core/json.hpp"
#include "backfill/sinks/pgvector/copy_binary.hpp"
#include "connection.hpp"
#include "schema.hpp"

namespace backfill {
namespace {

using namespace pgvector_detail;

constexpr std::size_t ids_per_statement = 1000;

// The ids of one statement, from `at`.
std::vector<std::string> slice(const std::vector<std::string>& ids, std::size_t at) {
  const auto end = std::min(ids.size(), at + ids_per_statement);
  return {ids.begin() + static_cast<std::ptrdiff_t>(at), ids.begin() + static_cast<std::ptrdiff_t>(end)};
}

void check_options(const pgvector_options& o) {
  if (o.dsn.empty())
    throw config_error(
        "sink.dsn is required: a libpq connection string or URI, best from the environment "
        "(dsn = \"${DATABASE_URL}\")");
  if (o.schema.empty() || o.table.empty()) throw config_error("sink.schema and sink.table must not be empty");
  if (o.index != "hnsw" && o.index != "ivfflat" && o.index != "none")
    throw config_error(
        fmt::format("sink.index must be \"hnsw\", \"ivfflat\" or \"none\", got \"{}\"", o.index));
  if (o.metric != "cosine" && o.metric != "l2" && o.metric != "inner_product")
    throw config_error(
        fmt::format("sink.metric must be \"cosine\", \"l2\" or \"inner_product\", got \"{}\"", o.metric));
  if (o.dimension < 0 || o.dimension > 16000)
    throw config_error(fmt::format("sink.dimension must be between 0 and 16000, got {}", o.dimension));
  check_indexable(o, o.dimension);
  if (o.batch_size < 1 || o.batch_size > 100000)
    throw config_error(fmt::format("sink.batch_size must be between 1 and 100000, got {}", o.batch_size));
  if (o.connections < 1 || o.connections > 64)
    throw config_error(fmt::format("sink.connections must be between 1 and 64, got {}", o.connections));
}

// The smallest string above every string starting with `prefix`, when it is easily made (the last
// byte ASCII below DEL), else "" (then the prefix is checked row by row).
std::string prefix_end(std::string_view prefix) {
  if (prefix.empty() || static_cast<unsigned char>(prefix.back()) >= 0x7e) return {};
  std::string end(prefix);
  end.back() = static_cast<char>(end.back() + 1);
  return end;
}

std::string vector_text(const std::vector<float>& v) {
  std::string out = "[";
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (i) out += ',';
    json::append_float_repr(out, v[i]);
  }
  return out + ']';
}

}  // namespace

pgvector_sink::pgvector_sink(pgvector_options options) : options_(std::move(options)) {
  check_options(options_);
  pool_ = std::make_unique<pool>(options_.dsn, options_.connections, options_.connect_timeout);
  where_ = pool_->where().where;
  qualified_ = quote_ident(options_.schema) + "." + quote_ident(options_.table);
}

pgvector_sink::~pgvector_sink() = default;

std::string pgvector_sink::identity() const {
  return fmt::format("pgvector:{}/{}.{}#{}", where_, options_.schema, options_.table, options_.namespace_);
}

std::string pgvector_sink::describe() const {
  return fmt::format("PostgreSQL table {}.{} at {} (namespace \"{}\")", options_.schema, options_.table,
                     where_, options_.namespace_);
}

std::size_t pgvector_sink::max_batch() const {
  return options_.batch_size * static_cast<std::size_t>(options_.connections);
}

std::map<std::string, std::string> pgvector_sink::receipt_info() const {
  return {{"database", where_},
          {"table", options_.schema + "." + options_.table},
          {"namespace", options_.namespace_}};
}

table_state& pgvector_sink::table(int dimension) {
  std::lock_guard<std::mutex> lock(table_mutex_);
  if (!table_ || (!table_->exists && dimension > 0)) {
    table_state t =
        pool_->run([&](connection& c) { return prepare_table(c, options_, qualified_, dimension); });
    // Updated in place: other calls may hold a reference.
    if (table_)
      *table_ = t;
    else
      table_ = std::make_unique<table_state>(t);
  }
  return *table_;
}

void pgvector_sink::build_pending_index() {
  std::lock_guard<std::mutex> lock(table_mutex_);
  if (!table_ || !table_->index_pending) return;
  pool_->run([&](connection& c) { build_index(c, options_, qualified_); });
  table_->index_pending = false;
}

std::vector<fetched_record> pgvector_sink::fetch(const std::vector<std::string>& ids) {
  std::vector<fetched_record> out;
  if (ids.empty() || !table().exists) return out;
  const std::string sql = fmt::format(
      "SELECT id, embedding, metadata FROM {} WHERE namespace = $1 AND id = ANY($2::text[])", qualified_);
  for (std::size_t at = 0; at < ids.size(); at += ids_per_statement) {
    const std::vector<std::string> part = slice(ids, at);
    result r = pool_->run([&](connection& c) {
      return c.exec("reading records back", sql, {options_.namespace_, text_array(part)}, true);
    });
    for (int i = 0; i < PQntuples(r.get()); ++i) {
      auto values = pgcopy::read_vector(PQgetvalue(r.get(), i, 1),
                                        static_cast<std::size_t>(PQgetlength(r.get(), i, 1)));
      auto meta =
          pgcopy::read_jsonb(PQgetvalue(r.get(), i, 2), static_cast<std::size_t>(PQgetlength(r.get(), i, 2)));
      if (!values || !meta)
        throw sink_error(
            fmt::format("{}: record {} came back in a form this build cannot read (pgvector or jsonb "
                        "binary format changed?)",
                        describe(), PQgetvalue(r.get(), i, 0)));
      out.push_back(
          {std::string(PQgetvalue(r.get(), i, 0), static_cast<std::size_t>(PQgetlength(r.get(), i, 0))),
           std::move(*values), json::canonicalize(*meta)});
    }
  }
  return out;
}

void pgvector_sink::remove(const std::vector<std::string>& ids) {
  if (ids.empty() || !table().exists) return;
  const std::string sql =
      fmt::format("DELETE FROM {} WHERE namespace = $1 AND id = ANY($2::text[])", qualified_);
  for (std::size_t at = 0; at < ids.size(); at += ids_per_statement) {
    const std::vector<std::string> part = slice(ids, at);
    pool_->run([&](connection& c) {
      c.exec("deleting records", sql, {options_.namespace_, text_array(part)});
    });
  }
}

std::vector<std::string> pgvector_sink::list(std::string_view prefix, std::string_view after,
                                             std::size_t limit) {
  std::vector<std::string> out;
  if (limit == 0 || !table().exists) return out;
  const std::string end = prefix_end(prefix);
  // The columns' "C" collation makes these comparisons, and the order, bytewise.
  const std::string sql = fmt::format(
      "SELECT id FROM {} WHERE namespace = $1 AND id >= $2 AND id > $3 AND {} ORDER BY id LIMIT $5",
      qualified_, end.empty() ? "starts_with(id, $2) AND $4 = ''" : "id < $4");
  result r = pool_->run([&](connection& c) {
    return c.exec("listing ids", sql, {options_.namespace_, prefix, after, end, std::to_string(limit)});
  });
  out.reserve(static_cast<std::size_t>(PQntuples(r.get())));
  for (int i = 0; i < PQntuples(r.get()); ++i)
    out.emplace_back(PQgetvalue(r.get(), i, 0), static_cast<std::size_t>(PQgetlength(r.get(), i, 0)));
  return out;
}

sink_stats pgvector_sink::stats() {
  const table_state& t = table();
  if (!t.exists) return {0, options_.dimension};
  sink_stats s{0, t.dimension};
  result r = pool_->run([&](connection& c) {
    return c.exec("counting records", fmt::format("SELECT count(*) FROM {} WHERE namespace = $1", qualified_),
                  {options_.namespace_});
  });
  s.count = std::atoll(PQgetvalue(r.get(), 0, 0));
  // A new table's vector index is built once it holds its first load: read back at the end of a
  // run's ingest, or before its first query.
  if (s.count > 0) build_pending_index();
  return s;
}

std::vector<query_match> pgvector_sink::query(const std::vector<float>& vector, std::size_t top_k) {
  std::vector<query_match> out;
  const table_state& t = table();
  if (!t.exists || top_k == 0) return out;
  if (static_cast<int>(vector.size()) != t.dimension)
    throw sink_error(fmt::format("{} holds vectors of dimension {}, the query has {}", describe(),
                                 t.dimension, vector.size()));
  build_pending_index();
  const std::string sql = fmt::format(
      "SELECT id, embedding {} $2::vector AS distance, metadata::text FROM {} WHERE namespace = $1 "
      "ORDER BY distance LIMIT $3",
      distance_operator(options_.metric), qualified_);
  result r = pool_->run([&](connection& c) {
    c.exec("BEGIN", "BEGIN");
    if (options_.ef_search > 0)
      c.exec("setting hnsw.ef_search", fmt::format("SET LOCAL hnsw.ef_search = {}", options_.ef_search));
    result found =
        c.exec("querying by vector", sql, {options_.namespace_, vector_text(vector), std::to_string(top_k)});
    c.exec("COMMIT", "COMMIT");
    return found;
  });
  for (int i = 0; i < PQntuples(r.get()); ++i) {
    const double d = std::strtod(PQgetvalue(r.get(), i, 1), nullptr);
    // Pinecone's convention: cosine and dot product as similarities, euclidean as the distance.
    const double score = options_.metric == "cosine" ? 1 - d : options_.metric == "inner_product" ? -d : d;
    out.push_back({PQgetvalue(r.get(), i, 0), score, json::canonicalize(PQgetvalue(r.get(), i, 2))});
  }
  return out;
}

}  // namespace backfill
