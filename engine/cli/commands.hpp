// The optout subcommands. Each cmd_<name>.cpp defines one add_<name>_command(), which declares the
// subcommand's options on the root CLI11 app (its --help comes from those definitions) and returns
// what to run once the command line has parsed. main.cpp lists the commands; adding one is a new
// cmd_<name>.cpp, a declaration here, a line in main.cpp and a line in CMakeLists.txt.
#pragma once

#include <functional>

namespace CLI {
class App;
}

namespace optout::cli {

struct Command {
  CLI::App* app = nullptr;   // the subcommand, owned by the root app
  std::function<int()> run;  // runs the command after a successful parse; returns the exit status
};

Command add_build_command(CLI::App& root);    // optout build: source files → snapshot
Command add_info_command(CLI::App& root);     // optout info: what a snapshot holds
Command add_diff_command(CLI::App& root);     // optout diff: what changed between two snapshots
Command add_check_command(CLI::App& root);    // optout check: validate numbers, look them up
Command add_filter_command(CLI::App& root);   // optout filter: strip opted-out rows from an extract
Command add_numbers_command(CLI::App& root);  // optout numbers: an extract's numbers for the check service
Command add_export_command(CLI::App& root);   // optout export: one list for Spark, Java, Go (Roaring, text, .dat)
Command add_keygen_command(CLI::App& root);   // optout keygen: a key pair for signing registries
Command add_verify_command(CLI::App& root);   // optout verify: is a released extract clean, and who released it

}  // namespace optout::cli
