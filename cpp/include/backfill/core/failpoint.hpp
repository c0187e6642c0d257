// Failpoints: named places in the core where a test can make the process die or pause, to prove that
// a crash at exactly that point loses nothing. Off unless BACKFILL_FAILPOINTS is set, e.g.
//   BACKFILL_FAILPOINTS="fetch.page_journaled=3:kill;ingest.batch_upserted=*:sleep(200)"
// `N:kill` sends SIGKILL to the process on the N-th hit (the same as `kill -9` from outside);
// `*:sleep(ms)` sleeps on every hit. The cost when unset is one relaxed atomic load.
#pragma once

#include <string_view>

namespace backfill {

void failpoint(std::string_view name);

}  // namespace backfill
