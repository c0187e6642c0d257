#include "backfill/pipeline/workdir_gc.hpp"

#include <algorithm>
#include <string>
#include <unordered_set>

#include "backfill/core/errors.hpp"
#include "backfill/core/log.hpp"
#include "backfill/pipeline/pipeline.hpp"

namespace backfill {
namespace fs = std::filesystem;

namespace {

constexpr const char* ledger_files[] = {"state.sqlite", "state.sqlite-wal", "state.sqlite-shm"};

std::int64_t size_of(const fs::path& file) {
  std::error_code ec;
  auto n = fs::file_size(file, ec);
  return ec ? 0 : static_cast<std::int64_t>(n);
}

// The regular files under `dir` (not following symbolic links), each with its size.
template <class Fn>
void for_each_file(const fs::path& dir, Fn&& fn) {
  std::error_code ec;
  fs::recursive_directory_iterator it(dir, fs::directory_options::skip_permission_denied, ec), end;
  for (; !ec && it != end; it.increment(ec)) {
    std::error_code type_ec;
    if (it->is_regular_file(type_ec) && !it->is_symlink(type_ec)) fn(it->path(), size_of(it->path()));
  }
}

}  // namespace

workdir_usage measure_workdir(const fs::path& workdir, ledger& book) {
  workdir_usage u;
  for_each_file(workdir, [&](const fs::path&, std::int64_t n) { u.total += n; });
  for_each_file(workdir / "journal", [&](const fs::path&, std::int64_t n) { u.journal += n; });
  std::int64_t state = 0;
  for (const char* name : ledger_files) state += size_of(workdir / name);
  // The cache: its tables' pages in state.sqlite and its vector files beside it (vectors/).
  const std::int64_t files = book.vector_file_bytes();
  const std::int64_t in_ledger =
      std::min(state, std::max<std::int64_t>(0, book.cached_embedding_bytes() - files));
  u.cache = in_ledger + files;
  u.ledger = state - in_ledger;
  u.other = std::max<std::int64_t>(0, u.total - u.journal - state - files);
  return u;
}

std::int64_t remove_orphan_journal_files(const fs::path& workdir, ledger& book) {
  std::unordered_set<std::string> recorded;
  for (auto& p : book.page_paths()) recorded.insert(std::move(p));
  std::vector<fs::path> orphans;
  for_each_file(workdir / "journal", [&](const fs::path& file, std::int64_t) {
    fs::path rel = file.lexically_relative(workdir);  // the files are listed as workdir / "journal" / ...
    if (!rel.empty() && !recorded.count(rel.string())) orphans.push_back(file);
  });
  std::int64_t removed = 0;
  for (const auto& file : orphans) {
    std::error_code ec;
    if (fs::remove(file, ec))
      ++removed;
    else if (ec)
      logger()->warn("gc: cannot remove {}: {}", file.string(), ec.message());
  }
  return removed;
}

std::int64_t pipeline::evict_verified_embeddings(bool keep_embeddings) {
  // Before a full verification saw every record in the sink, the cache is what a resumed or repaired
  // ingest takes vectors from, exactly as embedded. After it, a record the sink loses later is
  // written again from its heal copy, still without embedding its text again.
  if (keep_embeddings || !sink_ || !ledger_->verified_as_is(sink_->identity())) return 0;
  const std::int64_t before = ledger_->cached_embedding_bytes();
  const std::int64_t n = ledger_->keep_heal_copies();
  if (n == 0) return 0;
  // A first load frees most of the file (its whole float32 cache); a later run's few new vectors
  // leave free pages the next writes reuse, not worth rewriting a ledger of millions of rows for.
  if (ledger_->free_share() > 0.25) ledger_->compact();
  logger()->info(
      "the sink holds and verified {} cached vectors: kept as heal copies of one byte a component ({} "
      "MB of cache left of {} MB; `backfill gc` removes them, [run] keep_embeddings keeps them whole)",
      n, ledger_->cached_embedding_bytes() >> 20, before >> 20);
  return n;
}

gc_report pipeline::gc(bool keep_embeddings) {
  gc_report report;
  report.before = measure_workdir(options_.workdir, *ledger_);
  if (report.before.cache > 0) {
    if (!sink_ || !ledger_->verified_as_is(sink_->identity())) {
      // Until the sink holds every vector and a full verification saw them, the cache is what a
      // resumed or repaired ingest takes vectors from, exactly as embedded, instead of embedding again.
      report.cache_kept =
          "the sink has not been verified since the last ingest: run `backfill verify CONFIG`, then gc again";
    } else if (keep_embeddings) {
      report.cache_kept = "keep_embeddings is set: kept in half precision";
      report.embeddings_compacted = ledger_->compact_embedding_cache();
    } else {
      report.embeddings_removed = ledger_->clear_embedding_cache();
    }
  }
  report.orphan_files_removed = remove_orphan_journal_files(options_.workdir, *ledger_);
  // Vector files a killed run wrote and never recorded.
  report.orphan_files_removed += ledger_->remove_unreferenced_vector_files();
  ledger_->compact();
  report.after = measure_workdir(options_.workdir, *ledger_);
  report.freed = report.before.total - report.after.total;
  return report;
}

}  // namespace backfill
