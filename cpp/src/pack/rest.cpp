#include "backfill/pack/rest.hpp"

#include "backfill/core/json.hpp"

namespace backfill::pack {

rest_upsert_encoder::rest_upsert_encoder(std::string_view name_space) {
  head_ = "{\"namespace\":";
  json::append_string(head_, name_space);
  head_ += ",\"vectors\":[";
}

std::size_t rest_upsert_encoder::prepare(const record& r) {
  one_.clear();
  one_.reserve(r.values.size() * 12 + r.metadata_json.size() + r.id.size() + 64);
  one_ += "{\"id\":";
  json::append_string(one_, r.id);
  one_ += ",\"values\":[";
  json::append_floats(one_, r.values);
  one_ += "],\"metadata\":";
  one_ += r.metadata_json.empty() ? "{}" : r.metadata_json;
  one_.push_back('}');
  return one_.size();
}

void rest_upsert_encoder::begin(std::string& body) { body.assign(head_); }

void rest_upsert_encoder::append(std::string& body, const record&, bool first) {
  if (!first) body.push_back(',');
  body += one_;
}

void rest_upsert_encoder::finish(std::string& body) { body += "]}"; }

}  // namespace backfill::pack
