#include "backfill/sources/callback/callback_source.hpp"

#include "backfill/core/errors.hpp"
#include "backfill/sources/document_page.hpp"

namespace backfill {

callback_source::callback_source(callback_source_hooks hooks, std::string kind, std::string description)
    : hooks_(std::move(hooks)), kind_(std::move(kind)), description_(std::move(description)) {
  if (!hooks_.partitions || !hooks_.pages)
    throw config_error("source " + kind_ + " needs partitions and pages");
}

std::vector<partition_plan> callback_source::plan(run_context&) {
  std::vector<partition_plan> out;
  for (auto& name : hooks_.partitions()) out.push_back({name, name, -1, -1});
  return out;
}

std::string callback_source::reopen_cursor(const partition_plan& partition, std::string_view watermark) {
  return hooks_.reopen ? hooks_.reopen(partition.name, watermark) : std::string();
}

void callback_source::fetch(const partition_plan& partition, std::string_view cursor, page_sink& out,
                            run_context& ctx) {
  callback_source_hooks::page_stream next = hooks_.pages(partition.name, cursor);
  for (;;) {
    ctx.checkpoint();
    std::optional<callback_page> p = next();
    if (!p) return;
    out.page(p->body, p->items, p->next_cursor, p->watermark);
  }
}

void callback_source::page_items(std::string_view partition, const std::string& body, const item_fn& fn) {
  with_documents(partition, body, [&](const std::string& page) { document_page_ids(page, fn); });
}

void callback_source::list_ids(const partition_plan& partition, const item_fn& fn, run_context&) {
  if (!hooks_.list_ids) return;
  for (const auto& id : hooks_.list_ids(partition.name)) fn(id);
}

void callback_source::normalize(std::string_view partition, page_reader& pages, const document_fn& emit,
                                run_context& ctx) {
  pages.for_each([&](std::int64_t, const std::string& body, const std::string&) {
    with_documents(partition, body, [&](const std::string& page) {
      read_document_page(page, kind_, partition, emit,
                         [&](std::size_t position, std::string id, std::string reason) {
                           pages.skip_item(position, std::move(id), std::move(reason));
                         });
    });
    ctx.checkpoint();
  });
}

void callback_source::with_documents(std::string_view partition, const std::string& body,
                                     const std::function<void(const std::string&)>& fn) const {
  if (hooks_.documents)
    fn(hooks_.documents(partition, body));
  else
    fn(body);
}

}  // namespace backfill
