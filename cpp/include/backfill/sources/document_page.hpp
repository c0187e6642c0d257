// Pages of ready-made documents: how a source whose pages already hold documents (a Python source)
// journals them, so they get the journal, validation and ingest every source gets.
//
// A page is a JSON object {"documents": [document, ...]}. A document is
//   {"id": "...", "title": "...", "text": "...", "url": "...", "created_at": "...", "updated_at": "...",
//    "metadata": {"key": string | number | true/false | [string, ...] | null}}
// with a non-empty "id", every other field optional, and null metadata values dropped.
#pragma once

#include <string>
#include <string_view>

#include "backfill/sources/source.hpp"

namespace backfill {

// Calls `emit` with each document of the page, its `source` and `partition` set to the ones given.
// Throws source_error naming the document and field when the page does not have the shape above;
// with `skip`, a document without an id is left out and `skip` told instead. Null documents (the
// unreadable ones of a mended page, core/json_items.hpp) are passed over.
void read_document_page(const std::string& body, std::string_view source, std::string_view partition,
                        const document_fn& emit, const skip_fn& skip = {});

// Where a page of documents keeps them (source::journal_items).
inline json::item_layout document_page_layout() { return {"/documents", "id", ""}; }

// Calls `fn` with the id of each document of the page, in order (for the duplicate check).
void document_page_ids(const std::string& body, const item_fn& fn);

}  // namespace backfill
