// Core logging through spdlog. The logger is named "backfill". By default it writes to stderr at
// warning level; set_log_function() routes every record to a callback instead (the Python binding
// forwards them to logging.getLogger("backfill")).
#pragma once

#include <functional>
#include <memory>
#include <string>

#include <spdlog/spdlog.h>

namespace backfill {

// Levels follow spdlog: 0 trace, 1 debug, 2 info, 3 warn, 4 error, 5 critical.
using log_function = std::function<void(int level, const std::string& message)>;

std::shared_ptr<spdlog::logger> logger();
void set_log_function(log_function fn);
void set_log_level(int level);

}  // namespace backfill
