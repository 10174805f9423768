// optout info: what a registry snapshot holds.
#include <filesystem>
#include <iostream>
#include <string>
#include <system_error>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "commands.hpp"
#include "diagnostics.hpp"
#include "cli_options.hpp"
#include "optout/registry.hpp"
#include "output.hpp"

namespace optout::cli {
namespace {

// The --help description.
constexpr const char* kHelp = R"(Show what a registry snapshot holds.
Format version, creation time (UTC), description, content digest, sizes, and per list its
kind and count. Never prints an NHS number.)";

struct InfoArgs {
  std::string file;
  bool json = false;
};

int run_info(const InfoArgs& args) {
  const Diagnostics diag("info");
  auto loaded = load_registry(args.file);
  if (!loaded.ok()) return diag.fail(loaded.status());
  const Registry& registry = *loaded;

  std::error_code error;
  const std::uint64_t file_bytes = std::filesystem::file_size(args.file, error);
  if (error) return diag.fail(Status(ErrorCode::kIoError, args.file + ": cannot read its size"));

  if (args.json) {
    nlohmann::json lists = nlohmann::json::array();
    for (const ListInfo& info : registry.lists()) {
      lists.push_back({
          {"name", info.name},
          {"kind", list_kind_name(info.kind)},
          {"count", info.count},
          {"serialized_bytes", info.serialized_bytes},
          {"memory_bytes", info.memory_bytes},
          {"bytes_per_number", info.count == 0 ? nlohmann::json(nullptr)
                                               : nlohmann::json(static_cast<double>(info.serialized_bytes) /
                                                                static_cast<double>(info.count))},
      });
    }
    const std::uint64_t total = registry.total_count();
    print_json({
        {"file", args.file},
        {"format_version", kSnapshotFormatVersion},
        {"created_at", iso8601_utc(registry.created_at())},
        {"created_at_unix", registry.created_at()},
        {"description", registry.description()},
        {"digest", registry.digest().hex()},
        {"file_bytes", file_bytes},
        {"memory_bytes", registry.memory_bytes()},
        {"total_count", total},
        {"bytes_per_number", total == 0 ? nlohmann::json(nullptr)
                                        : nlohmann::json(static_cast<double>(file_bytes) / static_cast<double>(total))},
        {"lists", std::move(lists)},
    });
    return kExitSuccess;
  }

  const std::uint64_t total = registry.total_count();
  std::cout << format_table({
      {"file:", args.file},
      {"format version:", std::to_string(kSnapshotFormatVersion)},
      {"created at:", iso8601_utc(registry.created_at())},
      {"description:", registry.description()},
      {"digest:", registry.digest().hex()},
      {"file bytes:", std::to_string(file_bytes)},
      {"memory bytes:", std::to_string(registry.memory_bytes())},
      {"numbers:", std::to_string(total)},
      {"bytes/number:", bytes_per_number(file_bytes, total)},
  });
  std::cout << '\n';
  std::vector<std::vector<std::string>> rows = {{"LIST", "KIND", "COUNT", "BYTES", "MEMORY", "BYTES/NUMBER"}};
  for (const ListInfo& info : registry.lists()) {
    rows.push_back({info.name, list_kind_name(info.kind), std::to_string(info.count),
                    std::to_string(info.serialized_bytes), std::to_string(info.memory_bytes),
                    bytes_per_number(info.serialized_bytes, info.count)});
  }
  if (registry.lists().empty()) rows.push_back({"(no lists)"});
  std::cout << format_table(rows, {false, false, true, true, true, true});
  return kExitSuccess;
}

void declare_info(CLI::App& cmd, InfoArgs& args) {
  add_argument(cmd, "FILE", args.file, "The snapshot (.optout)")->required();
  add_json_flag(cmd, args.json);
}

}  // namespace

Command add_info_command(CLI::App& root) { return add_command(root, "info", kHelp, declare_info, run_info); }

}  // namespace optout::cli
