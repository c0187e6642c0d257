// The pgvector sink's table: checked against the options, created when missing (create = true),
// and its vector index built after the first load.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "backfill/sinks/pgvector/pgvector.hpp"
#include "connection.hpp"

namespace backfill::pgvector_detail {

struct table_state {
  bool exists = false;
  int dimension = 0;
  bool index_pending = false;  // the vector index is to be built once the table holds rows
};

// The table's state: the extension, the table's columns and dimension and its vector index, checked
// (create = false) or created when missing (create = true; a table only when `dimension` > 0).
table_state prepare_table(connection& c, const pgvector_options& o, const std::string& qualified,
                          int dimension);
// "schema.table", unquoted, for messages.
std::string plain_name(const pgvector_options& o);
// The table's columns (name, type, typmod); no rows when the table does not exist.
result table_columns(connection& c, const pgvector_options& o, const std::string& qualified);
// The dimension of an existing table with columns `cols`, checked to be a backfill table (and of
// sink.dimension when set); throws config_error naming the fix.
int checked_dimension(const pgvector_options& o, const PGresult* cols);
// The table's vector indexes: the access method (hnsw, ivfflat) and operator class of each.
std::vector<std::pair<std::string, std::string>> vector_indexes(connection& c, const pgvector_options& o,
                                                                const std::string& qualified);
// What to say of an index that queries with sink.index and sink.metric do not use.
std::string unused_index(const pgvector_options& o, const std::string& method, const std::string& opclass);
// Creates the table (and the schema and extension) for vectors of `dimension`.
void create_table(connection& c, const pgvector_options& o, const std::string& qualified, int dimension);
// Builds the vector index the options name (none for index = "none").
void build_index(connection& c, const pgvector_options& o, const std::string& qualified);

// Throws config_error when sink.index is "hnsw" or "ivfflat" and `dimension` is over what pgvector
// indexes (2000 for the vector type): refused before anything is written, never when the index is
// built at the end of the first load.
void check_indexable(const pgvector_options& o, int dimension);

// The distance operator and operator class of the metric.
const char* distance_operator(const std::string& metric);
const char* operator_class(const std::string& metric);

}  // namespace backfill::pgvector_detail
