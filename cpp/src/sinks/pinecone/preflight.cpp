// Pinecone's preflight checks: the index (key, dimension, metric, what the namespace holds), then
// the transport of upserts.
#include <string_view>

#include <fmt/format.h>
#include <simdjson.h>

#include "backfill/core/errors.hpp"
#include "backfill/http/scrub.hpp"
#include "backfill/preflight/checks.hpp"
#include "backfill/sinks/pinecone/pinecone.hpp"
#include "parse.hpp"

namespace backfill {
namespace {

// How long the gRPC probe may take, connection and HTTP/2 preface included (retries too): a server
// that speaks only HTTP/1.1 may never answer the preface, and a run must not wait minutes to learn it.
constexpr double grpc_probe_seconds = 3;
constexpr const char* use_rest =
    "set transport = \"rest\" in [sink] (the endpoint, or a proxy before it, does not speak gRPC over "
    "HTTP/2)";

std::string_view text_at(simdjson::dom::element root, const char* key) {
  std::string_view v;
  return root.at_key(key).get(v) == simdjson::SUCCESS ? v : std::string_view{};
}

}  // namespace

void pinecone_sink::preflight(preflight_checks& out, int dimension, run_context& ctx) {
  out.run("sink", "index", "check sink.host and sink.api_key", [&] {
    http::response resp = call(make("POST", "/describe_index_stats", "{}"));
    simdjson::dom::parser parser;
    const simdjson::dom::element root = pinecone_detail::parse(parser, resp);
    const sink_stats s = pinecone_detail::read_stats(root, ns_);
    const std::string_view metric = text_at(root, "metric");
    const std::string_view type = text_at(root, "vectorType");
    check_outcome o;
    o.verdict =
        fmt::format("Pinecone {}: dimension {}{}; namespace \"{}\" holds {} records", http::scrub_url(base_),
                    s.dimension, metric.empty() ? "" : fmt::format(", metric {}", metric), ns_, s.count);
    if (type == "sparse") {
      o.status = "failed";
      o.verdict += "; a sparse index, which takes no dense vectors";
      o.fix = "use a dense index (sink.host): create it with vector_type \"dense\"";
    } else if (s.dimension != 0 && s.dimension != dimension) {
      o.status = "failed";
      o.verdict += fmt::format(", but the embedder makes vectors of dimension {}", dimension);
      o.fix = fmt::format(
          "use an index of dimension {} in sink.host, or set embedder.dimensions = {} (models "
          "that allow it)",
          dimension, s.dimension);
    } else if (metric == "euclidean") {
      o.status = "warning";
      o.fix =
          "query scores are distances (lower is nearer); embedding models are made for cosine or dotproduct";
    }
    return o;
  });
  if (!grpc()) return;
  out.run("sink", "transport", use_rest, [&] {
    http::client_options o = grpc_client_->options();
    o.connect_timeout = grpc_probe_seconds;
    o.timeout = grpc_probe_seconds;
    o.retry.max_elapsed = grpc_probe_seconds;
    http::client probe(std::move(o));
    http::request r = make_grpc(std::string(5, '\0'));  // an empty DescribeIndexStatsRequest
    r.url = base_ + "/VectorService/DescribeIndexStats";
    const std::string where = http::scrub_url(base_);
    try {
      probe.execute(std::move(r), &ctx);
    } catch (const http::http_error& e) {
      if (e.status() == 401 || e.status() == 403 ||
          e.grpc_status() == pinecone_detail::grpc_unauthenticated ||
          e.grpc_status() == pinecone_detail::grpc_permission_denied)
        std::rethrow_exception(explain(e));
      // Any other gRPC status is an answer: the transport works (the refusal is another check's).
      if (e.grpc_status() > 0)
        return check_outcome{"ok", fmt::format("gRPC answers at {} (status {})", where, e.grpc_status()), ""};
      // No gRPC answer: a setting to change, not a wait (the cause's retryability does not carry over).
      throw config_error(
          fmt::format("Pinecone {}: gRPC (HTTP/2) did not answer ({}); {}", where, e.what(), use_rest));
    }
    return check_outcome{"ok", fmt::format("gRPC answers at {}", where), ""};
  });
}

}  // namespace backfill
