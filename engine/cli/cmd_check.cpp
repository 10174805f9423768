// optout check: is this an NHS number, which lists hold it, and would the filter remove its rows?
// For support staff answering "did my opt-out apply?". This is the one command that echoes the
// numbers the user typed, and only to stdout.
#include <iostream>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "cli_options.hpp"
#include "commands.hpp"
#include "diagnostics.hpp"
#include "optout/filter.hpp"
#include "optout/nhs_number.hpp"
#include "optout/io.hpp"
#include "optout/registry.hpp"
#include "optout/signing.hpp"
#include "output.hpp"

namespace optout::cli {
namespace {

// The --help description.
constexpr const char* kHelp = R"(Check NHS numbers: valid or not, which lists hold them, what the filter would do.
For each number: valid or invalid (and why) and, with --registry, which lists hold it and
the filter's verdict applying every list: removed when in a deny list or missing from
an allow list, rejected when invalid, else kept. Numbers come from the arguments, or from
stdin one per line as in list files (a .dat file's trailing commas allowed, blank lines
skipped). Each number is echoed to stdout with its result, never to stderr. Exit 0 when
every number was checked, valid or not.)";

struct CheckArgs {
  std::optional<std::string> registry;  // unset: validity only; "" is refused, never "no registry"
  std::vector<std::string> numbers;
  bool json = false;
  TrustArgs trust;  // with --registry only
};

std::string_view trim(std::string_view text) {
  constexpr std::string_view kSpace = " \t\r\n\v\f";
  const auto first = text.find_first_not_of(kSpace);
  if (first == std::string_view::npos) return {};
  return text.substr(first, text.find_last_not_of(kSpace) - first + 1);
}

const char* verdict_name(Verdict verdict) {
  switch (verdict) {
    case Verdict::kKept: return "kept";
    case Verdict::kRemoved: return "removed";
    case Verdict::kRejected: return "rejected";
  }
  return "unknown";
}

class Checker {
 public:
  Checker(const Registry* registry, const OptOutIndex* index, bool json)
      : registry_(registry), index_(index), json_(json) {}

  void check(std::string_view input, const ParsedNhsNumber& parsed) {
    std::optional<Verdict> verdict;
    if (index_ != nullptr) verdict = index_->verdict(parsed);
    std::vector<const ListInfo*> in_lists;
    std::vector<const ListInfo*> missing_allow;
    if (registry_ != nullptr && parsed.valid()) {
      const auto& lists = registry_->lists();
      for (std::size_t i = 0; i < lists.size(); ++i) {
        if (registry_->contains(i, parsed.stem)) {
          in_lists.push_back(&lists[i]);
        } else if (lists[i].kind == ListKind::kAllow) {
          missing_allow.push_back(&lists[i]);
        }
      }
    }
    if (json_) {
      add_json(input, parsed, in_lists, verdict);
    } else {
      print_text(input, parsed, in_lists, missing_allow, verdict);
    }
  }

  const nlohmann::json& results() const { return results_; }

 private:
  static std::string labels(const std::vector<const ListInfo*>& lists) {
    std::string out;
    for (const ListInfo* info : lists) {
      if (!out.empty()) out += ", ";
      out += info->name + " (" + list_kind_name(info->kind) + ")";
    }
    return out;
  }

  // "9434765919: valid; in national (deny); removed"
  // "4000000632: valid; in no list; not in cleared (allow); removed"
  // "987654321X: invalid: bad character; rejected"
  void print_text(std::string_view input, const ParsedNhsNumber& parsed, const std::vector<const ListInfo*>& in_lists,
                  const std::vector<const ListInfo*>& missing_allow, std::optional<Verdict> verdict) {
    std::string line(input);
    if (parsed.valid()) {
      line += ": valid";
      if (registry_ != nullptr) {
        line += in_lists.empty() ? "; in no list" : "; in " + labels(in_lists);
        if (!missing_allow.empty()) line += "; not in " + labels(missing_allow);
      }
    } else {
      line += ": invalid: ";
      line += invalid_reason_text(parsed.reason);
    }
    if (verdict) {
      line += "; ";
      line += verdict_name(*verdict);
    }
    line += '\n';
    std::cout << line;
  }

