// Pages of ready-made documents (what a Python source journals): read back into documents, checked.
#include "backfill/sources/document_page.hpp"

#include <gtest/gtest.h>

#include <variant>

#include "backfill/core/errors.hpp"

using namespace backfill;

namespace {

std::vector<document> read(const std::string& body) {
  std::vector<document> out;
  read_document_page(body, "jsonl", "tickets", [&](document&& d) { out.push_back(std::move(d)); });
  return out;
}

}  // namespace

TEST(DocumentPage, ReadsEveryFieldAndFlatMetadata) {
  auto docs = read(R"({"documents": [
      {"id": "t:1", "title": "One", "text": "body", "url": "https://x/1", "created_at": "2024-01-01T00:00:00Z",
       "updated_at": "2024-02-01T00:00:00Z", "metadata": {"n": 3, "ok": true, "tags": ["a", "b"], "s": "x", "gone": null}},
      {"id": "t:2"}]})");
  ASSERT_EQ(docs.size(), 2u);
  const document& d = docs[0];
  EXPECT_EQ(d.id, "t:1");
  EXPECT_EQ(d.source, "jsonl");
  EXPECT_EQ(d.partition, "tickets");
  EXPECT_EQ(d.title, "One");
  EXPECT_EQ(d.text, "body");
  EXPECT_EQ(d.url, "https://x/1");
  EXPECT_EQ(d.updated_at, "2024-02-01T00:00:00Z");
  EXPECT_EQ(d.meta.to_json(), R"({"n":3,"ok":true,"s":"x","tags":["a","b"]})");
  EXPECT_EQ(docs[1].id, "t:2");
  EXPECT_TRUE(docs[1].meta.empty());
}

TEST(DocumentPage, IdsInOrder) {
  std::vector<std::string> ids;
  document_page_ids(R"({"documents": [{"id": "b"}, {"id": "a"}, {"id": "b"}]})",
                    [&](std::string_view id) { ids.emplace_back(id); });
  EXPECT_EQ(ids, (std::vector<std::string>{"b", "a", "b"}));
}

TEST(DocumentPage, WrongShapesNameTheDocumentAndField) {
  auto message = [](const std::string& body) {
    try {
      read(body);
    } catch (const source_error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(message("{not json").find("not valid JSON"), std::string::npos);
  EXPECT_NE(message(R"({"items": []})").find("no \"documents\" list"), std::string::npos);
  EXPECT_NE(message(R"({"documents": [{"id": ""}]})").find("document 0 of a page has no \"id\""),
            std::string::npos);
  EXPECT_NE(
      message(R"({"documents": [{"id": "x", "title": 5}]})").find("document x: \"title\" must be a string"),
      std::string::npos);
  EXPECT_NE(message(R"({"documents": [{"id": "x", "metadata": {"o": {"a": 1}}}]})").find("metadata \"o\""),
            std::string::npos);
  EXPECT_NE(message(R"({"documents": [{"id": "x", "metadata": {"l": [1]}}]})").find("list of strings"),
            std::string::npos);
  EXPECT_NE(message(R"({"documents": [{"id": "x", "metadata": []}]})").find("must be an object"),
            std::string::npos);
}
