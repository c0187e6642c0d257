// The pagination probe: two pages of the first partition, kept in memory, compared.
#include <string>
#include <unordered_set>
#include <vector>

#include <fmt/format.h>

#include "backfill/http/paginate.hpp"
#include "backfill/preflight/preflight.hpp"
#include "backfill/sources/source.hpp"

namespace backfill {
namespace {

// Thrown by the probe's page sink once it holds what it needs, to end the fetch (not an error).
struct probe_done {};

struct probed_page {
  std::string next_cursor;
  std::vector<std::string> ids;
};

class probe_sink final : public page_sink {
 public:
  probe_sink(source& src, std::string partition) : src_(src), partition_(std::move(partition)) {}
  void page(std::string_view body, std::int64_t items, std::string_view next_cursor,
            std::string_view watermark) override {
    (void)items;
    (void)watermark;
    probed_page p;
    p.next_cursor = std::string(next_cursor);
    src_.page_items(partition_, std::string(body), [&](std::string_view id) { p.ids.emplace_back(id); });
    pages.push_back(std::move(p));
    if (pages.size() == 2 || next_cursor.empty()) throw probe_done{};
  }
  std::vector<probed_page> pages;

 private:
  source& src_;
  std::string partition_;
};

check_outcome compare(const std::string& label, const std::vector<probed_page>& pages) {
  check_outcome o;
  if (pages.size() < 2) {
    o.verdict = fmt::format("{}: one page holds it all ({} items), nothing to compare", label,
                            pages.empty() ? 0 : pages[0].ids.size());
    return o;
  }
  const probed_page& a = pages[0];
  const probed_page& b = pages[1];
  if (!b.next_cursor.empty() && b.next_cursor == a.next_cursor) {
    o.status = "failed";
    o.verdict =
        fmt::format("{}: the cursor did not advance (page 2 points at the same next page as page 1)", label);
    o.fix = http::repeating_server_fix;
    return o;
  }
  const std::unordered_set<std::string> first(a.ids.begin(), a.ids.end());
  std::size_t repeated = 0;
  for (const auto& id : b.ids) repeated += first.count(id);
  if (repeated > 0) {
    o.status = "failed";
    o.verdict = fmt::format("{}: page 2 repeats {} of page 1's {} ids", label, repeated, a.ids.size());
    o.fix = http::repeating_server_fix;
    return o;
  }
  o.verdict = fmt::format("{}: two pages ({} and {} items), the cursor advanced, no id repeated", label,
                          a.ids.size(), b.ids.size());
  return o;
}

}  // namespace

void probe_pagination(source& src, preflight_checks& out, run_context& ctx, std::size_t first) {
  if (out.before_run()) {
    // The run's fetch pages behind the same guard, which stops at a repeated cursor, page or id.
    out.skip(
        "source", "pagination",
        "checked by the run's fetch, which stops at a cursor that repeats before its pages are embedded");
    return;
  }
  out.run("source", "pagination", "check the [source] settings (url, projects, channels, repos)", [&] {
    const std::vector<partition_plan> plan = src.plan(ctx);
    if (plan.size() <= first)
      return check_outcome{"warning", "the source plans no partition: nothing to fetch",
                           "check which projects, channels or repositories [source] names"};
    const partition_plan& probed = plan[first];
    probe_sink sink(src, probed.name);
    try {
      src.fetch(probed, "", sink, ctx);
    } catch (const probe_done&) {
    }
    return compare(probed.label.empty() ? probed.name : probed.label, sink.pages);
  });
}

}  // namespace backfill
