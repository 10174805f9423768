// A whole filter run over files: what is checked before anything is written, then the commit
// protocol (commit.hpp) makes a failed or killed run leave nothing that looks complete.
#include "optout/filter_job.hpp"

#include <ctime>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "optout/audit.hpp"
#include "optout/commit.hpp"
#include "optout/io.hpp"

namespace optout {
namespace {

Status empty_path(const char* what, const char* instead) {
  return Status(ErrorCode::kInvalidArgument, std::string("an empty ") + what + " path: give a file name" + instead);
}

// Everything that can be checked before a file is touched: a job that cannot run leaves nothing.
Status validate_job(const FilterJob& job, const std::string& input) {
  if (Status s = validate_filter_options(job.options); !s.ok()) return s;
  if (input.empty()) return empty_path("input", ", or \"-\" for standard input");
  if (job.output.empty()) return empty_path("output", ", or \"-\" for standard output");
  if (job.rejects && job.rejects->empty()) return empty_path("rejects", "");
  if (job.stats && job.stats->empty()) return empty_path("stats", "");
  if (job.audit && job.audit->empty()) return empty_path("audit", "");
  std::vector<std::string> inputs = {input};
  if (job.registry_path) inputs.push_back(*job.registry_path);
  std::vector<std::string> outputs = {job.output};
  for (const std::optional<std::string>* path : {&job.rejects, &job.stats, &job.audit}) {
    if (*path) outputs.push_back(**path);
  }
  return check_distinct_files(inputs, outputs);
}

// What the audit records of a run over input say of it before it starts.
RunContext start_context(const Registry& registry, const OptOutIndex& index, const std::string& input) {
  RunContext context;
  context.run_id = new_run_id();
  context.started_at = std::time(nullptr);
  context.registry_digest = registry.digest();
  context.registry_created_at = registry.created_at();
  context.lists_applied = index.applied_lists();
  context.input_name = input;
  return context;
}

Result<FilterStats> run_checked_job(const Registry& registry, const OptOutIndex& index, ByteSource& source,
                                    const FilterJob& job) {
  RunContext context = start_context(registry, index, source.name());

  // Side results first, the output (the release) last: see commit.hpp. An output that cannot be
  // opened fails the run before anything is written, with its "failed" record all the same.
  std::vector<std::unique_ptr<StagedResult>> staged;
  Commit commit;
  commit.audit = job.audit;
  context.output_name = job.output == "-" ? "<stdout>" : job.output;
  Result<Destination> output = Destination::open(job.output);
  if (!output.ok()) return abandon_run(commit, context, nullptr, output.status());
  context.output_name = output->name();
  std::optional<AtomicFile> rejects;
  if (job.rejects) {
    Result<AtomicFile> file = AtomicFile::create(*job.rejects);
    if (!file.ok()) return abandon_run(commit, context, nullptr, file.status());
    rejects.emplace(std::move(file).value());
  }
  std::optional<AtomicFile> stats_file;
  if (job.stats) {
    Result<AtomicFile> file = AtomicFile::create(*job.stats);
    if (!file.ok()) return abandon_run(commit, context, nullptr, file.status());
    stats_file.emplace(std::move(file).value());
  }
  for (AtomicFile* file : {rejects ? &*rejects : nullptr, stats_file ? &*stats_file : nullptr}) {
    if (file == nullptr) continue;
    staged.push_back(staged_file(*file));
    commit.side.push_back(staged.back().get());
  }
  if (AtomicFile* file = output->file()) {
    staged.push_back(staged_file(*file));
    commit.output = staged.back().get();
  }

  FilterOptions options = job.options;
  options.digest_output = options.digest_output || job.audit.has_value();
  Result<FilterStats> stats = filter(source, output->sink(), rejects ? &rejects->sink() : nullptr, index, options);
  context.finished_at = std::time(nullptr);
  // A failed run (the reader of standard output going away included: "broken pipe") puts nothing
  // in place and says "failed".
  if (!stats.ok()) return abandon_run(commit, context, nullptr, stats.status());
  if (stats_file) {
    if (Status s = stats_file->write_all(filter_stats_json(*stats) + "\n"); !s.ok()) {
      return abandon_run(commit, context, &*stats, s);
    }
  }
  if (Status s = commit_run(commit, context, *stats); !s.ok()) return s;
  return stats;
}

}  // namespace

Result<FilterStats> run_filter_job(const Registry& registry, const OptOutIndex& index, ByteSource& source,
                                   const FilterJob& job) {
  if (Status s = validate_job(job, source.name()); !s.ok()) return s;
  return run_checked_job(registry, index, source, job);
}

Result<FilterStats> run_filter_job(const Registry& registry, const OptOutIndex& index, const FilterJob& job) {
  // Checked before the input is opened: a FIFO input is never read for a job that cannot run.
  if (Status s = validate_job(job, job.input); !s.ok()) return s;
  Result<std::unique_ptr<ByteSource>> source = open_file_source(job.input);
  if (!source.ok()) {  // a run that could not read its input: its "failed" record all the same
    RunContext context = start_context(registry, index, job.input == "-" ? "<stdin>" : job.input);
    context.output_name = job.output == "-" ? "<stdout>" : job.output;
    context.finished_at = context.started_at;
    Commit commit;
    commit.audit = job.audit;
    return abandon_run(commit, context, nullptr, source.status());
  }
  return run_checked_job(registry, index, **source, job);
}

}  // namespace optout
