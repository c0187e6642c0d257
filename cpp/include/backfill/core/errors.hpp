// The core's error tree. It has the same names and parents as backfill.errors in Python; the binding
// raises each error as its twin, by the names error_lineage() gives:
//
//   error                       BackfillError
//   ├── config_error            ├── ConfigError         terminal
//   ├── storage_error           ├── StorageError        terminal
//   │   ├── journal_error       │   ├── JournalError    terminal
//   │   └── ledger_error        │   └── LedgerError     terminal
//   ├── source_error            ├── SourceError         terminal
//   │   └── pagination_error    │   └── PaginationError terminal
//   ├── http_error              ├── HttpError           transient when retryable(): the retry budget ran out
//   ├── sink_error              ├── SinkError           terminal
//   ├── embed_error             ├── EmbedError          terminal
//   ├── validation_error        ├── ValidationError     terminal
//   ├── verification_error      ├── VerificationError   transient: a rerun re-upserts what is missing
//   └── cancelled               └── Cancelled           terminal: someone asked to stop
//
// transient() tells a caller (an orchestrator) whether running again later, unchanged, may succeed;
// a terminal error needs a person to change something first. An error raised because of another one
// keeps it as its cause() (a source_error over the http_error of a 401, with its status and request
// id) and is exactly as transient as that cause.
//
// Messages name the thing at fault and the fix, and never carry a credential; the binding decodes
// them as UTF-8 with replacement, so a stray byte cannot hide the error.
#pragma once

#include <exception>
#include <stdexcept>
#include <string>
#include <vector>

namespace backfill {

class error : public std::runtime_error {
 public:
  explicit error(const std::string& message, std::exception_ptr cause = nullptr)
      : std::runtime_error(message), cause_(std::move(cause)) {}
  const std::exception_ptr& cause() const noexcept { return cause_; }
  bool transient() const noexcept;

 protected:
  // Whether this kind of error is transient when it has no backfill::error as its cause.
  virtual bool transient_kind() const noexcept { return false; }

 private:
  std::exception_ptr cause_;
};

// A setting is missing, mistyped or contradicts another. Raised before any work starts.
class config_error : public error {
 public:
  using error::error;
};

// A file or directory could not be read or written (journal, ledger, export, index).
class storage_error : public error {
 public:
  using error::error;
};
using io_error = storage_error;  // the name the file and SQLite layers throw it by

// A journal page is missing, truncated or does not match the hash the ledger recorded.
class journal_error : public storage_error {
 public:
  journal_error(const std::string& message, std::string path)
      : storage_error(message), path_(std::move(path)) {}
  const std::string& path() const noexcept { return path_; }

 private:
  std::string path_;
};

// The ledger (state.sqlite) is unusable: locked by another run, corrupt, or from a newer version.
class ledger_error : public storage_error {
 public:
  using storage_error::storage_error;
};

// The source returned something the normalizer cannot use (bad shape, bad JSON), or refused.
class source_error : public error {
 public:
  using error::error;
};

// A paginator repeated itself: same cursor, same page body, or ids seen on an earlier page.
class pagination_error : public source_error {
 public:
  using source_error::source_error;
};

// An HTTP failure that retrying did not (or could not) fix. The message is one line:
//   GET https://host/path?token=*** -> 404 Not Found (request id abc; 1 attempt): <excerpt>
class http_error : public error {
 public:
  http_error(const std::string& message, long status, std::string method, std::string url,
             std::string request_id, std::string body_excerpt, int attempts, bool retryable,
             int grpc_status = -1)
      : error(message),
        status_(status),
        method_(std::move(method)),
        url_(std::move(url)),
        request_id_(std::move(request_id)),
        body_(std::move(body_excerpt)),
        attempts_(attempts),
        retryable_(retryable),
        grpc_status_(grpc_status) {}
  long status() const noexcept { return status_; }  // 0 when no response arrived
  const std::string& method() const noexcept { return method_; }
  const std::string& url() const noexcept { return url_; }  // scrubbed
  const std::string& request_id() const noexcept { return request_id_; }
  const std::string& body_excerpt() const noexcept { return body_; }  // <= 500 bytes, valid UTF-8, scrubbed
  int attempts() const noexcept { return attempts_; }
  bool retryable() const noexcept { return retryable_; }  // true: gave up (budget spent), not refused
  // The grpc-status of a failed gRPC call (e.g. 16 UNAUTHENTICATED); -1 for other requests, or
  // when the call failed before a status arrived.
  int grpc_status() const noexcept { return grpc_status_; }

 protected:
  bool transient_kind() const noexcept override { return retryable_; }

 private:
  long status_;
  std::string method_, url_, request_id_, body_;
  int attempts_;
  bool retryable_;
  int grpc_status_;
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

// The journal holds pages that cannot be used (damaged or unparseable).
class validation_error : public error {
 public:
  using error::error;
};

// The sink disagrees with the ledger: records missing or changed. A rerun upserts them again.
class verification_error : public error {
 public:
  using error::error;

 protected:
  bool transient_kind() const noexcept override { return true; }
};

// Raised by a checkpoint when the caller asked to stop (Ctrl-C, cancel()). Everything done so far
// is durable; a rerun resumes.
class cancelled : public error {
 public:
  cancelled() : error("cancelled") {}
};

// The names of e's class and of every class above it, most derived first, as backfill.errors calls
// them: {"JournalError", "StorageError", "BackfillError"} for a journal_error.
std::vector<const char*> error_lineage(const error& e);

}  // namespace backfill
