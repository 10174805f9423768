// What every optout subcommand declares the same way, defined once: the subcommand itself (its
// arguments shared between the option definitions and the run), and the options several commands
// offer with one name and help text (--json, -q/--quiet, -o/--output to standard output by
// default, positional arguments). Each cmd_<name>.cpp keeps only what is its own.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <utility>

#include <CLI/CLI.hpp>

#include "commands.hpp"

namespace optout::cli {

// Declares the subcommand `name` on root with its --help description. One Args, value-initialised,
// holds what the command line sets: declare(cmd, args) binds the options to its fields, and run
// reads it once the command line has parsed, returning the exit status. The overload whose run
// also takes the subcommand is for a command that asks which options were given, or in what
// order (cmd.count("--list"), cmd.parse_order()).
//
//   Command add_info_command(CLI::App& root) {
//     return add_command(root, "info", "Show what a registry snapshot holds.", declare_info, run_info);
//   }
template <typename Args>
Command add_command(CLI::App& root, std::string name, std::string description,
                    void (*declare)(CLI::App& cmd, Args& args), int (*run)(const CLI::App& cmd, const Args& args)) {
  auto args = std::make_shared<Args>();
  CLI::App* cmd = root.add_subcommand(std::move(name), std::move(description));
  declare(*cmd, *args);
  return {cmd, [cmd, args, run] { return run(*cmd, *args); }};
}

template <typename Args>
Command add_command(CLI::App& root, std::string name, std::string description,
                    void (*declare)(CLI::App& cmd, Args& args), int (*run)(const Args& args)) {
  auto args = std::make_shared<Args>();
  CLI::App* cmd = root.add_subcommand(std::move(name), std::move(description));
  declare(*cmd, *args);
  return {cmd, [args, run] { return run(*args); }};
}

// A positional argument, e.g. FILE: --help shows its name alone, with no type after it.
template <typename T>
CLI::Option* add_argument(CLI::App& cmd, std::string name, T& value, std::string help) {
  return cmd.add_option(std::move(name), value, std::move(help))->type_name("");
}

// --json: print JSON to stdout instead of the text form.
inline CLI::Option* add_json_flag(CLI::App& cmd, bool& json) {
  return cmd.add_flag("--json", json, "Print JSON to stdout instead of text");
}

// -q,--quiet; help says what the command then leaves out, and that errors still print.
inline CLI::Option* add_quiet_flag(CLI::App& cmd, bool& quiet, std::string help) {
  return cmd.add_flag("-q,--quiet", quiet, std::move(help));
}

// -o,--output for a command that writes its result to standard output unless given a file
// (unset: standard output; the command passes value_or("-") to Destination::open).
inline CLI::Option* add_output_option(CLI::App& cmd, std::optional<std::string>& output) {
  return cmd.add_option("-o,--output", output, "Write here (atomically) instead of standard output");
}

}  // namespace optout::cli
