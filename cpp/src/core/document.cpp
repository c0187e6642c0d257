#include "backfill/core/document.hpp"

#include <algorithm>
#include <cmath>

#include "backfill/core/hash.hpp"
#include "backfill/core/json.hpp"

namespace backfill {

void metadata::set(std::string key, meta_value value) {
  for (auto& f : fields_) {
    if (f.key == key) {
      f.value = std::move(value);
      return;
    }
  }
  fields_.push_back({std::move(key), std::move(value)});
}

const meta_value* metadata::get(std::string_view key) const noexcept {
  for (const auto& f : fields_)
    if (f.key == key) return &f.value;
  return nullptr;
}

void append_json(std::string& out, const meta_value& v) {
  std::visit(
      [&](const auto& x) {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, std::string>) {
          json::append_string(out, x);
        } else if constexpr (std::is_same_v<T, double>) {
          json::append_number(out, x);
        } else if constexpr (std::is_same_v<T, bool>) {
          out += x ? "true" : "false";
        } else {
          out.push_back('[');
          for (std::size_t i = 0; i < x.size(); ++i) {
            if (i) out.push_back(',');
            json::append_string(out, x[i]);
          }
          out.push_back(']');
        }
      },
      v);
}

std::string metadata::to_json() const {
  std::vector<const meta_field*> sorted;
  sorted.reserve(fields_.size());
  for (const auto& f : fields_) sorted.push_back(&f);
  std::sort(sorted.begin(), sorted.end(), [](auto* a, auto* b) { return a->key < b->key; });
  std::string out = "{";
  bool first = true;
  for (const auto* f : sorted) {
    if (const double* d = std::get_if<double>(&f->value); d && !std::isfinite(*d)) continue;
    if (!first) out.push_back(',');
    first = false;
    json::append_string(out, f->key);
    out.push_back(':');
    append_json(out, f->value);
  }
  out.push_back('}');
  return out;
}

std::string document::content_hash() const {
  hasher h;
  h.field(id).field(source).field(title).field(text).field(url).field(created_at).field(updated_at);
  h.field(meta.to_json());
  return h.digest().hex();
}

std::string escape_key(std::string_view key) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(key.size());
  for (unsigned char c : key) {
    if (c < 0x20 || c == 0x7f || c == '%') {
      out.push_back('%');
      out.push_back(hex[c >> 4]);
      out.push_back(hex[c & 15]);
    } else {
      out.push_back(static_cast<char>(c));
    }
  }
  return out;
}

std::string chunk_id(std::string_view doc_id, int index) {
  std::string out(doc_id);
  out.push_back('#');
  out += std::to_string(index);
  return out;
}

}  // namespace backfill
