// The HTTP engine: its pure pieces, and the client against a scripted loopback server.
#include "backfill/core/context.hpp"
#include "backfill/core/json.hpp"
#include "backfill/core/json_walk.hpp"
#include "backfill/core/kept_buffers.hpp"
#include "backfill/embed/openai.hpp"
#include "backfill/http/client.hpp"
#include "backfill/http/paginate.hpp"
#include "backfill/http/retry_after.hpp"
#include "backfill/http/scrub.hpp"
#include "backfill/http/url.hpp"
#include "http_script_server.hpp"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

using namespace backfill;
using namespace backfill::http;
using backfill::test_net::fast_retries;
using backfill::test_net::reply;
using backfill::test_net::script_server;
using std::chrono::system_clock;

TEST(HttpParse, RetryAfterSecondsAndDates) {
  auto now = system_clock::from_time_t(1700000000);  // Tue, 14 Nov 2023 22:13:20 GMT
  EXPECT_EQ(parse_retry_after("120", now), 120.0);
  EXPECT_EQ(parse_retry_after(" 0 ", now), 0.0);
  auto d = parse_retry_after("Tue, 14 Nov 2023 22:13:50 GMT", now);
  ASSERT_TRUE(d);
  EXPECT_NEAR(*d, 30.0, 0.001);
  EXPECT_EQ(parse_retry_after("Tue, 14 Nov 2023 22:00:00 GMT", now), 0.0);  // in the past: now
  EXPECT_FALSE(parse_retry_after("soon", now));
  EXPECT_FALSE(parse_retry_after("", now));
}

TEST(HttpParse, GoDurations) {
  EXPECT_EQ(parse_go_duration("1s"), 1.0);
  EXPECT_EQ(parse_go_duration("6m0s"), 360.0);
  EXPECT_NEAR(*parse_go_duration("120ms"), 0.12, 1e-9);
  EXPECT_NEAR(*parse_go_duration("1h2m3.5s"), 3723.5, 1e-9);
  EXPECT_FALSE(parse_go_duration("6 minutes"));
  EXPECT_FALSE(parse_go_duration("s"));
}

TEST(HttpParse, ServerRetryDelayFromEachApi) {
  auto now = system_clock::from_time_t(1700000000);
  response gh;
  gh.status = 403;
  gh.headers = {{"x-ratelimit-remaining", "0"}, {"x-ratelimit-reset", "1700000042"}};
  EXPECT_NEAR(*server_retry_delay(gh, now), 42.0, 1e-6);
  response jira;
  jira.status = 429;
  jira.headers = {{"x-ratelimit-remaining", "0"}, {"x-ratelimit-reset", "2023-11-14T22:15Z"}};
  EXPECT_NEAR(*server_retry_delay(jira, now), 100.0, 1e-6);
  response openai;
  openai.status = 429;
  openai.headers = {{"x-ratelimit-reset-requests", "1s"}, {"x-ratelimit-reset-tokens", "6m0s"}};
  EXPECT_EQ(server_retry_delay(openai, now), 360.0);
  response plain;
  plain.status = 429;
  EXPECT_FALSE(server_retry_delay(plain, now));
  response ra;
  ra.status = 503;
  ra.headers = {{"Retry-After", "7"}};
  EXPECT_EQ(server_retry_delay(ra, now), 7.0);  // names are matched case-insensitively
}

TEST(HttpParse, LinkNext) {
  EXPECT_EQ(
      link_next(
          R"(<https://api.github.com/repositories/1/issues?page=4>; rel="next", <https://api.github.com/repositories/1/issues?page=515>; rel="last")"),
      "https://api.github.com/repositories/1/issues?page=4");
  EXPECT_EQ(link_next(R"(<https://x/1>; rel="prev", <https://x/3>; rel="next")"), "https://x/3");
  EXPECT_FALSE(link_next(R"(<https://x/1>; rel="prev", <https://x/9>; rel="last")"));
  EXPECT_FALSE(link_next(""));
}

TEST(HttpUrl, WithQueryReplacesAndEncodes) {
  EXPECT_EQ(with_query("https://h/p", "cursor", "a b/c"), "https://h/p?cursor=a%20b%2Fc");
  EXPECT_EQ(with_query("https://h/p?x=1&cursor=old&y=2", "cursor", "new"), "https://h/p?x=1&y=2&cursor=new");
  EXPECT_EQ(with_query("https://h/p?x=1#frag", "c", "1"), "https://h/p?x=1&c=1#frag");
}

TEST(HttpScrub, UrlsLoseUserInfoAndCredentialParams) {
  EXPECT_EQ(scrub_url("https://user:pass@h.example/x?token=abc&page=2&API_KEY=zzz"),
            "https://h.example/x?token=***&page=2&API_KEY=***");
  EXPECT_EQ(scrub_url("http://127.0.0.1:8080/a/b"), "http://127.0.0.1:8080/a/b");
}

