#include "pipeline/plan_sample.hpp"

#include <algorithm>
#include <chrono>
#include <map>
#include <utility>

#include <simdjson.h>

#include "backfill/core/errors.hpp"
#include "backfill/core/hash.hpp"
#include "backfill/core/log.hpp"

namespace backfill::plan_sample {
namespace {

// Thrown by the collector when the sample has its pages: it ends the source's fetch there.
struct sample_full {};

struct page {
  std::string body;  // with simdjson's padding
  std::int64_t items = 0;
};

class collector final : public page_sink {
 public:
  collector(std::size_t limit, run_context& ctx) : limit_(limit), ctx_(ctx) {}
  void page(std::string_view body, std::int64_t items, std::string_view next_cursor,
            std::string_view watermark) override {
    (void)watermark;
    ++ctx_.state().done;
    plan_sample::page p;
    p.body.reserve(body.size() + simdjson::SIMDJSON_PADDING);
    p.body.assign(body);
    p.items = items;
    pages.push_back(std::move(p));
    // A page with no next cursor ends the partition: the sample is whole even at its limit.
    if (!next_cursor.empty() && pages.size() >= limit_) throw sample_full{};
  }
  std::vector<plan_sample::page> pages;

 private:
  std::size_t limit_;
  run_context& ctx_;
};

// Whether the sample reads the partition: one counted empty has nothing to read; sampled_items -1:
// the source asks for no sample of it.
bool sampled(const partition_plan& p) { return p.estimated_items != 0 && p.sampled_items >= 0; }

// The sampled pages as the journal would give them to the normalizer.
class memory_reader final : public page_reader {
 public:
  memory_reader(const std::vector<page>& pages,
                const std::map<std::string, std::vector<page>, std::less<>>& others)
      : pages_(pages), others_(others) {}
  void for_each(
      const std::function<void(std::int64_t, const std::string&, const std::string&)>& fn) override {
    each(pages_, fn);
  }
  void for_each_in(
      std::string_view partition,
      const std::function<void(std::int64_t, const std::string&, const std::string&)>& fn) override {
    if (auto it = others_.find(partition); it != others_.end()) each(it->second, fn);
  }
  void skip_item(std::size_t, std::string, std::string) override {}  // the sample counts what reads

