// optout-gen: deterministic synthetic opt-out lists, Check-service replies and HES-like extracts.
// This file only defines the command line (its option definitions are the --help text), builds
// the population and dispatches; the generators live in lists.cpp, extract.cpp and validate.cpp.
#include <charconv>
#include <cstdint>
#include <exception>
#include <iostream>
#include <string>

#include <CLI/CLI.hpp>
#include <tbb/global_control.h>
#include <tbb/info.h>

#include "extract.hpp"
#include "lists.hpp"
#include "optout/io.hpp"
#include "optout/version.hpp"
#include "output.hpp"
#include "population.hpp"
#include "validate.hpp"

namespace optout::gen {
namespace {

constexpr int kExitOk = 0;
constexpr int kExitFailure = 1;
constexpr int kExitUsage = 2;

constexpr const char* kProgramHelp = R"(Deterministic synthetic data for optout.

A population of P patients (--population, default 60 M) is numbered 0, 1, 2, ...
Patient k has a valid, distinct NHS number in the England ranges (400 000 000-499 999 999 and
600 000 000-799 999 999 as stems), a national opt-out with probability --national-rate and a
type 1 opt-out with probability --type1-rate (a share --type1-overlap of type 1 patients also
has a national opt-out), all as keyed hashes of (--seed, k). So `list`, `allow` and `extract` run
separately with the same --seed and rates agree: a deny list removes exactly the extract rows of
opted-out patients. Output is byte-identical for the same arguments whatever --threads is.

Examples:
  optout-gen list --kind national -o national.txt
  optout-gen list --kind type1 --count 5000000 --format dat -o type1.dat
  optout-gen allow --patients 100000 -o cleared.dat
  optout-gen extract --rows 20000000 -o hes.csv
  optout-gen extract --rows 2000 --width wide --dirty -o messy.csv
  optout-gen validate national.txt)";

// Options every generating command shares, bound once per subcommand so --help lists them.
struct CommonOptions {
  PopulationOptions population;
  std::string output = "-";
  unsigned threads = 0;
};

void add_common(CLI::App& cmd, CommonOptions& common) {
  cmd.add_option("--seed", common.population.seed, "Seed of every random choice")->capture_default_str();
  cmd.add_option("--population", common.population.size, "Number of patients P (at most 270 M)")
      ->check(CLI::Range(std::uint64_t{1}, Population::kMaxSize))
      ->capture_default_str();
  cmd.add_option("--national-rate", common.population.national_rate,
                 "Probability that a patient has a national opt-out")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  cmd.add_option("--type1-rate", common.population.type1_rate, "Probability that a patient has a type 1 opt-out")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  cmd.add_option("--type1-overlap", common.population.type1_overlap,
                 "Share of type 1 patients who also have a national opt-out (best effort when the "
                 "rates make it impossible)")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  cmd.add_option("-o,--output", common.output,
                 "Output file, written to a temporary name and renamed when complete; - for stdout")
      ->capture_default_str();
  cmd.add_option("--threads", common.threads, "Worker threads; 0 = one per core (output does not change)")
      ->capture_default_str();
}

// --format text|dat and --crlf. CLI11 has no checked enum option with a readable --help, so the
// choice is a checked string turned into the enum after parsing.
void add_line_style(CLI::App& cmd, LineStyle& style, std::string& format) {
  cmd.add_option("--format", format,
                 "text: one number per line; dat: the Check service's .dat form, \"9434765919,\" "
                 "per line, no header")
      ->check(CLI::IsMember({"text", "dat"}))
      ->capture_default_str();
  cmd.add_flag("--crlf", style.crlf, "End lines with CRLF instead of LF");
}

ListFormat to_format(const std::string& format) { return format == "dat" ? ListFormat::kDat : ListFormat::kText; }

std::string shortest(double value) {
  char buf[32];
  const auto end = std::to_chars(buf, buf + sizeof buf, value).ptr;
  return std::string(buf, end);
}

// Runs one generator into the chosen output, the engine's Destination: a file appears only once
// complete (commit on success; an uncommitted temporary file is removed), "-" is stdout. An empty
// -o is stdout too, as it always was here (the engine refuses an empty path).
template <typename Generate>
Status generate_into(const CommonOptions& common, Generate generate) {
  Result<Destination> out = Destination::open(common.output.empty() ? "-" : common.output);
  if (!out.ok()) return out.status();
  const std::size_t workers =
      common.threads == 0 ? static_cast<std::size_t>(tbb::info::default_concurrency()) : common.threads;
  tbb::global_control limit(tbb::global_control::max_allowed_parallelism, workers);
  Status status = generate(out->sink(), 2 * workers + 2);  // two chunks per worker keep everyone busy
  if (!status.ok()) return status;
  return out->commit();
}

int report(const char* command, const Status& status) {
  if (status.ok()) return kExitOk;
  if (status.code() == ErrorCode::kBrokenPipe) return kExitFailure;  // the reader left: stop quietly
  std::cerr << "optout-gen " << command << ": " << status.message() << '\n';
  return status.code() == ErrorCode::kInvalidArgument ? kExitUsage : kExitFailure;
}

int run(int argc, char** argv) {
  CLI::App app(kProgramHelp, "optout-gen");
  app.set_version_flag("--version", std::string("optout-gen ") + kVersion);
  app.require_subcommand(1);

  // list
  CommonOptions list_common;
  ListOptions list;
  std::uint64_t list_count = 0;
  CLI::App* list_cmd =
      app.add_subcommand("list", "An opt-out list: the NHS numbers of the patients on it, in patient order (unsorted)");
  add_common(*list_cmd, list_common);
  std::string list_kind = "national";
  std::string list_format = "text";
  list_cmd->add_option("--kind", list_kind, "national or type1")
      ->check(CLI::IsMember({"national", "type1"}))
      ->capture_default_str();
  CLI::Option* count_opt =
      list_cmd->add_option("--count", list_count,
                           "Exactly N numbers: the first N members in patient order. When N exceeds rate x P the "
                           "list's rate is raised to N / P (and printed on stderr; pass it to allow/extract to match), "
                           "and if P patients still give fewer than N the scan goes on past P");
  add_line_style(*list_cmd, list.style, list_format);
  list_cmd->footer(
      "Example: optout-gen list --kind national --count 50000000 -o national.txt\n"
      "         (50 M distinct numbers from the default 60 M patients; the rate becomes 0.8333...)\n");

  // allow
  CommonOptions allow_common;
  LineStyle allow_style{ListFormat::kDat, false};
  std::uint64_t allow_patients = 0;
  std::string allow_format = "dat";
  CLI::App* allow_cmd =
      app.add_subcommand("allow",
                         "The Check for National Data Opt-outs service's reply (\"cleaned list\"): the numbers of "
                         "patients 0..N-1 WITHOUT a national opt-out, in patient order");
  add_common(*allow_cmd, allow_common);
  CLI::Option* patients_opt =
      allow_cmd->add_option("--patients", allow_patients,
                            "The first N patients were submitted (default: the whole population); use the extract's "
                            "--patients to get the reply for the patients an extract can contain");
  add_line_style(*allow_cmd, allow_style, allow_format);
  allow_cmd->footer("Example: optout-gen allow --population 60000 --patients 4000 -o cleared.dat\n");

  // extract
  CommonOptions extract_common;
  ExtractOptions extract;
  double optout_share = 0;
  std::uint64_t extract_patients = 0;
  std::string delimiter = ",";
  CLI::App* extract_cmd = app.add_subcommand("extract", "A HES-like CSV extract with a header row");
  add_common(*extract_cmd, extract_common);
  extract_cmd->add_option("--rows", extract.rows, "Data records, the header not counted")->required();
  std::string width = "narrow";
  extract_cmd
      ->add_option("--width", width,
                   "narrow: 9 columns, ~75 B/row (record_id, nhs_number, date_of_birth, sex, "
                   "postcode_district, admission_date, diagnosis_icd10, procedure_opcs, notes); "
                   "wide: 191 HES APC-like columns, ~1 KB/row, nhs_number is column 91")
      ->check(CLI::IsMember({"narrow", "wide"}))
      ->capture_default_str();
  CLI::Option* share_opt =
      extract_cmd->add_option("--optout-share", optout_share,
                              "Expected share of rows whose patient has a national opt-out (default: --national-rate)");
  share_opt->check(CLI::Range(0.0, 1.0));
  CLI::Option* extract_patients_opt = extract_cmd->add_option(
      "--patients", extract_patients, "Rows draw their patients from the first N (default: all)");
  extract_cmd->add_flag("--dirty", extract.dirty,
                        "Realistic mess, each in a few % of rows: spaced, dashed, dotted, quoted, space-padded, "
                        "wrong-check-digit, 9-digit, missing and placeholder NHS numbers; quoted notes with commas, "
                        "doubled quotes, LF and CRLF inside; a mix of CRLF and LF record endings; a UTF-8 BOM; no "
                        "final newline. Always valid RFC 4180 CSV");
  extract_cmd->add_option("--delimiter", delimiter, "Field delimiter: , | ; or tab")
      ->check(CLI::IsMember({",", "|", ";", "tab"}))
      ->capture_default_str();
  extract_cmd->add_flag("--crlf", extract.crlf, "CRLF record endings (dirty mode: the usual ending)");
  extract_cmd->footer(
      "Example: optout-gen extract --rows 20000000 -o hes.csv\n"
      "         optout-gen extract --population 60000 --patients 4000 --rows 2000 --dirty -o dirty.csv\n");

  // validate
  std::string validate_path;
  bool validate_unique = false;
  CLI::App* validate_cmd =
      app.add_subcommand("validate",
                         "Check a list (text or .dat form) with the engine's NHS-number parser; print the count of "
                         "numbers, exit 1 if any is invalid (or repeated, with --unique)");
  validate_cmd->add_option("file", validate_path, "The list; - for stdin")->required();
  validate_cmd->add_flag("--unique", validate_unique, "Also fail when a number occurs twice");

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::cerr << "optout-gen: " << e.what() << "; see optout-gen --help\n";
    return kExitUsage;
  }

