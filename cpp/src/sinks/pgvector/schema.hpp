// The pgvector sink's table: checked against the options, created when missing (create = true),
// and its vector index built after the first load.
#pragma once

#include <string>

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
