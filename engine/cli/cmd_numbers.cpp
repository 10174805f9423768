// optout numbers: an extract → its distinct valid NHS numbers, for the national opt-out check.
#include <optional>
#include <string>

#include <CLI/CLI.hpp>

#include "commands.hpp"
#include "csv_options.hpp"
#include "diagnostics.hpp"
#include "optout/filter.hpp"
#include "optout/io.hpp"
#include "optout/numbers.hpp"

namespace optout::cli {
namespace {

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
  const NumbersFormat format = *numbers_format_from_name(args.format);  // checked by the parser

  const std::string inputs[] = {args.csv.input};
  const std::string outputs[] = {args.output.value_or("-")};
  if (Status s = check_distinct_files(inputs, outputs); !s.ok()) return diag.fail(s);
  Result<std::unique_ptr<ByteSource>> input = open_file_source(args.csv.input);
  if (!input.ok()) return diag.fail(input.status());
  Result<Destination> output = Destination::open(outputs[0]);
  if (!output.ok()) return diag.fail(output.status());
  Result<NumbersStats> stats = write_numbers(**input, output->sink(), *options, format);
  Status outcome = stats.ok() ? Status() : stats.status();
  if (outcome.ok()) outcome = output->commit();
  if (!outcome.ok()) return diag.fail(outcome);
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

}  // namespace

Command add_numbers_command(CLI::App& root) {
  auto* cmd = root.add_subcommand(
      "numbers",
      "Write an extract's distinct valid NHS numbers for the national opt-out check service.\n"
      "Sorted, one per line: the file to send to the Check for National Data Opt-outs service.\n"
      "Missing and invalid numbers are counted and left out (the service rejects a whole file for\n"
      "one invalid number).");
  auto args = std::make_shared<NumbersArgs>();
  add_csv_options(*cmd, args->csv);
  cmd->add_option("-o,--output", args->output, "Write here (atomically) instead of standard output");
  cmd->add_option("--format", args->format,
                  "text: one number a line; mesh: the service's .dat form (9434765919,); roaring: the\n"
                  "stems (first nine digits) as one portable Roaring bitmap, as optout export writes a list")
      ->check(CLI::IsMember({"text", "mesh", "roaring"}))
      ->default_str("text");
  cmd->add_flag("-q,--quiet", args->quiet, "No summary; warnings and errors still print");
  return {cmd, [args] { return run_numbers(*args); }};
}

}  // namespace optout::cli