  void add_json(std::string_view input, const ParsedNhsNumber& parsed, const std::vector<const ListInfo*>& in_lists,
                std::optional<Verdict> verdict) {
    nlohmann::json result = {
        {"input", std::string(input)},
        {"valid", parsed.valid()},
        {"number", parsed.valid() ? nlohmann::json(format_nhs_number(parsed.stem)) : nlohmann::json(nullptr)},
        {"reason", parsed.valid() ? nlohmann::json(nullptr) : nlohmann::json(invalid_reason_text(parsed.reason))},
        {"reason_code", static_cast<int>(parsed.reason)},
        {"lists", nullptr},
        {"verdict", verdict ? nlohmann::json(verdict_name(*verdict)) : nlohmann::json(nullptr)},
    };
    if (registry_ != nullptr) {
      nlohmann::json names = nlohmann::json::array();
      for (const ListInfo* info : in_lists) names.push_back(info->name);
      result["lists"] = std::move(names);
    }
    results_.push_back(std::move(result));
  }

  const Registry* registry_;
  const OptOutIndex* index_;
  bool json_;
  nlohmann::json results_ = nlohmann::json::array();
};

int run_check(const CheckArgs& args) {
  const Diagnostics diag("check");
  std::optional<Registry> registry;
  std::optional<OptOutIndex> index;
  if (!args.registry && (!args.trust.trust.empty() || args.trust.expect_digest)) {
    return diag.usage_error(std::string(args.trust.trust.empty() ? "--expect-digest" : "--trust") +
                            " needs --registry");
  }
  if (args.registry) {
    const std::string inputs[] = {*args.registry};
    if (Status s = check_distinct_files(inputs, {}); !s.ok()) return diag.fail(s);  // an empty path
    Result<std::vector<PublicKey>> trusted = read_trust(args.trust);
    if (!trusted.ok()) return diag.fail(trusted.status());
    auto loaded = load_registry(*args.registry);
    if (!loaded.ok()) return diag.fail(loaded.status());
    if (Status s = check_registry_trust(*loaded, *trusted, args.trust); !s.ok()) return diag.fail(s);
    registry = std::move(loaded).value();
    auto created = OptOutIndex::create(*registry);
    if (!created.ok()) return diag.fail(created.status());
    index = std::move(created).value();
  }

  Checker checker(registry ? &*registry : nullptr, index ? &*index : nullptr, args.json);
  if (!args.numbers.empty()) {
    for (const std::string& number : args.numbers) checker.check(trim(number), parse_nhs_number(number));
  } else {
    // Lines as in list sources (the .dat form's trailing comma too); blank lines are skipped.
    // A bare CR fails the run before that line's result is printed (lines end with LF or CRLF).
    std::string line;
    for (std::uint64_t line_no = 1; std::getline(std::cin, line); ++line_no) {
      if (!std::cin.eof()) line.push_back('\n');  // getline took it; the last line may have none
      const SourceLine source = parse_source_line(line);
      if (Status s = source_line_status("<stdin>", line_no, source); !s.ok()) return diag.fail(s);
      if (!source.blank) checker.check(trim(line), source.number);
    }
    if (std::cin.bad()) return diag.fail(Status(ErrorCode::kIoError, "<stdin>: read error"));
  }

  if (args.json) {
    nlohmann::json registry_json = nullptr;
    if (registry) {
      nlohmann::json lists = nlohmann::json::array();
      for (const ListInfo& info : registry->lists()) {
        lists.push_back({{"name", info.name}, {"kind", list_kind_name(info.kind)}});
      }
      registry_json = {{"file", *args.registry},
                       {"created_at", iso8601_utc(registry->created_at())},
                       {"digest", registry->digest().hex()},
                       {"lists", std::move(lists)}};
    }
    print_json({{"registry", std::move(registry_json)}, {"results", checker.results()}});
  }
  return kExitSuccess;
}

void declare_check(CLI::App& cmd, CheckArgs& args) {
  add_argument(cmd, "NUMBER", args.numbers, "NHS numbers to check (default: read stdin)");
  cmd.add_option("--registry", args.registry, "Look the numbers up in this snapshot")->type_name("FILE");
  add_json_flag(cmd, args.json);
  add_trust_options(cmd, args.trust);
}

}  // namespace

Command add_check_command(CLI::App& root) { return add_command(root, "check", kHelp, declare_check, run_check); }

}  // namespace optout::cli
