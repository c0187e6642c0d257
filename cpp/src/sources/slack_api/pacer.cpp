#include "backfill/sources/slack_api/pacer.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "backfill/core/errors.hpp"

namespace backfill::slack_api {
namespace {

constexpr int non_marketplace_page = 15;
constexpr double margin = 1.02;  // the spacing kept, relative to the limit's

std::chrono::steady_clock::duration seconds(double s) {
  return std::chrono::duration_cast<std::chrono::steady_clock::duration>(std::chrono::duration<double>(s));
}

}  // namespace

tier_mode parse_tier(std::string_view tier) {
  if (tier == "auto") return tier_mode::automatic;
  if (tier == "marketplace") return tier_mode::marketplace;
  if (tier == "non_marketplace") return tier_mode::non_marketplace;
  throw config_error(
      fmt::format("source.tier must be \"auto\", \"marketplace\" or \"non_marketplace\", got \"{}\"", tier));
}

bool paged_history(std::string_view method) {
  return method == "conversations.history" || method == "conversations.replies";
}

method_limit published_limit(std::string_view method, bool non_marketplace) {
  if (method == "conversations.list" || method == "users.list") return {20, 0};
  if (paged_history(method) && non_marketplace) return {1, non_marketplace_page};
  return {50, 0};
}

pacer::pacer(tier_mode mode, double scale)
    : mode_(mode), scale_(scale > 0 ? scale : 1.0), non_marketplace_(mode == tier_mode::non_marketplace) {}

method_limit pacer::limit(std::string_view method) const {
  std::lock_guard lock(mu_);
  return published_limit(method, non_marketplace_);
}

bool pacer::non_marketplace() const {
  std::lock_guard lock(mu_);
  return non_marketplace_;
}

double pacer::reserve(std::string_view method, clock::time_point now) {
  std::lock_guard lock(mu_);
  auto it = next_.find(method);
  if (it == next_.end()) it = next_.emplace(std::string(method), now).first;
  const clock::time_point start = std::max(now, it->second);
  it->second = start + seconds(interval(method));
  return std::chrono::duration<double>(start - now).count();
}

double pacer::interval(std::string_view method) const {
  return margin * 60.0 / (published_limit(method, non_marketplace_).per_minute * scale_);
}

void pacer::defer(std::string_view method, double retry_after, clock::time_point now) {
  std::lock_guard lock(mu_);
  auto it = next_.find(method);
  if (it == next_.end()) it = next_.emplace(std::string(method), now).first;
  it->second = std::max(it->second, now + seconds(std::max(0.0, retry_after) + interval(method)));
}

int pacer::page_limit(std::string_view method, int wanted) const {
  const int cap = limit(method).max_page;
  return cap > 0 ? std::min(cap, wanted) : wanted;
}

double pacer::seconds_for(std::string_view method, std::int64_t requests) const {
  if (requests <= 1) return 0;
  std::lock_guard lock(mu_);
  return static_cast<double>(requests - 1) * interval(method);
}

bool pacer::switch_to_non_marketplace() {
  if (mode_ != tier_mode::automatic || non_marketplace_) return false;
  non_marketplace_ = true;
  // The slots already handed out were spaced for Tier 3: the next request of each method waits a
  // whole interval of the new rate, as Slack counts from the request it refused.
  const auto now = clock::now();
  for (auto& [method, next] : next_)
    if (paged_history(method)) next = std::max(next, now + seconds(interval(method)));
  return true;
}

bool pacer::saw_rate_limit(std::string_view method) {
  if (!paged_history(method)) return false;
  std::lock_guard lock(mu_);
  return switch_to_non_marketplace();
}

bool pacer::saw_page(std::string_view method, int asked, std::size_t got, bool has_more) {
  // Slack may send fewer messages than asked while more remain; exactly 15 of more asked is the cap.
  if (!paged_history(method) || !has_more || asked <= non_marketplace_page ||
      got != static_cast<std::size_t>(non_marketplace_page))
    return false;
  std::lock_guard lock(mu_);
  return switch_to_non_marketplace();
}

}  // namespace backfill::slack_api
