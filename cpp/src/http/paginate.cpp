// Pagination over the HTTP client: token/cursor, Link header and offset paging, every page checked
// by the pagination guard before anyone sees it.
#include <algorithm>
#include <optional>

#include <fmt/format.h>
#include <simdjson.h>

#include "backfill/core/json_items.hpp"
#include "backfill/core/json_walk.hpp"
#include "backfill/core/padded_json.hpp"
#include "backfill/http/paginate.hpp"
#include "backfill/http/scrub.hpp"
#include "backfill/http/url.hpp"
#include "http/text.hpp"

namespace backfill::http {
namespace {

std::string item_id(simdjson::dom::element item, const std::string& field) {
  simdjson::dom::element v;
  if (item.at_key(field).get(v)) return {};
  std::string_view s;
  if (!v.get(s)) return std::string(s);
  std::int64_t i;
  if (!v.get(i)) return std::to_string(i);
  std::uint64_t u;
  if (!v.get(u)) return std::to_string(u);
  return {};
}

// An item's id as item_id() reads it (a string, or an integer written as text; "" for anything
// else), the walk passed over it; nullopt when the walk cannot read it here.
std::optional<std::string> scanned_id(json::walk& w) {
  const char c = w.peek();
  if (c == '"') {
    auto s = w.string();
    if (w.failed()) return std::nullopt;
    return std::string(s.value_or(""));
  }
  if (c == '-' || (c >= '0' && c <= '9')) {
    json::walk unsigned_read = w;
    if (auto i = w.int64()) return std::to_string(*i);
    if (w.failed()) return std::nullopt;
    if (auto u = unsigned_read.uint64()) {
      w = unsigned_read;
      return std::to_string(*u);
    }
    if (unsigned_read.failed()) return std::nullopt;
    return std::string();  // a fraction
  }
  if (!w.skip()) return std::nullopt;
  return std::string();
}

// The key a JSON pointer names at the root of a document ("/issues" -> "issues"); nullopt when it
// goes deeper or escapes a character.
std::optional<std::string_view> root_key(const std::string& pointer) {
  if (pointer.size() < 2 || pointer[0] != '/' || pointer.find_first_of("/~", 1) != std::string::npos)
    return std::nullopt;
  return std::string_view(pointer).substr(1);
}

// What paging needs of a page: its items and, for token and offset paging, the next token (and
// whether this was the last page) or the total.
struct page_facts {
  std::int64_t items = 0;
  std::vector<std::string> ids;
  std::optional<std::string> token;
  std::optional<bool> last;
  std::optional<std::int64_t> total;
};

// The items array at the walk: each item counted, its id read, the members the caller asked for
// handed to it (page_spec::on_member), the rest passed over. False when an item is not an object or
// something cannot be read here.
bool scan_items(json::walk& w, const page_spec& spec, page_facts& f) {
  if (!w.enter_array()) return false;
  while (w.next_element()) {
    if (w.peek() != '{') return false;  // the whole parse says what the item is
    w.enter_object();
    const auto position = static_cast<std::size_t>(f.items);
    bool seen_id = false;
    std::string_view member;
    while (w.next_member(member)) {
      const bool wanted = spec.on_member && std::find(spec.item_members.begin(), spec.item_members.end(),
                                                      member) != spec.item_members.end();
      bool passed = false;  // the walk is past the member's value
      if (!spec.id_field.empty() && !seen_id && member == spec.id_field) {
        seen_id = true;
        json::walk id_read = w;
        auto id = scanned_id(id_read);
        if (!id) return false;
        if (!id->empty()) f.ids.push_back(std::move(*id));
        if (!wanted) {
          w = id_read;
          passed = true;
        }
      }
      if (wanted) {
        // The caller reads the value from where it starts and leaves the walk where it ends.
        if (!spec.on_member(position, member, w) || w.failed()) return false;
      } else if (!passed && !w.skip()) {
        return false;
      }
    }
    if (w.failed()) return false;
    ++f.items;
  }
  return !w.failed();
}

// Reads what paging needs of the response's body into `p` (items, ids, next_cursor) from its structural index
// (core/json_walk.hpp), in one pass over the root: the items (the root array, or a root member), the next
// token, whether it was the last page, the total. The first of repeated keys counts, as in a DOM
// lookup. False when the page is to be parsed whole instead (its pointers go deeper than the root,
// something in it cannot be read here); p is then as it was.
bool scan_page(const response& resp, const page_spec& spec, const std::string& cursor, page& p) {
  const std::string& body = resp.body;
  struct done {
    ~done() { json::walk::let_go(); }
  } index_let_go;
  // A root array has no token or total: only Link paging reads one.
  if (spec.items.empty() && spec.paging != page_spec::kind::link) return false;
  auto walk = json::walk::over(body, resp.index.get());  // the engine's index of the page, as it checked it
  if (!walk) return false;
  json::walk& w = *walk;
  page_facts f;
  if (spec.items.empty()) {
    if (!scan_items(w, spec, f)) return false;
  } else {
    const bool token = spec.paging == page_spec::kind::token, offset = spec.paging == page_spec::kind::offset;
    const auto items_key = root_key(spec.items);
    const auto token_key = token ? root_key(spec.next_token) : std::nullopt;
    const auto last_key = token && !spec.is_last.empty() ? root_key(spec.is_last) : std::nullopt;
    const auto total_key = offset && !spec.total.empty() ? root_key(spec.total) : std::nullopt;
    if (!items_key || (token && (!token_key || (!spec.is_last.empty() && !last_key))) ||
        (offset && !spec.total.empty() && !total_key))
      return false;
    if (!w.enter_object()) return false;
    bool seen_items = false, seen_token = false, seen_last = false, seen_total = false;
    std::string_view key;
    while (w.next_member(key)) {
      if (!seen_items && key == *items_key) {
        seen_items = true;
        if (w.peek() != '[' || !scan_items(w, spec, f)) return false;
      } else if (token_key && !seen_token && key == *token_key) {
        seen_token = true;
        if (auto t = w.string()) f.token.emplace(*t);
      } else if (last_key && !seen_last && key == *last_key) {
        seen_last = true;
        f.last = w.boolean();
      } else if (total_key && !seen_total && key == *total_key) {
        seen_total = true;
        f.total = w.int64();
      } else {
        w.skip();
      }
      if (w.failed()) return false;
    }
    if (w.failed() || !seen_items) return false;
  }
  std::string next;
  switch (spec.paging) {
    case page_spec::kind::token:
      if (f.token && !f.last.value_or(false)) next = std::move(*f.token);
      break;
    case page_spec::kind::link: break;  // from the Link header, after the read
    case page_spec::kind::offset: {
      const std::int64_t start = cursor.empty() ? 0 : std::stoll(cursor);
      const std::int64_t after = start + f.items;
      const bool more = f.items > 0 && (f.total ? after < *f.total : f.items >= spec.page_size);
      next = more ? std::to_string(after) : "";
      break;
    }
  }
  p.items = f.items;
  p.ids = std::move(f.ids);
  p.next_cursor = std::move(next);
  return true;
}

// The next page of a Link-paged list, from the response's Link header; "" at the end.
std::string link_cursor(const response& resp, const request& first) {
  const std::string* link = resp.find("link");
  auto next = link ? link_next(*link) : std::nullopt;
  std::string cursor = next ? *next : "";
  // The next request carries the first one's headers (credentials): only to the same origin.
  if (!cursor.empty() && url_origin(cursor) != url_origin(first.url))
    throw source_error(fmt::format(
        "{}: the Link header's next page is on {}, not {}; it is not followed, so that credentials reach "
        "only the configured host",
        resp.url, url_origin(cursor), url_origin(first.url)));
  return cursor;
}

}  // namespace

request page_request(const request& first, const page_spec& spec, const std::string& cur) {
  request req = first;
  // A conditional request (If-None-Match, If-Modified-Since) is about the first page only.
  if (!cur.empty())
    req.headers.erase(std::remove_if(req.headers.begin(), req.headers.end(),
                                     [](const header& h) { return conditional_header(h.name); }),
                      req.headers.end());
  req.expect_json = true;
  switch (spec.paging) {
    case page_spec::kind::token:
      if (!cur.empty()) req.url = with_query(first.url, spec.token_param, cur);
      break;
    case page_spec::kind::link:
      if (!cur.empty()) req.url = cur;
      break;
    case page_spec::kind::offset:
      req.url = with_query(with_query(first.url, spec.offset_param, cur.empty() ? "0" : cur),
                           spec.limit_param, std::to_string(spec.page_size));
      break;
  }
  return req;
}

void paginate(client& c, const request& first, const page_spec& spec, std::string_view start_cursor,
              pagination_guard& guard, const std::function<void(const page&)>& on_page, run_context* ctx,
              client::handle submitted) {
  std::string mended;  // a body with unreadable items, those items null
  // Where the items are, so a page with some that cannot be read is mended (those items null).
  json::item_layout layout{spec.items, spec.id_field, ""};
  layout.at_root = spec.items.empty();
  std::string cursor(start_cursor);
  client::handle in_flight = submitted ? std::move(submitted) : c.submit(page_request(first, spec, cursor));
  bool deferred = false;  // the next page is requested at the top of the loop, once the consumer needs it
  // A page read: checked by the guard, the next one requested, handed on; false when it was the last.
  auto hand_on = [&](page& p, response& resp) {
    try {
      guard.check(cursor, resp.body, p.ids, p.next_cursor);
    } catch (const pagination_error& e) {
      throw pagination_error(c.scrub(e.what()));  // the client's secrets, wherever they appear
    }
    // The next page is requested before this one is handed over, so its round trip overlaps whatever
    // on_page does (journaling, fsync, more requests): a paginated fetch costs one round trip a page,
    // not a round trip plus the caller's work. Unless the consumer of the pages is behind (ctx->ahead()):
    // then it is requested once this page, its parse and its response are let go, when the consumer
    // needs more, so a fetch that waits holds no page.
    deferred = !p.next_cursor.empty() && ctx && ctx->ahead();
    const bool requested = !p.next_cursor.empty() && !deferred;
    if (requested) in_flight = c.submit(page_request(first, spec, p.next_cursor));
    try {
      struct open_page {
        run_context* ctx;
        explicit open_page(run_context* c) : ctx(c) {
          if (ctx) ctx->page_opened();
        }
        ~open_page() {
          if (ctx) ctx->page_closed();
        }
        open_page(const open_page&) = delete;
        open_page& operator=(const open_page&) = delete;
      } open(ctx);
      on_page(p);
    } catch (...) {
      if (requested) c.cancel(in_flight);
      throw;
    }
    std::string next = std::move(p.next_cursor);
    c.recycle(std::move(resp));  // its memory serves a later page
    if (next.empty()) return false;
    cursor = std::move(next);
    return true;
  };
  while (true) {
    if (deferred) {
      ctx->wait_while_ahead();
      in_flight = c.submit(page_request(first, spec, cursor));
      deferred = false;
    }
    response resp = c.wait(in_flight, ctx);
    if (resp.status == 304) {  // the first page, unchanged since the request's condition: no items
      on_page(page{resp, resp.body, 0, {}, cursor, ""});
      return;
    }
    const std::string& body = resp.body;
    if (spec.scan) {
      page p{resp, body, 0, {}, cursor, ""};
      if (scan_page(resp, spec, cursor, p)) {
        if (spec.paging == page_spec::kind::link) p.next_cursor = link_cursor(resp, first);
        if (!hand_on(p, resp)) return;
        continue;
      }
    }
    // One parse of a page that reads whole (nearly all of them); only one that does not is mended
    // (its unreadable items null) and parsed again.
    simdjson::dom::element root;
    json::parser_lease parser;  // held until on_page is done with the page or lets it go
    simdjson::error_code err = json::parse_padded(*parser, body, root);
    const std::string* readable_body = &body;
    if (err) {
      std::vector<json::unreadable_item> unreadable;
      readable_body = &json::readable(body, layout, mended, unreadable);
      if (readable_body != &body) err = json::parse_padded(*parser, *readable_body, root);
    }
    const std::string& readable = *readable_body;
    if (err)
      throw source_error(fmt::format("{}: the response is not JSON ({}): {}", resp.url,
                                     simdjson::error_message(err), c.scrub(excerpt(body, 200))));
    simdjson::dom::element items_el = root;
    if (!spec.items.empty() && root.at_pointer(spec.items).get(items_el))
      throw source_error(
          fmt::format("{}: the response has no '{}': {}", resp.url, spec.items, c.scrub(excerpt(body, 200))));
    simdjson::dom::array items;
    if (items_el.get(items))
      throw source_error(
          fmt::format("{}: '{}' is not an array", resp.url, spec.items.empty() ? "the body" : spec.items));
    page p{resp, readable, 0, {}, cursor, "", &root, &parser};
    for (simdjson::dom::element item : items) {
      ++p.items;
      if (!spec.id_field.empty()) {
        std::string id = item_id(item, spec.id_field);
        if (!id.empty()) p.ids.push_back(std::move(id));
      }
    }
    switch (spec.paging) {
      case page_spec::kind::token: {
        std::string_view next;
        simdjson::dom::element v;
        if (!root.at_pointer(spec.next_token).get(v) && v.get(next)) next = {};  // null or not a string: none
        bool last = false;
        if (!spec.is_last.empty() && !root.at_pointer(spec.is_last).get(v) && v.get(last)) last = false;
        p.next_cursor = last ? "" : std::string(next);
        break;
      }
      case page_spec::kind::link: p.next_cursor = link_cursor(resp, first); break;
      case page_spec::kind::offset: {
        std::int64_t start = cursor.empty() ? 0 : std::stoll(cursor);
        std::int64_t next = start + p.items;
        std::int64_t total = -1;
        simdjson::dom::element v;
        if (!spec.total.empty() && !root.at_pointer(spec.total).get(v) && v.get(total)) total = -1;
        bool more = p.items > 0 && (total >= 0 ? next < total : p.items >= spec.page_size);
        p.next_cursor = more ? std::to_string(next) : "";
        break;
      }
    }
    if (!hand_on(p, resp)) return;
  }
}

}  // namespace backfill::http
