// The Pinecone sink over REST against a loopback server that answers as Pinecone's data plane does
// (upsert, fetch, list with pagination, delete, describe_index_stats), storing what it is sent; and
// records handed in from outside the pipeline (pack::upsert_in_slices), fitted before packing.
#include <gtest/gtest.h>

#include <simdjson.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "backfill/core/errors.hpp"
#include "backfill/core/json.hpp"
#include "backfill/pack/upsert_feed.hpp"
#include "backfill/sinks/pinecone/pinecone.hpp"
#include "loopback.hpp"

using namespace backfill;

namespace {

std::string percent_decode(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      out.push_back(static_cast<char>(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16)));
      i += 2;
    } else {
      out.push_back(s[i] == '+' ? ' ' : s[i]);
    }
  }
  return out;
}

struct stored {
  std::vector<float> values;
  std::string metadata;  // minified JSON
};

// One request per connection (Connection: close), handled in order of arrival.
class pinecone_server {
 public:
  pinecone_server() {
    fd_ = test_net::listen_loopback(port_);
    thread_ = std::thread([this] { serve(); });
  }
  ~pinecone_server() {
    ::shutdown(fd_, SHUT_RDWR);
    ::close(fd_);
    thread_.join();
  }
  std::string host() const { return "http://127.0.0.1:" + std::to_string(port_); }

  std::mutex mutex;
  std::map<std::string, std::map<std::string, stored>> namespaces;  // namespace -> id -> record
  std::vector<std::string> requests;                                // "METHOD /path?query"
  std::vector<std::size_t> upsert_sizes;                            // records a request
  std::vector<std::string> headers;                                 // of the last request
  std::size_t drop_last = 0;  // per upsert: records acknowledged and stored short (a lossy index)
  std::size_t page = 3;       // ids a page of list

 private:
  void serve() {
    while (true) {
      int c = ::accept(fd_, nullptr, nullptr);
      if (c < 0) return;
      handle(c);
      ::close(c);
    }
  }

  void handle(int c) {
    std::string in;
    char buf[65536];
    std::size_t head_end = std::string::npos, length = 0;
    while (head_end == std::string::npos || in.size() < head_end + 4 + length) {
      ssize_t n = ::recv(c, buf, sizeof buf, 0);
      if (n <= 0) return;
      in.append(buf, static_cast<std::size_t>(n));
      if (head_end == std::string::npos && (head_end = in.find("\r\n\r\n")) != std::string::npos) {
        std::string head = in.substr(0, head_end);
        for (auto& ch : head) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
        if (auto at = head.find("content-length:"); at != std::string::npos)
          length = std::stoul(head.substr(at + 15));
      }
    }
    std::string line = in.substr(0, in.find("\r\n"));
    std::string method = line.substr(0, line.find(' '));
    std::string target = line.substr(method.size() + 1, line.rfind(' ') - method.size() - 1);
    std::string body = in.substr(head_end + 4, length);
    std::string path = target.substr(0, target.find('?'));
    std::multimap<std::string, std::string> query;
    if (auto q = target.find('?'); q != std::string::npos) {
      std::string rest = target.substr(q + 1);
      for (std::size_t at = 0; at <= rest.size();) {
        std::size_t amp = std::min(rest.find('&', at), rest.size());
        std::string kv = rest.substr(at, amp - at);
        std::size_t eq = kv.find('=');
        query.emplace(percent_decode(kv.substr(0, eq)),
                      eq == std::string::npos ? "" : percent_decode(kv.substr(eq + 1)));
        at = amp + 1;
      }
    }
    std::string reply;
    {
      std::lock_guard<std::mutex> lock(mutex);
      requests.push_back(method + " " + target);
      headers.clear();
      for (std::size_t at = in.find("\r\n") + 2; at < head_end;) {
        std::size_t end = in.find("\r\n", at);
        headers.push_back(in.substr(at, end - at));
        at = end + 2;
      }
      reply = answer(method, path, query, body);
    }
    std::string out = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " +
                      std::to_string(reply.size()) + "\r\nConnection: close\r\n\r\n" + reply;
    ::send(c, out.data(), out.size(), MSG_NOSIGNAL);
  }

