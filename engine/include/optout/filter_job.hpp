// A whole filter run over files, as `optout filter` does it: the extract is filtered into an
// output file (or standard output), with the optional rejects file, stats JSON and audit record.
// The CLI, the C ABI and the Python bindings all run filters through this, so they share one set
// of rules for what is written when.
#pragma once

#include <string>

#include "optout/export.hpp"
#include "optout/filter.hpp"
#include "optout/registry.hpp"
#include "optout/status.hpp"

namespace optout {

struct FilterJob {
  std::string input = "-";   // the extract's path, or "-" for standard input
  std::string output = "-";  // a path (written atomically), or "" / "-" for standard output
  std::string rejects;       // "": none; else rejected records go here (header first), atomically
  std::string stats;         // "": none; else filter_stats_json() goes here, atomically
  std::string audit;         // "": none; else one audit_record_json() line is appended here
  FilterOptions options;     // digest_output is forced on when audit is set
};

// Filters job.input with index (built from registry, which the audit record names).
//
// Every file appears only if the whole run succeeds: the outputs are written to temporary files
// and renamed at the end, the stats and rejects before the output. The audit record is appended
// before the output appears (so no output ever exists unaudited), and for a failed run too, with
// outcome "failed". On error nothing but that audit record is left behind.
//
// Errors: those of filter() (kBrokenPipe when standard output's reader went away: the caller
// decides how to end, e.g. by raising SIGPIPE), and kIoError naming the file for the outputs.
[[nodiscard]] OPTOUT_API Result<FilterStats> run_filter_job(const Registry& registry,
                                                            const OptOutIndex& index,
                                                            const FilterJob& job);

// The same over a source the caller opened (a byte range of a file, a socket, memory); job.input
// is ignored and source.name() is used in messages and the audit record.
[[nodiscard]] OPTOUT_API Result<FilterStats> run_filter_job(const Registry& registry,
                                                            const OptOutIndex& index,
                                                            ByteSource& source,
                                                            const FilterJob& job);

}  // namespace optout