 private:
  static void each(const std::vector<page>& pages,
                   const std::function<void(std::int64_t, const std::string&, const std::string&)>& fn) {
    static const std::string no_path;
    for (std::size_t i = 0; i < pages.size(); ++i) fn(static_cast<std::int64_t>(i), pages[i].body, no_path);
  }
  const std::vector<page>& pages_;
  const std::map<std::string, std::vector<page>, std::less<>>& others_;
};

// `amount` of `per` items, for `items` items; -1 when not known.
std::int64_t scaled(std::int64_t amount, std::int64_t per, std::int64_t items) {
  if (items == 0) return 0;
  if (per <= 0 || items < 0) return -1;
  return static_cast<std::int64_t>(
      static_cast<double>(amount) * static_cast<double>(items) / static_cast<double>(per) + 0.5);
}

}  // namespace

std::vector<partition_sample> read(source& src, ledger* cache, const settings& how,
                                   std::vector<partition_plan>& partitions, run_context& ctx) {
  std::vector<partition_sample> out(partitions.size());
  std::map<std::string, std::vector<page>, std::less<>> read_pages;
  std::size_t budget = how.max_pages;
  // At most pages_per_partition of each partition it reads, and max_pages in all: the pass's total,
  // lowered to the pages read when partitions end sooner.
  const auto to_read = static_cast<std::size_t>(std::count_if(partitions.begin(), partitions.end(), sampled));
  const bool counted = budget > 0 && to_read > 0;
  if (counted)
    ctx.begin_phase("plan", "sample pages",
                    static_cast<std::int64_t>(std::min(budget, to_read * how.pages_per_partition)));
  for (std::size_t i = 0; i < partitions.size() && budget > 0; ++i) {
    partition_plan& p = partitions[i];
    if (!sampled(p)) continue;
    ctx.state().partition = p.label.empty() ? p.name : p.label;
    ctx.checkpoint();
    collector pages(std::min(how.pages_per_partition, budget), ctx);
    partition_sample& s = out[i];
    const auto start = std::chrono::steady_clock::now();
    try {
      try {
        src.fetch(p, "", pages, ctx);
        s.whole = true;
      } catch (const sample_full&) {
      }
    } catch (const cancelled&) {
      throw;
    } catch (const error& e) {
      logger()->warn("plan: the sample of {} could not be read, so it has no token estimate: {}",
                     p.label.empty() ? p.name : p.label, e.what());
      continue;
    }
    s.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    budget -= std::min(budget, pages.pages.size());
    for (const auto& pg : pages.pages) {
      s.items += pg.items;
      s.bytes += static_cast<std::int64_t>(pg.body.size());
    }
    s.pages = static_cast<std::int64_t>(pages.pages.size());
    memory_reader reader(pages.pages, read_pages);
    src.normalize(
        p.name, reader,
        [&](document&& doc) {
          ++s.documents;
          for (const chunk& c : chunk_document(doc, how.chunking)) {
            const auto tokens = static_cast<std::int64_t>(billed_tokens(c.text));
            ++s.chunks;
            s.tokens += tokens;
            if (cache && cache->cached_embedding(how.embedder, c.text_hash)) s.cached_tokens += tokens;
          }
        },
        ctx);
    p.sampled_items = s.items;
    if (s.whole) {
      if (p.estimated_items < 0) p.estimated_items = s.items;
      if (p.estimated_pages < 0) p.estimated_pages = s.pages;
    }
    read_pages.emplace(p.name, std::move(pages.pages));
  }
  if (counted) ctx.state().total = ctx.state().done;
  return out;
}

void apply(const std::vector<partition_sample>& samples, std::vector<partition_plan>& partitions) {
  partition_sample all;
  for (const auto& s : samples) {
    all.items += s.items;
    all.bytes += s.bytes;
    all.documents += s.documents;
    all.chunks += s.chunks;
    all.tokens += s.tokens;
    all.cached_tokens += s.cached_tokens;
    all.pages += s.pages;
    all.seconds += s.seconds;
  }
  for (std::size_t i = 0; i < partitions.size(); ++i) {
    partition_plan& p = partitions[i];
    // A whole sample is the partition itself (its items may count more than the source's estimate
    // does: GitHub's comments). A partial one stands for its partition per document when the source
    // counted the documents (Jira's issues, GitHub's issues and pull requests), else per item; a
    // partition the budget left out takes the average of all samples.
    const partition_sample& s = samples[i].whole || samples[i].items > 0 ? samples[i] : all;
    const bool per_document = !samples[i].whole && p.estimated_documents >= 0;
    const std::int64_t per = per_document ? s.documents : s.items;
    const std::int64_t items = samples[i].whole ? s.items
                               : per_document   ? p.estimated_documents
                                                : p.estimated_items;
    if (!per_document) p.estimated_documents = scaled(s.documents, per, items);
    p.estimated_chunks = scaled(s.chunks, per, items);
    p.estimated_tokens = scaled(s.tokens, per, items);
    p.cached_tokens = std::max<std::int64_t>(0, scaled(s.cached_tokens, per, items));
    p.estimated_bytes = scaled(s.bytes, per, items);
    const std::int64_t requests = p.estimated_requests >= 0 ? p.estimated_requests : p.estimated_pages;
    if (p.estimated_seconds < 0 && s.pages > 0 && requests >= 0)
      p.estimated_seconds = s.seconds / static_cast<double>(s.pages) * static_cast<double>(requests);
  }
}

}  // namespace backfill::plan_sample
