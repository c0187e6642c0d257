// The OpenAI-compatible embedder's preflight check: one input embedded (a few tokens' cost), which
// proves the key, the model and the vectors' dimension at once.
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "backfill/embed/openai.hpp"
#include "backfill/preflight/checks.hpp"

namespace backfill {

void openai_embedder::preflight(preflight_checks& out, run_context& ctx) {
  out.run("embedder", "embedding",
          "check embedder.model, and set embedder.dimensions to what the model makes (or leave it out)", [&] {
            std::vector<std::vector<float>> got;
            const std::vector<std::string_view> one = {"backfill preflight"};
            embed_parts(
                one, [&](std::size_t, std::vector<std::vector<float>>& part) { got = std::move(part); },
                &ctx);
            check_outcome o;
            const std::size_t n = got.empty() ? 0 : got.front().size();
            o.verdict = fmt::format("{}: one input embedded, {} values", describe(), n);
            if (n != static_cast<std::size_t>(dimension())) {
              o.status = "failed";
              o.verdict += fmt::format(", but {} were expected", dimension());
              o.fix = fmt::format("set embedder.dimensions = {} (or leave it out)", n);
            }
            return o;
          });
}

}  // namespace backfill
