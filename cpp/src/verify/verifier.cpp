#include "backfill/verify/verifier.hpp"

#include <algorithm>
#include <chrono>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "backfill/core/errors.hpp"
#include "backfill/core/failpoint.hpp"
#include "backfill/core/hash.hpp"
#include "backfill/core/json.hpp"
#include "backfill/core/log.hpp"

namespace backfill {

verify_report verify_sink(sink& snk, ledger& book, const verify_options& options, run_context& ctx,
                          std::int64_t sample) {
  const std::string sink_id = snk.identity();
  verify_report report;
  report.sink = snk.describe();
  report.baseline = book.sink_baseline(sink_id).value_or(0);
  const std::int64_t live = book.live_chunk_count(sink_id);
  report.expected_count = report.baseline + live;
  report.documents = book.document_count(sink_id);
  ctx.begin_phase("verify", "records", sample > 0 ? std::min(sample, live) : live);

  // 1. The count delta, when the namespace held nothing else when this backfill first wrote to it. An
  // eventually consistent sink is polled until the count matches or stops changing for a while, within
  // count_timeout_seconds. Where other writers' records were there first, the count says nothing
  // about ours: it is reported, and the ids decide.
  const bool by_count = report.baseline == 0;
  report.criterion = by_count ? "count and ids" : "ids";
  auto started = std::chrono::steady_clock::now();
  report.observed_count = snk.stats().count;
  if (by_count && snk.count_lags()) {
    std::int64_t last = report.observed_count;
    auto last_change = started;
    while (report.observed_count != report.expected_count) {
      auto now = std::chrono::steady_clock::now();
      double waited = std::chrono::duration<double>(now - started).count();
      double still = std::chrono::duration<double>(now - last_change).count();
      if (waited >= options.count_timeout_seconds ||
          still >= std::max(5.0, options.count_timeout_seconds / 4))
        break;
      ctx.checkpoint();
      std::this_thread::sleep_for(std::chrono::duration<double>(options.count_poll_seconds));
      report.observed_count = snk.stats().count;
      if (report.observed_count != last) {
        last = report.observed_count;
        last_change = std::chrono::steady_clock::now();
      }
    }
  }
  report.count_wait_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  report.count_ok = report.observed_count == report.expected_count;

  // 2. Read back every id (or a uniform sample) and compare metadata hashes.
  std::vector<std::pair<std::string, std::string>> ids;  // (id, meta_hash) of one fetch batch
  const std::size_t batch = std::min<std::size_t>(1000, std::max<std::size_t>(1, snk.max_batch()));
  auto check = [&]() {
    if (ids.empty()) return;
    std::vector<std::string> want;
    want.reserve(ids.size());
    for (const auto& p : ids) want.push_back(p.first);
    auto got = snk.fetch(want);
    std::unordered_map<std::string_view, const fetched_record*> by_id;
    for (const auto& r : got) by_id.emplace(r.id, &r);
    for (const auto& [id, expected_hash] : ids) {
      ++report.checked;
      ++ctx.state().done;
      auto it = by_id.find(id);
      if (it == by_id.end()) {
        ++report.missing_count;
        if (report.missing.size() < options.max_examples) report.missing.push_back(id);
        if (book.mark_chunk_pending(sink_id, id)) ++report.marked_pending;
        continue;
      }
      // A sink gives back the canonical text it was given (the Pinecone sink writes it so), whose
      // hash is the expected one; any other text is made canonical before it is compared.
      std::string actual = hash_hex(it->second->metadata_json);
      if (actual != expected_hash) {
        try {
          actual = hash_hex(json::canonicalize(it->second->metadata_json));
        } catch (const error&) {
          actual = "unparseable";
        }
      }
      if (actual != expected_hash) {
        ++report.mismatched_count;
        if (report.mismatched.size() < options.max_examples) report.mismatched.push_back(id);
        if (book.mark_chunk_pending(sink_id, id)) ++report.marked_pending;
      }
    }
    ids.clear();
    failpoint("verify.batch_checked");
    ctx.checkpoint();
  };

  if (sample > 0 && sample < live) {
    // Reservoir sampling over the ledger's ids: memory is the sample, not the index.
    report.sampled = true;
    std::vector<std::pair<std::string, std::string>> reservoir;
    reservoir.reserve(static_cast<std::size_t>(sample));
    std::mt19937_64 rng{std::random_device{}()};
    std::int64_t n = 0;
    book.for_each_live_chunk(sink_id, [&](std::string_view id, std::string_view h) {
      ++n;
      if (static_cast<std::int64_t>(reservoir.size()) < sample) {
        reservoir.emplace_back(id, h);
      } else {
        std::uniform_int_distribution<std::int64_t> pick(0, n - 1);
        auto j = pick(rng);
        if (j < sample) reservoir[static_cast<std::size_t>(j)] = {std::string(id), std::string(h)};
      }
    });
    std::sort(reservoir.begin(), reservoir.end());
    for (auto& p : reservoir) {
      ids.push_back(std::move(p));
      if (ids.size() >= batch) check();
    }
    check();
  } else {
    // Stream ids from the ledger in batches; the statement stays open while the sink is read.
    book.for_each_live_chunk(sink_id, [&](std::string_view id, std::string_view h) {
      ids.emplace_back(id, h);
      if (ids.size() >= batch) check();
    });
    check();
  }
  report.unsent_count = book.unsent_count(sink_id);
  report.unsent = book.unsent(sink_id, options.max_examples);
  report.ok = (report.count_ok || !by_count) && report.missing_count == 0 && report.mismatched_count == 0 &&
              report.unsent_count == 0;
  report.sink_info = snk.receipt_info();
  if (report.ok) {
    logger()->info("verify: {} records in {}, {} checked, all present and matching", report.observed_count,
                   report.sink, report.checked);
  } else {
    logger()->error(
        "verify: expected {} records, found {}; {} missing, {} mismatched of {} checked; {} never sent",
        report.expected_count, report.observed_count, report.missing_count, report.mismatched_count,
        report.checked, report.unsent_count);
  }
  return report;
}

}  // namespace backfill
