#include "schema.hpp"

#include <cstdlib>

#include <fmt/format.h>

#include "backfill/core/log.hpp"

namespace backfill::pgvector_detail {
namespace {

std::string index_name(const pgvector_options& o) {
  return quote_ident(o.table.substr(0, 40) + "_embedding_" + o.index);
}

// Runs `fn` in one transaction holding an advisory lock on `name` (the table's), so two runs creating
// the same thing at once take turns instead of failing on each other's catalog rows.
template <class F>
void locked(connection& c, const std::string& name, F fn) {
  c.exec("BEGIN", "BEGIN");
  c.exec("taking the table's creation lock", "SELECT pg_advisory_xact_lock(hashtext($1))", {name});
  fn();
  c.exec("COMMIT", "COMMIT");
}

void ensure_extension(connection& c, const pgvector_options& o) {
  result r = c.exec("reading the installed extensions",
                    "SELECT extversion FROM pg_extension WHERE extname = 'vector'");
  if (PQntuples(r.get()) > 0) return;
  if (!o.create)
    throw config_error(
        fmt::format("the vector extension is not installed in this database; run CREATE EXTENSION "
                    "vector there as a user allowed to, or set sink.create = true"));
  try {
    c.exec("CREATE EXTENSION vector", "CREATE EXTENSION IF NOT EXISTS vector");
  } catch (const pg_failure& e) {
    if (e.sqlstate() == "58P01" || e.sqlstate() == "0A000")
      throw sink_error(std::string(e.what()) +
                       "; install pgvector on the PostgreSQL server "
                       "(https://github.com/pgvector/pgvector#installation)");
    throw;
  }
}

}  // namespace

std::string plain_name(const pgvector_options& o) { return o.schema + "." + o.table; }

result table_columns(connection& c, const pgvector_options& o, const std::string& qualified) {
  return c.exec("reading the columns of " + plain_name(o),
                "SELECT a.attname, format_type(a.atttypid, NULL), a.atttypmod FROM pg_attribute a "
                "WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped",
                {qualified});
}

int checked_dimension(const pgvector_options& o, const PGresult* cols) {
  const char* needed[][2] = {{"namespace", "text"},
                             {"id", "text"},
                             {"embedding", "vector"},
                             {"metadata", "jsonb"},
                             {"metadata_hash", "text"}};
  int dimension = 0;
  for (const auto& [name, type] : needed) {
    bool found = false;
    for (int i = 0; i < PQntuples(cols); ++i) {
      if (std::string_view(PQgetvalue(cols, i, 0)) != name) continue;
      found = std::string_view(PQgetvalue(cols, i, 1)) == type;
      if (found && std::string_view(name) == "embedding") dimension = std::atoi(PQgetvalue(cols, i, 2));
    }
    if (!found)
      throw config_error(
          fmt::format("the table {} has no column {} of type {}, so it is not a backfill table; "
                      "set sink.table to another name (backfill creates it)",
                      plain_name(o), name, type));
  }
  if (dimension <= 0)
    throw config_error(fmt::format(
        "the column embedding of {} has no fixed dimension; backfill needs vector(n)", plain_name(o)));
  if (o.dimension > 0 && o.dimension != dimension)
    throw config_error(
        fmt::format("the table {} holds vectors of dimension {}, but sink.dimension is {}; set "
                    "sink.dimension to {} or use another sink.table",
                    plain_name(o), dimension, o.dimension, dimension));
  return dimension;
}

std::vector<std::pair<std::string, std::string>> vector_indexes(connection& c, const pgvector_options& o,
                                                                const std::string& qualified) {
  result idx =
      c.exec("reading the indexes of " + plain_name(o),
             "SELECT am.amname, opc.opcname FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid "
             "JOIN pg_am am ON am.oid = ic.relam JOIN pg_opclass opc ON opc.oid = i.indclass[0] "
             "WHERE i.indrelid = to_regclass($1) AND am.amname IN ('hnsw', 'ivfflat')",
             {qualified});
  std::vector<std::pair<std::string, std::string>> out;
  for (int i = 0; i < PQntuples(idx.get()); ++i)
    out.emplace_back(PQgetvalue(idx.get(), i, 0), PQgetvalue(idx.get(), i, 1));
  return out;
}

std::string unused_index(const pgvector_options& o, const std::string& method, const std::string& opclass) {
  return fmt::format(
      "{} has a {} index with {}, which queries by sink.metric \"{}\" and sink.index \"{}\" do not use",
      plain_name(o), method, opclass, o.metric, o.index);
}

void check_indexable(const pgvector_options& o, int dimension) {
  constexpr int max_indexed = 2000;  // pgvector's HNSW and IVFFlat limit for vector columns
  if (o.index == "none" || dimension <= max_indexed) return;
  throw config_error(fmt::format(
      "sink.index = \"{}\" cannot index vectors of dimension {}: pgvector's hnsw and ivfflat indexes take "
      "at most {} dimensions; set sink.index = \"none\" (queries then scan the table) or use an "
      "embedder of at most {} dimensions",
      o.index, dimension, max_indexed, max_indexed));
}

const char* distance_operator(const std::string& metric) {
  if (metric == "l2") return "<->";
  if (metric == "inner_product") return "<#>";
  return "<=>";
}

const char* operator_class(const std::string& metric) {
  if (metric == "l2") return "vector_l2_ops";
  if (metric == "inner_product") return "vector_ip_ops";
  return "vector_cosine_ops";
}

void create_table(connection& c, const pgvector_options& o, const std::string& qualified, int dimension) {
  locked(c, qualified, [&] {
    ensure_extension(c, o);
    if (o.schema != "public") c.exec("CREATE SCHEMA", "CREATE SCHEMA IF NOT EXISTS " + quote_ident(o.schema));
    c.exec("CREATE TABLE " + plain_name(o),
           fmt::format("CREATE TABLE IF NOT EXISTS {} ("
                       "namespace text COLLATE \"C\" NOT NULL DEFAULT '', "
                       "id text COLLATE \"C\" NOT NULL, "
                       "embedding vector({}) NOT NULL, "
                       "metadata jsonb NOT NULL, "
                       "text text GENERATED ALWAYS AS (metadata->>'text') STORED, "
                       "metadata_hash text NOT NULL, "
                       "updated_at timestamptz NOT NULL DEFAULT now(), "
                       "PRIMARY KEY (namespace, id))",
                       qualified, dimension));
  });
}

void build_index(connection& c, const pgvector_options& o, const std::string& qualified) {
  if (o.index == "none") return;
  const std::string with = o.index == "hnsw"
                               ? fmt::format("m = {}, ef_construction = {}", o.hnsw_m, o.hnsw_ef_construction)
                               : fmt::format("lists = {}", o.ivfflat_lists);
  logger()->info("building the {} index of {} (metric {})", o.index, plain_name(o), o.metric);
  // Two runs that loaded one new table build its index in turn; the second finds it made.
  locked(c, qualified, [&] {
    c.exec("CREATE INDEX (" + o.index + ") on " + plain_name(o),
           fmt::format("CREATE INDEX IF NOT EXISTS {} ON {} USING {} (embedding {}) WITH ({})", index_name(o),
                       qualified, o.index, operator_class(o.metric), with));
  });
}

table_state prepare_table(connection& c, const pgvector_options& o, const std::string& qualified,
                          int dimension) {
  if (o.create) {
    // Under a lock of its own: two runs creating the extension at once would clash on the catalog.
    locked(c, "backfill: CREATE EXTENSION vector", [&] { ensure_extension(c, o); });
  } else {
    result ext =
        c.exec("reading the installed extensions", "SELECT 1 FROM pg_extension WHERE extname = 'vector'");
    if (PQntuples(ext.get()) == 0) ensure_extension(c, o);  // throws, naming the fix
  }
  table_state t;
  result cols = table_columns(c, o, qualified);
  const int want = o.dimension > 0 ? o.dimension : dimension;
  if (PQntuples(cols.get()) == 0) {
    if (!o.create)
      throw config_error(
          fmt::format("the table {} does not exist; create it (README, pgvector sink) or set "
                      "sink.create = true",
                      plain_name(o)));
    if (want > 0) {
      check_indexable(o, want);
      create_table(c, o, qualified, want);
      t = {true, want, o.index != "none"};
    }
    return t;
  }
  t.exists = true;
  t.dimension = checked_dimension(o, cols.get());
  check_indexable(o, t.dimension);
  if (o.index == "none") return t;
  bool matching = false;
  for (const auto& [method, opclass] : vector_indexes(c, o, qualified)) {
    if (o.index == method && opclass == operator_class(o.metric))
      matching = true;
    else
      logger()->warn("{}", unused_index(o, method, opclass));
  }
  if (!matching) {
    if (o.create)
      t.index_pending = true;
    else
      logger()->warn(
          "{} has no {} index for metric \"{}\"; queries scan the table (set sink.create = true to "
          "build it)",
          plain_name(o), o.index, o.metric);
  }
  return t;
}

}  // namespace backfill::pgvector_detail
