// GitHub's preflight checks: the token and what is left of its hourly budget, and that lists page.
#include <cstdint>
#include <ctime>

#include <fmt/format.h>
#include <simdjson.h>

#include "backfill/core/errors.hpp"
#include "backfill/core/padded_json.hpp"
#include "backfill/http/scrub.hpp"
#include "backfill/preflight/preflight.hpp"
#include "backfill/sources/github/github.hpp"

namespace backfill {

void github_source::preflight(preflight_checks& out, run_context& ctx) {
  if (out.before_run()) {
    // The run's plan reads each repository first: a refused token stops it there, naming the fix.
    out.skip("source", "credentials", "checked by the run's plan, whose first request is the token's");
    probe_pagination(*this, out, ctx);
    return;
  }
  out.run("source", "credentials", "check source.token and source.base_url", [&] {
    http::response resp;
    try {
      resp = client_->execute(get(api_ + "/rate_limit"), &ctx);
    } catch (const http::http_error& e) {
      if (e.status() == 401 || e.status() == 403) explain(e, "the rate limit");
      throw;
    }
    simdjson::dom::parser parser;
    simdjson::dom::element root;
    std::int64_t limit = -1, remaining = -1, reset = 0;
    if (json::parse_padded(parser, resp.body, root) == simdjson::SUCCESS) {
      simdjson::dom::element core;
      if (root.at_pointer("/resources/core").get(core) == simdjson::SUCCESS) {
        // A field missing or of another type keeps its "unknown" value.
        if (core.at_key("limit").get(limit)) limit = -1;
        if (core.at_key("remaining").get(remaining)) remaining = -1;
        if (core.at_key("reset").get(reset)) reset = 0;
      }
    }
    check_outcome o;
    const std::int64_t minutes =
        reset > 0 ? std::max<std::int64_t>(0, (reset - std::time(nullptr) + 59) / 60) : 0;
    o.verdict =
        fmt::format("GitHub {}: the token works; {} of {} requests of this hour left (resets in {} min)",
                    http::scrub_url(api_), remaining, limit, minutes);
    if (remaining == 0) {
      o.status = "warning";
      o.fix = fmt::format("the budget is spent: the run waits {} min before its first request", minutes);
    }
    return o;
  });
  probe_pagination(*this, out, ctx);
}

}  // namespace backfill
