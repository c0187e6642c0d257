// The quota model (quota.hpp): refilling buckets, when a request fits, and the waits it costs.
#include "backfill/http/quota.hpp"

#include <algorithm>
#include <cmath>
#include <thread>

#include <fmt/format.h>

#include "backfill/core/log.hpp"
#include "backfill/core/progress_board.hpp"

namespace backfill::http {

namespace {

using clock = quota::clock;

clock::duration seconds_ceil(double s) {
  return std::chrono::ceil<clock::duration>(std::chrono::duration<double>(std::max(0.0, s)));
}

double seconds_between(clock::time_point a, clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

// "300k", "5.0k", "3,000" as a person reads quota sizes.
std::string amount(double v) {
  if (v >= 1e6) return fmt::format("{:.1f}M", v / 1e6);
  if (v >= 1e4) return fmt::format("{:.0f}k", v / 1e3);
  if (v >= 1e3) return fmt::format("{:.1f}k", v / 1e3);
  return fmt::format("{:.1f}", v);
}

struct totals {
  std::mutex mutex;
  std::map<std::string, double> waits;
};
totals& process_totals() {
  static totals t;
  return t;
}

}  // namespace

quota::quota(std::string service, now_fn now, sleep_fn sleep)
    : service_(std::move(service)), now_(std::move(now)), sleep_(std::move(sleep)) {
  if (!now_) now_ = [] { return clock::now(); };
  if (!sleep_) sleep_ = [](clock::duration d) { std::this_thread::sleep_for(d); };
}

quota::bucket* quota::find(std::string_view name) {
  for (auto& b : buckets_)
    if (b.name == name) return &b;
  return nullptr;
}

const quota::bucket* quota::find(std::string_view name) const {
  for (const auto& b : buckets_)
    if (b.name == name) return &b;
  return nullptr;
}

double quota::cost_in(const quota_cost& c, std::string_view name) const {
  return name == metered_ ? c.tokens * (c.scale > 0 ? c.scale : token_scale_) : c.requests;
}

double quota::level_at(const bucket& b, clock::time_point t) {
  if (t >= b.full_at) return b.limit;
  if (t <= b.at) return b.level;
  return std::min(b.limit, b.level + b.rate * seconds_between(b.at, t));
}

double quota::low_at(const bucket& b, clock::time_point t) {
  if (b.low_full_at == clock::time_point{} || t >= b.low_full_at) return b.limit;
  if (t <= b.low_at) return b.low;
  return std::min(b.limit, b.low + b.rate * seconds_between(b.low_at, t));
}

void quota::configure(std::string_view name, double capacity, double per_second) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!(capacity > 0) || !(per_second > 0)) return;
  answered_ = true;  // known: no need to probe with one request first
  bucket* b = find(name);
  if (!b) {
    buckets_.push_back(bucket{std::string(name)});
    b = &buckets_.back();
  }
  b->limit = capacity;
  b->rate = per_second;
  b->level = capacity;
  b->at = b->full_at = now_();
}

void quota::meter(std::string name) {
  std::lock_guard<std::mutex> lock(mutex_);
  metered_ = std::move(name);
}

void quota::observe(const quota_observation& o) {
  std::lock_guard<std::mutex> lock(mutex_);
  const auto t = now_();
  answered_ = true;
  if (o.retry_after && *o.retry_after > 0)
    paused_until_ = std::max(paused_until_, t + seconds_ceil(*o.retry_after));
  for (const quota_reading& r : o.buckets) observe_locked(r, t);
}

void quota::observe(const std::vector<quota_observation>& answers) {
  std::lock_guard<std::mutex> lock(mutex_);
  const auto t = now_();
  answered_ = true;
  const bool settled_all = sent_.empty();
  // Per bucket, the reading that says least remains: the server's state after the last of them.
  std::vector<const quota_reading*> lowest;
  for (const quota_observation& o : answers) {
    if (o.retry_after && *o.retry_after > 0)
      paused_until_ = std::max(paused_until_, t + seconds_ceil(*o.retry_after));
    for (const quota_reading& r : o.buckets) {
      auto same = std::find_if(lowest.begin(), lowest.end(),
                               [&](const quota_reading* x) { return x->bucket == r.bucket; });
      if (same == lowest.end())
        lowest.push_back(&r);
      else if (r.remaining && (!(*same)->remaining || *r.remaining < *(*same)->remaining))
        *same = &r;
    }
  }
  for (const quota_reading* r : lowest) observe_locked(*r, t, settled_all);
}

double quota::uncounted(std::string_view name) const {
  double n = 0;
  for (const sent& x : sent_) n += name == metered_ ? x.tokens : x.requests;
  return n;
}

