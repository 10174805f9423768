// How the optout tool talks to its user on stderr, and how outcomes become exit statuses.
//
// Every message is one line, "optout <command>: <message>" (just "optout: " before a command is
// known). Messages from a Status already start with the input, e.g.
//   optout build: ndoo.txt:17: wrong check digit
// Nothing here ever prints an NHS number or row content: the engine's messages never hold one, and
// text that comes from the command line is passed through redact_numbers() first.
#pragma once

#include <string>
#include <string_view>

#include "optout/status.hpp"

namespace optout::cli {

inline constexpr int kExitSuccess = 0;  // the command did what was asked
inline constexpr int kExitFailure = 1;  // bad input, unreadable or corrupt file, I/O error
inline constexpr int kExitUsage = 2;    // the command line is wrong: fix it and run again

// The exit status for a Status: 0 when ok; 2 for kInvalidArgument (an option or value from the
// command line the engine cannot use, e.g. a bad list name); 1 otherwise.
int exit_code(const Status& status) noexcept;

// CLI11's parse errors can quote an argument that is an NHS number: they go through the engine's
// redact_numbers() (status.hpp), the one redaction rule.
using optout::redact_numbers;

class Diagnostics {
 public:
  // command: the subcommand's name, e.g. "build"; empty for the root command.
  explicit Diagnostics(std::string command);

  // "optout build: <message>".
  void error(std::string_view message) const;
  // "optout build: warning: <message>". Warnings are about the data and are never silenced.
  void warning(std::string_view message) const;
  // "optout build: <message>": summaries and reports; commands drop them under --quiet.
  void note(std::string_view message) const;

  // Prints the message and the line "see 'optout build --help'"; returns kExitUsage.
  int usage_error(std::string_view message) const;
  // Prints the status's message (with the see-help line when it is a usage error) and returns
  // exit_code(status). Precondition: !status.ok().
  int fail(const Status& status) const;

  const std::string& command() const noexcept { return command_; }

 private:
  void print(std::string_view infix, std::string_view message) const;

  std::string command_;
  std::string prefix_;  // "optout build: " or "optout: "
};

}  // namespace optout::cli
