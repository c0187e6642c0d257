// The pgvector sink's preflight checks, read from the catalog (nothing is created or written): the
// connection, the vector extension (installed, or one the user may create with sink.create = true),
// the table (a backfill table of the embedder's dimension with the vector index the options name,
// or one the user may create), the writes the user may make, and what the namespace already holds.
#include <string>
#include <vector>

#include <fmt/format.h>

#include "backfill/core/errors.hpp"
#include "backfill/preflight/checks.hpp"
#include "backfill/sinks/pgvector/pgvector.hpp"
#include "connection.hpp"
#include "schema.hpp"

namespace backfill {
namespace {

using namespace pgvector_detail;

std::string value(const result& r, int column) {
  return PQgetisnull(r.get(), 0, column) ? std::string() : std::string(PQgetvalue(r.get(), 0, column));
}
bool yes(const result& r, int column) { return value(r, column) == "t"; }

std::string joined(const std::vector<std::string>& parts) {
  std::string out;
  for (const auto& p : parts) out += (out.empty() ? "" : ", ") + p;
  return out;
}

// Who is connected where, and what the catalog says of the vector extension.
struct server_facts {
  std::string user, database, version;
  std::string installed;  // the vector extension's version in this database, "" when not installed
  std::string available;  // the version the server could install, "" when pgvector is not on it
  bool superuser = false, trusted = false, create_on_database = false, temporary = false;
};

server_facts read_facts(connection& c) {
  result r = c.exec(
      "reading the server's settings",
      "SELECT current_user, current_database(), current_setting('server_version'), "
      "(SELECT extversion FROM pg_extension WHERE extname = 'vector'), "
      "(SELECT default_version FROM pg_available_extensions WHERE name = 'vector'), "
      "(SELECT rolsuper FROM pg_roles WHERE rolname = current_user), "
      "coalesce((SELECT v.trusted FROM pg_available_extension_versions v JOIN pg_available_extensions a "
      "ON a.name = v.name AND a.default_version = v.version WHERE v.name = 'vector'), false), "
      "has_database_privilege(current_database(), 'CREATE'), "
      "has_database_privilege(current_database(), 'TEMPORARY')");
  return {value(r, 0), value(r, 1), value(r, 2), value(r, 3), value(r, 4),
          yes(r, 5),   yes(r, 6),   yes(r, 7),   yes(r, 8)};
}

check_outcome check_extension(const server_facts& f, const pgvector_options& o) {
  if (!f.installed.empty()) return {"ok", fmt::format("pgvector {} is installed", f.installed), ""};
  if (f.available.empty())
    return {"failed", "pgvector is not installed on this PostgreSQL server",
            "install pgvector on the server (https://github.com/pgvector/pgvector#installation), then run "
            "CREATE EXTENSION vector in database " +
                f.database};
  if (!o.create)
    return {"failed", fmt::format("the vector extension is not installed in database {}", f.database),
            fmt::format("run CREATE EXTENSION vector in {} as a user allowed to, or set sink.create = true",
                        f.database)};
  if (f.superuser || (f.trusted && f.create_on_database))
    return {"ok", fmt::format("pgvector {} is available; the run creates the extension", f.available), ""};
  return {"failed",
          fmt::format("the vector extension is not installed in database {}, and user {} may not create it",
                      f.database, f.user),
          fmt::format(
              "run CREATE EXTENSION vector in {} as a superuser{}", f.database,
              f.trusted ? fmt::format(", or GRANT CREATE ON DATABASE {} TO {}", f.database, f.user) : "")};
}

}  // namespace

void pgvector_sink::preflight(preflight_checks& out, int dimension, run_context& ctx) {
  (void)ctx;
  const std::string table_name = plain_name(options_);
  server_facts facts;
  bool connected = false;
  out.run(
      "sink", "connection",
      "check sink.dsn (host, port, database, user, password) and that the server takes connections from here",
      [&] {
        facts = pool_->run([&](connection& c) { return read_facts(c); });
        connected = true;
        return check_outcome{
            "ok", fmt::format("PostgreSQL {} at {}, signed in as {}", facts.version, where_, facts.user), ""};
      });
  if (!connected) {
    out.skip("sink", "table", "not checked: no connection");
    return;
  }
  out.run("sink", "extension", "check the user's privileges in that database",
          [&] { return check_extension(facts, options_); });
  const bool extension = out.results().back().status != "failed";

  // The table: a backfill table of the embedder's dimension, or one the run may create.
  bool exists = false;
  if (!extension)
    out.skip("sink", "table", "not checked: the table's vectors need the extension first");
  else
    out.run("sink", "table", "set sink.table to another name (backfill creates it)", [&] {
      return pool_->run([&](connection& c) {
        result cols = table_columns(c, options_, qualified_);
        const int want = options_.dimension > 0 ? options_.dimension : dimension;
        check_outcome o;
        if (PQntuples(cols.get()) == 0) {
          if (!options_.create)
            return check_outcome{"failed", fmt::format("the table {} does not exist", table_name),
                                 "create it (README, pgvector sink) or set sink.create = true"};
          check_indexable(options_, want);
          result ns =
              c.exec("reading the privileges on schema " + options_.schema,
                     "SELECT has_schema_privilege(oid, 'CREATE') FROM pg_namespace WHERE nspname = $1",
                     {options_.schema});
          const bool schema_exists = PQntuples(ns.get()) > 0;
          const bool may = schema_exists ? yes(ns, 0) : facts.create_on_database;
          if (!may)
            return check_outcome{
                "failed",
                fmt::format("the table {} does not exist, and user {} may not create it (no CREATE on {} {})",
                            table_name, facts.user, schema_exists ? "schema" : "database",
                            schema_exists ? options_.schema : facts.database),
                fmt::format("create the table beforehand, or GRANT CREATE ON {} {} TO {}",
                            schema_exists ? "SCHEMA" : "DATABASE",
                            schema_exists ? options_.schema : facts.database, facts.user)};
          return check_outcome{
              "ok",
              fmt::format("the table {} does not exist yet; the run creates it for vectors of "
                          "dimension {} ({} index, metric {})",
                          table_name, want, options_.index, options_.metric),
              ""};
        }
        exists = true;
        const int has = checked_dimension(options_, cols.get());
        o.verdict = fmt::format("{} holds vectors of dimension {}", table_name, has);
        if (dimension > 0 && has != dimension) {
          o.status = "failed";
          o.verdict += fmt::format(", but the embedder makes vectors of dimension {}", dimension);
          o.fix = fmt::format(
              "set embedder.dimensions = {} (models that allow it), or set sink.table to another table", has);
          return o;
        }
        check_indexable(options_, has);
        if (options_.index == "none") return o;
        std::vector<std::string> unused;
        bool matching = false;
        for (const auto& [method, opclass] : vector_indexes(c, options_, qualified_)) {
          if (method == options_.index && opclass == operator_class(options_.metric))
            matching = true;
          else
            unused.push_back(method + " with " + opclass);
        }
        if (matching) {
          o.verdict += fmt::format(", {} index for metric {}", options_.index, options_.metric);
        } else if (options_.create) {
          o.verdict += fmt::format(", its {} index for metric {} is built after the run's first load",
                                   options_.index, options_.metric);
        } else {
          o.status = "warning";
          o.verdict += fmt::format(", no {} index for metric {}", options_.index, options_.metric);
          o.fix = "queries scan the table: set sink.create = true to build it";
        }
        if (!unused.empty()) {
          o.status = "warning";
          o.verdict += fmt::format("; it has indexes that queries by metric {} do not use ({})",
                                   options_.metric, joined(unused));
          o.fix = "set sink.metric to the metric the index was built for, or drop that index";
        }
        return o;
      });
    });

  const bool backfill_table = exists && out.results().back().status != "failed";

  // The writes: a batch goes through a temporary table into an INSERT ... ON CONFLICT DO UPDATE,
  // and a changed document's stale chunks are deleted.
  bool readable = !exists;
  out.run("sink", "privileges", "check the user's privileges in that database", [&] {
    std::vector<std::string> missing;
    std::vector<std::string> grants;
    if (exists) {
      result r = pool_->run([&](connection& c) {
        return c.exec("reading the privileges on " + table_name,
                      "SELECT has_schema_privilege($2, 'USAGE'), has_table_privilege($1, 'SELECT'), "
                      "has_table_privilege($1, 'INSERT'), has_table_privilege($1, 'UPDATE'), "
                      "has_table_privilege($1, 'DELETE')",
                      {qualified_, options_.schema});
      });
      if (!yes(r, 0)) {
        missing.push_back("USAGE on schema " + options_.schema);
        grants.push_back(fmt::format("GRANT USAGE ON SCHEMA {} TO {}", options_.schema, facts.user));
      }
      std::vector<std::string> table_privileges;
      const char* names[] = {"SELECT", "INSERT", "UPDATE", "DELETE"};
      for (int i = 0; i < 4; ++i)
        if (!yes(r, i + 1)) table_privileges.emplace_back(names[i]);
      readable = yes(r, 0) && yes(r, 1);
      if (!table_privileges.empty()) {
        missing.push_back(joined(table_privileges) + " on " + table_name);
        grants.push_back(
            fmt::format("GRANT SELECT, INSERT, UPDATE, DELETE ON {} TO {}", table_name, facts.user));
      }
    }
    if (!facts.temporary) {
      missing.push_back("TEMPORARY on database " + facts.database);
      grants.push_back(fmt::format("GRANT TEMPORARY ON DATABASE {} TO {}", facts.database, facts.user));
    }
    if (!missing.empty())
      return check_outcome{"failed", fmt::format("user {} lacks {}", facts.user, joined(missing)),
                           joined(grants) + " (as the owner or a superuser)"};
    return check_outcome{"ok",
                         fmt::format("user {} may {}", facts.user,
                                     exists ? "read, insert, update and delete rows" : "create the table"),
                         ""};
  });
  if (!backfill_table || !readable) return;
  out.run("sink", "namespace", "check the user's privileges on the table", [&] {
    result r = pool_->run([&](connection& c) {
      return c.exec("counting records",
                    fmt::format("SELECT count(*) FROM {} WHERE namespace = $1", qualified_),
                    {options_.namespace_});
    });
    return check_outcome{
        "ok", fmt::format("namespace \"{}\" holds {} records", options_.namespace_, value(r, 0)), ""};
  });
}

}  // namespace backfill
