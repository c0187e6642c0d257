// Source: a Slack workspace export (the zip Slack's export tool produces, or the folder it unpacks to).
// Layout: channels.json (also groups.json, mpims.json, dms.json when present), users.json, and one
// folder per conversation holding one YYYY-MM-DD.json file per day with activity.
//
// Partitions: "_workspace" (users and channel lists) and one per conversation, keyed by its id.
// A page is one day file, journaled as is. A document is a thread (the parent and its replies in
// order) or a lone message, id `slack:<channel id>:<ts>`.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "backfill/core/fields.hpp"
#include "backfill/sources/source.hpp"

namespace backfill {

struct slack_export_options {
  std::filesystem::path path;  // a .zip file or a folder
  std::string workspace_url;   // e.g. "https://acme.slack.com", for message links; optional
  // Message subtypes that carry no content and are left out of documents.
  std::vector<std::string> skip_subtypes = {"channel_join",    "channel_leave", "channel_topic",
                                            "channel_purpose", "channel_name",  "pinned_item"};
};
BACKFILL_FIELDS(slack_export_options, &s::path, &s::workspace_url, &s::skip_subtypes)

class slack_export_source final : public source {
 public:
  explicit slack_export_source(slack_export_options options);
  ~slack_export_source() override;

  std::string kind() const override { return "slack_export"; }
  std::string describe() const override;
  std::vector<partition_plan> plan(run_context& ctx) override;
  // Reading an export costs no request: every conversation's messages are counted, file by file.
  void estimate(std::vector<partition_plan>& partitions, run_context& ctx) override;
  void fetch(const partition_plan& partition, std::string_view cursor, page_sink& out,
             run_context& ctx) override;
  void page_items(std::string_view partition, const std::string& body, const item_fn& fn) override;
  // A conversation's day files are arrays of messages, each named by its ts.
  json::item_layout journal_items(std::string_view partition) const override;
  void normalize(std::string_view partition, page_reader& pages, const document_fn& emit,
                 run_context& ctx) override;

  static constexpr const char* workspace_partition = "_workspace";

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace backfill