  std::string answer(const std::string& method, const std::string& path,
                     const std::multimap<std::string, std::string>& query, const std::string& body) {
    simdjson::dom::parser parser;
    simdjson::dom::element root;
    if (method == "POST" && parser.parse(body).get(root)) return R"({"error":"not JSON"})";
    auto ns_of_query = [&] { return query.count("namespace") ? query.find("namespace")->second : ""; };
    if (path == "/vectors/upsert") {
      std::string_view ns;
      simdjson::dom::array vectors;
      if (root.at_key("namespace").get(ns) || root.at_key("vectors").get(vectors))
        return R"({"error":"shape"})";
      std::size_t n = vectors.size(), keep = n > drop_last ? n - drop_last : 0, k = 0;
      upsert_sizes.push_back(n);
      for (simdjson::dom::element v : vectors) {
        if (k++ >= keep) break;
        std::string_view id;
        simdjson::dom::array values;
        simdjson::dom::element metadata;
        if (v.at_key("id").get(id) || v.at_key("values").get(values) || v.at_key("metadata").get(metadata))
          return R"({"error":"vector shape"})";
        stored s;
        for (simdjson::dom::element x : values)
          s.values.push_back(static_cast<float>(x.get_double().value_unsafe()));
        s.metadata = simdjson::minify(metadata);
        namespaces[std::string(ns)][std::string(id)] = std::move(s);
      }
      return "{\"upsertedCount\":" + std::to_string(keep) + "}";
    }
    if (path == "/vectors/fetch") {
      auto& space = namespaces[ns_of_query()];
      std::string out = R"({"vectors":{)";
      bool first = true;
      auto [from, to] = query.equal_range("ids");
      for (auto it = from; it != to; ++it) {
        auto found = space.find(it->second);
        if (found == space.end()) continue;
        if (!first) out += ",";
        first = false;
        json::append_string(out, it->second);
        out += R"(:{"id":)";
        json::append_string(out, it->second);
        out += R"(,"values":[)";
        json::append_floats(out, found->second.values);
        out += R"(],"metadata":)" + found->second.metadata + "}";
      }
      return out + "}}";
    }
    if (path == "/vectors/list") {
      auto& space = namespaces[ns_of_query()];
      std::string prefix = query.count("prefix") ? query.find("prefix")->second : "";
      std::string token = query.count("paginationToken") ? query.find("paginationToken")->second : "";
      std::string out = R"({"vectors":[)";
      std::size_t n = 0;
      std::string last;
      for (auto it = token.empty() ? space.begin() : space.upper_bound(token); it != space.end() && n < page;
           ++it) {
        if (it->first.compare(0, prefix.size(), prefix) != 0) continue;
        out += n++ ? "," : "";
        out += R"({"id":)";
        json::append_string(out, it->first);
        out += "}";
        last = it->first;
      }
      out += "]";
      bool more = false;
      for (auto it = last.empty() ? space.end() : space.upper_bound(last); it != space.end(); ++it)
        more = more || it->first.compare(0, prefix.size(), prefix) == 0;
      if (more) {
        out += R"(,"pagination":{"next":)";
        json::append_string(out, last);
        out += "}";
      }
      return out + "}";
    }
    if (path == "/vectors/delete") {
      std::string_view ns;
      simdjson::dom::array ids;
      if (root.at_key("namespace").get(ns) || root.at_key("ids").get(ids)) return R"({"error":"shape"})";
      for (simdjson::dom::element id : ids)
        namespaces[std::string(ns)].erase(std::string(id.get_string().value_unsafe()));
      return "{}";
    }
    if (path == "/describe_index_stats") {
      std::string out = R"({"dimension":3,"namespaces":{)";
      bool first = true;
      for (auto& [ns, space] : namespaces) {
        if (!first) out += ",";
        first = false;
        json::append_string(out, ns);
        out += R"(:{"vectorCount":)" + std::to_string(space.size()) + "}";
      }
      return out + "}}";
    }
    return R"({"error":"no such path"})";
  }

