// optout numbers: an extract → its distinct valid NHS numbers, for the national opt-out check.
#include <optional>
#include <string>

#include <CLI/CLI.hpp>

#include "cli_options.hpp"
#include "commands.hpp"
#include "csv_options.hpp"
#include "diagnostics.hpp"
#include "optout/filter.hpp"
#include "optout/io.hpp"
#include "optout/numbers.hpp"

namespace optout::cli {
namespace {

// The --help description.
constexpr const char* kHelp = R"(Write an extract's distinct valid NHS numbers for the national opt-out check service.
Sorted, one per line: the file to send to the Check for National Data Opt-outs service.
Missing and invalid numbers are counted and left out (the service rejects a whole file for
one invalid number). A pseudonymised extract holds tokens, not NHS numbers: there is nothing
to list, so numbers has no --pseudonym-key (filter and verify take one).)";

struct NumbersArgs {
  CsvArgs csv;
  std::optional<std::string> output;  // unset: standard output; "" is refused by the engine
  std::string format = "text";
  bool quiet = false;
};

std::string left_out(const NumbersStats& s) {
  std::string text;
  for (std::size_t i = 0; i < std::size(s.rejected_by_reason); ++i) {
    if (s.rejected_by_reason[i] == 0) continue;
    text += (text.empty() ? "" : ", ") + std::to_string(s.rejected_by_reason[i]) + " " + rejected_reason_name(i);
  }
  return text;
}

int run_numbers(const NumbersArgs& args) {
  const Diagnostics diag("numbers");
  Result<FilterOptions> options = to_filter_options(args.csv);
  if (!options.ok()) return diag.fail(options.status());
  NumbersRequest request;
  request.input = args.csv.input;
  request.output = args.output.value_or("-");
  request.options = std::move(options).value();
  request.format = *numbers_format_from_name(args.format);  // checked by the parser
  Result<NumbersStats> stats = optout::run_numbers(request);
  if (!stats.ok()) return diag.fail(stats.status());
  if (!args.quiet) {
    diag.note(std::to_string(stats->rows) + " rows: " + std::to_string(stats->distinct) +
              " distinct numbers written from " + std::to_string(stats->valid) + " valid");
  }
  if (stats->rejected > 0) {
    // The service rejects a whole file for one invalid number: these were left out, never sent.
    diag.warning(std::to_string(stats->rejected) + " rows left out (" + left_out(*stats) + ")");
  }
  return kExitSuccess;
}

void declare_numbers(CLI::App& cmd, NumbersArgs& args) {
  add_csv_options(cmd, args.csv, /*format_flag=*/false);
  add_output_option(cmd, args.output);
  cmd.add_option("--format", args.format,
                 "text: one number a line; mesh: the service's .dat form (9434765919,); roaring: the\n"
                 "stems (first nine digits) as one portable Roaring bitmap, as optout export writes a list")
      ->check(CLI::IsMember({"text", "mesh", "roaring"}))
      ->default_str("text");
  add_quiet_flag(cmd, args.quiet, "No summary; warnings and errors still print");
}

}  // namespace

Command add_numbers_command(CLI::App& root) {
  return add_command(root, "numbers", kHelp, declare_numbers, run_numbers);
}

}  // namespace optout::cli
