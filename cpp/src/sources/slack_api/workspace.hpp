// The workspace as the token sees it: the conversations.list and users.list pages (cursor paging,
// read once per run (the plan starts a run) and journaled as the "_workspace" partition), the conversations
// they list, the ones the configuration picks (by "#name", id or "*"), and the names read back from the
// journal.
#pragma once

#include <chrono>
#include <mutex>
#include <string>
#include <vector>

#include "backfill/core/context.hpp"
#include "backfill/sources/slack/directory.hpp"
#include "backfill/sources/slack_api/slack_api.hpp"
#include "backfill/sources/source.hpp"
#include "sources/slack_api/web_api.hpp"

namespace backfill::slack_api {

struct conversation {
  std::string id;
  std::string name;  // "" for a DM
  bool member = true;
  bool archived = false;
  std::string label;  // "#name"; a DM or group DM: its members' names, as Slack's sidebar shows it
};

class workspace_lists {
 public:
  workspace_lists(web_api& api, const slack_api_options& options) : api_(api), options_(options) {}

  // The list pages, conversations first, then users; read on the first call of a run.
  const std::vector<std::string>& pages(run_context& ctx);
  // A plan starts a run: the lists are read again (channels and people come and go) unless this run's
  // are still at hand, read by a plan that no fetch has used yet (Pipeline.run plans, then fetches)
  // within the last few minutes.
  void start_run();
  // A fetch journaled the lists: the next plan is a new run.
  void used();
  const std::vector<conversation>& conversations(run_context& ctx);

 private:
  void read_list(std::string_view method, const params& args, std::string_view items, run_context& ctx);
  // Each conversation's label, from the lists read (a DM's needs users.list).
  void label_conversations();

  web_api& api_;
  const slack_api_options& options_;
  std::mutex mu_;
  bool read_ = false;
  bool used_ = false;
  std::chrono::steady_clock::time_point read_at_;
  std::vector<std::string> pages_;
  std::vector<conversation> conversations_;
};

// The conversations `options.channels` names, in that order, each once; names the token cannot see
// are logged as warnings and left out.
std::vector<partition_plan> pick(const slack_api_options& options, const std::vector<conversation>& all);

// The names of users and conversations, from the journaled pages of the "_workspace" partition.
slack::directory load_directory(page_reader& pages);

}  // namespace backfill::slack_api
