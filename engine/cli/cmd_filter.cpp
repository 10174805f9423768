// optout filter: an extract → the same extract without the rows of opted-out patients.
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "cli_options.hpp"
#include "commands.hpp"
#include "csv_options.hpp"
#include "diagnostics.hpp"
#include "pseudonym_option.hpp"
#include "optout/filter.hpp"
#include "optout/index.hpp"
#include "optout/registry.hpp"
#include "optout/run.hpp"
#include "optout/signing.hpp"

namespace optout::cli {
namespace {

// The --help description.
constexpr const char* kHelp = R"(Copy an extract without the rows of opted-out patients, byte for byte and in order.
Rows whose NHS number is missing or invalid are rejected: never released, counted, and
written to --rejects when given.)";

struct FilterArgs {
  CsvArgs csv;
  std::string registry;
  std::vector<std::string> apply;
  PurposeArgs purpose;
  // Unset: standard output / none. Given as "" (an unset variable): the engine refuses it.
  std::optional<std::string> output;
  std::optional<std::string> rejects;
  std::optional<std::string> stats;
  std::optional<std::string> audit;
  std::optional<std::string> max_age;
  std::optional<std::string> max_rejected;
  std::optional<std::string> compress;
  std::optional<int> level;
  TrustArgs trust;
  std::optional<std::string> sign;
  bool quiet = false;
  // The impact report (the engine's FilterRequest::impact, impact_by, impact_exact).
  std::optional<std::string> impact;
  std::vector<std::string> impact_by;
  bool impact_exact = false;
  std::optional<std::string> pseudonym_key;  // a pseudonymised extract (pseudonym_option.hpp)
};

std::string mb(std::uint64_t bytes) {
  char text[32];
  std::snprintf(text, sizeof text, "%.1f MB", static_cast<double>(bytes) / 1e6);
  return text;
}

std::string summary(const FilterStats& s) {
  char rate[64];
  std::snprintf(rate, sizeof rate, " in %.2f s (%.0f MB/s)", s.seconds, mb_per_second(s.bytes_in, s.seconds));
  return std::to_string(s.rows) + " rows: " + std::to_string(s.kept) + " kept, " + std::to_string(s.removed) +
         " removed, " + std::to_string(s.rejected) + " rejected; " + mb(s.bytes_in) + rate;
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
    const int n =
        std::snprintf(line, sizeof line, "\roptout filter: %s, %llu rows, %.0f MB/s   ", mb(p.bytes_in).c_str(),
                      static_cast<unsigned long long>(p.rows), mb_per_second(p.bytes_in, p.seconds));
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
  FilterRequest request;
  request.options = std::move(parsed).value();
  // An empty value (--max-age "$UNSET") is an error, never a gate silently switched off.
  if (args.max_age) {
    Result<std::int64_t> seconds = parse_max_age(*args.max_age);
    if (!seconds.ok()) return diag.fail(seconds.status());
    request.max_age_seconds = *seconds;
  }
  if (args.max_rejected) {
    if (Status s = parse_max_rejected(*args.max_rejected, request.options); !s.ok()) return diag.fail(s);
  }
  // The codec and its level ranges are the engine's (parse_compression, validate_filter_options).
  if (args.compress) {
    Result<Compression> codec = parse_compression(*args.compress);
    if (!codec.ok()) return diag.fail(codec.status());
    request.compress = *codec;
  }
  request.options.compression_level = args.level;
  request.inputs = {args.csv.input};
  request.output = args.output.value_or("-");
  request.rejects = args.rejects;
  request.stats = args.stats;
  request.audit = args.audit;
  request.impact = args.impact;
  request.impact_by = args.impact_by;
  request.impact_exact = args.impact_exact;
  request.pseudonym_key = args.pseudonym_key;
  // Trust: --trust, else OPTOUT_TRUST; the engine refuses a registry no trusted key signed.
  Result<std::vector<PublicKey>> trusted = read_trust(args.trust);
  if (!trusted.ok()) return diag.fail(trusted.status());
  request.trust = std::move(trusted).value();
  request.expect_digest = args.trust.expect_digest;
  if (args.sign) {
    Result<SecretKey> key = read_secret_key(*args.sign);
    if (!key.ok()) return diag.fail(key.status());
    request.sign_audit = std::make_shared<const SecretKey>(std::move(key).value());
  }
  Progress progress(!args.quiet && isatty(STDERR_FILENO) == 1);
  request.options.progress = [&](const FilterProgress& p) { progress.update(p); };

  Result<Registry> registry = load_registry(args.registry);
  if (!registry.ok()) return diag.fail(registry.status());
  Result<ListSelection> selection = to_selection(args.apply, args.purpose);
  if (!selection.ok()) return diag.fail(selection.status());
  Result<OptOutIndex> index = OptOutIndex::create(*registry, *selection);
  if (!index.ok()) return diag.fail(index.status());
  // A closed pipe must end the run with the status cat has there: EPIPE comes back as
  // kBrokenPipe, and SIGPIPE is raised once the run has removed its temporary files.
  std::signal(SIGPIPE, SIG_IGN);
  Result<RunResult> ran = optout::run_filter(*index, request);
  progress.clear();
  if (!ran.ok() && ran.code() == ErrorCode::kBrokenPipe) {
    std::signal(SIGPIPE, SIG_DFL);
    std::raise(SIGPIPE);
    return 128 + SIGPIPE;
  }
  if (!ran.ok()) {
    const int code = diag.fail(ran.status());
    // A usage error, an untrusted or stale registry is found before anything is written.
    if (code != kExitUsage && ran.code() != ErrorCode::kStaleRegistry && ran.code() != ErrorCode::kUntrusted &&
        request.output == "-") {
      diag.error("run failed: the output written to standard output is incomplete");
    }
    return code;
  }
  if (!args.quiet) diag.note(summary(ran->stats));
  return kExitSuccess;
}

void declare_filter(CLI::App& cmd, FilterArgs& args) {
  cmd.add_option("-r,--registry", args.registry, "The registry snapshot (from optout build)")->required();
  add_csv_options(cmd, args.csv);
  cmd.add_option("--apply", args.apply, "Lists to apply, comma-separated (default: every list)")->delimiter(',');
  add_purpose_options(cmd, args.purpose);
  add_output_option(cmd, args.output);
  cmd.add_option("--rejects", args.rejects, "Also write rejected rows here, after the header");
  cmd.add_option("--compress", args.compress,
                 "Compress the output and rejects: gzip, zstd or none (default: by name, .gz or .zst)")
      ->type_name("CODEC");
  cmd.add_option("--level", args.level, "Compression level: gzip 0-3 (default 3), zstd 1-19 (default 3)")
      ->type_name("N");
  cmd.add_option("--stats", args.stats, "Write the counts as JSON here");
  cmd.add_option("--audit", args.audit, "Append one JSON audit record for this run here");
  cmd.add_option("--max-age", args.max_age, "Refuse a registry built longer ago than this (36h, 7d)");
  add_trust_options(cmd, args.trust);
  cmd.add_option("--sign", args.sign, "Sign the audit records with this secret key (needs --audit)")
      ->type_name("FILE.key");
  cmd.add_option("--max-rejected", args.max_rejected,
                 "Fail when more rows than this are rejected: a count (250) or a share (0.5%)");
  add_quiet_flag(cmd, args.quiet, "No summary or progress; errors still print");
  cmd.add_option("--impact", args.impact,
                 "Write the impact report here: per group, rows, kept, removed, rejected (JSON if .json, else CSV)")
      ->type_name("FILE");
  cmd.add_option("--impact-by", args.impact_by, "The impact report's grouping columns, comma-separated")
      ->delimiter(',')
      ->type_name("COL,...");
  cmd.add_flag("--impact-exact", args.impact_exact,
               "Exact counts in the impact report (default: 1-7 written *, others rounded to 5)");
  add_pseudonym_key_option(cmd, args.pseudonym_key);
}

}  // namespace

Command add_filter_command(CLI::App& root) { return add_command(root, "filter", kHelp, declare_filter, run_filter); }

}  // namespace optout::cli
