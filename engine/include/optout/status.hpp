// Errors in optout: one append-only ErrorCode enum, a Status that carries a code and a message, and
// Result<T> for functions that return a value or an error. The engine never throws across its API;
// callers translate a Status at the edge (the CLI maps it to an exit status, the Python module to an
// exception).
//
// Messages name the input, the line and the problem. They never contain an NHS number or row content.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "optout/export.hpp"

namespace optout {

// Values are fixed: bindings and stats files carry them as integers. Append only.
enum class ErrorCode : std::uint8_t {
  kOk = 0,
  kInvalidArgument = 1,     // a caller passed an option or value the engine cannot use
  kIoError = 2,             // open, read, write, rename or sync failed (disk full included)
  kCorruption = 3,          // a snapshot failed its checks: magic, sizes, checksum, structure
  kUnsupportedVersion = 4,  // a snapshot written by a newer format version, or a required section unknown
  kNotFound = 5,            // a named list or header column that does not exist
  kInvalidInput = 6,        // a source or extract line the rules reject (a bad NHS number, bad CSV)
  kLimitExceeded = 7,       // a record or input over a configured limit
  kBrokenPipe = 8,          // the reader of our output went away (EPIPE): the run stops quietly
  kStaleRegistry = 9,       // the snapshot is older than the caller's --max-age
  kDataQuality = 10,        // more rows rejected than the caller's --max-rejected allows
  kInternal = 11,           // a bug or an unexpected exception from a dependency
  kUntrusted = 12,          // not signed by a trusted key, not the pinned digest, or no audit record vouches for it
};

// A short stable name for a code, e.g. "corruption". Never null.
OPTOUT_API const char* error_code_name(ErrorCode code) noexcept;

// The one redaction rule for text a message quotes from a caller (a list or column name, a path
// the user typed, a third-party parser's message): each run of 6 or more digits, single spaces or
// '-' between digits counting as part of the run ("943 476 5919" is one run), becomes
// "[redacted]". Shorter runs are counts, line numbers and option values, which messages need.
// Every engine message that quotes caller text passes it through here; the edges (CLI, C, Python)
// need not, and do not, redact again.
OPTOUT_API std::string redact_numbers(std::string_view text);

// The outcome of an operation: ok, or a code with a human-readable message.
class [[nodiscard]] Status {
 public:
  Status() noexcept = default;  // ok
  Status(ErrorCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status ok_status() noexcept { return Status(); }

  bool ok() const noexcept { return code_ == ErrorCode::kOk; }
  ErrorCode code() const noexcept { return code_; }
  // The message without the code name, e.g. "reg.optout: checksum mismatch". Empty when ok.
  const std::string& message() const noexcept { return message_; }
  // "ok", or the message (the form the CLI prints after "optout <command>: ").
  std::string to_string() const { return ok() ? std::string("ok") : message_; }

 private:
  ErrorCode code_ = ErrorCode::kOk;
  std::string message_;
};

// A value or the Status that explains why there is none. Access the value only when ok().
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : value_(std::move(value)) {}          // NOLINT(google-explicit-constructor)
  Result(Status status) : status_(std::move(status)) {}  // NOLINT(google-explicit-constructor)
  Result(ErrorCode code, std::string message) : status_(code, std::move(message)) {}

  bool ok() const noexcept { return value_.has_value(); }
  const Status& status() const noexcept { return status_; }
  ErrorCode code() const noexcept { return status_.code(); }

  T& value() & { return *value_; }
  const T& value() const& { return *value_; }
  T&& value() && { return std::move(*value_); }
  T* operator->() { return &*value_; }
  const T* operator->() const { return &*value_; }
  T& operator*() & { return *value_; }
  const T& operator*() const& { return *value_; }

 private:
  std::optional<T> value_;
  Status status_;
};

}  // namespace optout
