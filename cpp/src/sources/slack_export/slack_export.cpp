// Slack workspace export source: reads the zip Slack's export tool produces (or the folder it unpacks
// to), journals each day file as one page, and turns a conversation's pages into thread documents.
//   export_files.*   the zip or folder and its files
//   conversations.*  the conversation lists, the "_workspace" pages, the names read back from them
//   threads.*        a conversation's pages into thread documents (with ../slack/: how messages read)
#include "backfill/sources/slack_export/slack_export.hpp"

#include <simdjson.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <unordered_set>
#include <utility>
#include <vector>

#include "backfill/core/errors.hpp"
#include "backfill/core/json_items.hpp"
#include "sources/slack/fields.hpp"
#include "sources/slack/page_json.hpp"
#include "sources/slack/threads.hpp"
#include "sources/slack_export/conversations.hpp"
#include "sources/slack_export/export_files.hpp"

namespace backfill {

using slack_export::workspace_files;

struct slack_export_source::impl {
  slack_export_options options;
  std::string base_url;
  std::unordered_set<std::string> skip;
  slack_export::export_files files;
  slack::parser_pool parsers;
  slack_export::conversation_list conversations{files, parsers};

  explicit impl(slack_export_options opts) : options(std::move(opts)), files(options.path) {
    base_url = options.workspace_url.empty() ? std::string("https://slack.com") : options.workspace_url;
    while (!base_url.empty() && base_url.back() == '/') base_url.pop_back();
    skip.insert(options.skip_subtypes.begin(), options.skip_subtypes.end());
  }

  // Journals names[start..] (files of `folder`, "" for the export's root), a page each, whose cursor
  // is the next name.
  void journal(const std::string& folder, const std::vector<std::string>& names, std::size_t start,
               page_sink& out, run_context& ctx) {
    std::string mended;
    for (std::size_t i = start; i < names.size(); ++i) {
      ctx.checkpoint();
      const std::string rel = folder.empty() ? names[i] : folder + "/" + names[i];
      auto body = files.read(rel);
      if (!body) throw source_error(files.where(rel) + " disappeared while fetching");
      std::int64_t items = 0;
      {
        // A file some of whose messages cannot be read is journaled as it is: ingest quarantines them.
        json::item_layout layout;
        layout.at_root = true;
        std::vector<json::unreadable_item> unreadable;
        slack::parser_pool::lease parser(parsers);
        items =
            slack::count_items(*parser, json::readable(*body, layout, mended, unreadable), files.where(rel));
      }
      out.page(*body, items, i + 1 < names.size() ? std::string_view(names[i + 1]) : std::string_view());
    }
  }
};

// ---- public interface ----------------------------------------------------------------------------

slack_export_source::slack_export_source(slack_export_options options)
    : impl_(std::make_unique<impl>(std::move(options))) {}

slack_export_source::~slack_export_source() = default;

std::string slack_export_source::describe() const {
  return std::string("Slack export ") + (impl_->files.zipped() ? "zip " : "folder ") +
         impl_->options.path.string();
}

std::vector<partition_plan> slack_export_source::plan(run_context& ctx) {
  const auto& conversations = impl_->conversations.all();
  std::vector<partition_plan> plans;
  plans.reserve(conversations.size() + 1);
  partition_plan workspace;
  workspace.name = workspace_partition;
  workspace.label = "workspace (users and conversations)";
  workspace.estimated_pages = static_cast<std::int64_t>(slack_export::workspace_pages(impl_->files).size());
  plans.push_back(std::move(workspace));
  for (const auto& c : conversations) {
    ctx.checkpoint();
    partition_plan p;
    p.name = c.id;
    p.label = c.label;
    p.estimated_pages = static_cast<std::int64_t>(impl_->files.day_files(c.folder).size());
    plans.push_back(std::move(p));
  }
  return plans;
}

void slack_export_source::fetch(const partition_plan& partition, std::string_view cursor, page_sink& out,
                                run_context& ctx) {
  if (partition.name == workspace_partition) {
    const std::vector<std::string> files = slack_export::workspace_pages(impl_->files);
    std::size_t start = 0;
    if (!cursor.empty()) {
      auto canon = std::find(workspace_files.begin(), workspace_files.end(), cursor);
      if (canon == workspace_files.end())
        throw source_error("slack export: invalid cursor '" + std::string(cursor) + "' for " +
                           workspace_partition);
      const auto rank = [](std::string_view f) {
        return std::find(workspace_files.begin(), workspace_files.end(), f) - workspace_files.begin();
      };
      while (start < files.size() && rank(files[start]) < canon - workspace_files.begin()) ++start;
    }
    impl_->journal("", files, start, out, ctx);
    return;
  }

  const auto& conv = impl_->conversations.find(partition.name);
  const std::string folder = conv.folder;
  const std::vector<std::string> files = impl_->files.day_files(folder);
  std::size_t start = 0;
  if (!cursor.empty()) {
    if (!slack_export::is_day_file(cursor))
      throw source_error("slack export: invalid cursor '" + std::string(cursor) + "' for " + partition.name +
                         " (expected a YYYY-MM-DD.json file name)");
    start = static_cast<std::size_t>(std::lower_bound(files.begin(), files.end(), cursor) - files.begin());
  }
  impl_->journal(folder, files, start, out, ctx);
}

void slack_export_source::estimate(std::vector<partition_plan>& partitions, run_context& ctx) {
  struct counter final : page_sink {
    std::int64_t items = 0;
    void page(std::string_view, std::int64_t n, std::string_view, std::string_view) override { items += n; }
  };
  std::int64_t counted = 0;
  for (auto& p : partitions) {
    ctx.step(p.label.empty() ? p.name : p.label, counted++);
    counter messages;
    if (p.name != workspace_partition) fetch(p, "", messages, ctx);
    p.estimated_items = messages.items;
  }
}

void slack_export_source::page_items(std::string_view partition, const std::string& body, const item_fn& fn) {
  if (partition == workspace_partition) return;
  const simdjson::dom::array items =
      slack::journal_array(body, "slack export page of " + std::string(partition));
  std::string id;
  for (simdjson::dom::element item : items) {
    simdjson::dom::object m;
    if (item.get_object().get(m) != simdjson::SUCCESS) continue;
    const std::string_view ts = slack::str(m, "ts");
    if (ts.empty()) continue;
    id.assign("slack:").append(partition).append(":").append(ts);
    fn(id);
  }
}

json::item_layout slack_export_source::journal_items(std::string_view partition) const {
  if (partition == workspace_partition) return {};
  json::item_layout layout{"", "ts", "slack:" + std::string(partition) + ":"};
  layout.at_root = true;
  return layout;
}

void slack_export_source::normalize(std::string_view partition, page_reader& pages, const document_fn& emit,
                                    run_context& ctx) {
  if (partition == workspace_partition) return;
  const slack::directory dir = slack_export::load_directory(pages, impl_->parsers);
  const std::string* name = dir.channel(partition);
  const bool direct = dir.direct(partition);
  const std::string channel_name = direct ? dir.title(partition) : name ? *name : std::string(partition);
  const std::string source_kind = kind();
  const slack::conversation_ref conversation{partition, channel_name, source_kind, impl_->base_url, direct};
  slack::emit_threads(pages, conversation, dir, impl_->skip, emit, ctx);
}

}  // namespace backfill
