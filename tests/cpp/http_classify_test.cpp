// The client's classification hook (backfill/http/classify.hpp) against a scripted loopback server:
// an adapter's verdict decides what its API's answers mean, and without one the engine's own rules
// apply (and know nothing of any one API).
#include <gtest/gtest.h>

#include <string>

#include "backfill/http/client.hpp"
#include "backfill/sources/slack/classify.hpp"
#include "http_script_server.hpp"

using namespace backfill;
using namespace backfill::http;
using backfill::test_net::fast_retries;
using backfill::test_net::reply;
using backfill::test_net::script_server;

namespace {

const std::string slack_ratelimited = R"({"ok":false,"error":"ratelimited"})";

response answer(long status, std::string body) {
  response r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

client_options classified(classifier c) {
  auto o = fast_retries();
  o.classify = std::move(c);
  return o;
}

// The message of the http_error that `req` ends in; fails the test when it succeeds.
std::string failure_of(client& c, request req, http_error* out = nullptr) {
  try {
    c.execute(std::move(req));
  } catch (const http_error& e) {
    if (out) *out = e;
    return e.what();
  }
  ADD_FAILURE() << "the request succeeded";
  return {};
}

}  // namespace

TEST(HttpClassify, ARetryVerdictOnA200IsRetriedThenSucceeds) {
  script_server s({reply(200, R"({"state":"busy"})"), reply(200, R"({"state":"done"})")});
  client c(classified([](const response& r) {
    return r.body.find("busy") != std::string::npos ? verdict::retry("the job is still busy")
                                                    : verdict::pass();
  }));
  auto r = c.execute({"GET", s.url("/job"), {}, ""});
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, R"({"state":"done"})");
  EXPECT_EQ(r.attempts, 2);
  EXPECT_EQ(c.stats().retries, 1);
  EXPECT_EQ(s.requests(), 2);
}