TEST(HttpScrub, TextLosesSecretsAndTokenShapes) {
  std::string t = scrub_text(
      "auth Bearer abc.def-123 key s3cr3t-value and xoxb-1234-5678 ghp_abcdefgh sk-proj-abcdefghijkl",
      {"s3cr3t-value"});
  EXPECT_EQ(t.find("abc.def-123"), std::string::npos);
  EXPECT_EQ(t.find("s3cr3t-value"), std::string::npos);
  EXPECT_EQ(t.find("1234-5678"), std::string::npos);
  EXPECT_EQ(t.find("abcdefgh"), std::string::npos);
  EXPECT_EQ(t.find("proj-abcdefghijkl"), std::string::npos);
  EXPECT_NE(t.find("Bearer ***"), std::string::npos);
  EXPECT_EQ(scrub_text("task-12 is done", {}), "task-12 is done");  // no false positives on words
}

TEST(HttpScrub, ScrubberMatchesScrubText) {
  const std::vector<std::string> secrets = {"s3cr3t-value", "ATATT3x=DEF+x/y", "abc"};  // "abc": too short
  scrubber scrub(secrets);
  for (std::string_view text :
       {"auth Bearer abc.def-123 key s3cr3t-value and xoxb-1234-5678 ghp_abcdefgh sk-proj-abcdefghijkl",
        "https://h.example/x?subscription-key=ATATT3x%3DDEF%2Bx%2Fy&k=ATATT3x%3ddef%2bx%2fy",
        "token 0123456789abcdef0123 basic Basic dXNlcjpwYXNz", "xoxb-12 github_pat_ABCDEFGH sk-short",
        "http://127.0.0.1:8080/small.json", "", "s3cr3t-values3cr3t-value Bearer Bearer x"}) {
    EXPECT_EQ(scrub(text), scrub_text(text, secrets)) << text;
    std::string in_place(text);
    scrub.apply(in_place);
    EXPECT_EQ(in_place, scrub_text(text, secrets)) << text;
  }
  std::string out = "left over";
  scrub_url("https://u:p@h.example/x?token=abc#f", out);
  EXPECT_EQ(out, "https://h.example/x?token=***#f");
  scrub_url("http://h.example/plain", out);
  EXPECT_EQ(out, "http://h.example/plain");
}

TEST(HttpScrub, ExcerptIsShortAndValidUtf8) {
  std::string body(600, 'a');
  body[499] = '\xE6';  // a code point cut by the limit
  body[500] = '\x9D';
  body[501] = '\xB1';
  auto e = excerpt(body);
  EXPECT_LE(e.size(), 500u);
  EXPECT_TRUE(json::valid_utf8(e));
  EXPECT_TRUE(json::valid_utf8(excerpt("ok \xFF\xFE bytes")));
}

TEST(PaginationGuard, RepeatedCursorBodyAndIds) {
  pagination_guard g("jira SUBS");
  g.check("", R"({"p":1})", {"A-1", "A-2"});
  g.check("t1", R"({"p":2})", {"A-3"});
  try {
    g.check("t1", R"({"p":3})", {"A-4"});
    FAIL();
  } catch (const pagination_error& e) {
    EXPECT_NE(std::string(e.what()).find("cursor 't1'"), std::string::npos) << e.what();
  }
  pagination_guard b("b");
  b.check("", "same", {"x"});
  EXPECT_THROW(b.check("t", "same", {"y"}), pagination_error);
  pagination_guard ids("ids");
  ids.check("", "[1]", {"K-1", "K-2"});
  try {
    ids.check("t", "[2]", {"K-3", "K-1"});
    FAIL();
  } catch (const pagination_error& e) {
    std::string w = e.what();
    EXPECT_NE(w.find("K-1"), std::string::npos);
    EXPECT_NE(w.find("page 1"), std::string::npos);
  }
}

// A page that names, as the next one's cursor, a cursor that already fetched a page (its own here) is
// refused at once, before the request that would use it; its error ends with the fix.
TEST(PaginationGuard, ANextCursorThatFetchedAPageIsRefusedOnThePageThatNamesIt) {
  pagination_guard g("GitHub issues of acme/widgets");
  g.check("", "[1]", {"1"}, "https://h/x?page=2");
  try {
    g.check("https://h/x?page=2", "[2]", {"2"}, "https://h/x?page=2");
    FAIL();
  } catch (const pagination_error& e) {
    const std::string w = e.what();
    EXPECT_NE(w.find("page 2 (cursor 'https://h/x?page=2') names cursor 'https://h/x?page=2'"),
              std::string::npos)
        << w;
    EXPECT_NE(w.find("already fetched page 2"), std::string::npos) << w;
    EXPECT_NE(w.find(repeating_server_fix), std::string::npos) << w;
  }
  pagination_guard fine("fine");
  fine.check("", "[1]", {"1"}, "t2");
  fine.check("t2", "[2]", {"2"}, "t3");
  fine.check("t3", "[3]", {"3"});
  EXPECT_EQ(fine.pages(), 3);
}

