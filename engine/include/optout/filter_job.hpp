// A whole filter run over files, as `optout filter` does it: the extract is filtered into an
// output file (or standard output), with the optional rejects file, stats JSON and audit record.
// The CLI, the C ABI and the Python bindings all run filters through this, so they share one set
// of rules for what is written when.
#pragma once

#include <optional>
#include <string>

#include "optout/commit.hpp"
#include "optout/export.hpp"
#include "optout/filter.hpp"
#include "optout/registry.hpp"
#include "optout/status.hpp"

namespace optout {

// An empty path is never "none" nor standard output (an unset variable in a cron job would send
// every row to a log): it is kInvalidArgument. "-" is standard input / output.
struct FilterJob {
  std::string input = "-";             // the extract's path, or "-" for standard input
  std::string output = "-";            // a path (written atomically), or "-" for standard output
  std::optional<std::string> rejects;  // rejected records go here (header first), atomically
  std::optional<std::string> stats;    // filter_stats_json() goes here, atomically
  std::optional<std::string> audit;    // audit records of this run are appended here
  std::optional<std::string> registry_path;  // the snapshot's file, when known: no output may replace it
  FilterOptions options;               // digest_output is forced on when audit is set
};

// Filters job.input with index (built from registry, which the audit record names).
//
// Before anything is written the job is checked: its options, no empty path, and no output
// naming an input or another output (check_distinct_files). Then the outputs are written under
// temporary names and made to appear by commit_run() (commit.hpp, the one commit protocol):
// audit "committing", rejects and stats, the output, audit "ok". A failed run (at any step, an
// input that cannot be opened included) leaves none of them and appends one "failed" record
// naming the error code.
//
// Errors: kInvalidArgument (the options, an empty path, an output naming an input or another
// output: nothing is written, not even an audit record); those of open_file_source() and
// filter() (kBrokenPipe when standard output's reader went away, recorded as "broken pipe": the
// caller decides how to end, e.g. by raising SIGPIPE); kIoError naming the file for the outputs
// and the commit.
[[nodiscard]] OPTOUT_API Result<FilterStats> run_filter_job(const Registry& registry,
                                                            const OptOutIndex& index,
                                                            const FilterJob& job);

// The same over a source the caller opened (a byte range of a file, a socket, memory); job.input
// is ignored and source.name() is used in messages, the audit record and the collision check.
[[nodiscard]] OPTOUT_API Result<FilterStats> run_filter_job(const Registry& registry,
                                                            const OptOutIndex& index,
                                                            ByteSource& source,
                                                            const FilterJob& job);

}  // namespace optout