  int fd_ = -1;
  int port_ = 0;
  std::thread thread_;
};

pinecone_options rest_options(const pinecone_server& server) {
  pinecone_options o;
  o.host = server.host();
  o.api_key = "pk-loopback-secret";
  o.namespace_ = "docs";
  o.transport = "rest";
  o.max_attempts = 1;
  o.rate = 0;
  return o;
}

std::vector<record> some_records(int n) {
  std::vector<record> out;
  for (int i = 0; i < n; ++i)
    out.push_back(
        {"doc-" + std::to_string(i) + "#0",
         {0.25f * static_cast<float>(i + 1), -1.5f, 3e-7f},
         R"({"i":)" + std::to_string(i) + R"(,"text":"chunk \u00e9 )" + std::to_string(i) + R"("})"});
  return out;
}

}  // namespace

TEST(PineconeSink, UpsertsFetchesListsAndDeletesOverRest) {
  pinecone_server server;
  pinecone_sink sink(rest_options(server));
  auto records = some_records(7);
  records.push_back({"other#0", {1.0f, 2.0f, 3.0f}, "{}"});
  records.push_back({"loose#0", {1.0f, 2.0f, 3.0f}, R"({ "z": 2.50, "a": [ "x" ], "m": 1.0 })"});
  EXPECT_EQ(sink.upsert(records), 9);
  records.pop_back();
  {
    std::lock_guard<std::mutex> lock(server.mutex);
    ASSERT_EQ(server.namespaces["docs"].size(), 9u);
    EXPECT_EQ(server.namespaces["docs"]["doc-3#0"].metadata, R"({"i":3,"text":"chunk é 3"})");
    bool key = false, version = false;
    for (auto& h : server.headers) {
      key = key || h == "Api-Key: pk-loopback-secret";
      version = version || h == "X-Pinecone-Api-Version: 2025-10";
    }
    EXPECT_TRUE(key && version);
  }
  // fetch: the stored values bit for bit, the metadata as sent; absent ids are simply missing.
  auto got = sink.fetch({"doc-1#0", "doc-6#0", "nope#0"});
  ASSERT_EQ(got.size(), 2u);
  std::map<std::string, fetched_record> by_id;
  for (auto& r : got) by_id[r.id] = r;
  EXPECT_EQ(by_id["doc-6#0"].values, records[6].values);
  EXPECT_EQ(by_id["doc-1#0"].metadata_json, R"({"i":1,"text":"chunk é 1"})");
  // Metadata comes back canonical (keys sorted, numbers in their shortest form), as the ledger hashed it.
  got = sink.fetch({"loose#0"});
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].metadata_json, R"({"a":["x"],"m":1,"z":2.5})");
  // list: a prefix, across pages of 3, in order; after and limit.
  std::vector<std::string> all = sink.list("doc-", "", 100);
  ASSERT_EQ(all.size(), 7u);
  for (int i = 0; i < 7; ++i) EXPECT_EQ(all[static_cast<std::size_t>(i)], "doc-" + std::to_string(i) + "#0");
  EXPECT_EQ(sink.list("doc-", "doc-4#0", 100), (std::vector<std::string>{"doc-5#0", "doc-6#0"}));
  EXPECT_EQ(sink.list("", "", 2).size(), 2u);
  // stats, then delete.
  EXPECT_EQ(sink.stats().count, 9);
  EXPECT_EQ(sink.stats().dimension, 3);
  sink.remove({"doc-0#0", "other#0", "loose#0", "nope#0"});
  EXPECT_EQ(sink.stats().count, 6);
  EXPECT_TRUE(sink.fetch({"doc-0#0"}).empty());
}

