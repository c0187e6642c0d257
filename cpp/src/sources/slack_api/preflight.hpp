// Slack's preflight check of the token: auth.test, and the scopes the source needs (X-OAuth-Scopes).
#pragma once

#include <string>
#include <vector>

#include "backfill/core/context.hpp"
#include "backfill/preflight/checks.hpp"
#include "backfill/sources/slack_api/slack_api.hpp"
#include "sources/slack_api/web_api.hpp"

namespace backfill::slack_api {

// The scopes reading `options.types` needs: users:read, and <kind>:read and <kind>:history of each type.
std::vector<std::string> needed_scopes(const slack_api_options& options);

void check_token(web_api& api, const slack_api_options& options, preflight_checks& out, run_context& ctx);

}  // namespace backfill::slack_api
