#include "backfill/verify/reconcile.hpp"

#include <string>

#include <fmt/format.h>

#include "backfill/core/errors.hpp"
#include "backfill/core/log.hpp"

namespace backfill {

reconcile_report reconcile_with_source(source& src, sink& snk, ledger& book,
                                       const std::vector<partition_plan>& partitions, double max_fraction,
                                       std::size_t max_examples, run_context& ctx) {
  const std::string sink_id = snk.identity();
  reconcile_report report;
  ctx.begin_phase("reconcile", "ids", book.document_count(sink_id));  // what the source listed last time
  // The source's ids go to a private scratch database, so memory stays flat for any number of them.
  sql::database listed("", "reconcile scratch database");
  listed.exec(
      "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;"
      "CREATE TABLE ids(id TEXT PRIMARY KEY) WITHOUT ROWID; BEGIN");
  auto put = listed.prepare("INSERT OR IGNORE INTO ids(id) VALUES(?)");
  for (const auto& p : partitions) {
    ctx.state().partition = p.label.empty() ? p.name : p.label;
    src.list_ids(
        p,
        [&](std::string_view id) {
          put.bind(1, id);
          put.run();
          ++ctx.state().done;
          ctx.checkpoint();
        },
        ctx);
  }
  listed.exec("COMMIT");
  {
    auto count = listed.prepare("SELECT count(*) FROM ids");
    count.step();
    report.listed = count.column_int(0);
  }
  auto has = listed.prepare("SELECT 1 FROM ids WHERE id=?");
  std::vector<std::string> gone;  // ids only: small beside the documents themselves
  book.for_each_document(sink_id, [&](std::string_view id) {
    ++report.documents;
    has.bind(1, id);
    bool present = has.step();
    has.reset();
    if (!present) gone.emplace_back(id);
  });
  if (gone.empty()) {
    logger()->info("reconcile: all {} documents are still in {}", report.documents, src.describe());
    return report;
  }
  if (static_cast<double>(gone.size()) > max_fraction * static_cast<double>(report.documents))
    throw source_error(fmt::format(
        "reconcile refused: {} of {} documents ({:.0f}%) are no longer listed by {} (e.g. {}), more than the "
        "allowed "
        "{:.0f}%; nothing was deleted. If the source really lost them, allow it with a larger max fraction "
        "(`backfill reconcile CONFIG --max-fraction 1`)",
        gone.size(), report.documents,
        100.0 * static_cast<double>(gone.size()) / static_cast<double>(report.documents), src.describe(),
        gone.front(), 100.0 * max_fraction));

  ctx.begin_phase("reconcile", "documents", static_cast<std::int64_t>(gone.size()));
  // Sink first, then the ledger: a crash in between leaves ids the ledger still expects (verify says
  // so), and the next reconcile deletes them again.
  std::vector<std::string> doomed;
  std::vector<std::string> docs;
  auto apply = [&]() {
    if (!doomed.empty()) snk.remove(doomed);
    sql::transaction tx(book.db());
    for (const auto& d : docs) book.forget_document(sink_id, d);
    tx.commit();
    report.chunks_deleted += static_cast<std::int64_t>(doomed.size());
    report.documents_deleted += static_cast<std::int64_t>(docs.size());
    ctx.state().done = report.documents_deleted;
    doomed.clear();
    docs.clear();
    ctx.checkpoint();
  };
  for (const auto& id : gone) {
    for (auto& c : book.stale_chunks(sink_id, id, {})) doomed.push_back(std::move(c));
    docs.push_back(id);
    if (report.deleted.size() < max_examples) report.deleted.push_back(id);
    if (doomed.size() >= 1000) apply();
  }
  apply();
  logger()->info("reconcile: {} documents ({} chunks) gone from {} were deleted from {}",
                 report.documents_deleted, report.chunks_deleted, src.describe(), snk.describe());
  return report;
}

}  // namespace backfill
