// The error tree: its parents (the same as backfill.errors in Python), which errors are transient,
// and that an error raised because of an http_error keeps it as its cause and takes its kind.
#include <gtest/gtest.h>

#include <type_traits>

#include "backfill/core/errors.hpp"

namespace backfill {
namespace {

static_assert(std::is_base_of_v<storage_error, journal_error>);
static_assert(std::is_base_of_v<storage_error, ledger_error>);
static_assert(std::is_base_of_v<source_error, pagination_error>);
static_assert(std::is_base_of_v<error, http_error> && !std::is_base_of_v<source_error, http_error>);
static_assert(std::is_base_of_v<error, storage_error> && std::is_base_of_v<error, cancelled>);

http_error http(long status, bool retryable) {
  return http_error("GET https://h/x -> " + std::to_string(status), status, "GET", "https://h/x", "req-9", "",
                    3, retryable);
}

TEST(Errors, EachKindIsTransientOrTerminal) {
  EXPECT_FALSE(config_error("x").transient());
  EXPECT_FALSE(storage_error("x").transient());
  EXPECT_FALSE(journal_error("x", "p").transient());
  EXPECT_FALSE(ledger_error("x").transient());
  EXPECT_FALSE(source_error("x").transient());
  EXPECT_FALSE(pagination_error("x").transient());
  EXPECT_FALSE(sink_error("x").transient());
  EXPECT_FALSE(embed_error("x").transient());
  EXPECT_FALSE(validation_error("x").transient());
  EXPECT_TRUE(verification_error("x").transient());
  EXPECT_FALSE(cancelled().transient());
  EXPECT_TRUE(http(503, true).transient());
  EXPECT_FALSE(http(401, false).transient());
}

TEST(Errors, AStageErrorKeepsItsHttpCauseAndItsKind) {
  const source_error refused("Jira rejected the credentials", std::make_exception_ptr(http(401, false)));
  const sink_error busy("the index stayed busy", std::make_exception_ptr(http(503, true)));
  EXPECT_FALSE(refused.transient());
  EXPECT_TRUE(busy.transient());
  try {
    std::rethrow_exception(refused.cause());
  } catch (const http_error& cause) {
    EXPECT_EQ(cause.status(), 401);
    EXPECT_EQ(cause.request_id(), "req-9");
  }
  const verification_error over_refused("x", std::make_exception_ptr(http(403, false)));
  EXPECT_FALSE(over_refused.transient()) << "the cause decides, whatever the class";
  EXPECT_FALSE(config_error("x", std::make_exception_ptr(std::runtime_error("not ours"))).transient());
}

}  // namespace
}  // namespace backfill
