// optout export: one list of a snapshot → a Roaring bitmap, text or the Check service's .dat form,
// for Spark, Java, Go and other systems.
#include <optional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "cli_options.hpp"
#include "commands.hpp"
#include "diagnostics.hpp"
#include "optout/io.hpp"
#include "optout/list_export.hpp"
#include "optout/registry.hpp"
#include "optout/signing.hpp"

namespace optout::cli {
namespace {

// The --help description.
constexpr const char* kHelp = R"(Write one list of a registry snapshot for other systems (Spark, Java, Go, Python).
roaring (the default): the list as a Roaring bitmap in CRoaring's portable serialization,
  which Java's RoaringBitmap (Spark), Go's and Python's Roaring libraries read as-is. Its
  members are STEMS, NOT NHS NUMBERS: the first nine digits, without the check digit
  (9434765919 is stored as 943476591). Check a number's modulus 11 check digit first (a
  wrong one shares its stem with a valid number), then look up number / 10.
text: the 10-digit NHS numbers, ascending, one per line.
mesh: the Check for National Data Opt-outs service's .dat form, 9434765919, per line.)";

struct ExportArgs {
  std::string registry;
  std::string list;
  std::optional<std::string> output;  // unset: standard output; "" is refused by the engine
  std::string format = numbers_format_name(NumbersFormat::kRoaring);
  bool quiet = false;
  TrustArgs trust;
};

int run_export(const ExportArgs& args) {
  const Diagnostics diag("export");
  const std::string inputs[] = {args.registry};
  const std::string outputs[] = {args.output.value_or("-")};
  if (Status s = check_distinct_files(inputs, outputs); !s.ok()) return diag.fail(s);
  Result<std::vector<PublicKey>> trusted = read_trust(args.trust);
  if (!trusted.ok()) return diag.fail(trusted.status());
  Result<Registry> registry = load_registry(args.registry);
  if (!registry.ok()) return diag.fail(registry.status());
  if (Status s = check_registry_trust(*registry, *trusted, args.trust); !s.ok()) return diag.fail(s);
  Result<Destination> output = Destination::open(outputs[0]);
  if (!output.ok()) return diag.fail(output.status());
  const NumbersFormat format = *numbers_format_from_name(args.format);  // checked by the parser
  Result<ListExportStats> stats = export_list(*registry, args.list, format, output->sink());
  if (!stats.ok()) return diag.fail(stats.status());
  if (Status s = output->commit(); !s.ok()) return diag.fail(s);
  if (!args.quiet) {
    diag.note(std::to_string(stats->count) + " numbers of list '" + redact_numbers(args.list) + "' written to " +
              output->name() + " (" + args.format + ", " + std::to_string(stats->bytes) + " bytes)");
  }
  return kExitSuccess;
}

void declare_export(CLI::App& cmd, ExportArgs& args) {
  add_argument(cmd, "REGISTRY", args.registry, "The snapshot (.optout)")->required();
  cmd.add_option("--list", args.list, "The list to export")->type_name("NAME")->required();
  add_output_option(cmd, args.output)->type_name("FILE");
  std::vector<std::string> formats;
  for (const NumbersFormat f : {NumbersFormat::kRoaring, NumbersFormat::kText, NumbersFormat::kMesh}) {
    formats.emplace_back(numbers_format_name(f));
  }
  cmd.add_option("--format", args.format, "roaring (stems), text or mesh")
      ->check(CLI::IsMember(formats))
      ->default_str(args.format);
  add_quiet_flag(cmd, args.quiet, "No summary; errors still print");
  add_trust_options(cmd, args.trust);
}

}  // namespace

Command add_export_command(CLI::App& root) { return add_command(root, "export", kHelp, declare_export, run_export); }

}  // namespace optout::cli