void quota::observe_locked(const quota_reading& r, clock::time_point t, bool settled_all) {
  bucket* b = find(r.bucket);
  const double limit = r.limit && *r.limit > 0 ? *r.limit : b ? b->limit : 0;
  const double remaining = std::clamp(r.remaining.value_or(limit), 0.0, limit);
  // How fast it refills: limit/window a second; a fixed-window server says "full again in X" sooner
  // than that and refills at once at X, so the slower of the two, with the step at X, holds for both.
  // With no window known, the reset alone says it.
  const bool resets = r.reset && *r.reset > 0 && remaining < limit;
  double rate = r.window > 0 ? limit / r.window : b ? b->rate : 0;
  if (resets)
    rate = rate > 0 ? std::min(rate, (limit - remaining) / *r.reset) : (limit - remaining) / *r.reset;
  if (!(limit > 0) || !(rate > 0)) {
    // Only "nothing left, full again in X": a pause, as a Retry-After.
    if (r.remaining && *r.remaining < 1 && r.reset)
      paused_until_ = std::max(paused_until_, t + seconds_ceil(*r.reset));
    return;
  }
  if (!b) {
    buckets_.push_back(bucket{r.bucket});
    b = &buckets_.back();
  }
  b->limit = limit;
  b->rate = rate;
  if (!r.remaining && b->at != clock::time_point{}) return;  // the limit alone: the level stays
  // What the server reports less the requests still unanswered, which it may not have counted yet.
  // The level counts every request taken already (trued up by settle()): the reading only lowers
  // it. A server counts requests in an order of its own (a small request sent later can be counted,
  // and answered, before a large one sent earlier), so a reading may leave out a request answered
  // already; the level does not.
  const double pending = uncounted(b->name);
  const double level = remaining - pending;
  const double until_full = r.reset ? *r.reset : (limit - remaining) / rate;
  const auto full_at = t + seconds_ceil(until_full + pending / rate);
  const bool known = b->at != clock::time_point{};
  if (settled_all && r.remaining) {
    // Every request counted: the server holds the lowest of this reading and those that arrived
    // since the last settled pass (an answer counted earlier can arrive later, on another connection).
    b->level = level;
    b->full_at = full_at;
    if (low_at(*b, t) < level) {
      b->level = low_at(*b, t);
      b->full_at = std::max(full_at, b->low_full_at);
    }
    b->at = t;
    b->low_full_at = {};  // a reading older than this one can no longer arrive
    return;
  }
  if (r.remaining && remaining < low_at(*b, t)) {
    b->low = remaining;
    b->low_at = t;
    b->low_full_at = t + seconds_ceil(until_full);
  }
  if (known && level >= level_at(*b, t)) return;
  b->level = level;
  b->at = t;
  b->full_at = known ? std::max(b->full_at, full_at) : full_at;
}

clock::time_point quota::when_locked(const quota_cost& c, const bucket** binding) const {
  // "Now" is the zero time point, so that it compares as passed against any caller's clock reading.
  const auto now = now_();
  const auto t0 = std::max(now, paused_until_);
  if (!answered_ && in_flight_ > 0) return t0 + std::chrono::milliseconds(100);  // look again then
  auto at = paused_until_ > now ? paused_until_ : clock::time_point{};
  for (const auto& b : buckets_) {
    const double cost = std::min(cost_in(c, b.name), b.limit);
    const double have = level_at(b, t0);
    if (have >= cost - 1e-6) continue;  // (what rounding of the refill time leaves short)
    auto fits = b.full_at;
    if (b.rate > 0) fits = std::min(fits, t0 + seconds_ceil((cost - have) / b.rate));
    if (fits > at) {
      at = fits;
      if (binding) *binding = &b;
    }
  }
  return at;
}

clock::time_point quota::when(const quota_cost& c, std::string* binding) const {
  std::lock_guard<std::mutex> lock(mutex_);
  const bucket* b = nullptr;
  const auto at = when_locked(c, &b);
  if (binding && b) *binding = b->name;
  return at;
}

quota_cost quota::take(const quota_cost& c) {
  std::lock_guard<std::mutex> lock(mutex_);
  return take_locked(c, now_());
}

quota_cost quota::take_locked(const quota_cost& c, clock::time_point t) {
  if (first_take_ == clock::time_point{}) first_take_ = t;
  quota_cost taken = c;
  taken.scale = token_scale_;
  taken.seq = next_seq_++;
  ++in_flight_;
  sent_.push_back({taken.seq, cost_in(taken, "requests"), cost_in(taken, metered_)});
  for (auto& b : buckets_) {
    const double cost = cost_in(taken, b.name);
    b.level = level_at(b, t) - cost;
    b.at = t;
    b.taken += cost;
    if (b.rate > 0) b.full_at = std::max(b.full_at, t + seconds_ceil((b.limit - b.level) / b.rate));
  }
  return taken;
}