// A partition of many pages: the guard's id table grows many times over, keeps every id with the page
// that first had it, and still names that page when an id comes back thousands of pages later.
TEST(PaginationGuard, ManyIdsKeepTheirFirstPage) {
  pagination_guard g("big");
  std::vector<std::string> ids;
  for (int page = 0; page < 3000; ++page) {
    ids.clear();
    for (int i = 0; i < 100; ++i) ids.push_back(fmt::format("P-{}", page * 100 + i));
    ids.push_back(ids.front());  // the same id twice in one page is not a repeat
    g.check(page == 0 ? "" : fmt::format("t{}", page), fmt::format("[{}]", page), ids);
  }
  try {
    g.check("last", "[last]", {"NEW-1", "P-123456", "NEW-2"});
    FAIL();
  } catch (const pagination_error& e) {
    std::string w = e.what();
    EXPECT_NE(w.find("P-123456"), std::string::npos) << w;
    EXPECT_NE(w.find("page 1235"), std::string::npos) << w;  // P-123456 is on the 1235th page
    EXPECT_EQ(w.find("NEW-"), std::string::npos) << w;
  }
  // An id of the newest pages (not yet merged into the sorted ids) names its page too.
  try {
    g.check("later", "[later]", {"P-299990"});
    FAIL();
  } catch (const pagination_error& e) {
    EXPECT_NE(std::string(e.what()).find("page 3000"), std::string::npos) << e.what();
  }
}

// Pages of uneven sizes (empty ones among them) across many merges of the id table and several
// widenings of its page field: each repeated id, whether merged long ago or among the newest, is named
// with the page that first had it.
TEST(PaginationGuard, ARepeatedIdNamesItsFirstPageWhateverThePageSizes) {
  pagination_guard g("uneven");
  std::vector<std::string> ids;
  std::vector<std::pair<std::string, int>> probes;  // an id and the page that first had it
  int n = 0;
  for (int page = 1; page <= 6000; ++page) {
    ids.clear();
    const int size = (page * 37) % 97;  // 0-96 ids
    for (int i = 0; i < size; ++i) ids.push_back(fmt::format("U-{}", n++));
    if (!ids.empty() && (page % 613 == 1 || page == 2 || page == 256 || page == 257 || page > 5990))
      probes.emplace_back(ids.back(), page);
    g.check(page == 1 ? "" : fmt::format("t{}", page), fmt::format("[{}]", page), ids);
  }
  ASSERT_GT(probes.size(), 12u);
  for (const auto& [id, first] : probes) {
    try {
      g.check(fmt::format("again-{}", id), fmt::format("[again {}]", id), {"FRESH-" + id, id});
      ADD_FAILURE() << id << " was not refused";
    } catch (const pagination_error& e) {
      const std::string w = e.what();
      EXPECT_NE(w.find(fmt::format("already seen on page {} ({})", first, id)), std::string::npos) << w;
    }
  }
}

// The id table holds 8 bytes an id (the 64-bit hash) plus a small share for the newest ids' index and
// O(pages) for where the pages are, at every point of a long partition; entries of hash and page (12
// bytes an id) would not fit.
TEST(PaginationGuard, IdsCostEightBytesEachPlusASmallShare) {
  for (const int per_page : {100, 1}) {
    pagination_guard g("bytes");
    std::vector<std::string> ids;
    std::size_t seen = 0, most_over = 0;
    const int pages = per_page == 1 ? 40000 : 3000;
    for (int page = 0; page < pages; ++page) {
      ids.clear();
      for (int i = 0; i < per_page; ++i) ids.push_back(fmt::format("M-{}", seen++));
      g.check(page == 0 ? "" : fmt::format("t{}", page), fmt::format("[{}]", page), ids);
      const std::size_t bound = 8 * seen + seen / 4 + 16 * static_cast<std::size_t>(page + 1) + 65536;
      ASSERT_LE(g.id_bytes(), bound) << seen << " ids, page " << page + 1;
      most_over = std::max(most_over, g.id_bytes() - std::min(g.id_bytes(), 8 * seen));
    }
    EXPECT_GE(g.id_bytes(), 8 * seen);  // every id is held, whole
    if (per_page == 100) {
      EXPECT_LT(g.id_bytes(), 12 * seen * 3 / 4);
    }
    RecordProperty(fmt::format("most_bytes_over_8_an_id_{}", per_page), std::to_string(most_over));
  }
}

TEST(HttpClient, GetsABodyWithPaddingCapacity) {
  script_server s({reply(200, R"({"ok":true})", "X-Request-Id: r-1\r\n")});
  client c(fast_retries());
  auto r = c.execute({"GET", s.url("/x"), {{"Authorization", "Bearer zzz"}}, ""});
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, R"({"ok":true})");
  EXPECT_GE(r.body.capacity(), r.body.size() + 64);
  EXPECT_EQ(r.request_id(), "r-1");
  EXPECT_NE(s.last_request().find("Authorization: Bearer zzz"), std::string::npos);
}

