// optout diff: what changed between two registry snapshots.
#include <iostream>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "cli_options.hpp"
#include "commands.hpp"
#include "diagnostics.hpp"
#include "optout/commit.hpp"
#include "optout/io.hpp"
#include "optout/nhs_number.hpp"
#include "optout/registry.hpp"
#include "output.hpp"

namespace optout::cli {
namespace {

// The --help description.
constexpr const char* kHelp = R"(Show what changed between two registry snapshots.
Per list, how many numbers were added and withdrawn, and lists that are new, dropped or
changed kind, and lists whose scopes (the purposes they apply to) changed. Numbers themselves go only to the files named by --added and --withdrawn (one
10-digit number per line, ascending, written atomically).)";

struct DiffArgs {
  std::string old_file;
  std::string new_file;
  std::string list;
  std::optional<std::string> added_file;  // unset: none; "" is refused (check_distinct_files)
  std::optional<std::string> withdrawn_file;
  bool json = false;
};

// "deny", "allow (new)", "deny (dropped)", "deny -> allow".
std::string kind_change(const ListDiff& diff) {
  if (!diff.old_kind) return std::string(list_kind_name(*diff.new_kind)) + " (new)";
  if (!diff.new_kind) return std::string(list_kind_name(*diff.old_kind)) + " (dropped)";
  if (*diff.old_kind != *diff.new_kind) {
    return std::string(list_kind_name(*diff.old_kind)) + " -> " + list_kind_name(*diff.new_kind);
  }
  return list_kind_name(*diff.new_kind);
}

// "research,planning"; "(every purpose)" for a list without scopes; "-" for a side without the list.
std::string scopes_text(const std::optional<ListKind>& kind, const std::vector<std::string>& scopes) {
  if (!kind) return "-";
  std::string text;
  for (const std::string& scope : scopes) text += (text.empty() ? "" : ",") + scope;
  return text.empty() ? "(every purpose)" : text;
}

nlohmann::json kind_json(const std::optional<ListKind>& kind) {
  return kind ? nlohmann::json(list_kind_name(*kind)) : nlohmann::json(nullptr);
}

nlohmann::json registry_json(const std::string& file, const Registry& registry) {
  return {{"file", file},
          {"created_at", iso8601_utc(registry.created_at())},
          {"description", registry.description()},
          {"digest", registry.digest().hex()}};
}

// Numbers go only to files the user named: one 10-digit number per line, staged in a temporary
// file until every file of the run is complete (see put_all_in_place()).
Result<AtomicFile> stage_numbers(const std::string& path, std::span<const std::uint32_t> stems) {
  std::string text;
  text.reserve(stems.size() * 11);
  char buffer[kMaxFormattedBytes];
  for (const std::uint32_t stem : stems) {
    text.append(buffer, format_nhs_number(stem, buffer));
    text += '\n';
  }
  Result<AtomicFile> file = AtomicFile::create(path);
  if (!file.ok()) return file.status();
  if (Status s = file->write_all(text); !s.ok()) return s;
  return file;
}

int run_diff(const CLI::App& cmd, const DiffArgs& args) {
  const Diagnostics diag("diff");
  const bool list_given = cmd.count("--list") > 0;
  const bool write_files = args.added_file || args.withdrawn_file;
  const std::string inputs[] = {args.old_file, args.new_file};
  std::vector<std::string> outputs;
  for (const std::optional<std::string>* file : {&args.added_file, &args.withdrawn_file}) {
    if (*file) outputs.push_back(**file);
  }
  if (Status s = check_distinct_files(inputs, outputs); !s.ok()) return diag.fail(s);

  auto older = load_registry(args.old_file);
  if (!older.ok()) return diag.fail(older.status());
  auto newer = load_registry(args.new_file);
  if (!newer.ok()) return diag.fail(newer.status());

  std::vector<ListDiff> diffs = diff_registries(*older, *newer);
  if (list_given) {
    std::erase_if(diffs, [&](const ListDiff& d) { return d.name != args.list; });
    if (diffs.empty()) {
      return diag.usage_error("--list: no list '" + redact_numbers(args.list) + "' in either registry");
    }
  }

  if (write_files) {
    if (diffs.size() > 1) {
      return diag.usage_error("--added/--withdrawn: the registries hold " + std::to_string(diffs.size()) +
                              " lists; choose a list with --list");
    }
    ListChanges changes;  // no list on either side: nothing was added or withdrawn
    if (!diffs.empty()) {
      auto found = list_changes(*older, *newer, diffs.front().name);
      if (!found.ok()) return diag.fail(found.status());
      changes = std::move(found).value();
    }
    // Both files appear, or neither: a failed second file never leaves the first looking complete.
    std::vector<AtomicFile> files;
    for (const auto& [path, stems] :
         {std::pair{&args.added_file, &changes.added}, std::pair{&args.withdrawn_file, &changes.withdrawn}}) {
      if (!*path) continue;
      Result<AtomicFile> file = stage_numbers(**path, *stems);
      if (!file.ok()) return diag.fail(file.status());
      files.push_back(std::move(file).value());
    }
    std::vector<std::unique_ptr<StagedResult>> staged;
    std::vector<StagedResult*> results;
    for (AtomicFile& file : files) results.push_back(staged.emplace_back(staged_file(file)).get());
    if (Status s = put_all_in_place(results); !s.ok()) return diag.fail(s);
  }

  if (args.json) {
    nlohmann::json lists = nlohmann::json::array();
    for (const ListDiff& d : diffs) {
      lists.push_back({{"name", d.name},
                       {"old_kind", kind_json(d.old_kind)},
                       {"new_kind", kind_json(d.new_kind)},
                       {"added", d.added},
                       {"withdrawn", d.withdrawn},
                       {"old_scopes", d.old_kind ? nlohmann::json(d.old_scopes) : nlohmann::json(nullptr)},
                       {"new_scopes", d.new_kind ? nlohmann::json(d.new_scopes) : nlohmann::json(nullptr)}});
    }
    print_json({{"old", registry_json(args.old_file, *older)},
                {"new", registry_json(args.new_file, *newer)},
                {"lists", std::move(lists)}});
    return kExitSuccess;
  }

  std::vector<std::vector<std::string>> rows = {{"LIST", "KIND", "ADDED", "WITHDRAWN"}};
  for (const ListDiff& d : diffs) {
    rows.push_back({d.name, kind_change(d), std::to_string(d.added), std::to_string(d.withdrawn)});
  }
  if (diffs.empty()) rows.push_back({"(no lists)"});
  std::cout << format_table(rows, {false, false, true, true});
  // Scope changes: each list whose purposes differ between the two (a side without the list: "-").
  std::vector<std::vector<std::string>> scope_rows = {{"LIST", "OLD SCOPES", "NEW SCOPES"}};
  for (const ListDiff& d : diffs) {
    if (d.old_scopes == d.new_scopes) continue;
    scope_rows.push_back({d.name, scopes_text(d.old_kind, d.old_scopes), scopes_text(d.new_kind, d.new_scopes)});
  }
  if (scope_rows.size() > 1) std::cout << '\n' << format_table(scope_rows);
  return kExitSuccess;
}

void declare_diff(CLI::App& cmd, DiffArgs& args) {
  add_argument(cmd, "OLD", args.old_file, "The older snapshot")->required();
  add_argument(cmd, "NEW", args.new_file, "The newer snapshot")->required();
  add_json_flag(cmd, args.json);
  cmd.add_option("--list", args.list, "Only this list")->type_name("NAME");
  cmd.add_option("--added", args.added_file,
                 "Write the numbers added to the list to FILE (needs --list when there are several)")
      ->type_name("FILE");
  cmd.add_option("--withdrawn", args.withdrawn_file,
                 "Write the numbers withdrawn from the list to FILE (needs --list when there are several)")
      ->type_name("FILE");
}

}  // namespace

Command add_diff_command(CLI::App& root) { return add_command(root, "diff", kHelp, declare_diff, run_diff); }

}  // namespace optout::cli
