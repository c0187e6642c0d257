#include "backfill/pack/upsert_feed.hpp"

#include <string>
#include <utility>

#include <fmt/format.h>

#include "backfill/core/log.hpp"
#include "backfill/pack/sanitize.hpp"

namespace backfill::pack {
namespace {

std::string describe_changes(const sanitize_report& r) {
  std::string what;
  auto add = [&](const std::map<std::string, std::int64_t>& fields, const char* verb) {
    for (auto& [k, n] : fields) what += fmt::format("{}{} {} in {}", what.empty() ? "" : ", ", k, verb, n);
  };
  add(r.truncated, "truncated");
  add(r.dropped, "dropped");
  add(r.flattened, "flattened");
  add(r.converted, "converted");
  return what;
}

}  // namespace

std::size_t fit_records(const sink& target, std::vector<record>& records) {
  const std::size_t limit = target.metadata_limit();
  if (!limit) return 0;
  sanitize_options options;
  options.max_bytes = limit;
  sanitize_report report;
  std::size_t kept = 0;
  for (std::size_t i = 0; i < records.size(); ++i) {
    if (!fit_metadata(records[i].metadata_json, options, report)) {
      logger()->error("{}: the metadata of record {} cannot be fitted to {} bytes; not sent", target.describe(),
                      records[i].id, limit);
      continue;
    }
    if (kept != i) std::swap(records[kept], records[i]);
    ++kept;
  }
  if (!report.empty())
    logger()->warn("{}: metadata fitted to the sink's limit: {}", target.describe(), describe_changes(report));
  const std::size_t removed = records.size() - kept;
  records.resize(kept);
  return removed;
}

std::int64_t upsert_fitted(sink& target, std::vector<record>& records) {
  fit_records(target, records);
  if (records.empty()) return 0;
  return target.upsert(records);
}

}  // namespace backfill::pack
