// The core's error hierarchy. Every error the core throws derives from backfill::error; the
// Python binding maps each class to backfill.errors.* (which also subclass the matching builtin).
// Messages name the thing at fault and never carry a credential; the binding decodes them as UTF-8
// with replacement, so a stray byte cannot hide the error.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace backfill {

class error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A setting is missing, mistyped or contradicts another. Raised before any work starts.
class config_error : public error {
 public:
  using error::error;
};

// A file or directory could not be read or written (journal, ledger, export, index).
class io_error : public error {
 public:
  using error::error;
};

// A journal page is missing, truncated or does not match the hash the ledger recorded.
class journal_error : public error {
 public:
  journal_error(std::string message, std::string path)
      : error(std::move(message)), path_(std::move(path)) {}
  const std::string& path() const noexcept { return path_; }

 private:
  std::string path_;
};

// The source returned something the normalizer cannot use (bad shape, bad JSON).
class source_error : public error {
 public:
  using error::error;
};

// A paginator repeated itself: same cursor, same page body, or ids seen on an earlier page.
class pagination_error : public error {
 public:
  using error::error;
};

// The sink refused or lost a write, or answered in a way that cannot be trusted.
class sink_error : public error {
 public:
  using error::error;
};

// The embedder failed or returned vectors of the wrong shape.
class embed_error : public error {
 public:
  using error::error;
};

// The ledger (state.sqlite) is unusable: locked by another run, corrupt, or from a newer version.
class ledger_error : public error {
 public:
  using error::error;
};

// Raised by a checkpoint when the caller asked to stop (Ctrl-C, cancel()). Everything done so far
// is durable; a rerun resumes.
class cancelled : public error {
 public:
  cancelled() : error("cancelled") {}
};

}  // namespace backfill
