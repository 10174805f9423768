#include "diagnostics.hpp"

#include <cstdio>

namespace optout::cli {
int exit_code(const Status& status) noexcept {
  switch (status.code()) {
    case ErrorCode::kOk: return kExitSuccess;
    case ErrorCode::kInvalidArgument: return kExitUsage;
    default: return kExitFailure;
  }
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