  auto make_population = [](const PopulationOptions& options) { return Population::create(options); };

  list.kind = list_kind == "type1" ? ListKind::kType1 : ListKind::kNational;
  list.style.format = to_format(list_format);
  allow_style.format = to_format(allow_format);
  extract.width = width == "wide" ? Width::kWide : Width::kNarrow;

  if (*list_cmd) {
    if (count_opt->count() > 0) {
      list.count = list_count;
      const PopulationOptions raised = options_for_count(list_common.population, list.kind, list_count);
      const bool national = list.kind == ListKind::kNational;
      const double before = national ? list_common.population.national_rate : list_common.population.type1_rate;
      const double after = national ? raised.national_rate : raised.type1_rate;
      if (after != before) {
        std::cerr << "optout-gen list: --count " << list_count << " raised "
                  << (national ? "--national-rate" : "--type1-rate") << " to " << shortest(after) << '\n';
      }
      list_common.population = raised;
    }
    Result<Population> population = make_population(list_common.population);
    if (!population.ok()) return report("list", population.status());
    return report("list", generate_into(list_common, [&](ByteSink& out, std::size_t in_flight) {
                    return write_list(*population, list, out, in_flight);
                  }));
  }
  if (*allow_cmd) {
    Result<Population> population = make_population(allow_common.population);
    if (!population.ok()) return report("allow", population.status());
    const std::uint64_t patients = patients_opt->count() > 0 ? allow_patients : population->size();
    return report("allow", generate_into(allow_common, [&](ByteSink& out, std::size_t in_flight) {
                    return write_allow(*population, patients, allow_style, out, in_flight);
                  }));
  }
  if (*extract_cmd) {
    if (share_opt->count() > 0) extract.optout_share = optout_share;
    if (extract_patients_opt->count() > 0) extract.patients = extract_patients;
    extract.delimiter = delimiter == "tab" ? '\t' : delimiter[0];
    Result<Population> population = make_population(extract_common.population);
    if (!population.ok()) return report("extract", population.status());
    return report("extract", generate_into(extract_common, [&](ByteSink& out, std::size_t in_flight) {
                    return write_extract(*population, extract, out, in_flight);
                  }));
  }
  if (*validate_cmd) {
    Result<ValidateReport> result = validate_list(validate_path, validate_unique);
    if (!result.ok()) return report("validate", result.status());
    for (const std::string& message : result->messages) std::cerr << "optout-gen validate: " << message << '\n';
    if (!result->ok()) {
      std::cerr << "optout-gen validate: " << validate_path << ": " << result->invalid << " invalid, "
                << result->duplicates << " duplicate of " << result->numbers << " numbers\n";
      return kExitFailure;
    }
    std::cout << result->numbers << '\n';
    return kExitOk;
  }
  return kExitUsage;  // unreachable: require_subcommand(1)
}

}  // namespace
}  // namespace optout::gen

int main(int argc, char** argv) {
  try {
    return optout::gen::run(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "optout-gen: internal error: " << e.what() << '\n';
    return 1;
  }
}
