// What every optout subcommand declares the same way, defined once: the subcommand itself (its
// arguments shared between the option definitions and the run), and the options several commands
// offer with one name and help text (--json, -q/--quiet, -o/--output to standard output by
// default, positional arguments, the trust options of a command that loads a registry). Each
// cmd_<name>.cpp keeps only what is its own.
#pragma once

#include <memory>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include <CLI/CLI.hpp>

#include "commands.hpp"
#include "optout/policy.hpp"
#include "optout/registry.hpp"
#include "optout/signing.hpp"

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

// --trust FILE.pub (repeatable; none: the keys OPTOUT_TRUST names) and --expect-digest HEX, for a
// command that loads a registry. The rules are the engine's (read_trusted_keys, check_trust,
// check_expected_digest); the CLI neither re-words nor re-checks them.
struct TrustArgs {
  std::vector<std::string> trust;
  std::optional<std::string> expect_digest;
};

inline constexpr const char* kTrustHelp =
    "Refuse a registry not signed by this key (repeatable; default: the keys OPTOUT_TRUST names, path:path)";

// trust_help: --trust's help, for a command whose keys vouch for more than the registry.
inline void add_trust_options(CLI::App& cmd, TrustArgs& args, const char* trust_help = kTrustHelp) {
  cmd.add_option("--trust", args.trust, trust_help)
      ->type_name("FILE.pub")
      ->allow_extra_args(false);  // one path per --trust: what follows is the command's own argument
  cmd.add_option("--expect-digest", args.expect_digest, "Refuse a registry whose digest (optout info) differs")
      ->type_name("HEX");
}

// The trusted keys of the run: --trust's, else OPTOUT_TRUST's (none: nothing is checked). Read
// before the registry, so that a bad key file fails the run before anything is written.
[[nodiscard]] inline Result<std::vector<PublicKey>> read_trust(const TrustArgs& args) {
  return read_trusted_keys(args.trust);
}

// The trust gate and the digest pin on a loaded registry: kUntrusted (exit 1) or, for a malformed
// --expect-digest, kInvalidArgument (exit 2).
[[nodiscard]] inline Status check_registry_trust(const Registry& registry, std::span<const PublicKey> trusted,
                                                 const TrustArgs& args) {
  if (Status s = check_trust(registry.source(), registry.signer(), trusted); !s.ok()) return s;
  if (args.expect_digest) return check_expected_digest(registry.source(), registry.digest(), *args.expect_digest);
  return Status();
}

// --purpose NAME and --exempt LIST=REFERENCE (repeatable), for a command that chooses lists
// (filter, verify). The rules are the engine's (parse_exemption, select_lists).
struct PurposeArgs {
  std::optional<std::string> purpose;
  std::vector<std::string> exempt;
};

inline void add_purpose_options(CLI::App& cmd, PurposeArgs& args) {
  cmd.add_option("--purpose", args.purpose,
                 "Apply the lists scoped to this purpose and every unscoped list (not with --apply)")
      ->type_name("NAME");
  cmd.add_option("--exempt", args.exempt,
                 "Leave LIST out of the --purpose run, recording why in the audit record (repeatable)")
      ->type_name("LIST=REFERENCE")
      ->allow_extra_args(false);
}

// The lists a run asks for: --apply's, or --purpose's less each --exempt (checked by the engine
// once the registry is loaded: OptOutIndex::create(registry, selection)).
[[nodiscard]] inline Result<ListSelection> to_selection(const std::vector<std::string>& apply,
                                                        const PurposeArgs& args) {
  ListSelection selection;
  selection.apply = apply;
  selection.purpose = args.purpose;
  for (const std::string& text : args.exempt) {
    Result<Exemption> exemption = parse_exemption(text);
    if (!exemption.ok()) return exemption.status();
    selection.exemptions.push_back(std::move(exemption).value());
  }
  return selection;
}

}  // namespace optout::cli
