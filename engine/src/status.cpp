#include "optout/status.hpp"

namespace optout {
namespace {

// A digit run this long may be an NHS number (or part of one).
constexpr std::size_t kRedactDigits = 6;

bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }

}  // namespace

const char* error_code_name(ErrorCode code) noexcept {
  switch (code) {
    case ErrorCode::kOk: return "ok";
    case ErrorCode::kInvalidArgument: return "invalid argument";
    case ErrorCode::kIoError: return "i/o error";
    case ErrorCode::kCorruption: return "corruption";
    case ErrorCode::kUnsupportedVersion: return "unsupported version";
    case ErrorCode::kNotFound: return "not found";
    case ErrorCode::kInvalidInput: return "invalid input";
    case ErrorCode::kLimitExceeded: return "limit exceeded";
    case ErrorCode::kBrokenPipe: return "broken pipe";
    case ErrorCode::kStaleRegistry: return "stale registry";
    case ErrorCode::kDataQuality: return "data quality";
    case ErrorCode::kInternal: return "internal error";
    case ErrorCode::kUntrusted: return "untrusted";
  }
  return "unknown error";
}

std::string redact_numbers(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  std::size_t i = 0;
  while (i < text.size()) {
    if (!is_digit(text[i])) {
      out += text[i++];
      continue;
    }
    // A run: digits, with single separators between digits.
    std::size_t end = i;
    std::size_t digits = 0;
    while (end < text.size()) {
      if (is_digit(text[end])) {
        ++digits;
        ++end;
      } else if ((text[end] == ' ' || text[end] == '-') && end + 1 < text.size() && is_digit(text[end + 1])) {
        ++end;
      } else {
        break;
      }
    }
    if (digits >= kRedactDigits) {
      out += "[redacted]";
    } else {
      out.append(text.substr(i, end - i));
    }
    i = end;
  }
  return out;
}

}  // namespace optout
