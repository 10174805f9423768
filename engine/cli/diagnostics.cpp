#include "diagnostics.hpp"

#include <cstdio>

namespace optout::cli {
namespace {

// A digit run this long may be an NHS number (or part of one); shorter runs are counts, line
// numbers and option values, which messages need.
constexpr std::size_t kRedactDigits = 6;

bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }

}  // namespace

int exit_code(const Status& status) noexcept {
  switch (status.code()) {
    case ErrorCode::kOk: return kExitSuccess;
    case ErrorCode::kInvalidArgument: return kExitUsage;
    default: return kExitFailure;
  }
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

Diagnostics::Diagnostics(std::string command)
    : command_(std::move(command)), prefix_(command_.empty() ? "optout: " : "optout " + command_ + ": ") {}

void Diagnostics::print(std::string_view infix, std::string_view message) const {
  // One write per line, so that lines from concurrent writers never interleave mid-line.
  std::string line = prefix_;
  line += infix;
  line += message;
  line += '\n';
  std::fflush(stdout);  // keep stdout and stderr in order on a shared terminal
  std::fwrite(line.data(), 1, line.size(), stderr);
}

void Diagnostics::error(std::string_view message) const { print("", message); }

void Diagnostics::warning(std::string_view message) const { print("warning: ", message); }

void Diagnostics::note(std::string_view message) const { print("", message); }

int Diagnostics::usage_error(std::string_view message) const {
  print("", message);
  std::string see = command_.empty() ? "see 'optout --help'\n" : "see 'optout " + command_ + " --help'\n";
  std::fwrite(see.data(), 1, see.size(), stderr);
  return kExitUsage;
}

int Diagnostics::fail(const Status& status) const {
  const int code = exit_code(status);
  if (code == kExitUsage) return usage_error(status.message());
  error(status.message());
  return code;
}

}  // namespace optout::cli
