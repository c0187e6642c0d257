// A user's filter (Jira's `jql`; the search queries of other sources as they gain one) is ANDed
// inside parentheses after the bound the source sets itself (project, time window) and before the
// order the source pages by. It is parsed only as far as keeping it inside that needs: its
// parentheses must balance and its quotes close outside string literals, and it must not order the
// results itself.
#pragma once

#include <string_view>

namespace backfill {

// Throws config_error, one line naming `setting` ("source.jql") and the fault, when `filter` could
// reach outside its parentheses or carries an ORDER BY.
void check_user_filter(std::string_view filter, std::string_view setting);

}  // namespace backfill
