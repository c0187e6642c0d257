#include "backfill/ingest/embed_plan.hpp"

#include <algorithm>
#include <iterator>

#include <fmt/format.h>

#include "backfill/core/errors.hpp"

namespace backfill {

embed_planner::embed_planner(ledger& cache, std::string embedder_id, std::size_t job_size,
                             std::size_t forget_above)
    : cache_(cache),
      embedder_id_(std::move(embedder_id)),
      job_size_(std::max<std::size_t>(1, job_size)),
      forget_above_(forget_above) {}

std::shared_ptr<vector_slot> embed_planner::in_flight(const std::string& text_hash) {
  auto it = in_flight_.find(text_hash);
  if (it == in_flight_.end()) return nullptr;
  auto slot = it->second.lock();
  if (!slot) in_flight_.erase(it);
  return slot;
}

void embed_planner::remember(const std::string& text_hash, const std::shared_ptr<vector_slot>& slot) {
  if (in_flight_.size() > forget_above_) {
    for (auto it = in_flight_.begin(); it != in_flight_.end();)
      it = it->second.expired() ? in_flight_.erase(it) : std::next(it);
  }
  in_flight_[text_hash] = slot;
}

std::vector<embed_job> embed_planner::plan(const std::shared_ptr<batch>& owner, std::int64_t& cache_hits) {
  batch& b = *owner;
  std::vector<embed_job> jobs;
  sql::read_snapshot snapshot(cache_.db());           // the cache lookups of the whole batch under one lock
  const bool heal_copies = cache_.has_heal_copies();  // none before a verified run: one lookup a text
  for (auto& d : b.docs) {
    for (auto& pc : d.chunks) {
      const std::string& h = pc.c.text_hash;
      auto found = b.slot_index.find(h);
      if (found != b.slot_index.end()) {
        pc.slot = found->second;
        continue;
      }
      pc.slot = b.slots.size();
      b.slot_index.emplace(h, pc.slot);
      if (auto shared = in_flight(h)) {
        b.slots.push_back(std::move(shared));
        ++cache_hits;
        continue;
      }
      auto slot = std::make_shared<vector_slot>();
      auto cached = cache_.whole_embedding(embedder_id_, h);
      if (!cached && heal_copies && (cached = cache_.heal_copy(embedder_id_, h))) slot->from_heal_copy = true;
      if (cached) {
        slot->values = std::move(*cached);
        b.slots.push_back(std::move(slot));
        ++cache_hits;
        continue;
      }
      remember(h, slot);
      b.slots.push_back(std::move(slot));
      if (jobs.empty() || jobs.back().texts.size() >= job_size_) jobs.push_back(embed_job{owner, {}, {}, {}});
      jobs.back().slots.push_back(pc.slot);
      jobs.back().texts.push_back(pc.c.text);
      jobs.back().hashes.push_back(h);
    }
  }
  snapshot.end();
  return jobs;
}

std::size_t run_embed_jobs(embedder& emb, const std::string& embedder_id, std::vector<embed_job>& jobs,
                           const embedding_store& store, run_context* ctx) {
  // One call for every job's texts, in order; `starts` maps a text of the call back to its job.
  std::vector<std::string_view> texts;
  std::vector<std::size_t> starts;
  for (const auto& job : jobs) {
    starts.push_back(texts.size());
    texts.insert(texts.end(), job.texts.begin(), job.texts.end());
  }
  const std::size_t n = texts.size();
  std::vector<char> got(n, 0);
  std::size_t received = 0;
  emb.embed_parts(
      texts,
      [&](std::size_t first, std::vector<std::vector<float>>& out) {
        if (first + out.size() > n)
          throw embed_error(fmt::format("embedder {} returned vectors {}..{} for {} texts", embedder_id,
                                        first, first + out.size(), n));
        // Each vector moves into its slot, which the cache's rows are written from.
        std::vector<embedding_ref> fresh;
        fresh.reserve(out.size());
        auto j = std::upper_bound(starts.begin(), starts.end(), first) - starts.begin() - 1;
        for (std::size_t k = 0; k < out.size(); ++k) {
          const std::size_t i = first + k;
          while (static_cast<std::size_t>(j + 1) < starts.size() && starts[j + 1] <= i) ++j;
          if (static_cast<int>(out[k].size()) != emb.dimension())
            throw embed_error(fmt::format("embedder {} returned a vector of dimension {}, expected {}",
                                          embedder_id, out[k].size(), emb.dimension()));
          if (got[i]++) throw embed_error(fmt::format("embedder {} returned text {} twice", embedder_id, i));
          embed_job& job = jobs[j];
          const std::size_t local = i - starts[j];
          std::vector<float>& values = job.owner->slots[job.slots[local]]->values;
          values = std::move(out[k]);
          fresh.push_back({job.hashes[local], values});
        }
        store(fresh);
        received += fresh.size();
      },
      ctx);
  if (received != n)
    throw embed_error(fmt::format("embedder {} returned {} vectors for {} texts", embedder_id, received, n));
  return n;
}

}  // namespace backfill
