// optout filter: an extract → the same extract without the rows of opted-out patients.
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <ctime>
#include <optional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "commands.hpp"
#include "csv_options.hpp"
#include "diagnostics.hpp"
#include "optout/audit.hpp"
#include "optout/filter.hpp"
#include "optout/filter_job.hpp"
#include "optout/registry.hpp"

namespace optout::cli {
namespace {

struct FilterArgs {
  CsvArgs csv;
  std::string registry;
  std::vector<std::string> apply;
  // Unset: standard output / none. Given as "" (an unset variable): the engine refuses it.
  std::optional<std::string> output;
  std::optional<std::string> rejects;
  std::optional<std::string> stats;
  std::optional<std::string> audit;
  std::optional<std::string> max_age;
  std::optional<std::string> max_rejected;
  bool quiet = false;
};

std::string mb(std::uint64_t bytes) {
  char text[32];
  std::snprintf(text, sizeof text, "%.1f MB", static_cast<double>(bytes) / 1e6);
  return text;
}

std::string summary(const FilterStats& s) {
  char rate[64];
  std::snprintf(rate, sizeof rate, " in %.2f s (%.0f MB/s)", s.seconds,
                s.seconds > 0 ? static_cast<double>(s.bytes_in) / 1e6 / s.seconds : 0.0);
  return std::to_string(s.rows) + " rows: " + std::to_string(s.kept) + " kept, " +
         std::to_string(s.removed) + " removed, " + std::to_string(s.rejected) + " rejected; " +
         mb(s.bytes_in) + rate;
}

// A progress line on a terminal, redrawn at most twice a second once a run passes one second.
class Progress {
 public:
  explicit Progress(bool enabled) : enabled_(enabled) {}
  void update(const FilterProgress& p) {
    if (!enabled_ || p.seconds < 1.0 || p.seconds - last_ < 0.5) return;
    last_ = p.seconds;
    shown_ = true;
    char line[128];
    const int n = std::snprintf(line, sizeof line, "\roptout filter: %s, %llu rows, %.0f MB/s   ",
                                mb(p.bytes_in).c_str(), static_cast<unsigned long long>(p.rows),
                                static_cast<double>(p.bytes_in) / 1e6 / p.seconds);
    std::fwrite(line, 1, static_cast<std::size_t>(n), stderr);
  }
  void clear() {
    if (shown_) std::fputs("\r\033[K", stderr);
    shown_ = false;
  }

 private:
  bool enabled_;
  bool shown_ = false;
  double last_ = 0;
};

int run_filter(const FilterArgs& args) {
  const Diagnostics diag("filter");
  Result<FilterOptions> parsed = to_filter_options(args.csv);
  if (!parsed.ok()) return diag.fail(parsed.status());
  FilterJob job;
  job.options = std::move(parsed).value();
  // An empty value (--max-age "$UNSET") is an error, never a gate silently switched off.
  std::optional<std::int64_t> max_age;
  if (args.max_age && !(max_age = parse_max_age(*args.max_age))) {
    return diag.usage_error("--max-age takes a number of hours or days, e.g. 36h or 7d");
  }
  if (args.max_rejected && !parse_max_rejected(*args.max_rejected, job.options)) {
    return diag.usage_error("--max-rejected takes a row count (250) or a percentage of rows (0.5%)");
  }

  Result<Registry> registry = load_registry(args.registry);
  if (!registry.ok()) return diag.fail(registry.status());
  if (max_age) {
    if (Status s = check_registry_age(*registry, *max_age, std::time(nullptr)); !s.ok()) {
      return diag.fail(Status(s.code(), args.registry + ": " + s.message()));
    }
  }
  Result<OptOutIndex> index = OptOutIndex::create(*registry, args.apply);
  // The message names the --apply list, which comes from the command line and may be anything.
  if (!index.ok()) {
    return diag.fail(Status(index.code(), args.registry + ": " + redact_numbers(index.status().message())));
  }

  job.input = args.csv.input;
  job.output = args.output.value_or("-");
  job.rejects = args.rejects;
  job.stats = args.stats;
  job.audit = args.audit;
  job.registry_path = args.registry;
  Progress progress(!args.quiet && isatty(STDERR_FILENO) == 1);
  job.options.progress = [&](const FilterProgress& p) { progress.update(p); };

  // A closed pipe must end the run with the status cat has there: EPIPE comes back as
  // kBrokenPipe, and SIGPIPE is raised once the job has removed its temporary files.
  std::signal(SIGPIPE, SIG_IGN);
  Result<FilterStats> stats = run_filter_job(*registry, *index, job);
  progress.clear();
  if (!stats.ok() && stats.code() == ErrorCode::kBrokenPipe) {
    std::signal(SIGPIPE, SIG_DFL);
    std::raise(SIGPIPE);
    return 128 + SIGPIPE;
  }
  if (!stats.ok()) {
    const int code = diag.fail(stats.status());
    // A usage error is found before anything is written.
    if (code != kExitUsage && job.output == "-") {
      diag.error("run failed: the output written to standard output is incomplete");
    }
    return code;
  }
  if (!args.quiet) diag.note(summary(*stats));
  return kExitSuccess;
}

}  // namespace

Command add_filter_command(CLI::App& root) {
  auto* cmd = root.add_subcommand(
      "filter",
      "Copy an extract without the rows of opted-out patients, byte for byte and in order.\n"
      "Rows whose NHS number is missing or invalid are rejected: never released, counted, and\n"
      "written to --rejects when given.");
  auto args = std::make_shared<FilterArgs>();
  cmd->add_option("-r,--registry", args->registry, "The registry snapshot (from optout build)")->required();
  add_csv_options(*cmd, args->csv);
  cmd->add_option("--apply", args->apply, "Lists to apply, comma-separated (default: every list)")
      ->delimiter(',');
  cmd->add_option("-o,--output", args->output, "Write here (atomically) instead of standard output");
  cmd->add_option("--rejects", args->rejects, "Also write rejected rows here, after the header");
  cmd->add_option("--stats", args->stats, "Write the counts as JSON here");
  cmd->add_option("--audit", args->audit, "Append one JSON audit record for this run here");
  cmd->add_option("--max-age", args->max_age, "Refuse a registry built longer ago than this (36h, 7d)");
  cmd->add_option("--max-rejected", args->max_rejected,
                  "Fail when more rows than this are rejected: a count (250) or a share (0.5%)");
  cmd->add_flag("-q,--quiet", args->quiet, "No summary or progress; errors still print");
  return {cmd, [args] { return run_filter(*args); }};
}

}  // namespace optout::cli
