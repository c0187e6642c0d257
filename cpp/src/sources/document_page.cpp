#include "backfill/sources/document_page.hpp"

#include <fmt/format.h>
#include <simdjson.h>

#include "backfill/core/errors.hpp"

namespace backfill {
namespace {

using simdjson::dom::element;

simdjson::dom::array documents_of(const std::string& body) {
  thread_local simdjson::dom::parser parser;
  element root;
  if (auto err = parser.parse(body).get(root))
    throw source_error(
        fmt::format("a page of documents is not valid JSON: {}", simdjson::error_message(err)));
  simdjson::dom::array docs;
  if (root["documents"].get(docs)) throw source_error("a page of documents has no \"documents\" list");
  return docs;
}

std::string_view id_of(element doc, std::size_t index) {
  std::string_view id;
  if (doc["id"].get(id) || id.empty())
    throw source_error(fmt::format("document {} of a page has no \"id\" (a non-empty string)", index));
  for (unsigned char c : id)
    if (c < 0x20 || c == 0x7f)
      throw source_error(fmt::format(
          "document {} of a page: its id holds the control character 0x{:02x}; ids must be printable "
          "(escape the source's key, e.g. as %{:02X})",
          index, c, c));
  return id;
}

void read_text(element doc, std::string_view id, const char* field, std::string& out) {
  element value;
  if (doc[field].get(value) || value.is_null()) return;
  std::string_view s;
  if (value.get(s))
    throw source_error(
        fmt::format("document {}: \"{}\" must be a string, got {}", id, field, simdjson::to_string(value)));
  out = std::string(s);
}

meta_value meta_of(element value, std::string_view id, std::string_view key) {
  std::string_view s;
  if (!value.get(s)) return std::string(s);
  bool b;
  if (!value.get(b)) return b;
  double d;
  if (!value.get(d)) return d;
  simdjson::dom::array list;
  if (!value.get(list)) {
    std::vector<std::string> strings;
    for (element item : list) {
      if (item.get(s)) break;
      strings.emplace_back(s);
    }
    if (strings.size() == list.size()) return strings;
  }
  throw source_error(
      fmt::format("document {}: metadata \"{}\" must be a string, number, bool or list of strings", id, key));
}

}  // namespace

void read_document_page(const std::string& body, std::string_view source, std::string_view partition,
                        const document_fn& emit, const skip_fn& skip) {
  std::size_t index = 0;
  for (element doc : documents_of(body)) {
    const std::size_t at = index++;
    if (doc.is_null()) continue;
    document d;
    try {
      d.id = std::string(id_of(doc, at));
    } catch (const source_error& e) {
      if (!skip) throw;
      skip(at, "", e.what());
      continue;
    }
    d.source = std::string(source);
    d.partition = std::string(partition);
    read_text(doc, d.id, "title", d.title);
    read_text(doc, d.id, "text", d.text);
    read_text(doc, d.id, "url", d.url);
    read_text(doc, d.id, "created_at", d.created_at);
    read_text(doc, d.id, "updated_at", d.updated_at);
    element meta;
    if (!doc["metadata"].get(meta) && !meta.is_null()) {
      simdjson::dom::object fields;
      if (meta.get(fields))
        throw source_error(fmt::format("document {}: \"metadata\" must be an object", d.id));
      for (auto field : fields)
        if (!field.value.is_null()) d.meta.set(std::string(field.key), meta_of(field.value, d.id, field.key));
    }
    emit(std::move(d));
  }
}

void document_page_ids(const std::string& body, const item_fn& fn) {
  std::size_t index = 0;
  for (element doc : documents_of(body)) {
    const std::size_t at = index++;
    if (!doc.is_null()) fn(id_of(doc, at));
  }
}

}  // namespace backfill