TEST(HttpClient, RetriesA503StormThenSucceeds) {
  script_server s({reply(503, "busy"), reply(503, "busy"), reply(200, "fine")});
  client c(fast_retries());
  auto r = c.execute({"GET", s.url("/x"), {}, ""});
  EXPECT_EQ(r.body, "fine");
  EXPECT_EQ(r.attempts, 3);
  EXPECT_EQ(c.stats().retries, 2);
}

TEST(HttpClient, DoesNotRetryWhatRetryingCannotFix) {
  script_server s({reply(404, "no such thing: tok-abcd1234"), reply(200, "never")});
  auto o = fast_retries();
  o.secrets = {"tok-abcd1234"};
  client c(o);
  try {
    c.execute({"POST", s.url("/x?api_key=tok-abcd1234"), {}, "{}"});
    FAIL();
  } catch (const http_error& e) {
    EXPECT_EQ(e.status(), 404);
    EXPECT_EQ(e.attempts(), 1);
    std::string w = e.what();
    EXPECT_EQ(w.find("abcd1234"), std::string::npos) << w;
    EXPECT_EQ(e.body_excerpt().find("abcd1234"), std::string::npos);
    EXPECT_EQ(e.url().find("abcd1234"), std::string::npos);
    EXPECT_NE(w.find("POST"), std::string::npos);
    EXPECT_NE(w.find("404"), std::string::npos);
  }
  EXPECT_EQ(s.requests(), 1);
}

TEST(HttpClient, HonoursRetryAfter) {
  script_server s({reply(429, "slow down", "Retry-After: 1\r\n"), reply(200, "ok")});
  client c(fast_retries());
  auto t0 = std::chrono::steady_clock::now();
  auto r = c.execute({"GET", s.url("/x"), {}, ""});
  double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_EQ(r.status, 200);
  EXPECT_GE(waited, 0.95);
}

TEST(HttpClient, InsufficientQuotaFailsAtOnceWithOpenAIsClassifier) {
  script_server s({reply(429, R"({"error":{"code":"insufficient_quota","type":"insufficient_quota"}})"),
                   reply(200, "never")});
  auto o = fast_retries();
  o.classify = openai::classify_response;
  client c(o);
  try {
    c.execute({"POST", s.url("/v1/embeddings"), {}, "{}"});
    FAIL();
  } catch (const http_error& e) {
    EXPECT_EQ(e.status(), 429);
    EXPECT_FALSE(e.retryable());
    std::string w = e.what();
    EXPECT_NE(w.find("[insufficient_quota: the account is out of credit]"), std::string::npos) << w;
  }
  EXPECT_EQ(s.requests(), 1);
}

TEST(HttpClient, CapsRequestsInFlightPerHost) {
  script_server s({}, reply(200, "x"));
  auto o = fast_retries();
  o.default_limit.max_in_flight = 3;
  client c(o);
  std::vector<client::handle> hs;
  for (int i = 0; i < 24; ++i) hs.push_back(c.submit({"GET", s.url("/x"), {}, ""}));
  for (auto& h : hs) EXPECT_EQ(c.wait(h).status, 200);
  EXPECT_LE(s.max_open(), 3);
  EXPECT_GE(s.max_open(), 2);
}

TEST(HttpClient, CancelStopsAWait) {
  script_server s({reply(503, "", "Retry-After: 30\r\n")});
  client c(fast_retries());
  auto h = c.submit({"GET", s.url("/x"), {}, ""});
  std::thread t([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    c.cancel(h);
  });
  EXPECT_THROW(c.wait(h), cancelled);
  t.join();
}

TEST(HttpClient, A304AnswersAConditionalRequestAndEndsAPaginationAtItsFirstPage) {
  const header etag{"If-None-Match", "W/\"abc\""};
  script_server s({reply(304, ""), reply(304, "")});
  client c(fast_retries());
  EXPECT_EQ(c.execute({"GET", s.url("/list"), {etag}, ""}).status, 304);
  // Without a condition a 304 is no answer the caller could use: it fails as the redirect it is.
  EXPECT_THROW(c.execute({"GET", s.url("/list"), {}, ""}), http_error);

  page_spec spec;
  spec.paging = page_spec::kind::link;
  spec.items = "";
  script_server unchanged({reply(304, "")});
  pagination_guard g("unchanged");
  int pages = 0;
  paginate(c, {"GET", unchanged.url("/list"), {etag}, ""}, spec, "", g, [&](const page& p) {
    ++pages;
    EXPECT_EQ(p.resp.status, 304);
    EXPECT_EQ(p.items, 0);
    EXPECT_EQ(p.next_cursor, "");
  });
  EXPECT_EQ(pages, 1);

  // The condition is about the first page: the next page goes without it.
  script_server changed({});
  changed.push(reply(200, "[1]", "Link: <" + changed.url("/list?page=2") + ">; rel=\"next\"\r\n"));
  changed.push(reply(200, "[2]"));
  pagination_guard g2("changed");
  std::int64_t items = 0;
  paginate(c, {"GET", changed.url("/list"), {etag}, ""}, spec, "", g2,
           [&](const page& p) { items += p.items; });
  EXPECT_EQ(items, 2);
  EXPECT_EQ(changed.last_request().find("If-None-Match"), std::string::npos) << changed.last_request();
}

