// Reading a page whose JSON fails to parse because of some of its items: a string with invalid
// UTF-8 or a lone surrogate escape, nesting deeper than the parser allows. The page's structure is
// still whole, so the items can be told apart without parsing them: each unreadable item is named
// (its position, its id when one can be read, the reason) and replaced by `null`, and the rest of
// the page reads as usual. A body whose structure is broken (truncated, malformed) cannot be mended.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace backfill::json {

class text_index;  // core/json_walk.hpp

// Where a source's pages keep their items: the JSON pointer of the array ("" = the page is the
// array), the field of an item that holds its id, and the prefix that makes that id a document id.
// An empty layout (`items_pointer` "" and `id_field` "", no `name`, not `at_root`) means the source
// cannot tell items apart.
struct item_layout {
  std::string items_pointer;
  std::string id_field;
  std::string id_prefix;
  // Names an unreadable item from its page and its raw JSON (raw_member reads its fields), for pages
  // whose items are named by more than one field (GitHub's issues and comments); else the name is
  // id_prefix + the item's id_field.
  std::function<std::string(std::string_view page, std::string_view item)> name = {};
  // The page is the items array itself: known even without an id field to name the items by.
  bool at_root = false;
  bool known() const noexcept { return !items_pointer.empty() || !id_field.empty() || name || at_root; }
};

// The member `key` of the JSON object `object` read without parsing it, as a person can read it: a
// string's bytes (printable ASCII only when they are not valid UTF-8) or a number's digits; "" when
// it is absent or neither.
std::string raw_member(std::string_view object, std::string_view key);

struct unreadable_item {
  std::size_t position = 0;  // in the items array, from 0
  std::string id;            // the id (with the layout's prefix) when it could be read, else ""
  std::string reason;
};

// True when `body` is one complete JSON value with balanced brackets and closed strings (its strings'
// bytes are not checked): what a response cut short or a page of something else is not.
bool structure_whole(std::string_view body) noexcept;

// True when `body` parses, or when all that stops it is inside strings or nesting (invalid UTF-8, a
// lone surrogate, too deep) in a whole structure, which mend_items can read around. False for a
// body cut short or malformed: a fresh request may bring it whole. `body` has simdjson's padding.
// `keep`: the index the check makes is left in *keep (made there or reused) for the body's reader
// (json::walk::over), when the body is whole and has the padding; *keep is reset when there is no
// memory for one.
bool whole_answer(const std::string& body, std::shared_ptr<text_index>* keep = nullptr);

// When `body` does not parse but its items can be told apart, writes into `mended` the body with
// every unreadable item replaced by `null`, appends those items to `bad` and returns true; `mended`
// then parses. Returns false when the page cannot be mended (its structure is broken, the array is
// not where the layout says, or what fails is outside the items).
bool mend_items(std::string_view body, const item_layout& layout, std::string& mended,
                std::vector<unreadable_item>& bad);

// `body` when it parses, or when it cannot be mended (a parse of it then says what is wrong); else
// the mended body, written into `scratch` (with simdjson's padding), its unreadable items appended
// to `bad`.
const std::string& readable(const std::string& body, const item_layout& layout, std::string& scratch,
                            std::vector<unreadable_item>& bad);

}  // namespace backfill::json
