// The local index's search: top-k by cosine similarity, a scan of the namespace computed in C++.
#include <algorithm>
#include <cmath>
#include <string>
#include <string_view>
#include <vector>

#include "backfill/sinks/local/local_index.hpp"
#include "sinks/local/storage.hpp"

namespace backfill {

using local_store::decode_vector;
using local_store::in_quotes;
using local_store::read_snapshot;
using local_store::translate;

std::vector<query_match> local_index::query(const std::vector<float>& vector, std::size_t top_k) {
  std::vector<query_match> out;
  if (top_k == 0) return out;
  if (vector.empty()) throw sink_error("local index " + path_.string() + ": the query vector is empty");
  double qnorm2 = 0;
  for (std::size_t i = 0; i < vector.size(); ++i) {
    if (!std::isfinite(vector[i]))
      throw sink_error("local index " + path_.string() +
                       ": the query vector has a non-finite value at position " + std::to_string(i));
    qnorm2 += static_cast<double>(vector[i]) * vector[i];
  }
  const double qnorm = std::sqrt(qnorm2);
  const std::size_t dim = vector.size();

  struct candidate {
    double score;
    std::string id;
  };
  // Ranking: higher score first; equal scores by id, bytewise ascending (deterministic).
  auto better = [](const candidate& a, const candidate& b) {
    if (a.score != b.score) return a.score > b.score;
    return a.id < b.id;
  };
  // A min-heap on `better` (std::push_heap keeps the worst kept candidate at the front).
  std::vector<candidate> heap;
  heap.reserve(std::min<std::size_t>(top_k, 4096));

  return translate([&] {
    read_snapshot snap(db_);
    {
      auto st = db_.prepare("SELECT id, vector FROM vectors WHERE namespace = ?1");
      st.bind(1, namespace_);
      std::vector<float> row(dim);
      while (st.step()) {
        std::string_view blob = st.column_blob(1);
        if (blob.size() != dim * 4) {
          const std::string id = st.column_string(0);
          throw sink_error("local index " + path_.string() + ": the query vector has dimension " +
                           std::to_string(dim) + " but record " + in_quotes(id) + " has dimension " +
                           std::to_string(blob.size() / 4));
        }
        decode_vector(blob, row);
        double dot = 0, norm2 = 0;
        for (std::size_t i = 0; i < dim; ++i) {
          const double v = row[i];
          dot += v * vector[i];
          norm2 += v * v;
        }
        double score = 0;  // a zero vector (query or row) is similar to nothing
        if (qnorm > 0 && norm2 > 0) score = std::clamp(dot / (qnorm * std::sqrt(norm2)), -1.0, 1.0);
        if (!std::isfinite(score)) score = 0;
        if (heap.size() < top_k) {
          heap.push_back({score, st.column_string(0)});
          std::push_heap(heap.begin(), heap.end(), better);
          continue;
        }
        const candidate& worst = heap.front();
        if (score < worst.score) continue;
        std::string_view id = st.column_text(0);
        if (score == worst.score && !(id < std::string_view(worst.id))) continue;
        std::pop_heap(heap.begin(), heap.end(), better);
        heap.back().score = score;
        heap.back().id.assign(id);
        std::push_heap(heap.begin(), heap.end(), better);
      }
    }
    std::sort(heap.begin(), heap.end(), better);
    std::vector<candidate>& best = heap;
    auto st = db_.prepare("SELECT metadata FROM vectors WHERE namespace = ?1 AND id = ?2");
    out.reserve(best.size());
    for (auto& c : best) {
      st.bind(1, namespace_).bind(2, c.id);
      std::string meta = st.step() ? st.column_string(0) : std::string("{}");
      st.reset();
      out.push_back({std::move(c.id), c.score, std::move(meta)});
    }
    snap.end();
    return std::move(out);
  });
}

}  // namespace backfill