void quota::settle(const quota_cost& taken, std::optional<double> counted_tokens, bool refused) {
  std::lock_guard<std::mutex> lock(mutex_);
  in_flight_ = std::max(0, in_flight_ - 1);
  // A cost that did not come from take() settles the oldest request still open.
  auto open = std::find_if(sent_.begin(), sent_.end(),
                           [&](const sent& x) { return taken.seq == 0 || x.seq == taken.seq; });
  if (open != sent_.end()) {
    // What the server did not spend goes back: all of a refused request, the tokens estimated
    // beyond what it counted.
    const auto t = now_();
    for (auto& b : buckets_) {
      const bool tokens = b.name == metered_;
      const double took = tokens ? open->tokens : open->requests;
      const double back = refused ? took : tokens && counted_tokens ? took - *counted_tokens : 0;
      if (back <= 0) continue;
      b.level = std::min(b.limit, level_at(b, t) + back);
      b.at = t;
    }
    sent_.erase(open);
  }
  if (counted_tokens && taken.tokens > 0) {
    estimated_ += taken.tokens;
    counted_ += *counted_tokens;
    token_scale_ = std::clamp(1.05 * counted_ / estimated_, 0.1, 1.0);
  }
}

quota_cost quota::acquire(const quota_cost& c, run_context* ctx) {
  while (true) {
    std::string binding = "requests";
    clock::time_point t, until;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      t = now_();
      const bucket* b = nullptr;
      until = when_locked(c, &b);
      if (until <= t) return take_locked(c, t);
      if (b) binding = b->name;
    }
    note_wait(binding, seconds_between(t, until));
    // Sleep in short steps to stay responsive to `ctx`; never past the time computed above.
    while (true) {
      if (ctx) ctx->checkpoint();
      const auto now = now_();
      if (now >= until) break;
      sleep_(std::min<clock::duration>(until - now, std::chrono::milliseconds(50)));
    }
    count_wait(binding, seconds_between(t, now_()));
  }
}

namespace {

// "; ingest 62 % done, ETA 41 s": how far the phase running is, when it knows its total.
std::string phase_progress(std::chrono::steady_clock::time_point now) {
  const auto e = progress_board::estimate(now);
  if (!e) return {};
  std::string out = fmt::format("; {} {:.0f} % done", e->phase, 100 * e->share);
  if (e->seconds >= 0) out += fmt::format(", ETA {:.0f} s", e->seconds);
  return out;
}

}  // namespace

void quota::note_wait(std::string_view name, double wait) {
  std::lock_guard<std::mutex> lock(mutex_);
  ++holds_;
  const auto now = now_();
  progress_board::post_wait(fmt::format("{} {}", service_, name),
                            std::chrono::steady_clock::now() + seconds_ceil(wait));
  if (!gate_.due(now)) return;
  const int skipped = gate_.take_skipped();
  const bucket* b = find(name);
  if (!b) {
    logger()->info("{}: the server asked to wait; waiting {:.1f} s{}{}", service_, wait,
                   phase_progress(std::chrono::steady_clock::now()),
                   skipped ? fmt::format(" ({} more waits in the last 10 s)", skipped) : "");
    return;
  }
  const double elapsed = first_take_ == clock::time_point{} ? 0 : seconds_between(first_take_, now);
  const std::string effective =
      elapsed > 1 ? fmt::format("; {} {}/s sent on average", amount(b->taken / elapsed), b->name) : "";
  logger()->info("{}: the quota of {} {} a minute binds (refills {} {}/s); waiting {:.1f} s{}{}{}", service_,
                 amount(b->rate * 60), b->name, amount(b->rate), b->name, wait, effective,
                 phase_progress(std::chrono::steady_clock::now()),
                 skipped ? fmt::format(" ({} more waits in the last 10 s)", skipped) : "");
}

double quota::available(std::string_view name, clock::time_point t) const {
  std::lock_guard<std::mutex> lock(mutex_);
  const bucket* b = find(name);
  return b ? std::max(0.0, level_at(*b, t)) : -1;
}

double quota::limit(std::string_view name) const {
  std::lock_guard<std::mutex> lock(mutex_);
  const bucket* b = find(name);
  return b ? b->limit : 0;
}

double quota::rate(std::string_view name) const {
  std::lock_guard<std::mutex> lock(mutex_);
  const bucket* b = find(name);
  return b ? b->rate : 0;
}

bool quota::answered() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return answered_;
}

double quota::token_scale() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return token_scale_;
}

std::int64_t quota::holds() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return holds_;
}

std::map<std::string, double> quota::waits() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return waits_;
}

void quota::count_wait(std::string_view bucket_name, double seconds) {
  if (!(seconds > 0)) return;
  const std::string key = fmt::format("{} {}", service_, bucket_name);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    waits_[key] += seconds;
  }
  auto& t = process_totals();
  std::lock_guard<std::mutex> lock(t.mutex);
  t.waits[key] += seconds;
}

std::map<std::string, double> quota_waits_total() {
  auto& t = process_totals();
  std::lock_guard<std::mutex> lock(t.mutex);
  return t.waits;
}

}  // namespace backfill::http
