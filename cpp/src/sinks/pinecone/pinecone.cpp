// Pinecone's data plane but upserts (upsert.cpp): construction, request making, and the reads.
#include "backfill/sinks/pinecone/pinecone.hpp"

#include <algorithm>

#include <curl/curl.h>
#include <fmt/format.h>
#include <simdjson.h>

#include "backfill/core/errors.hpp"
#include "backfill/core/hash.hpp"
#include "backfill/core/json.hpp"
#include "backfill/core/padded_json.hpp"
#include "backfill/http/quota_headers.hpp"
#include "backfill/http/scrub.hpp"
#include "backfill/http/url.hpp"
#include "parse.hpp"

namespace backfill {
namespace {

constexpr const char* default_namespace = "__default__";

std::vector<float> read_values(simdjson::dom::element e) {
  std::vector<float> out;
  simdjson::dom::array arr;
  if (e.get(arr)) return out;
  out.reserve(arr.size());
  for (simdjson::dom::element v : arr) {
    double d = 0;
    if (!v.get(d)) out.push_back(static_cast<float>(d));
  }
  return out;
}

std::string read_metadata(simdjson::dom::element e) {
  simdjson::dom::element m;
  if (e.at_key("metadata").get(m)) return "{}";
  // Canonical, as the ledger hashed it: a verification compares the text's hash first.
  std::string out;
  if (json::append_canonical(out, m)) return out;
  return simdjson::minify(m);
}

}  // namespace

namespace pinecone_detail {

simdjson::dom::element parse(simdjson::dom::parser& p, const http::response& r) {
  simdjson::dom::element root;
  if (simdjson::error_code err = json::parse_padded(p, r.body, root))
    throw sink_error(fmt::format("{}: Pinecone answered with something that is not JSON ({}): {}", r.url,
                                 simdjson::error_message(err), http::excerpt(r.body, 200)));
  return root;
}

}  // namespace pinecone_detail

pinecone_sink::pinecone_sink(pinecone_options options) : options_(std::move(options)) {
  if (options_.host.empty())
    throw config_error(
        "sink.host is required (the index host, e.g. https://my-index-abc123.svc.pinecone.io)");
  if (options_.api_key.empty())
    throw config_error(
        "sink.api_key is required (set it from the environment: api_key = \"${PINECONE_API_KEY}\")");
  if (options_.max_records < 1 || options_.max_records > 1000)
    throw config_error(
        fmt::format("sink.max_records must be between 1 and 1000, got {}", options_.max_records));
  if (options_.max_request_bytes < 1024 || options_.max_request_bytes > 2 * 1000 * 1000)
    throw config_error(fmt::format("sink.max_request_bytes must be between 1024 and 2000000, got {}",
                                   options_.max_request_bytes));
  base_ = options_.host;
  if (base_.find("://") == std::string::npos) base_ = "https://" + base_;
  while (!base_.empty() && base_.back() == '/') base_.pop_back();
  ns_ = (options_.namespace_.empty() || options_.namespace_ == default_namespace) ? default_namespace
                                                                                  : options_.namespace_;
  http::client_options o;
  o.service = "Pinecone";
  o.timeout = options_.timeout;
  o.verify_tls = options_.verify_tls;
  o.secrets = {options_.api_key};
  o.retry.max_attempts = options_.max_attempts;
  o.retry.base_delay = options_.base_delay;
  if (options_.rate < 0 || options_.byte_rate < 0)
    throw config_error("sink.rate and sink.byte_rate must be 0 (no limit) or positive");
  o.default_limit = {0, 1, options_.max_in_flight};
  o.max_total_in_flight = std::max(options_.max_in_flight, 1);
  // The documented rates are buckets of a second's worth that refill continuously; one request's worth
  // is kept in reserve, so that answers arriving closer together than they were sent still fit the
  // server's bucket. A 429's Retry-After and any X-RateLimit-* pace every request, not only the one refused.
  auto q = std::make_shared<http::quota>("Pinecone");
  q->meter("bytes");
  const double bytes = static_cast<double>(options_.max_request_bytes);
  if (options_.rate > 0) q->configure("requests", std::max(1.0, options_.rate - 1), options_.rate);
  if (options_.byte_rate > 0)
    q->configure("bytes", std::max(bytes, options_.byte_rate - bytes), options_.byte_rate);
  o.shared_quota = std::move(q);
  o.read_quota = http::read_ratelimit_quota;
  if (options_.transport == "grpc") {
    // gRPC needs HTTP/2 end to end. The engine's own connections carry the calls (cpp/src/http/h2/),
    // but through a proxy libcurl does, and a libcurl without HTTP/2 would quietly speak HTTP/1.1
    // there, which no gRPC server answers: refuse here, with the way out.
    if (!(curl_version_info(CURLVERSION_NOW)->features & CURL_VERSION_HTTP2))
      throw config_error(
          fmt::format("sink.transport \"grpc\" needs HTTP/2, and this libcurl ({}) was built "
                      "without it; set transport = \"rest\"",
                      curl_version_info(CURLVERSION_NOW)->version));
    http::client_options g = o;
    // For libcurl's path: http:// hosts (Pinecone Local, the fakes) speak HTTP/2 from the first
    // byte (h2c); https:// negotiates h2 by ALPN (client_options::http2).
    g.http2_prior_knowledge = base_.compare(0, 7, "http://") == 0;
    grpc_client_ = std::make_unique<http::client>(std::move(g));
  } else if (options_.transport != "rest") {
    throw config_error(
        fmt::format("sink.transport must be \"grpc\" or \"rest\", got \"{}\"", options_.transport));
  }
  client_ = std::make_unique<http::client>(std::move(o));
}

pinecone_sink::~pinecone_sink() = default;

std::string pinecone_sink::fit_record_id(std::string_view id) const {
  if (!id.empty() && id.size() <= 512 && id.find(' ') == std::string_view::npos) return std::string(id);
  std::string cleaned(id);
  std::replace(cleaned.begin(), cleaned.end(), ' ', '_');
  std::string suffix = "~";
  suffix += hash_hex(id);  // of the original: distinct ids stay distinct
  return std::string(json::utf8_prefix(cleaned, 512 - suffix.size())) + suffix;
}

std::string pinecone_sink::identity() const { return "pinecone:" + http::scrub_url(base_) + "#" + ns_; }

std::string pinecone_sink::describe() const {
  return fmt::format("Pinecone index {} (namespace \"{}\")", http::scrub_url(base_), ns_);
}

std::size_t pinecone_sink::max_batch() const {
  return options_.max_records * static_cast<std::size_t>(std::max(1, options_.max_in_flight));
}

std::map<std::string, std::string> pinecone_sink::receipt_info() const {
  std::map<std::string, std::string> out{
      {"namespace", ns_}, {"api_version", options_.api_version}, {"transport", options_.transport}};
  if (long long lsn = max_lsn_.load(); lsn >= 0) out["request_lsn"] = std::to_string(lsn);
  return out;
}

http::request pinecone_sink::make(std::string method, std::string path, std::string body) const {
  http::request r;
  r.method = std::move(method);
  r.url = base_ + path;
  r.headers = {{"Api-Key", options_.api_key},
               {"X-Pinecone-Api-Version", options_.api_version},
               {"Accept", "application/json"}};
  if (!body.empty() || r.method == "POST") r.headers.push_back({"Content-Type", "application/json"});
  r.body = std::move(body);
  return r;
}

// A unary gRPC call of VectorService/Upsert (the proto has no package, so the service is plain
// "VectorService"). Metadata as the SDK's channel sends it: api-key, and the API version.
http::request pinecone_sink::make_grpc(std::string body) const {
  http::request r;
  r.method = "POST";
  r.url = base_ + "/VectorService/Upsert";
  r.headers = {{"Content-Type", "application/grpc"},
               {"TE", "trailers"},
               {"api-key", options_.api_key},
               {"X-Pinecone-Api-Version", options_.api_version}};
  r.body = std::move(body);
  r.grpc = true;
  return r;
}

http::response pinecone_sink::call(http::request r) { return wait(*client_, client_->submit(std::move(r))); }

std::vector<fetched_record> pinecone_sink::fetch(const std::vector<std::string>& ids) {
  std::vector<fetched_record> out;
  simdjson::dom::parser parser;
  std::size_t i = 0;
  std::vector<http::client::handle> handles;
  // Batches of <= 1000 ids and a URL of <= 12 kB; a few requests in flight at once.
  while (i < ids.size()) {
    std::string path = "/vectors/fetch?namespace=" + http::url_encode(ns_);
    std::size_t n = 0;
    while (i < ids.size() && n < 1000 && path.size() < 12000) {
      path += "&ids=" + http::url_encode(ids[i]);  // repeated, as the spec's form/explode style asks
      ++i;
      ++n;
    }
    handles.push_back(client_->submit(make("GET", path)));
  }
  for (auto& h : handles) {
    http::response resp = wait(*client_, h);
    simdjson::dom::element root = pinecone_detail::parse(parser, resp);
    simdjson::dom::object vectors;
    if (root.at_key("vectors").get(vectors)) continue;
    for (auto kv : vectors) {
      fetched_record r;
      r.id = std::string(kv.key);
      simdjson::dom::element values;
      if (!kv.value.at_key("values").get(values)) r.values = read_values(values);
      r.metadata_json = read_metadata(kv.value);
      out.push_back(std::move(r));
    }
  }
  return out;
}

void pinecone_sink::remove(const std::vector<std::string>& ids) {
  for (std::size_t i = 0; i < ids.size(); i += 1000) {
    std::string body = "{\"namespace\":";
    json::append_string(body, ns_);
    body += ",\"ids\":[";
    for (std::size_t j = i; j < std::min(ids.size(), i + 1000); ++j) {
      if (j > i) body.push_back(',');
      json::append_string(body, ids[j]);
    }
    body += "]}";
    call(make("POST", "/vectors/delete", std::move(body)));
  }
}

std::vector<std::string> pinecone_sink::list(std::string_view prefix, std::string_view after,
                                             std::size_t limit) {
  std::vector<std::string> out;
  std::string token;
  simdjson::dom::parser parser;
  while (out.size() < limit) {
    std::string path = http::with_query("/vectors/list", "namespace", ns_);
    path = http::with_query(path, "prefix", prefix);
    path = http::with_query(path, "limit", "100");
    if (!token.empty()) path = http::with_query(path, "paginationToken", token);
    http::response resp = call(make("GET", path));
    simdjson::dom::element root = pinecone_detail::parse(parser, resp);
    simdjson::dom::array vectors;
    if (!root.at_key("vectors").get(vectors)) {
      for (simdjson::dom::element v : vectors) {
        std::string_view id;
        if (v.at_key("id").get(id)) continue;
        if (id > after && out.size() < limit) out.emplace_back(id);
      }
    }
    std::string_view next;
    if (root.at_pointer("/pagination/next").get(next) || next.empty()) break;
    token = std::string(next);
  }
  return out;
}

sink_stats pinecone_sink::stats() {
  http::response resp = call(make("POST", "/describe_index_stats", "{}"));
  simdjson::dom::parser parser;
  return pinecone_detail::read_stats(pinecone_detail::parse(parser, resp), ns_);
}

sink_stats pinecone_detail::read_stats(simdjson::dom::element root, const std::string& ns) {
  sink_stats s;
  std::int64_t dim = 0;
  if (!root.at_key("dimension").get(dim)) s.dimension = static_cast<int>(dim);
  simdjson::dom::object namespaces;
  if (!root.at_key("namespaces").get(namespaces)) {
    for (auto kv : namespaces) {
      bool ours = kv.key == ns || (ns == default_namespace && kv.key.empty());
      if (!ours) continue;
      std::int64_t n = 0;
      if (!kv.value.at_key("vectorCount").get(n)) s.count = std::max<std::int64_t>(s.count, n);
    }
  }
  return s;
}

std::vector<query_match> pinecone_sink::query(const std::vector<float>& vector, std::size_t top_k) {
  std::string body = "{\"namespace\":";
  json::append_string(body, ns_);
  body += fmt::format(",\"topK\":{},\"includeMetadata\":true,\"includeValues\":false,\"vector\":[", top_k);
  json::append_floats(body, vector);
  body += "]}";
  http::response resp = call(make("POST", "/query", std::move(body)));
  simdjson::dom::parser parser;
  simdjson::dom::element root = pinecone_detail::parse(parser, resp);
  std::vector<query_match> out;
  simdjson::dom::array matches;
  if (root.at_key("matches").get(matches)) return out;
  for (simdjson::dom::element m : matches) {
    query_match q;
    std::string_view id;
    if (m.at_key("id").get(id)) continue;
    q.id = std::string(id);
    double score = 0;
    if (!m.at_key("score").get(score)) q.score = score;
    q.metadata_json = read_metadata(m);
    out.push_back(std::move(q));
  }
  return out;
}

}  // namespace backfill
