// The engine's side of a client's quota (client_options::quota, quota.hpp): a request starts only
// when it fits, the time the queue's head waited is counted against the bucket that held it, and
// every answer settles what its request took and tells the quota what the server announced, once
// every answer of the loop's pass has settled.
#include "http/engine.hpp"

#include "backfill/core/progress_board.hpp"

namespace backfill::http {

bool client::impl::quota_ready(const pending& p, clock::time_point now, clock::time_point& wake_at) {
  if (!opts.shared_quota) return true;
  std::string bucket;
  const auto until = opts.shared_quota->when({1, p.req.quota_tokens}, &bucket);
  if (until <= now) return true;
  wake_at = std::min(wake_at, until);
  if (opts.shared_quota->answered())
    progress_board::post_wait(opts.shared_quota->service() + " " + (bucket.empty() ? "requests" : bucket),
                              until);
  // Waiting for the first answer (one request at a time until then) is not a quota's wait.
  if (quota_held.since == clock::time_point{} && opts.shared_quota->answered()) {
    quota_held.since = now;
    quota_held.bucket = bucket.empty() ? "requests" : bucket;
    opts.shared_quota->note_wait(quota_held.bucket, std::chrono::duration<double>(until - now).count());
  }
  return false;
}

void client::impl::take_quota(pending& p, clock::time_point now) {
  if (!opts.shared_quota) return;
  if (quota_held.since != clock::time_point{}) {
    opts.shared_quota->count_wait(quota_held.bucket,
                                  std::chrono::duration<double>(now - quota_held.since).count());
    quota_held.since = {};
  }
  p.quota_taken = opts.shared_quota->take({1, p.req.quota_tokens});
}

void client::impl::settle_quota(pending& p, const response* r) {
  if (!opts.shared_quota) return;
  quota_observation o;
  if (r && r->status && opts.read_quota) o = opts.read_quota(*r);
  if (p.quota_taken) opts.shared_quota->settle(*p.quota_taken, o.counted_tokens, r && r->status == 429);
  p.quota_taken.reset();
  if (r && r->status && opts.read_quota) quota_readings.push_back(std::move(o));
}

void client::impl::observe_quota_readings() {
  opts.shared_quota->observe(quota_readings);
  quota_readings.clear();
}

}  // namespace backfill::http
