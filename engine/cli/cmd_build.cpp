// optout build: source files of NHS numbers → a registry snapshot.
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <CLI/CLI.hpp>

#include "cli_options.hpp"
#include "commands.hpp"
#include "diagnostics.hpp"
#include "optout/io.hpp"
#include "optout/registry.hpp"
#include "optout/signing.hpp"

namespace optout::cli {
namespace {

// The --help description.
constexpr const char* kHelp = R"(Build a registry snapshot from files of NHS numbers.
A source file holds one NHS number per line, plain (9434765919), spaced (943 476 5919),
dashed (943-476-5919) or in the Check for National Data Opt-outs .dat form (9434765919,);
blank lines are ignored, LF or CRLF. Sources apply in command-line order; several sources
for one name are merged. Nothing is written unless every source is valid (or
--skip-invalid). A report per source goes to stderr. Each source's base name, size,
XXH3-128 and counts are stored in the snapshot (optout info shows them), with the date
each list was issued when --as-of gives it. --sign NAME.key signs the snapshot (optout
keygen makes the key; --trust NAME.pub then refuses any registry it did not sign).
--scope NAME=research,planning limits a list to purposes (filter --purpose); --objections
FILE reads per-request objections (nhs_number,scope[,reference][,decided]) into the deny
lists objections.SCOPE.)";

enum class StepKind { kDeny, kAllow, kAdd, kRemove, kObjections, kWithdrawObjections };

struct BuildArgs {
  std::vector<std::string> deny;
  std::vector<std::string> allow;
  std::vector<std::string> add;
  std::vector<std::string> remove;
  std::optional<std::string> base;  // unset: none; "" is refused (check_distinct_files)
  std::string description;
  std::vector<std::string> as_of;  // LIST=YYYY-MM-DD
  std::vector<std::string> scope;  // LIST=SCOPE[,SCOPE...]
  std::vector<std::string> objections;
  std::vector<std::string> withdraw_objections;
  std::optional<std::string> sign;  // NAME.key; "" is refused (check_distinct_files)
  std::string output;
  bool skip_invalid = false;
  bool quiet = false;
};

// One NAME=FILE from the command line, in command-line order.
struct Step {
  StepKind kind;
  const char* flag;  // "--list", ...
  std::string name;
  std::string file;
};

std::string list_label(const std::string& name, ListKind kind) {
  return redact_numbers(name) + " (" + list_kind_name(kind) + ")";
}

std::string plural(std::uint64_t n, const char* one, const char* many) {
  return std::to_string(n) + " " + (n == 1 ? one : many);
}

int run_build(const CLI::App& cmd, const BuildArgs& args) {
  const Diagnostics diag("build");

  // Every NAME=FILE, in the order given, so that sources apply in that order.
  std::vector<Step> steps;
  std::map<const CLI::Option*, std::size_t> taken;
  for (const CLI::Option* option : cmd.parse_order()) {
    StepKind kind;
    const std::vector<std::string>* values;
    const char* flag;
    if (option->check_lname("list")) {
      kind = StepKind::kDeny, values = &args.deny, flag = "--list";
    } else if (option->check_lname("allow")) {
      kind = StepKind::kAllow, values = &args.allow, flag = "--allow";
    } else if (option->check_lname("add")) {
      kind = StepKind::kAdd, values = &args.add, flag = "--add";
    } else if (option->check_lname("remove")) {
      kind = StepKind::kRemove, values = &args.remove, flag = "--remove";
    } else if (option->check_lname("objections")) {
      kind = StepKind::kObjections, values = &args.objections, flag = "--objections";
    } else if (option->check_lname("withdraw-objections")) {
      kind = StepKind::kWithdrawObjections, values = &args.withdraw_objections, flag = "--withdraw-objections";
    } else {
      continue;
    }
    const std::size_t index = taken[option]++;
    if (index >= values->size()) continue;
    const std::string& value = (*values)[index];
    if (kind == StepKind::kObjections || kind == StepKind::kWithdrawObjections) {  // FILE, not NAME=FILE
      steps.push_back(Step{kind, flag, "", value});
      continue;
    }
    const auto equals = value.find('=');
    if (equals == std::string::npos) {
      return diag.usage_error(std::string(flag) + ": expected NAME=FILE, got a value without '='");
    }
    Step step{kind, flag, value.substr(0, equals), value.substr(equals + 1)};
    if (step.file.empty()) return diag.usage_error(std::string(flag) + ": NAME=FILE with an empty FILE");
    if (Status s = validate_list_name(step.name); !s.ok()) return diag.fail(s);
    steps.push_back(std::move(step));
  }

  if (steps.empty() && !args.base) {
    return diag.usage_error("no source given: use --list, --allow or --base");
  }
  if (!args.base) {
    for (const Step& step : steps) {
      if (step.kind == StepKind::kAdd || step.kind == StepKind::kRemove) {
        return diag.usage_error(std::string(step.flag) + " needs --base");
      }
    }
  }

  // Every --as-of LIST=YYYY-MM-DD, checked before any source is read.
  std::vector<std::pair<std::string, std::int64_t>> dates;
  for (const std::string& value : args.as_of) {
    const auto equals = value.find('=');
    if (equals == std::string::npos) {
      return diag.usage_error("--as-of: expected LIST=YYYY-MM-DD, got a value without '='");
    }
    const std::string name = value.substr(0, equals);
    if (Status s = validate_list_name(name); !s.ok()) return diag.fail(s);
    Result<std::int64_t> date = parse_iso_date(std::string_view(value).substr(equals + 1));
    if (!date.ok()) return diag.fail(date.status());
    dates.emplace_back(name, *date);
  }

  // Every --scope LIST=SCOPE[,SCOPE...]; the scope names are the engine's to check (build()).
  std::vector<std::pair<std::string, std::vector<std::string>>> scopes;
  for (const std::string& value : args.scope) {
    const auto equals = value.find('=');
    if (equals == std::string::npos) {
      return diag.usage_error("--scope: expected LIST=SCOPE[,SCOPE...], got a value without '='");
    }
    const std::string name = value.substr(0, equals);
    if (Status s = validate_list_name(name); !s.ok()) return diag.fail(s);
    for (const auto& [seen, list] : scopes) {
      if (seen == name) return diag.usage_error("--scope: list '" + redact_numbers(name) + "' given twice");
    }
    std::vector<std::string> names;
    const std::string_view text = std::string_view(value).substr(equals + 1);
    for (std::size_t from = 0;;) {
      const std::size_t comma = text.find(',', from);
      names.emplace_back(text.substr(from, comma == std::string_view::npos ? std::string_view::npos : comma - from));
      if (comma == std::string_view::npos) break;
      from = comma + 1;
    }
    scopes.emplace_back(name, std::move(names));
  }

  // No empty path, and the snapshot written never replaces a file it is built from.
  std::vector<std::string> inputs;
  if (args.base) inputs.push_back(*args.base);
  if (args.sign) inputs.push_back(*args.sign);
  for (const Step& step : steps) inputs.push_back(step.file);
  const std::string outputs[] = {args.output};
  if (Status s = check_distinct_files(inputs, outputs); !s.ok()) return diag.fail(s);

  // The key first: a bad key file fails the run before any source is read.
  std::optional<SecretKey> key;
  if (args.sign) {
    Result<SecretKey> read = read_secret_key(*args.sign);
    if (!read.ok()) return diag.fail(read.status());
    key = std::move(read).value();
  }

  std::optional<Registry> base;
  if (args.base) {
    auto loaded = load_registry(*args.base);
    if (!loaded.ok()) return diag.fail(loaded.status());
    base = std::move(loaded).value();
  }

  // The kind of every list the run can reach: the base's, then those --list/--allow declare.
  // --add and --remove must name one of them: a mistyped name must not quietly make a new list.
  std::map<std::string, ListKind, std::less<>> kinds;
  if (base) {
    for (const ListInfo& info : base->lists()) kinds.emplace(info.name, info.kind);
  }
  for (const Step& step : steps) {
    if (step.kind == StepKind::kDeny) kinds.emplace(step.name, ListKind::kDeny);
    if (step.kind == StepKind::kAllow) kinds.emplace(step.name, ListKind::kAllow);
  }
  for (const Step& step : steps) {
    if ((step.kind == StepKind::kAdd || step.kind == StepKind::kRemove) && !kinds.contains(step.name)) {
      return diag.usage_error(std::string(step.flag) + ": no list '" + redact_numbers(step.name) +
                              "' in the base; create a list with --list or --allow");
    }
  }

  RegistryBuilder builder = base ? RegistryBuilder(*base) : RegistryBuilder();
  // Declaring every --list/--allow list first finds a name given both kinds (or the other kind
  // than in the base) before any source is read.
  for (const Step& step : steps) {
    if (step.kind != StepKind::kDeny && step.kind != StepKind::kAllow) continue;
    const ListKind kind = step.kind == StepKind::kDeny ? ListKind::kDeny : ListKind::kAllow;
    if (Status s = builder.declare_list(step.name, kind); !s.ok()) return diag.fail(s);
  }
  const SourceOptions options{.skip_invalid = args.skip_invalid};
  for (const Step& step : steps) {
    if (step.kind == StepKind::kObjections || step.kind == StepKind::kWithdrawObjections) {
      const bool withdrawing = step.kind == StepKind::kWithdrawObjections;
      auto stats = withdrawing ? builder.remove_objections(step.file) : builder.add_objections(step.file);
      if (!stats.ok()) return diag.fail(stats.status());
      if (!args.quiet) {
        std::string report = step.file + ": " + plural(stats->rows, "row", "rows");
        for (const ObjectionStats::PerList& list : stats->lists) {
          report += "; " + std::string(withdrawing ? "from " : "to ") + list_label(list.list, ListKind::kDeny) + ": " +
                    std::to_string(list.stats.changed) + (withdrawing ? " withdrawn, " : " added, ") +
                    std::to_string(list.stats.unchanged) + (withdrawing ? " not in the list" : " already there");
        }
        diag.note(report);
      }
      if (stats->rows == 0) diag.warning(step.file + ": no objections");
      continue;
    }
    const ListKind kind = kinds.at(step.name);  // declare_list() made it agree with --list/--allow
    const bool removing = step.kind == StepKind::kRemove;
    auto stats = removing ? builder.remove_source(step.name, step.file, options)
                          : builder.add_source(step.name, kind, step.file, options);
    if (!stats.ok()) return diag.fail(stats.status());

    if (!args.quiet) {
      diag.note(step.file + ": " + plural(stats->lines, "line", "lines") + ", " +
                plural(stats->numbers, "number", "numbers") + ", " + std::to_string(stats->blank) + " blank, " +
                std::to_string(stats->invalid) + " invalid skipped; " + (removing ? "from " : "to ") +
                list_label(step.name, kind) + ": " + std::to_string(stats->changed) +
                (removing ? " withdrawn, " : " added, ") + std::to_string(stats->unchanged) +
                (removing ? " not in the list" : " already there"));
    }
    if (stats->invalid > 0) {
      diag.warning(step.file + ": " + plural(stats->invalid, "invalid line", "invalid lines") + " skipped");
    }
    if (stats->numbers == 0) diag.warning(step.file + ": no numbers");
  }

  if (cmd.count("--description") > 0) builder.set_description(args.description);
  for (const auto& [name, date] : dates) builder.set_as_of(name, date);
  for (auto& [name, names] : scopes) builder.set_scopes(name, std::move(names));
  auto registry = builder.build();
  if (!registry.ok()) return diag.fail(registry.status());
  if (key) {
    registry = sign_registry(*registry, *key);
    if (!registry.ok()) return diag.fail(registry.status());
  }
  if (Status s = save_registry(*registry, args.output); !s.ok()) return diag.fail(s);

  for (const ListInfo& info : registry->lists()) {
    if (info.count == 0) diag.warning("list " + list_label(info.name, info.kind) + " is empty");
  }
  if (!args.quiet) {
    for (const ListInfo& info : registry->lists()) {
      diag.note("list " + list_label(info.name, info.kind) + ": " + plural(info.count, "number", "numbers"));
    }
    if (key) diag.note("signed with key " + key->public_key().key_id());
    diag.note("wrote " + args.output + " (" + plural(registry->lists().size(), "list", "lists") + ")");
  }
  return kExitSuccess;
}

void declare_build(CLI::App& cmd, BuildArgs& args) {
  cmd.add_option("--list", args.deny, "Add the numbers of FILE to the deny list NAME (repeatable)")
      ->type_name("NAME=FILE");
  cmd.add_option("--allow", args.allow, "Add the numbers of FILE to the allow list NAME (repeatable)")
      ->type_name("NAME=FILE");
  cmd.add_option("--base", args.base, "Start from the lists and description of this snapshot")->type_name("OLD.optout");
  cmd.add_option("--add", args.add, "Add the numbers of FILE to the list NAME of the base, deny or allow (repeatable)")
      ->type_name("NAME=FILE");
  cmd.add_option("--remove", args.remove, "Withdraw the numbers of FILE from the list NAME of the base (repeatable)")
      ->type_name("NAME=FILE");
  cmd.add_option("--description", args.description, "A description stored in the snapshot")->type_name("TEXT");
  cmd.add_option("--as-of", args.as_of,
                 "When the list NAME was issued, e.g. the check service's reply date (repeatable); the "
                 "freshness gate counts from it")
      ->type_name("NAME=YYYY-MM-DD");
  cmd.add_option("--scope", args.scope,
                 "The purposes the list NAME applies to (repeatable; a list without one applies to every purpose; "
                 "replaces a base's)")
      ->type_name("NAME=SCOPE[,SCOPE...]");
  cmd.add_option("--objections", args.objections,
                 "Add upheld objections: CSV with header nhs_number,scope[,reference][,decided]; each scope's rows go "
                 "to the deny list objections.SCOPE, scoped to SCOPE (repeatable)")
      ->type_name("FILE");
  cmd.add_option("--withdraw-objections", args.withdraw_objections,
                 "Withdraw objections: the same CSV, each row withdrawn from objections.SCOPE (repeatable)")
      ->type_name("FILE");
  cmd.add_option("--sign", args.sign, "Sign the snapshot with this secret key (optout keygen)")->type_name("NAME.key");
  cmd.add_flag("--skip-invalid", args.skip_invalid, "Skip and count invalid lines instead of failing on the first");
  cmd.add_option("-o,--output", args.output, "The snapshot to write (atomically)")->type_name("OUT.optout")->required();
  add_quiet_flag(cmd, args.quiet, "No report; warnings and errors still print");
}

}  // namespace

Command add_build_command(CLI::App& root) { return add_command(root, "build", kHelp, declare_build, run_build); }

}  // namespace optout::cli
