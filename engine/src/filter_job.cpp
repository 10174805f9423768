// A whole filter run over files: the order in which outputs are committed is what makes a failed
// or killed run leave nothing that looks complete.
#include "optout/filter_job.hpp"

#include <ctime>
#include <memory>
#include <optional>
#include <utility>

#include "optout/audit.hpp"
#include "optout/io.hpp"

namespace optout {

Result<FilterStats> run_filter_job(const Registry& registry, const OptOutIndex& index, ByteSource& source,
                                   const FilterJob& job) {
  // Before any output file exists: a job that cannot run leaves nothing behind.
  if (Status s = validate_filter_options(job.options); !s.ok()) return s;
  RunContext context;
  context.started_at = std::time(nullptr);
  context.registry_digest = registry.digest();
  context.registry_created_at = registry.created_at();
  context.lists_applied = index.applied_lists();
  context.input_name = source.name();

  Result<Destination> output = Destination::open(job.output);
  if (!output.ok()) return output.status();
  context.output_name = output->name();
  std::optional<AtomicFile> rejects;
  if (!job.rejects.empty()) {
    Result<AtomicFile> file = AtomicFile::create(job.rejects);
    if (!file.ok()) return file.status();
    rejects.emplace(std::move(file).value());
  }

  FilterOptions options = job.options;
  options.digest_output = options.digest_output || !job.audit.empty();
  Result<FilterStats> stats = filter(source, output->sink(), rejects ? &rejects->sink() : nullptr, index, options);
  context.finished_at = std::time(nullptr);
  // The reader of standard output went away: nothing more to write or record.
  if (!stats.ok() && stats.code() == ErrorCode::kBrokenPipe) return stats.status();

  Status outcome = stats.ok() ? Status() : stats.status();
  if (outcome.ok() && rejects) outcome = rejects->commit();
  if (outcome.ok() && !job.stats.empty()) {
    Result<AtomicFile> file = AtomicFile::create(job.stats);
    outcome = file.ok() ? file->write_all(filter_stats_json(*stats) + "\n") : file.status();
    if (outcome.ok()) outcome = file->commit();
  }
  if (!job.audit.empty()) {
    const Status audited =
        append_line(job.audit, audit_record_json(context, stats.ok() ? &*stats : nullptr, outcome));
    if (outcome.ok()) outcome = audited;
  }
  if (outcome.ok()) outcome = output->commit();
  if (!outcome.ok()) return outcome;
  return stats;
}

Result<FilterStats> run_filter_job(const Registry& registry, const OptOutIndex& index, const FilterJob& job) {
  Result<std::unique_ptr<ByteSource>> source = open_file_source(job.input);
  if (!source.ok()) return source.status();
  return run_filter_job(registry, index, **source, job);
}

}  // namespace optout