TEST(HttpClassify, A200WhoseJsonIsCutShortIsRequestedAgainWhenJsonIsExpected) {
  script_server s(
      {reply(200, R"({"issues":[{"key":"A-1"},{"ke)"), reply(200, R"({"issues":[{"key":"A-1"}]})")});
  client c(fast_retries());
  request req{"GET", s.url("/search"), {}, ""};
  req.expect_json = true;
  auto r = c.execute(req);
  EXPECT_EQ(r.body, R"({"issues":[{"key":"A-1"}]})");
  EXPECT_EQ(r.attempts, 2);
  EXPECT_EQ(c.stats().retries, 1);
  EXPECT_EQ(s.requests(), 2);
}

TEST(HttpClassify, A200WithInvalidUtf8InAWholeBodyIsNotRequestedAgain) {
  script_server s({reply(200, "{\"issues\":[{\"key\":\"A-1\xff\"}]}"), reply(200, "never")});
  client c(fast_retries());
  request req{"GET", s.url("/search"), {}, ""};
  req.expect_json = true;
  EXPECT_EQ(c.execute(req).attempts, 1);
  EXPECT_EQ(s.requests(), 1);
}

TEST(HttpClassify, AQuotaVerdictFailsAtOnceWithItsReason) {
  // A 429 is retried by the engine's rules; the adapter knows this one will not get better.
  script_server s({reply(429, R"({"error":"credits_exhausted"})"), reply(200, "never")});
  client c(classified([](const response& r) {
    return r.body.find("credits_exhausted") != std::string::npos
               ? verdict::quota("the account has no credits left")
               : verdict::pass();
  }));
  http_error e("", 0, "", "", "", "", 0, false);
  std::string w = failure_of(c, {"POST", s.url("/v1/work"), {}, "{}"}, &e);
  EXPECT_NE(w.find("-> 429 Too Many Requests"), std::string::npos) << w;
  EXPECT_NE(w.find("[the account has no credits left]"), std::string::npos) << w;
  EXPECT_EQ(e.attempts(), 1);
  EXPECT_FALSE(e.retryable());
  EXPECT_EQ(s.requests(), 1);
}

TEST(HttpClassify, AFatalVerdictFailsAtOnce) {
  script_server s({reply(503, "down for maintenance until Monday"), reply(200, "never")});
  client c(classified([](const response& r) {
    return r.status == 503 ? verdict::fatal("maintenance: retrying will not help") : verdict::pass();
  }));
  http_error e("", 0, "", "", "", "", 0, false);
  std::string w = failure_of(c, {"GET", s.url("/x"), {}, ""}, &e);
  EXPECT_NE(w.find("[maintenance: retrying will not help]"), std::string::npos) << w;
  EXPECT_EQ(e.status(), 503);
  EXPECT_EQ(e.attempts(), 1);
  EXPECT_FALSE(e.retryable());
  EXPECT_EQ(s.requests(), 1);
}

TEST(HttpClassify, WithoutAClassifierTheEngineKnowsNoApisBodies) {
  // Slack's in-body rate limit is an ordinary 200 to a client without Slack's classifier ...
  script_server s({reply(200, slack_ratelimited), reply(503, "busy"), reply(200, "fine"), reply(404, "gone"),
                   reply(200, "never")});
  client c(fast_retries());
  auto r = c.execute({"GET", s.url("/api/conversations.history"), {}, ""});
  EXPECT_EQ(r.body, slack_ratelimited);
  EXPECT_EQ(r.attempts, 1);
  // ... and the engine's own rules hold: a 503 is retried, a 404 is not.
  EXPECT_EQ(c.execute({"GET", s.url("/x"), {}, ""}).attempts, 2);
  http_error e("", 0, "", "", "", "", 0, false);
  failure_of(c, {"GET", s.url("/y"), {}, ""}, &e);
  EXPECT_EQ(e.status(), 404);
  EXPECT_EQ(e.attempts(), 1);
  EXPECT_EQ(s.requests(), 4);
}

TEST(HttpClassify, APassVerdictLeavesTheEngineRules) {
  script_server s({reply(503, "busy"), reply(200, "fine"), reply(404, "gone"), reply(200, "never")});
  int asked = 0;
  client c(classified([&asked](const response&) {
    ++asked;
    return verdict::pass();
  }));
  EXPECT_EQ(c.execute({"GET", s.url("/x"), {}, ""}).attempts, 2);
  http_error e("", 0, "", "", "", "", 0, false);
  failure_of(c, {"GET", s.url("/y"), {}, ""}, &e);
  EXPECT_EQ(e.attempts(), 1);
  EXPECT_EQ(asked, 3);  // every response that arrived
}

TEST(HttpClassify, SlacksRatelimitedBodyIsRetriedWithSlacksClassifier) {
  script_server s({reply(200, slack_ratelimited), reply(200, R"({"ok":true,"messages":[]})")});
  client c(classified(slack::classify_response));
  auto r = c.execute({"GET", s.url("/api/conversations.history"), {}, ""});
  EXPECT_EQ(r.body, R"({"ok":true,"messages":[]})");
  EXPECT_EQ(r.attempts, 2);
  // Other answers pass: an error that is not a rate limit, and a 429 (retried by the engine's rules).
  EXPECT_EQ(slack::classify_response(answer(200, R"({"ok":false,"error":"channel_not_found"})")).what,
            verdict::kind::pass);
  EXPECT_EQ(slack::classify_response(answer(429, slack_ratelimited)).what, verdict::kind::pass);
  auto v = slack::classify_response(answer(200, slack_ratelimited));
  EXPECT_EQ(v.what, verdict::kind::retry);
  EXPECT_TRUE(v.rate_limited);
}

TEST(HttpClassify, AReasonTheBodyStatesIsNotRepeated) {
  // Retries run out on Slack's in-body rate limit: the message quotes the body, which says it.
  script_server s({}, reply(200, slack_ratelimited));
  auto o = classified(slack::classify_response);
  o.retry.max_attempts = 2;
  client c(o);
  std::string w = failure_of(c, {"GET", s.url("/api/x"), {}, ""});
  EXPECT_NE(w.find("ratelimited"), std::string::npos) << w;
  EXPECT_EQ(w.find("[ratelimited]"), std::string::npos) << w;
  EXPECT_NE(w.find("(2 attempts)"), std::string::npos) << w;
}
