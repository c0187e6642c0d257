#include "sources/slack/threads.hpp"

#include <simdjson.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <optional>
#include <unordered_map>
#include <utility>

#include "backfill/core/log.hpp"
#include "backfill/sources/slack/render.hpp"
#include "sources/slack/fields.hpp"

namespace backfill::slack {
namespace {

struct open_thread {
  slack::thread thread;
  std::int64_t last_seq = 0;  // the last page that holds a message of it
};

}  // namespace

void emit_threads(page_reader& pages, const conversation_ref& conversation, const directory& dir,
                  const std::unordered_set<std::string>& skip, const document_fn& emit, run_context& ctx,
                  std::string_view items_key) {
  const auto skipped = [&](object m) {
    const std::string_view subtype = str(m, "subtype");
    return !subtype.empty() && skip.count(std::string(subtype)) != 0;
  };
  // One pass over the pages in order: every message kept, with its placement (nullopt without a
  // usable ts), then the end of its page.
  const auto pass = [&](const auto& on_message, const auto& on_page_end) {
    pages.for_each([&](std::int64_t seq, const std::string& body, const std::string& path) {
      ctx.checkpoint();
      const std::string what = (items_key.empty() ? "slack export page " : "slack page ") + path;
      const array items =
          items_key.empty() ? journal_array(body, what) : journal_array(body, what, items_key);
      for (element item : items) {
        object m;
        if (item.get_object().get(m) != simdjson::SUCCESS || skipped(m)) continue;
        on_message(seq, m, place(m));
      }
      on_page_end(seq);
    });
  };

  // Pass 1: for every thread with replies, the last page that holds a message of it.
  std::unordered_map<std::int64_t, std::int64_t> last_page;
  pass(
      [&](std::int64_t seq, object, const std::optional<placement>& p) {
        if (!p) return;
        if (p->reply) {
          auto [it, inserted] = last_page.try_emplace(p->root_us, seq);
          if (!inserted) it->second = std::max(it->second, seq);
        } else if (auto it = last_page.find(p->root_us); it != last_page.end()) {
          it->second = std::max(it->second, seq);  // a parent after (some of) its replies
        }
      },
      [](std::int64_t) {});

  // Pass 2: buffer open threads only; emit each once the pass is beyond its last page.
  std::map<std::int64_t, open_thread> open;
  std::int64_t bad_ts = 0;
  auto flush = [&](std::int64_t upto, bool all) {
    for (auto it = open.begin(); it != open.end();) {
      if (all || it->second.last_seq <= upto) {
        emit(thread_document(std::move(it->second.thread), conversation));
        it = open.erase(it);
      } else {
        ++it;
      }
    }
  };
  pass(
      [&](std::int64_t seq, object m, const std::optional<placement>& p) {
        if (!p) {
          ++bad_ts;
          return;
        }
        auto [it, inserted] = open.try_emplace(p->root_us);
        open_thread& t = it->second;
        if (inserted) {
          t.thread.root_ts = std::string(p->root_ts);
          auto last = last_page.find(p->root_us);
          t.last_seq = last == last_page.end() ? seq : std::max(seq, last->second);
        }
        t.thread.add(read_message(m, p->ts, p->ts_us, dir), p->reply);
      },
      [&](std::int64_t seq) { flush(seq, false); });
  flush(0, true);
  if (bad_ts > 0)
    logger()->warn("{}: {} messages in {} without a valid ts were skipped", conversation.source, bad_ts,
                   conversation.id);
}

}  // namespace backfill::slack