// Jira's search paging: a next page token, and isLast on the last page.
static page_spec token_pages() {
  page_spec spec;
  spec.token_param = "nextPageToken";
  spec.next_token = "/nextPageToken";
  spec.is_last = "/isLast";
  spec.items = "/issues";
  return spec;
}

TEST(HttpClient, PaginatesTokensAndStopsARepeatingServer) {
  script_server s({reply(200, R"({"issues":[{"id":"1"},{"id":"2"}],"nextPageToken":"t2"})"),
                   reply(200, R"({"issues":[{"id":"3"}],"nextPageToken":"t3"})"),
                   reply(200, R"({"issues":[{"id":"4"}],"isLast":true})")});
  client c(fast_retries());
  page_spec spec = token_pages();
  pagination_guard g("test");
  std::vector<std::string> cursors;
  std::int64_t items = 0;
  paginate(c, {"GET", s.url("/search"), {}, ""}, spec, "", g, [&](const page& p) {
    cursors.push_back(p.next_cursor);
    items += p.items;
  });
  EXPECT_EQ(cursors, (std::vector<std::string>{"t2", "t3", ""}));
  EXPECT_EQ(items, 4);

  script_server loop({}, reply(200, R"({"issues":[{"id":"1"}],"nextPageToken":"same"})"));
  pagination_guard g2("looping");
  int pages = 0;
  EXPECT_THROW(paginate(c, {"GET", loop.url("/search"), {}, ""}, spec, "", g2, [&](const page&) { ++pages; }),
               pagination_error);
  EXPECT_EQ(pages, 1);  // the repeat never reaches the caller
}

namespace {

// What one page of a list gave on_page, read with or without paginate's scan.
struct page_read {
  std::int64_t items = -1;
  std::vector<std::string> ids;
  std::string next;
  bool parsed = false;              // page::root was set: the page was parsed whole
  std::vector<std::string> passed;  // "position:id" of each item on_item saw
  bool failed = false;
};

page_read read_first_page(client& c, const std::string& body, page_spec spec, bool scan,
                          const std::string& headers = "", bool refuse_third = false) {
  script_server s({}, reply(200, body, headers));
  page_read out;
  spec.scan = scan;
  spec.item_members = {"id", "tag"};
  spec.on_member = [&](std::size_t i, std::string_view member, json::walk& w) {
    auto text = w.string();  // a string is read, anything else passed over
    out.passed.push_back(std::to_string(i) + ":" + std::string(member) + "=" +
                         std::string(text.value_or("-")));
    return !(refuse_third && i == 2);
  };
  pagination_guard guard("differential");
  struct stop {};
  try {
    paginate(c, {"GET", s.url("/list"), {}, ""}, spec, "", guard, [&](const page& p) {
      out.items = p.items;
      out.ids = p.ids;
      out.next = p.next_cursor;
      out.parsed = p.root != nullptr;
      throw stop{};  // one page: the next request is cancelled
    });
  } catch (const stop&) {
  } catch (const source_error&) {
    out.failed = true;
  }
  return out;
}

}  // namespace

