// optout info: what a registry snapshot holds.
#include <filesystem>
#include <iostream>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "commands.hpp"
#include "diagnostics.hpp"
#include "cli_options.hpp"
#include "optout/registry.hpp"
#include "optout/signing.hpp"
#include "output.hpp"

namespace optout::cli {
namespace {

// The --help description.
constexpr const char* kHelp = R"(Show what a registry snapshot holds.
Format version, creation time (UTC), description, content digest, sizes, when its data
dates from (the oldest --as-of date, else the creation time), the key that signed it,
per list its kind and count, and each list's provenance: its as-of date and the source
files it was built from (base name, add or remove, bytes, lines, numbers, XXH3-128).
A signature is always checked: one that does not verify is a corrupt file. With --trust
(or OPTOUT_TRUST) and --expect-digest, says whether the registry passes them, without
failing. Lists scoped to purposes (build --scope, --objections) show their scopes; a list
without one applies to every purpose. Never prints an NHS number.)";

struct InfoArgs {
  std::string file;
  bool json = false;
  TrustArgs trust;
};

// A file name as one table cell: control characters (a newline would break the table) as '?'.
std::string cell(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7F) c = '?';
  }
  return out;
}

std::string as_of_text(const ListProvenance& p) { return p.as_of ? iso_date_utc(*p.as_of) : "-"; }

