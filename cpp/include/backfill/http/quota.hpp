// The quota an API grants, modelled as the APIs define it: per-minute buckets (requests, tokens) that
// refill continuously at limit/60 a second and are known from the answers' headers. One contract for
// every adapter:
//   - the adapter feeds what each answer says (observe(): a quota_reading per bucket, the server's
//     "try again in" advice), read by a header reader (quota_headers.hpp: OpenAI and Azure, Jira Cloud,
//     the x-ratelimit-* family GitHub and others send, Retry-After);
//   - the engine asks when a request costing `c` may go (when()), takes it from the buckets when it
//     goes (take()), and settles it when its answer arrives (settle(), before observe()), so that
//     requests still in flight are counted against what the server reports as remaining.
//   - acquire() does the three steps for a caller that sends itself (the embedder): it waits until
//     when(), and never past it, then takes.
// Until the first answer, one request at a time. A bucket nobody announced is unlimited: a server that sends
// no headers is never waited for (the HTTP engine's adaptive concurrency deals with its 429s). How a bucket
// refills: after an answer that says `remaining` of `limit` with `reset` seconds until full, the level grows
// by min(limit/60, (limit - remaining) / reset) a second, and is full at `reset` at the latest (so a server
// with a fixed window, which refills at once when it ends, is never run over either). Waits are counted per
// bucket ("openai tokens": seconds), and a throttled caller logs at INFO, at most every 10 s per quota, which
// bucket binds, the wait and the effective rate. Thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "backfill/core/context.hpp"
#include "backfill/http/notice_gate.hpp"

namespace backfill::http {

// What one answer says about one bucket. Missing values are unknown (Azure sends -1 for some).
struct quota_reading {
  std::string bucket;  // "requests", "tokens"
  std::optional<double> limit;
  std::optional<double> remaining;
  std::optional<double> reset;  // seconds until the bucket is full again
  double window = 60;           // the limit is per this many seconds; 0: not known (the reset says)
};

struct quota_observation {
  std::vector<quota_reading> buckets;
  // Seconds the server asks to wait before sending again (Retry-After, "try again in 1.234s").
  std::optional<double> retry_after;
  // The tokens the server counted for the request answered (OpenAI's usage.prompt_tokens): the
  // quota learns how they compare to the callers' estimates.
  std::optional<double> counted_tokens;
};

// What a request takes from the buckets: `tokens` as the caller estimates them (scaled by what the
// quota learnt of the server's counting, token_scale()).
struct quota_cost {
  double requests = 1;
  double tokens = 0;  // of the metered bucket (quota::meter(): tokens, bytes)
  // The token scale take() applied (set in the cost it returns), so that settle() releases exactly
  // what was taken even when the scale was learnt anew in between; 0: not taken (the current scale).
  double scale = 0;
  // Which take() it was (set in the cost it returns, for settle(); 0: not taken).
  std::uint64_t seq = 0;
};

class quota {
 public:
  using clock = std::chrono::steady_clock;
  using now_fn = std::function<clock::time_point()>;
  using sleep_fn = std::function<void(clock::duration)>;

  // `service` names the quota in log lines and in waits ("openai", "Jira", "Pinecone"). `now` and
  // `sleep` default to the steady clock and this_thread::sleep_for (tests inject their own).
  explicit quota(std::string service, now_fn now = {}, sleep_fn sleep = {});

  // A bucket the API documents rather than announces (Pinecone sends no rate-limit headers): it holds
  // `capacity` and refills `per_second`, full now. The quota counts it as if an answer had said so.
  void configure(std::string_view bucket, double capacity, double per_second);
  // The bucket quota_cost::tokens is taken from ("tokens" unless told: Pinecone meters "bytes").
  void meter(std::string bucket);

  // Adapter side: what an answer said. What it reports remaining, less the requests still
  // unanswered, lowers the level where it is below what the quota counts itself (every take, trued
  // up by settle()); it never raises it: servers count requests in an order of their own, and
  // answers overtake each other.
  void observe(const quota_observation& o);
  // The answers that arrived together (one pass of the engine's loop), observed once all of them
  // have settled. When no request is left unanswered, the server has counted every request it was
  // sent, so the lowest reading of each bucket is what it holds: that reading may raise the level
  // too, taking back what the requests' estimates and the answers' order made the quota count twice.
  void observe(const std::vector<quota_observation>& answers);