// The scan (page_spec::scan) reads what paging needs as the whole parse does, for every shape of
// page; what it cannot read as expected it leaves to the whole parse, which then hands on its root.
TEST(HttpClient, TheScanOfAPageReadsWhatTheWholeParseReadsOrLeavesThePageToIt) {
  client c(fast_retries());
  struct one_case {
    std::string body;
    bool scanned;  // the scan reads it (else the whole parse does, or both refuse it)
  };
  const page_spec token = token_pages();
  const std::vector<one_case> token_cases = {
      {R"({"issues":[{"id":"1"},{"id":2},{"id":-3},{"id":18446744073709551615},{"id":1.5},{"id":null},)"
       R"({"x":1},{"id":true}],"nextPageToken":"t2"})",
       true},
      {R"({"nextPageToken":"before","issues":[{"id":"a"},{"tag":"x","id":"b"}],"isLast":false})", true},
      {R"({"nextPageToken":"before","issues":[{"id":"a\u00e9\n"}],"isLast":false})", false},  // escapes
      {R"({"issues":[],"nextPageToken":null})", true},
      {R"({"issues":[{"id":"1"}],"nextPageToken":"t","isLast":true})", true},
      {R"({"issues":[{"id":"1"}],"nextPageToken":5,"isLast":"yes"})", true},
      {R"({"issues":[{"id":"1","deep":{"a":[1,{"b":[[]]},"c\"]}"]}},{"id":"2"}],"nextPageToken":"t2"})",
       true},
      {R"({"issues":[{"id":"1"}],"nextPageToken":"t\"2"})", false},  // a token with escapes
      {R"({"issues":[{"id":"1"}],"issues":[{"id":"2"},{"id":"3"}],"isLast":false,"isLast":true})", true},
      {R"({"issues":[{"id":"1","tag":{"not":"a string"}}],"nextPageToken":"t"})", true},
      {R"({"issues":[{"x":{"id":"inner"},"id":"outer"}],"isLast":false})", true},
      {R"({"issues":[1,2]})", false},  // items that are not objects
      {R"({"issues":[{"id":"1"},"two"]})", false},
      {R"({"issues":{"id":"1"}})", false},  // both refuse it: not an array
      {R"({"other":[]})", false},           // both refuse it: no items
      {"{\"issues\":[{\"id\":\"1\",\"t\":\"\xff\"}],\"nextPageToken\":\"t\"}", false},  // invalid UTF-8
  };
  page_spec offset;
  offset.paging = page_spec::kind::offset;
  offset.items = "/comments";
  offset.total = "/total";
  offset.page_size = 2;
  const std::vector<one_case> offset_cases = {
      {R"({"comments":[{"id":"1"},{"id":"2"}],"total":5})", true},
      {R"({"total":2,"comments":[{"id":"1"},{"id":"2"}]})", true},
      {R"({"comments":[{"id":"1"}],"total":"many"})", true},
      {R"({"comments":[{"id":"1"},{"id":"2"}]})", true},
      {R"({"comments":[{"id":"1"},{"id":"2"}],"total":2.5})", true},
      {R"({"comments":[]})", true},
  };
  auto check = [&](const page_spec& spec, const one_case& k, const std::string& headers = "") {
    SCOPED_TRACE(k.body);
    page_read whole = read_first_page(c, k.body, spec, false, headers);
    page_read scan = read_first_page(c, k.body, spec, true, headers);
    EXPECT_EQ(scan.failed, whole.failed);
    EXPECT_EQ(scan.items, whole.items);
    EXPECT_EQ(scan.ids, whole.ids);
    EXPECT_EQ(scan.next, whole.next);
    EXPECT_TRUE(whole.passed.empty());
    if (whole.failed) return;
    EXPECT_EQ(scan.parsed, !k.scanned);
  };
  for (const auto& k : token_cases) check(token, k);
  for (const auto& k : offset_cases) check(offset, k);

  page_spec link;
  link.paging = page_spec::kind::link;
  link.items = "";
  script_server next_host({}, reply(200, "[]"));
  check(link, {R"([{"id":7},{"id":"8"}])", true},
        "Link: <" + next_host.url("/list?page=2") + ">; rel=\"next\"\r\n");

  // The positions and ids reach on_item in order; one it refuses sends the page to the whole parse.
  const std::string three = R"({"issues":[{"id":"a"},{"id":"b"},{"id":"c"}],"nextPageToken":"n"})";
  page_read passed = read_first_page(c, three, token, true);
  EXPECT_EQ(passed.passed, (std::vector<std::string>{"0:id=a", "1:id=b", "2:id=c"}));
  EXPECT_FALSE(passed.parsed);
  page_read refused = read_first_page(c, three, token, true, "", true);
  EXPECT_TRUE(refused.parsed);
  EXPECT_EQ(refused.ids, (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(refused.next, "n");
}

// A fetch whose consumer is behind (run_context::ahead) asks for its next page only once the page
// in hand is let go and the consumer needs more; a fetch inside a page (comments) never waits.
TEST(HttpClient, APaceAheadOfItsConsumerDefersTheNextRequestUntilThePageIsLetGo) {
  script_server s({reply(200, R"({"issues":[{"id":"1"}],"nextPageToken":"t2"})"),
                   reply(200, R"({"issues":[{"id":"2"}],"nextPageToken":"t3"})"),
                   reply(200, R"({"issues":[{"id":"3"}],"isLast":true})")});
  client c(fast_retries());
  page_spec spec = token_pages();
  spec.id_field = "id";
  pagination_guard g("paced");
  run_context ctx;
  int waits = 0;
  ctx.set_pace({[&] { return waits < 2; }, [&] { ++waits; }});
  std::vector<int> requests_seen;
  std::vector<bool> ahead_inside;
  paginate(
      c, {"GET", s.url("/search"), {}, ""}, spec, "", g,
      [&](const page&) {
        requests_seen.push_back(s.requests());
        ahead_inside.push_back(ctx.ahead());
      },
      &ctx);
  ASSERT_EQ(requests_seen.size(), 3u);
  EXPECT_EQ(requests_seen[0], 1);  // page 2 was not requested while page 1 was handled
  EXPECT_EQ(waits, 2);             // it was requested once the pace said the consumer needs it
  EXPECT_EQ(ahead_inside, (std::vector<bool>{false, false, false}));
  EXPECT_EQ(s.requests(), 3);
}

TEST(HttpClient, ReusedHandlesSendEachRequestsOwnMethodAndBody) {
  script_server s({}, reply(200, "ok"));
  auto o = fast_retries();
  o.default_limit.max_in_flight = 1;  // one easy handle serves every request in turn
  client c(o);
  struct step {
    request r;
    std::string line;
    bool has_length;
  };
  std::vector<step> steps = {
      {{"POST", s.url("/p"), {{"Content-Type", "application/json"}}, R"({"a":1})"}, "POST /p ", true},
      {{"GET", s.url("/g"), {}, ""}, "GET /g ", false},
      {{"HEAD", s.url("/h"), {}, ""}, "HEAD /h ", false},
      {{"DELETE", s.url("/d"), {}, ""}, "DELETE /d ", false},
      {{"PUT", s.url("/u"), {}, "xyz"}, "PUT /u ", true},
      {{"GET", s.url("/g2"), {}, ""}, "GET /g2 ", false},
  };
  for (auto& st : steps) {
    auto r = c.execute(st.r);
    EXPECT_EQ(r.status, 200);
    std::string got = s.last_request();
    EXPECT_EQ(got.rfind(st.line, 0), 0u) << got;
    EXPECT_EQ(got.find("Content-Length") != std::string::npos, st.has_length) << got;
    EXPECT_EQ(got.find("Content-Type") != std::string::npos, !st.r.body.empty()) << got;  // libcurl's default
    c.recycle(std::move(r));
  }
}

TEST(HttpClient, SendsOneUserAgentAndAcceptEncoding) {
  script_server s({}, reply(200, "ok"));
  client c(fast_retries());
  auto count = [](const std::string& text, const std::string& what) {
    int n = 0;
    for (auto p = text.find(what); p != std::string::npos; p = text.find(what, p + 1)) ++n;
    return n;
  };
  c.execute({"GET", s.url("/a"), {}, ""});
  std::string got = s.last_request();
  EXPECT_EQ(count(got, "User-Agent: backfill/"), 1) << got;
  EXPECT_EQ(count(got, "Accept-Encoding: "), 1) << got;
  EXPECT_NE(got.find("gzip"), std::string::npos) << got;
  EXPECT_EQ(got.find("Expect:"), std::string::npos) << got;
  c.execute({"GET", s.url("/b"), {{"user-agent", "mine/1"}, {"Accept-Encoding", "identity"}}, ""});
  got = s.last_request();
  EXPECT_EQ(count(got, "User-Agent"), 0) << got;  // the request's own line, as it spelled it
  EXPECT_EQ(count(got, "user-agent: mine/1"), 1) << got;
  EXPECT_EQ(count(got, "Accept-Encoding"), 1) << got;
  EXPECT_NE(got.find("Accept-Encoding: identity"), std::string::npos) << got;
}

TEST(HttpClient, RecycledResponsesCarryNothingOver) {
  std::string big(200000, 'b');
  script_server s(
      {reply(200, big, "X-One: 1\r\nX-Two: a longer value than fits a short string\r\nX-Three: 3\r\n"),
       reply(200, "small", "X-Request-Id: r-2\r\n"), reply(404, "gone")});
  auto o = fast_retries();
  o.default_limit.max_in_flight = 1;
  client c(o);
  auto first = c.execute({"GET", s.url("/first?token=zzz"), {}, ""});
  EXPECT_EQ(first.body, big);
  ASSERT_NE(first.find("x-two"), nullptr);
  EXPECT_EQ(first.url.find("zzz"), std::string::npos);
  c.recycle(std::move(first));
  auto second = c.execute({"GET", s.url("/second"), {}, ""});
  EXPECT_EQ(second.body, "small");
  EXPECT_GE(second.body.capacity(), second.body.size() + 64);
  EXPECT_EQ(second.find("x-one"), nullptr);
  EXPECT_EQ(second.find("x-two"), nullptr);
  EXPECT_EQ(second.request_id(), "r-2");
  EXPECT_EQ(second.url, s.url("/second"));
  for (const auto& h : second.headers) EXPECT_FALSE(h.name.empty());
  c.recycle(std::move(second));
  EXPECT_THROW(c.execute({"GET", s.url("/third"), {}, ""}), http_error);
}

TEST(HttpClient, AJsonAnswerComesWithTheIndexItsCheckMadeAndARecycledIndexIsForgotten) {
  // Two answers of one length: the second is written into the first's recycled body, at the same bytes.
  script_server s({reply(200, R"({"a":[1,2,3]})"), reply(200, R"({"b":"12345"})")});
  auto o = fast_retries();
  o.default_limit.max_in_flight = 1;
  client c(o);
  auto read_first = [](const response& r) -> std::string {
    auto w = backfill::json::walk::over(r.body, r.index.get());
    if (!w || !w->enter_object()) return "unwalked";
    std::string_view key;
    if (!w->next_member(key)) return "no member";
    auto value = w->string();
    return std::string(key) + "=" + (value ? std::string(*value) : (w->failed() ? "failed" : "not a string"));
  };
  request json_get{"GET", s.url("/first"), {}, ""};
  json_get.expect_json = true;
  auto first = c.execute(json_get);
  ASSERT_TRUE(first.index);  // made by the engine's check, handed on
  EXPECT_EQ(read_first(first), "a=not a string");
  const char* bytes = first.body.data();
  c.recycle(std::move(first));
  auto second = c.execute({"GET", s.url("/second"), {}, ""});  // not checked: nothing indexes it
  ASSERT_EQ(second.body.data(), bytes) << "the body was not reused; the test no longer tests anything";
  EXPECT_EQ(read_first(second), "b=12345");  // walked over its own index, not the first answer's
}

namespace {

// The run's allowance of idle buffers (a pipeline adds it for its life), for one test.
struct with_allowance {
  explicit with_allowance(std::size_t b) : bytes(b) { backfill::kept_buffers::add_allowance(bytes); }
  ~with_allowance() {
    release_idle_pages();
    backfill::kept_buffers::remove_allowance(bytes);
  }
  with_allowance(const with_allowance&) = delete;
  with_allowance& operator=(const with_allowance&) = delete;
  std::size_t bytes;
};

// Submits one request for each of `paths` at once and waits for all: the script answers them in
// the order their connections arrive.
std::vector<response> at_once(client& c, const script_server& s, std::initializer_list<const char*> paths) {
  std::vector<client::handle> hs;
  for (const char* p : paths) hs.push_back(c.submit({"GET", s.url(p), {}, ""}));
  std::vector<response> out;
  for (auto& h : hs) out.push_back(c.wait(h));
  return out;
}

}  // namespace

TEST(HttpClient, AnAnswerOfAPagesLengthTakesTheIdlePageWhateverShellItStartedIn) {
  // A small answer and a page-sized one in flight together start before either length is known:
  // the page-sized one must still land in the idle page body, not in fresh memory.
  with_allowance allowance(64u << 20);
  const std::string page(2u << 20, 'p');
  script_server s({reply(200, "small one"), reply(200, "small two"), reply(200, page),
                   reply(200, "small three"), reply(200, page)});
  auto o = fast_retries();
  o.default_limit.max_in_flight = 3;
  client c(o);
  const char* idle_page = nullptr;
  for (auto& r : at_once(c, s, {"/a", "/b", "/c"})) {
    if (r.body.size() == page.size()) idle_page = r.body.data();
    c.recycle(std::move(r));
  }
  ASSERT_NE(idle_page, nullptr);
  ASSERT_GT(backfill::kept_buffers::kept(), page.size()) << "the page was not kept idle";
  // Three idle shells (two small, one page); the two requests start in the two smallest.
  bool seen = false;
  for (auto& r : at_once(c, s, {"/d", "/e"})) {
    if (r.body.size() != page.size()) continue;
    seen = true;
    EXPECT_EQ(r.body, page);
    EXPECT_EQ(r.body.data(), idle_page) << "the page-sized answer was written into fresh memory";
  }
  EXPECT_TRUE(seen);
}

TEST(HttpClient, IdlePagesAreReleasedForTheStagesThatFollow) {
  with_allowance allowance(64u << 20);
  const std::size_t before = backfill::kept_buffers::kept();
  const std::string page(2u << 20, 'p');
  script_server s({reply(200, page)});
  auto o = fast_retries();
  client c(o);
  auto r = c.execute({"GET", s.url("/page"), {}, ""});
  c.recycle(std::move(r));
  EXPECT_GE(backfill::kept_buffers::kept(), before + page.size());
  release_idle_pages();
  EXPECT_EQ(backfill::kept_buffers::kept(), before);
}

TEST(HttpClient, APageSizedBodyIsNotKeptForTheNextResponse) {
  // A recycled body of a page's size would stay resident between pages; only small ones are kept.
  std::string page(2u << 20, 'p');
  script_server s({reply(200, page), reply(200, "small")});
  auto o = fast_retries();
  o.default_limit.max_in_flight = 1;
  client c(o);
  auto first = c.execute({"GET", s.url("/page"), {}, ""});
  ASSERT_EQ(first.body.size(), page.size());
  c.recycle(std::move(first));
  auto second = c.execute({"GET", s.url("/small"), {}, ""});
  EXPECT_EQ(second.body, "small");
  EXPECT_LT(second.body.capacity(), std::size_t{1} << 20);
}
