// Pagination over the HTTP client: token/cursor, Link header and offset paging, every page checked
// by the pagination guard before anyone sees it.
#include <algorithm>

#include <fmt/format.h>
#include <simdjson.h>

#include "backfill/core/json_items.hpp"
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
      case page_spec::kind::link: {
        const std::string* link = resp.find("link");
        auto next = link ? link_next(*link) : std::nullopt;
        p.next_cursor = next ? *next : "";
        // The next request carries the first one's headers (credentials): only to the same origin.
        if (!p.next_cursor.empty() && url_origin(p.next_cursor) != url_origin(first.url))
          throw source_error(
              fmt::format("{}: the Link header's next page is on {}, not {}; it is not followed, so "
                          "that credentials reach only the configured host",
                          resp.url, url_origin(p.next_cursor), url_origin(first.url)));
        break;
      }
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
    try {
      guard.check(cursor, body, p.ids, p.next_cursor);
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
    if (next.empty()) return;
    cursor = std::move(next);
  }
}

}  // namespace backfill::http