  // Engine side. The earliest time a request of cost `c` fits (the zero time point when it fits
  // already, or when nothing is known). A cost over a bucket's whole limit is held to the limit (it can never
  // fit). `binding` gets the bucket that holds it back, if one does.
  clock::time_point when(const quota_cost& c, std::string* binding = nullptr) const;
  // Takes `c` from the buckets; returns the cost taken, the one to settle().
  quota_cost take(const quota_cost& c);
  // The answer to a request that take() returned `taken` for arrived (or the request ended without
  // one), with the tokens the server counted for it when it says, or `refused` (a 429: the server
  // spent nothing on it). Gives back what the server did not spend.
  void settle(const quota_cost& taken, std::optional<double> counted_tokens = std::nullopt,
              bool refused = false);
  // Waits until `c` fits (checking `ctx` while waiting; never sleeping past the time it computed),
  // counts the wait against the binding bucket, logs it (INFO, at most every 10 s), then takes `c`
  // (returning the cost taken, as take()).
  quota_cost acquire(const quota_cost& c, run_context* ctx = nullptr);

  // What a bucket holds at `t` (-1: unknown, i.e. unlimited), its limit and refill rate a second
  // (0 when unknown).
  double available(std::string_view bucket, clock::time_point t) const;
  double limit(std::string_view bucket) const;
  double rate(std::string_view bucket) const;
  clock::time_point now() const { return now_(); }
  // Whether an answer was observed yet. Until then one request at a time goes: nothing is known of
  // the quota, and a burst could overrun it before the first answer tells.
  bool answered() const;
  // The tokens the server counts per estimated token, learnt from settle() (1 until known; at most 1,
  // with a 5 % margin).
  double token_scale() const;

  const std::string& service() const noexcept { return service_; }
  // Times a request was held back (note_wait() calls).
  std::int64_t holds() const;
  // Seconds waited per bucket, keyed "<service> <bucket>".
  std::map<std::string, double> waits() const;
  // A caller holds a request back `seconds` for `bucket`: logs it at INFO (at most every 10 s), naming
  // the bucket's limit, its refill rate and the rate sent so far.
  void note_wait(std::string_view bucket, double seconds);
  // Records seconds a caller waited for `bucket` (the engine's waits in its queue).
  void count_wait(std::string_view bucket, double seconds);

 private:
  struct bucket {
    std::string name;
    double limit = 0;
    double rate = 0;  // per second
    double level = 0;
    clock::time_point at{};
    clock::time_point full_at{};
    double taken = 0;  // in total, for the effective rate
    // The lowest reading since every request sent was last counted (a settled pass of observe()), as
    // read: the requests unanswered then not taken off. Each reading of that stretch, refilled to a
    // later time, is at least what the server holds then (it only counts more requests after it), and
    // the one of the request it counted last is exact: a settled pass may raise the level to the
    // lowest of them, not to the one that happened to arrive last.
    double low = 0;
    clock::time_point low_at{};
    clock::time_point low_full_at{};  // the zero time point: no reading since the last settled pass
  };
  // A request taken, not yet answered.
  struct sent {
    std::uint64_t seq;
    double requests, tokens;  // as taken from the buckets (tokens at the scale of then)
  };
  bucket* find(std::string_view name);
  const bucket* find(std::string_view name) const;
  // What the requests unanswered took from `bucket`.
  double uncounted(std::string_view bucket) const;
  void observe_locked(const quota_reading& r, clock::time_point t, bool settled_all = false);
  static double level_at(const bucket& b, clock::time_point t);
  // The lowest reading since the last settled pass (bucket::low), refilled to `t`; the limit if none.
  static double low_at(const bucket& b, clock::time_point t);
  double cost_in(const quota_cost& c, std::string_view name) const;
  clock::time_point when_locked(const quota_cost& c, const bucket** binding) const;
  quota_cost take_locked(const quota_cost& c, clock::time_point t);

  std::string service_;
  std::string metered_ = "tokens";
  now_fn now_;
  sleep_fn sleep_;
  mutable std::mutex mutex_;
  std::vector<bucket> buckets_;
  clock::time_point paused_until_{};
  bool answered_ = false;
  double token_scale_ = 1;
  double estimated_ = 0, counted_ = 0;  // tokens, over the answers that said
  int in_flight_ = 0;                   // taken, not settled
  std::vector<sent> sent_;              // unanswered, in the order sent
  std::uint64_t next_seq_ = 1;
  std::map<std::string, double> waits_;
  clock::time_point first_take_{};
  notice_gate gate_;  // the INFO lines about waits
  std::int64_t holds_ = 0;
};

// Seconds waited per quota by every quota of this process so far, keyed "<service> <bucket>": a run
// reads it before and after a phase to report that phase's waits.
std::map<std::string, double> quota_waits_total();

}  // namespace backfill::http
