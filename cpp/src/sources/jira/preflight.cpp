// Jira's preflight checks: who the credentials sign in as, and that search pages.
#include <fmt/format.h>
#include <simdjson.h>

#include "backfill/core/errors.hpp"
#include "backfill/core/padded_json.hpp"
#include "backfill/http/scrub.hpp"
#include "backfill/preflight/preflight.hpp"
#include "backfill/sources/jira/jira.hpp"

namespace backfill {

void jira_source::preflight(preflight_checks& out, run_context& ctx) {
  out.run("source", "credentials", "check source.url, source.email and source.token", [&] {
    http::request r;
    r.url = site_ + "/rest/api/3/myself";
    r.headers = {{"Authorization", auth_}, {"Accept", "application/json"}};
    r.expect_json = true;
    http::response resp;
    try {
      resp = client_->execute(std::move(r), &ctx);
    } catch (const http::http_error& e) {
      if (e.status() == 401 || e.status() == 403) explain(e, "");
      if (e.status() == 404)
        throw source_error(
            fmt::format("Jira {} has no /rest/api/3/myself (404): check source.url, which must "
                        "be the site (https://<site>.atlassian.net)",
                        http::scrub_url(site_)),
            std::make_exception_ptr(e));
      throw;
    }
    simdjson::dom::parser parser;
    simdjson::dom::element root;
    std::string_view name;
    if (json::parse_padded(parser, resp.body, root) != simdjson::SUCCESS ||
        root.at_key("displayName").get(name) != simdjson::SUCCESS)
      name = "an account without a display name";
    return check_outcome{"ok", fmt::format("Jira {}: signed in as {}", http::scrub_url(site_), name), ""};
  });
  probe_pagination(*this, out, ctx);
}

}  // namespace backfill