TEST(PineconeSink, PacksRequestsByCountAndSetsAsideARecordTooLargeAlone) {
  pinecone_server server;
  auto o = rest_options(server);
  o.max_records = 3;
  o.max_request_bytes = 1024;
  pinecone_sink sink(o);
  auto records = some_records(5);  // under 2 x max_records: packed on one thread, in order
  records[2].metadata_json = R"({"text":")" + std::string(2000, 'x') + R"("})";  // over 1024 bytes alone
  EXPECT_EQ(sink.upsert(records), 4);
  EXPECT_EQ(sink.take_unsendable(), std::vector<std::string>{"doc-2#0"});
  EXPECT_TRUE(sink.take_unsendable().empty());
  std::lock_guard<std::mutex> lock(server.mutex);
  std::sort(server.upsert_sizes.begin(), server.upsert_sizes.end());
  EXPECT_EQ(server.upsert_sizes, (std::vector<std::size_t>{1, 3}));
  EXPECT_EQ(server.namespaces["docs"].size(), 4u);
  EXPECT_FALSE(server.namespaces["docs"].count("doc-2#0"));
}

TEST(PineconeSink, AShortAcknowledgedCountIsLoss) {
  pinecone_server server;
  server.drop_last = 1;
  pinecone_sink sink(rest_options(server));
  try {
    sink.upsert(some_records(4));
    FAIL() << "a short count must raise";
  } catch (const sink_error& e) {
    std::string what = e.what();
    EXPECT_NE(what.find("an upsert of 4 records was acknowledged with upsertedCount 3"), std::string::npos)
        << what;
    EXPECT_NE(what.find("doc-0#0"), std::string::npos) << what;
    EXPECT_EQ(what.find("pk-loopback-secret"), std::string::npos) << what;
  }
}

TEST(PineconeSink, RefusesWhatPineconeWouldRefuseBeforeSending) {
  pinecone_server server;
  pinecone_sink sink(rest_options(server));
  auto bad_id = some_records(2);
  bad_id[1].id = "has a space";
  EXPECT_THROW(sink.upsert(bad_id), sink_error);
  auto zero = some_records(2);
  zero[0].values = {0.0f, -0.0f, 0.0f};
  EXPECT_THROW(sink.upsert(zero), sink_error);
  std::lock_guard<std::mutex> lock(server.mutex);
  EXPECT_TRUE(server.namespaces["docs"].empty());
}

TEST(PineconeSink, RecordsFromOutsideThePipelineAreFittedBeforePacking) {
  pinecone_server server;
  auto o = rest_options(server);
  o.metadata_max_bytes = 60;
  pinecone_sink sink(o);
  std::vector<record> records = some_records(700);
  records[0].metadata_json =
      R"({"title":"t","gone":null,"o":{"k":1},"text":")" + std::string(300, 'x') + R"("})";
  // Identity fields that cannot be shortened and do not fit: the record is not sent.
  records[1].metadata_json =
      R"({"chunk":1e300,"created_at":2e300,"doc_id":3e300,"partition":4e300,"url":5e300})";
  std::int64_t acked = pack::upsert_in_slices(
      sink, records.size(),
      [&](std::size_t begin, std::size_t end, std::vector<record>& out) {
        out.assign(records.begin() + static_cast<std::ptrdiff_t>(begin),
                   records.begin() + static_cast<std::ptrdiff_t>(end));
      },
      [](const std::function<void()>& fn) { fn(); });
  EXPECT_EQ(acked, 699);
  std::lock_guard<std::mutex> lock(server.mutex);
  auto& space = server.namespaces["docs"];
  EXPECT_EQ(space.size(), 699u);
  EXPECT_FALSE(space.count(records[1].id)) << space[records[1].id].metadata;
  const std::string& fitted = space[records[0].id].metadata;
  EXPECT_LE(fitted.size(), 60u);
  EXPECT_EQ(fitted.find("gone"), std::string::npos);
  EXPECT_NE(fitted.find(R"("o.k":1)"), std::string::npos) << fitted;
  EXPECT_NE(fitted.find(R"("title":"t")"), std::string::npos) << fitted;
}
