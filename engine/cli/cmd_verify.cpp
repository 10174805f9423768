// optout verify: is a released extract clean, and which run released it?
#include <csignal>
#include <optional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "cli_options.hpp"
#include "commands.hpp"
#include "csv_options.hpp"
#include "diagnostics.hpp"
#include "pseudonym_option.hpp"
#include "optout/filter.hpp"
#include "optout/index.hpp"
#include "optout/registry.hpp"
#include "optout/signing.hpp"
#include "optout/verify.hpp"
#include "output.hpp"

namespace optout::cli {
namespace {

// The --help description.
constexpr const char* kHelp =
    R"(Check a released extract: exit 0 when no row belongs to a patient the applied lists remove
and no row has a missing or invalid NHS number, 1 otherwise, with the counts by category.
It reads the extract by the filter's own rules and writes nothing, except --matches: one line
per row the lists remove (its --id-column value, or its 1-based data-row number; never an NHS
number), for a recipient to delete. With --audit, a record of that audit log must vouch for
the extract: its XXH3-128 is the record's output digest and its registry is --registry.)";

struct VerifyArgs {
  CsvArgs csv;
  std::string registry;
  std::vector<std::string> apply;
  PurposeArgs purpose;
  TrustArgs trust;
  std::optional<std::string> audit;
  std::optional<std::string> matches;
  std::optional<std::string> id_column;
  bool json = false;
  bool quiet = false;
  std::optional<std::string> pseudonym_key;  // a pseudonymised extract (pseudonym_option.hpp)
};

// "2 removed by the applied lists, 3 rejected (missing field: 1, wrong check digit: 2)".
std::string counts(const FilterStats& s) {
  std::string text =
      std::to_string(s.removed) + " removed by the applied lists, " + std::to_string(s.rejected) + " rejected";
  std::string reasons;
  for (std::size_t i = 0; i < std::size(s.rejected_by_reason); ++i) {
    if (s.rejected_by_reason[i] == 0) continue;
    reasons += (reasons.empty() ? "" : ", ") + std::string(rejected_reason_name(i)) + ": " +
               std::to_string(s.rejected_by_reason[i]);
  }
  return reasons.empty() ? text : text + " (" + reasons + ")";
}

std::string vouched(const AuditVouch& a) {
  std::string text = "released by run " + (a.run_id.empty() ? std::string("(no run id)") : a.run_id) + " (" + a.log +
                     ":" + std::to_string(a.line) + ", finished " + a.finished_at + ", output " +
                     redact_numbers(a.output_name);
  if (a.signer_key_id) text += ", signed by key " + *a.signer_key_id;
  return text + ")";
}

int run_verify(const VerifyArgs& args) {
  const Diagnostics diag("verify");
  if (args.json && args.matches && *args.matches == "-") {
    return diag.usage_error("--json and --matches - would both write to standard output");
  }
  Result<FilterOptions> parsed = to_filter_options(args.csv);
  if (!parsed.ok()) return diag.fail(parsed.status());
  VerifyRequest request;
  request.options = std::move(parsed).value();
  request.input = args.csv.input;
  request.expect_digest = args.trust.expect_digest;
  request.audit = args.audit;
  request.matches = args.matches;
  request.id_column = args.id_column;
  request.pseudonym_key = args.pseudonym_key;
  Result<std::vector<PublicKey>> trusted = read_trust(args.trust);
  if (!trusted.ok()) return diag.fail(trusted.status());
  request.trust = std::move(trusted).value();

  Result<Registry> registry = load_registry(args.registry);
  if (!registry.ok()) return diag.fail(registry.status());
  Result<ListSelection> selection = to_selection(args.apply, args.purpose);
  if (!selection.ok()) return diag.fail(selection.status());
  Result<OptOutIndex> index = OptOutIndex::create(*registry, *selection);
  if (!index.ok()) return diag.fail(index.status());
  // --matches -: a closed pipe ends the run as it ends a filter's (SIGPIPE, once nothing is left).
  std::signal(SIGPIPE, SIG_IGN);
  Result<VerifyResult> verified = optout::run_verify(*index, request);
  if (!verified.ok() && verified.code() == ErrorCode::kBrokenPipe) {
    std::signal(SIGPIPE, SIG_DFL);
    std::raise(SIGPIPE);
    return 128 + SIGPIPE;
  }
  if (!verified.ok()) return diag.fail(verified.status());

  const VerifyResult& r = *verified;
  const std::string input = redact_numbers(args.csv.input == "-" ? "<stdin>" : args.csv.input);
  if (args.json) {
    print_json(nlohmann::json::parse(verify_result_json(r)));
  } else {
    if (r.audit && !args.quiet) diag.note(input + ": " + vouched(*r.audit));
    if (args.matches && *args.matches != "-" && !args.quiet) {
      diag.note(std::to_string(r.matches_written) + " rows named in " + redact_numbers(*args.matches));
    }
    if (!r.clean()) {
      diag.error(input + ": not clean: " + std::to_string(r.stats.removed + r.stats.rejected) + " of " +
                 std::to_string(r.stats.rows) + " rows must not be released: " + counts(r.stats));
    } else if (!args.quiet) {
      diag.note(input + ": clean: " + std::to_string(r.stats.rows) + " rows, none removed or rejected");
    }
  }
  return r.clean() ? kExitSuccess : kExitFailure;
}

void declare_verify(CLI::App& cmd, VerifyArgs& args) {
  cmd.add_option("-r,--registry", args.registry, "The registry snapshot (from optout build)")->required();
  add_csv_options(cmd, args.csv);
  cmd.add_option("--apply", args.apply, "Lists to apply, comma-separated (default: every list)")->delimiter(',');
  add_purpose_options(cmd, args.purpose);
  add_trust_options(cmd, args.trust,
                    "Refuse a registry, or an audit record, not signed by this key (repeatable; default: the keys "
                    "OPTOUT_TRUST names, path:path)");
  cmd.add_option("--audit", args.audit, "Require a record of this audit log (JSON Lines) that released the extract");
  cmd.add_option("--matches", args.matches,
                 "Write one line per row the lists remove here (atomically; '-': standard output)");
  cmd.add_option("--id-column", args.id_column,
                 "Name each match by this column's value (CSV-quoted when needed), not its row number");
  add_json_flag(cmd, args.json);
  add_quiet_flag(cmd, args.quiet, "No summary; the verdict on a file that is not clean and errors still print");
  add_pseudonym_key_option(cmd, args.pseudonym_key);
}

}  // namespace

Command add_verify_command(CLI::App& root) { return add_command(root, "verify", kHelp, declare_verify, run_verify); }

}  // namespace optout::cli
