// The embedded default sink: one SQLite file holding vectors (float32 blobs) and metadata (canonical
// JSON), partitioned by namespace. Top-k cosine search is a scan computed in C++; fine up to a few
// million vectors, which is what a local index is for.
#pragma once

#include <filesystem>
#include <memory>
#include <string>

#include "backfill/ledger/sqlite.hpp"
#include "backfill/sinks/sink.hpp"

namespace backfill {

class local_index final : public sink {
 public:
  local_index(const std::filesystem::path& path, std::string name_space = "");

  std::string kind() const override { return "local"; }
  std::string identity() const override;
  std::string describe() const override;

  std::int64_t upsert(const std::vector<record>& records) override;
  std::vector<fetched_record> fetch(const std::vector<std::string>& ids) override;
  void remove(const std::vector<std::string>& ids) override;
  std::vector<std::string> list(std::string_view prefix, std::string_view after, std::size_t limit) override;
  sink_stats stats() override;
  std::vector<query_match> query(const std::vector<float>& vector, std::size_t top_k) override;

  // Record counts of every namespace in the file.
  std::vector<std::pair<std::string, std::int64_t>> namespaces();

 private:
  std::filesystem::path path_;
  std::string namespace_;
  sql::database db_;
};

}  // namespace backfill