int run_info(const InfoArgs& args) {
  const Diagnostics diag("info");
  Result<std::vector<PublicKey>> trusted = read_trust(args.trust);
  if (!trusted.ok()) return diag.fail(trusted.status());
  auto loaded = load_registry(args.file);
  if (!loaded.ok()) return diag.fail(loaded.status());
  const Registry& registry = *loaded;
  // info reports the trust gate and the digest pin; it fails only on a malformed --expect-digest.
  std::optional<Status> trust;
  if (!trusted->empty()) trust = check_trust(registry.source(), registry.signer(), *trusted);
  std::optional<Status> pin;
  if (args.trust.expect_digest) {
    pin = check_expected_digest(registry.source(), registry.digest(), *args.trust.expect_digest);
    if (pin->code() == ErrorCode::kInvalidArgument) return diag.fail(*pin);
  }
  const auto verdict = [](const Status& s) { return s.ok() ? std::string("yes") : "no: " + s.message(); };

  std::error_code error;
  const std::uint64_t file_bytes = std::filesystem::file_size(args.file, error);
  if (error) return diag.fail(Status(ErrorCode::kIoError, args.file + ": cannot read its size"));

  if (args.json) {
    nlohmann::json lists = nlohmann::json::array();
    for (const ListInfo& info : registry.lists()) {
      const ListProvenance* provenance = registry.provenance_of(info.name);
      nlohmann::json sources = nlohmann::json::array();
      nlohmann::json as_of = nullptr;
      if (provenance != nullptr) {
        if (provenance->as_of) as_of = iso_date_utc(*provenance->as_of);
        for (const SourceRecord& r : provenance->sources) {
          sources.push_back({{"file", r.file},
                             {"op", r.removal ? "remove" : "add"},
                             {"bytes", r.bytes},
                             {"xxh3_128", r.xxh3.hex()},
                             {"lines", r.lines},
                             {"numbers", r.numbers}});
        }
      }
      lists.push_back({
          {"name", info.name},
          {"as_of", std::move(as_of)},
          {"sources", std::move(sources)},
          {"kind", list_kind_name(info.kind)},
          {"scopes", info.scopes},
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
        {"data_as_of", iso8601_utc(registry.data_as_of())},
        {"signer", registry.signer() ? nlohmann::json({{"key_id", registry.signer()->key_id()},
                                                       {"public_key", to_hex(registry.signer()->bytes)}})
                                     : nlohmann::json(nullptr)},
        {"trusted", trust ? nlohmann::json(trust->ok()) : nlohmann::json(nullptr)},
        {"trust_problem", trust && !trust->ok() ? nlohmann::json(trust->message()) : nlohmann::json(nullptr)},
        {"digest_expected", pin ? nlohmann::json(pin->ok()) : nlohmann::json(nullptr)},
        {"digest_problem", pin && !pin->ok() ? nlohmann::json(pin->message()) : nlohmann::json(nullptr)},
        {"lists", std::move(lists)},
        {"purposes", registry.purposes()},
    });
    return kExitSuccess;
  }

  const std::uint64_t total = registry.total_count();
  std::vector<std::vector<std::string>> facts = {
      {"file:", args.file},
      {"format version:", std::to_string(kSnapshotFormatVersion)},
      {"created at:", iso8601_utc(registry.created_at())},
      {"description:", registry.description()},
      {"digest:", registry.digest().hex()},
      {"file bytes:", std::to_string(file_bytes)},
      {"memory bytes:", std::to_string(registry.memory_bytes())},
      {"numbers:", std::to_string(total)},
      {"bytes/number:", bytes_per_number(file_bytes, total)},
      {"data as of:", iso8601_utc(registry.data_as_of())},
      {"signer:", registry.signer() ? "key " + registry.signer()->key_id() + " (signature verifies)" : "unsigned"},
  };
  if (trust) facts.push_back({"trusted:", verdict(*trust)});
  if (pin) facts.push_back({"digest pinned:", verdict(*pin)});
  std::cout << format_table(facts);
  std::cout << '\n';
  std::vector<std::vector<std::string>> rows = {{"LIST", "KIND", "COUNT", "BYTES", "MEMORY", "BYTES/NUMBER"}};
  for (const ListInfo& info : registry.lists()) {
    rows.push_back({info.name, list_kind_name(info.kind), std::to_string(info.count),
                    std::to_string(info.serialized_bytes), std::to_string(info.memory_bytes),
                    bytes_per_number(info.serialized_bytes, info.count)});
  }
  if (registry.lists().empty()) rows.push_back({"(no lists)"});
  std::cout << format_table(rows, {false, false, true, true, true, true});
  // Scopes (--scope, --objections): shown when a list has one; an unscoped list applies to every purpose.
  if (!registry.purposes().empty()) {
    std::vector<std::vector<std::string>> scopes = {{"LIST", "SCOPES (PURPOSES IT APPLIES TO)"}};
    for (const ListInfo& info : registry.lists()) {
      std::string text;
      for (const std::string& scope : info.scopes) text += (text.empty() ? "" : ",") + scope;
      scopes.push_back({info.name, text.empty() ? "(every purpose)" : text});
    }
    std::cout << '\n' << format_table(scopes);
  }
  if (!registry.provenance().empty()) {
    std::vector<std::vector<std::string>> sources = {
        {"LIST", "AS OF", "OP", "BYTES", "LINES", "NUMBERS", "XXH3-128", "FILE"}};
    for (const ListProvenance& p : registry.provenance()) {
      if (p.sources.empty()) sources.push_back({p.list, as_of_text(p), "-", "-", "-", "-", "-", "-"});
      for (const SourceRecord& r : p.sources) {
        sources.push_back({p.list, as_of_text(p), r.removal ? "remove" : "add", std::to_string(r.bytes),
                           std::to_string(r.lines), std::to_string(r.numbers), r.xxh3.hex(), cell(r.file)});
      }
    }
    std::cout << '\n' << format_table(sources, {false, false, false, true, true, true, false, false});
  }
  return kExitSuccess;
}

void declare_info(CLI::App& cmd, InfoArgs& args) {
  add_argument(cmd, "FILE", args.file, "The snapshot (.optout)")->required();
  add_json_flag(cmd, args.json);
  add_trust_options(cmd, args.trust);
}

}  // namespace

Command add_info_command(CLI::App& root) { return add_command(root, "info", kHelp, declare_info, run_info); }

}  // namespace optout::cli
