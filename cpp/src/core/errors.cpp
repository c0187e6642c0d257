#include "backfill/core/errors.hpp"

#include <type_traits>

namespace backfill {
namespace {

template <class E>
bool is(const error& e) {
  if constexpr (std::is_same_v<E, error>)
    return true;
  else
    return dynamic_cast<const E*>(&e) != nullptr;
}

// Each class and its name in both languages, the most derived first.
struct named_class {
  bool (*matches)(const error&);
  const char* name;
};
constexpr named_class classes[] = {
    {is<config_error>, "ConfigError"},
    {is<journal_error>, "JournalError"},
    {is<ledger_error>, "LedgerError"},
    {is<storage_error>, "StorageError"},
    {is<pagination_error>, "PaginationError"},
    {is<source_error>, "SourceError"},
    {is<http_error>, "HttpError"},
    {is<sink_error>, "SinkError"},
    {is<embed_error>, "EmbedError"},
    {is<validation_error>, "ValidationError"},
    {is<verification_error>, "VerificationError"},
    {is<cancelled>, "Cancelled"},
    {is<error>, "BackfillError"},
};

}  // namespace

std::vector<const char*> error_lineage(const error& e) {
  std::vector<const char*> out;
  for (const auto& c : classes)
    if (c.matches(e)) out.push_back(c.name);
  return out;
}

bool error::transient() const noexcept {
  if (cause_) {
    try {
      std::rethrow_exception(cause_);
    } catch (const error& cause) {
      return cause.transient();
    } catch (...) {
    }
  }
  return transient_kind();
}

}  // namespace backfill
