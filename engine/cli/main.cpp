// optout: the command-line tool. A thin shell over the engine: parse the command line, run the
// chosen command, map the outcome to an exit status (0 success, 1 failure, 2 usage error).
#include <signal.h>

#include <csignal>
#include <cstdio>
#include <exception>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include <CLI/CLI.hpp>

#include "commands.hpp"
#include "diagnostics.hpp"
#include "optout/io.hpp"
#include "optout/version.hpp"

namespace optout::cli {
namespace {

constexpr const char* kFooter =
    "Exit status: 0 success, 1 failure (bad input, unreadable or corrupt file, I/O error),\n"
    "2 usage error. Errors go to stderr as 'optout <command>: <problem>'; they never contain an\n"
    "NHS number or row content.";

// Lists each command by the first line of its description (its own --help shows all of it).
class Formatter : public CLI::Formatter {
 public:
  std::string make_subcommand(const CLI::App* sub) const override {
    const std::string& description = sub->get_description();
    std::stringstream out;
    CLI::detail::format_help(out, sub->get_display_name(true), description.substr(0, description.find('\n')),
                             column_width_);
    return out.str();
  }
};

// The name of the subcommand the parse reached ("" for none), for "optout <cmd>: ..." messages.
std::string selected_command(const CLI::App& app) {
  const auto selected = app.get_subcommands();
  return selected.empty() ? std::string() : selected.front()->get_name();
}

// CLI11's message for a parse error, made to fit "optout <cmd>: <problem>": first letter lower
// case, and any argument it quotes that looks like an NHS number redacted.
std::string describe(const CLI::ParseError& error) {
  std::string message = redact_numbers(error.what());
  if (!message.empty() && message[0] >= 'A' && message[0] <= 'Z' &&
      !(message.size() > 1 && message[1] >= 'A' && message[1] <= 'Z')) {
    message[0] = static_cast<char>(message[0] - 'A' + 'a');
  }
  return message;
}

int run(int argc, char** argv) {
  CLI::App app(
      "Removes the rows of opted-out patients from bulk NHS CSV extracts, using a registry\n"
      "of opt-out lists built from the national data opt-out and other sources.",
      "optout");
  app.set_help_flag("-h,--help", "Print this help and exit");  // subcommands copy it
  app.footer(kFooter);                                         // subcommands copy it
  app.set_version_flag("--version", std::string("optout ") + kVersion, "Print the version and exit");
  app.require_subcommand(0, 1);
  auto formatter = std::make_shared<Formatter>();
  formatter->column_width(36);
  app.formatter(formatter);  // subcommands copy it

  const std::vector<Command> commands = {
      add_filter_command(app), add_numbers_command(app), add_build_command(app),
      add_info_command(app),   add_diff_command(app),    add_check_command(app),
      add_export_command(app), add_keygen_command(app),  add_verify_command(app),
  };

  // CLI11 would call an unknown command "an argument that was not expected"; say what it is.
  if (argc > 1 && argv[1][0] != '-' && argv[1][0] != '\0') {
    bool known = false;
    for (const auto& command : commands) known = known || command.app->check_name(argv[1]);
    if (!known) return Diagnostics("").usage_error("unknown command '" + redact_numbers(argv[1]) + "'");
  }

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    std::cout << app.help();
    return kExitSuccess;
  } catch (const CLI::CallForAllHelp&) {
    std::cout << app.help("", CLI::AppFormatMode::All);
    return kExitSuccess;
  } catch (const CLI::CallForVersion& version) {
    std::cout << version.what() << '\n';
    return kExitSuccess;
  } catch (const CLI::ParseError& error) {
    return Diagnostics(selected_command(app)).usage_error(describe(error));
  }

  for (const auto& command : commands) {
    if (!command.app->parsed()) continue;
    const int status = command.run();
    std::cout.flush();
    if (!std::cout) {
      Diagnostics(command.app->get_name()).error("cannot write to standard output");
      return kExitFailure;
    }
    return status;
  }
  return Diagnostics("").usage_error("no command given");
}

}  // namespace
}  // namespace optout::cli

namespace {

// Ctrl-C, kill or a closed terminal: remove the temporary output files, then die of the signal as
// if unhandled (SA_RESETHAND restored the default; the raised signal arrives once this returns).
extern "C" void remove_temporaries_and_die(int signal_number) {
  optout::remove_uncommitted_files();
  (void)std::raise(signal_number);
}

// A signal ignored at start stays ignored: nohup ignores SIGHUP, a shell's background job SIGINT.
void remove_temporaries_on_termination() {
  struct sigaction action {};
  action.sa_handler = remove_temporaries_and_die;
  action.sa_flags = SA_RESETHAND;
  sigemptyset(&action.sa_mask);
  for (const int signal_number : {SIGINT, SIGTERM, SIGHUP}) {
    struct sigaction current {};
    if (sigaction(signal_number, nullptr, &current) == 0 && current.sa_handler != SIG_IGN) {
      (void)sigaction(signal_number, &action, nullptr);
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  remove_temporaries_on_termination();
  // A file-size limit (ulimit -f) or a full quota must fail the write with EFBIG, which the engine
  // reports and cleans up after, not kill the process and leave a temporary file behind.
  std::signal(SIGXFSZ, SIG_IGN);
  // The last-chance catch: an exception that escapes a command is a bug or an allocation failure;
  // report it and fail, never crash. what() of the engine's dependencies never holds row content.
  try {
    return optout::cli::run(argc, argv);
  } catch (const std::exception& e) {
    const std::string message = "optout: internal error: " + optout::cli::redact_numbers(e.what()) + "\n";
    std::fwrite(message.data(), 1, message.size(), stderr);
  } catch (...) {
    std::fputs("optout: internal error: unknown exception\n", stderr);
  }
  return optout::cli::kExitFailure;
}
