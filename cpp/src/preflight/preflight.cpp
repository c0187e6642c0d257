// The order of a run's checks, and the one every run has whatever its components: free disk.
#include "backfill/preflight/preflight.hpp"

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <system_error>

#include <fmt/format.h>

#include "backfill/embed/embedder.hpp"
#include "backfill/sinks/sink.hpp"
#include "backfill/sources/source.hpp"

namespace backfill {
namespace {

namespace fs = std::filesystem;

// Below this, a run fails its checks; below the second, it is warned. Journal pages, the ledger and
// its embedding cache grow with the source; how much a run needs is the plan's estimate.
constexpr std::uintmax_t disk_floor = 256ull << 20;
constexpr std::uintmax_t disk_low = 2ull << 30;

std::string gib(std::uintmax_t bytes) {
  return fmt::format("{:.1f} GiB", static_cast<double>(bytes) / (1ull << 30));
}

// The workdir, or the nearest folder above it that exists (a first run creates it).
fs::path existing(const fs::path& workdir) {
  std::error_code ec;
  fs::path p = fs::absolute(workdir, ec);
  if (ec) p = workdir;
  while (!p.empty() && !fs::exists(p, ec)) {
    if (p == p.parent_path()) break;
    p = p.parent_path();
  }
  return p.empty() ? fs::path(".") : p;
}

void check_disk(const fs::path& workdir, preflight_checks& out) {
  out.run("workdir", "disk", "free space on that disk, or set run.workdir to a folder on another one", [&] {
    const fs::path at = existing(workdir);
    const fs::space_info s = fs::space(at);  // throws filesystem_error naming the path
    check_outcome o;
    o.verdict = fmt::format("{} free at {}", gib(s.available), at.string());
    if (s.available < disk_floor) {
      o.status = "failed";
      o.fix = fmt::format("free at least {} there, or set run.workdir to a folder on another disk",
                          gib(disk_low));
    } else if (s.available < disk_low) {
      o.status = "warning";
      o.fix = "a large source may fill it: compare with the plan's disk estimate";
    }
    return o;
  });
}

// A component that added no check of its own is listed, so the report says what was not checked.
void note_unchecked(preflight_checks& out, std::size_t before, const std::string& component,
                    const std::string& kind) {
  if (out.results().size() == before)
    out.skip(component, "settings", fmt::format("{} ({}): nothing to check before the run", component, kind));
}

}  // namespace

preflight_report preflight(source& src, embedder& emb, sink& snk, const fs::path& workdir, run_context& ctx,
                           bool before_run) {
  const auto start = std::chrono::steady_clock::now();
  preflight_checks out(before_run);
  check_disk(workdir, out);
  std::size_t before = out.results().size();
  src.preflight(out, ctx);
  note_unchecked(out, before, "source", src.kind());
  before = out.results().size();
  snk.preflight(out, emb.dimension(), ctx);
  note_unchecked(out, before, "sink", snk.kind());
  if (out.failed()) {
    out.skip("embedder", "embedding", "not tried: an earlier check failed, and an embedding may cost money");
  } else if (before_run) {
    out.skip("embedder", "embedding", "checked by the run's first embedding (a refused key costs nothing)");
  } else {
    before = out.results().size();
    emb.preflight(out, ctx);
    note_unchecked(out, before, "embedder", emb.identity());
  }
  preflight_report report;
  report.checks = std::move(out.results());
  for (const auto& c : report.checks) report.ok = report.ok && c.status != "failed";
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return report;
}

}  // namespace backfill
