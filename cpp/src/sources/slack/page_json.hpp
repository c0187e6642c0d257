// Parsing Slack's JSON pages with reused parsers: an export's files (lists and day files, each a JSON
// array) and Web API answers (an object holding the array under a key).
#pragma once

#include <simdjson.h>

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace backfill::slack {

// The DOM types the Slack readers walk.
using simdjson::dom::array;
using simdjson::dom::element;
using simdjson::dom::object;

// Parsers are reused; a small pool keeps concurrent fetches and nested calls safe.
class parser_pool {
 public:
  // One parser, for as long as the lease lives.
  class lease {
   public:
    explicit lease(parser_pool& pool);
    ~lease();
    lease(const lease&) = delete;
    lease& operator=(const lease&) = delete;
    simdjson::dom::parser& operator*() { return *parser_; }

   private:
    parser_pool& pool_;
    std::unique_ptr<simdjson::dom::parser> parser_;
  };

 private:
  std::mutex mutex_;
  std::vector<std::unique_ptr<simdjson::dom::parser>> parsers_;
};

// Parses `body` as a JSON array, without a copy when it has simdjson padding capacity (journal pages
// do). Throws source_error naming `what` when it is not valid JSON or not an array.
simdjson::dom::array parse_array(simdjson::dom::parser& parser, const std::string& body,
                                 const std::string& what);

// The array under `key` of the JSON object `body` (a Web API answer's "messages"); throws source_error
// naming `what` when there is none.
simdjson::dom::array parse_array(simdjson::dom::parser& parser, const std::string& body,
                                 const std::string& what, std::string_view key);

// parse_array() of a journal page its reader was handed: json::parse_page takes the parse the
// journal's check made of these very bytes instead of parsing them again, else parses them into the
// thread's page parser. The array lasts until that parser's next parse (the next page read).
simdjson::dom::array journal_array(const std::string& body, const std::string& what);
simdjson::dom::array journal_array(const std::string& body, const std::string& what, std::string_view key);

// The number of items of a JSON array file.
std::int64_t count_items(simdjson::dom::parser& parser, const std::string& body, const std::string& what);

}  // namespace backfill::slack
