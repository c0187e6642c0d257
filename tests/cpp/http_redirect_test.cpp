// Credentials and bodies stay with the host they were meant for: the engine follows no redirect and
// speaks no scheme but http and https.
#include <fstream>
#include <string>

#include <gtest/gtest.h>

#include "backfill/http/client.hpp"
#include "backfill/http/url.hpp"
#include "http_script_server.hpp"
#include "scratch_dir.hpp"

using namespace backfill;
using namespace backfill::http;
using backfill::test_net::fast_retries;
using backfill::test_net::reply;
using backfill::test_net::script_server;

TEST(HttpRedirect, A307ToAnotherPortCarriesNeitherKeyNorBody) {
  script_server elsewhere({}, reply(200, "{}"));
  const std::string location = elsewhere.url("/steal?api_key=LEAKQUERY&x=1");
  for (int status : {301, 302, 303, 307, 308}) {
    script_server api({}, reply(status, "moved", "Location: " + location + "\r\n"));
    auto o = fast_retries();
    o.secrets = {"pc-SECRETKEY-123"};
    client c(o);
    try {
      c.execute(
          {"POST", api.url("/vectors/upsert"), {{"Api-Key", "pc-SECRETKEY-123"}}, R"({"text":"CUSTOMER"})"});
      FAIL() << status << " was followed or taken for success";
    } catch (const http_error& e) {
      std::string w = e.what();
      EXPECT_EQ(e.status(), status);
      EXPECT_EQ(e.attempts(), 1) << w;  // a redirect is not retried
      EXPECT_FALSE(e.retryable());
      EXPECT_NE(w.find(api.url("")), std::string::npos) << w;        // the host that redirected
      EXPECT_NE(w.find(elsewhere.url("")), std::string::npos) << w;  // where it pointed
      EXPECT_EQ(w.find("LEAKQUERY"), std::string::npos) << w;        // without its query
      EXPECT_EQ(w.find("/steal"), std::string::npos) << w;
      EXPECT_NE(w.find("fix the configured URL"), std::string::npos) << w;
    }
    EXPECT_EQ(api.requests(), 1);
  }
  EXPECT_EQ(elsewhere.requests(), 0);
}

TEST(HttpRedirect, ARelativeLocationIsNamedAsTheSameHost) {
  script_server api({}, reply(302, "", "Location: /login?next=%2Fx\r\n"));
  client c(fast_retries());
  try {
    c.execute({"GET", api.url("/rest/api/3/search/jql"), {{"Authorization", "Basic dXNlcjp0b2s="}}, ""});
    FAIL();
  } catch (const http_error& e) {
    std::string w = e.what();
    EXPECT_NE(w.find("302"), std::string::npos) << w;
    EXPECT_EQ(w.find("next="), std::string::npos) << w;
    EXPECT_NE(w.find(api.url("")), std::string::npos) << w;
  }
}

class HttpSchemes : public scratch_dir_test {};

TEST_F(HttpSchemes, OnlyHttpAndHttpsAreSpoken) {
  const auto secret_file = dir_ / "passwd";
  std::ofstream(secret_file) << "root-FIRSTLINE:x:0:0\n";
  client c(fast_retries());
  for (const std::string& url : {"file://" + secret_file.string(), std::string("gopher://127.0.0.1:1/x"),
                                 std::string("dict://127.0.0.1:1/x")}) {
    try {
      auto r = c.execute({"GET", url, {}, ""});
      FAIL() << url << " was fetched: " << r.body;
    } catch (const http_error& e) {
      std::string w = e.what();
      EXPECT_EQ(w.find("FIRSTLINE"), std::string::npos) << w;
      EXPECT_EQ(e.attempts(), 1) << w;
    }
  }
}

TEST(HttpUrl, OriginDropsUserInfoPathAndQuery) {
  EXPECT_EQ(url_origin("https://user:pw@Example.com:8443/a/b?token=x#f"), "https://Example.com:8443");
  EXPECT_EQ(url_origin("http://127.0.0.1:5000"), "http://127.0.0.1:5000");
  EXPECT_EQ(url_origin("/relative/path?q=1"), "");
  EXPECT_EQ(url_origin("https://host?x"), "https://host");
}

TEST(HttpRedirect, AFollowedRedirectToAnotherHostLeavesSecretsAndBodiesBehind) {
  auto o = fast_retries();
  o.max_redirects = 3;
  o.secret_headers = {"X-Session"};
  client c(o);
  const std::vector<header> headers = {{"Authorization", "Bearer tok-AUTH"},
                                       {"Api-Key", "tok-APIKEY"},
                                       {"X-Session", "tok-SESSION"},
                                       {"Cookie", "s=tok-COOKIE"},
                                       {"X-Plain", "kept"}};
  {
    script_server elsewhere({}, reply(200, "there"));
    script_server api({}, reply(302, "", "Location: " + elsewhere.url("/new") + "\r\n"));
    auto r = c.execute({"GET", api.url("/old"), headers, ""});
    EXPECT_EQ(r.body, "there");
    std::string seen = elsewhere.last_request();
    EXPECT_EQ(seen.find("tok-"), std::string::npos) << seen;
    EXPECT_NE(seen.find("X-Plain: kept"), std::string::npos) << seen;
  }
  {
    script_server elsewhere({}, reply(200, "there"));
    script_server api({}, reply(307, "", "Location: " + elsewhere.url("/new") + "\r\n"));
    EXPECT_THROW(c.execute({"POST", api.url("/old"), headers, R"({"text":"CUSTOMER"})"}), http_error);
    EXPECT_EQ(elsewhere.requests(), 0);  // a body is never re-sent to another host
  }
  {
    script_server elsewhere({}, reply(200, "done"));
    script_server api({}, reply(303, "", "Location: " + elsewhere.url("/status") + "\r\n"));
    auto r = c.execute({"POST", api.url("/jobs"), headers, R"({"text":"CUSTOMER"})"});
    EXPECT_EQ(r.body, "done");
    std::string seen = elsewhere.last_request();
    EXPECT_EQ(seen.rfind("GET /status ", 0), 0u) << seen;
    EXPECT_EQ(seen.find("CUSTOMER"), std::string::npos) << seen;
    EXPECT_EQ(seen.find("tok-"), std::string::npos) << seen;
  }
}

TEST(HttpRedirect, AFollowedRedirectOnTheSameHostKeepsTheRequest) {
  auto o = fast_retries();
  o.max_redirects = 1;
  client c(o);
  script_server api({reply(308, "", "Location: /v2/x\r\n"), reply(308, "", "Location: /v3/x\r\n")});
  try {
    c.execute({"POST", api.url("/v1/x"), {{"Api-Key", "tok-APIKEY"}}, "{}"});
    FAIL() << "a second redirect was followed past max_redirects";
  } catch (const http_error& e) {
    EXPECT_EQ(e.status(), 308);
  }
  EXPECT_EQ(api.requests(), 2);
  std::string seen = api.last_request();
  EXPECT_EQ(seen.rfind("POST /v2/x ", 0), 0u) << seen;
  EXPECT_NE(seen.find("Api-Key: tok-APIKEY"), std::string::npos) << seen;
}
