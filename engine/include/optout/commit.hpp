// How a run makes its results appear: the one commit protocol, used by run_filter() (run.hpp) for
// every run, one output or in parts, whoever asked for it (the CLI, the C ABI, Python, Dask).
//
// A run writes each result (output, rejects, stats; for Dask, folders of parts) under a temporary
// name beside its final path. Nothing is put in place until every result is complete. Then:
//
//   1. the audit record "committing" is appended (counts and the output's digest; a run id);
//   2. the side results (rejects, stats) are renamed into place, in order;
//   3. the output is renamed into place: the release, the one step that makes the run visible;
//   4. the audit record "ok" (the same fields, the same run id) is appended.
//
// Without --audit, steps 1 and 4 are skipped; for standard output, step 3 is (its bytes went out
// as they were filtered). A failure before step 1 (a bad row, a full disk, the data-quality gate)
// removes every temporary file and appends one record "failed" with the error code's name. A
// failure at step k removes what steps 2..k-1 put in place and every temporary file, then appends
// "failed"; so does a failure at step 4, taking back the output too. The error returned is that of
// the failed step; its message says what could not be removed, naming it (a read-only folder).
// A file a rename replaced (the previous run's rejects, say) is gone then too: removed, never
// left looking like this run's. The audit log is appended to with append_line() (all or nothing,
// under flock), so records of concurrent runs never interleave.
//
// Windows a crash (SIGKILL, power loss) can leave, and how a reader of the audit log tells them:
//   - before 1: no record of the run; at most hidden temporary files (.NAME.tmp-XXXXXXXX).
//   - between 1 and 4: a "committing" record with no later "ok" or "failed" of the same run_id:
//     crashed mid-commit. Side results may be in place; the output is in place only if a file with
//     the recorded output_xxh3_128 is there. Treat the run as failed.
//   - after 4: "committing" then "ok": the run succeeded.
// So an "ok" is only ever written once the output is in place, and every "committing" pairs with
// an "ok" or a "failed" of its run_id unless the run crashed mid-commit.
#pragma once

#include <cstddef>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "optout/audit.hpp"
#include "optout/export.hpp"
#include "optout/filter.hpp"
#include "optout/io.hpp"
#include "optout/status.hpp"

namespace optout {

// One result of a run, complete under a temporary name until commit_run() puts it in place.
class OPTOUT_API StagedResult {
 public:
  virtual ~StagedResult();
  // The final path, as the caller gave it.
  virtual const std::string& name() const noexcept = 0;
  // Renames into place. On failure the temporary is removed, or the message names it.
  [[nodiscard]] virtual Status put_in_place() = 0;
  // After put_in_place(): removes what it put in place. Errors name what is left.
  [[nodiscard]] virtual Status take_back() = 0;
  // Before put_in_place(): removes the temporary. Errors name what is left.
  [[nodiscard]] virtual Status discard() = 0;
};

// An AtomicFile as a StagedResult; file must outlive it.
OPTOUT_API std::unique_ptr<StagedResult> staged_file(AtomicFile& file);

// A folder being filled under a temporary name beside its final path (".NAME.tmp-XXXXXXXX"),
// renamed into place with a rename that never replaces anything (renameat2 RENAME_NOREPLACE), so
// two runs to one folder cannot both succeed. Destroying it before put_in_place() removes the
// temporary folder and what is in it. Move-only; not thread-safe.
class OPTOUT_API StagedDirectory final : public StagedResult {
 public:
  // Errors: kInvalidArgument for an empty path; kIoError "NAME: already exists" when anything is
  // at path, or naming the parent folder when the temporary folder cannot be made.
  [[nodiscard]] static Result<std::unique_ptr<StagedDirectory>> create(const std::filesystem::path& path);
  ~StagedDirectory() override;
  StagedDirectory(const StagedDirectory&) = delete;
  StagedDirectory& operator=(const StagedDirectory&) = delete;

  // Where to write the folder's files until put_in_place().
  const std::filesystem::path& temp_path() const noexcept { return temp_; }
  const std::string& name() const noexcept override { return name_; }
  // Errors: kIoError "NAME: already exists (made while this run ran)" when another run (or
  // anything else) put something at the path first.
  [[nodiscard]] Status put_in_place() override;
  [[nodiscard]] Status take_back() override;
  [[nodiscard]] Status discard() override;

 private:
  StagedDirectory(std::string name, std::filesystem::path temp);
  std::string name_;
  std::filesystem::path temp_;
  enum class State { kStaged, kInPlace, kGone } state_ = State::kStaged;
};

// Puts every result in place, in order, or none: when one fails, those already in place are taken
// back and the rest discarded. For commands whose results are files with no audit record (diff's
// --added and --withdrawn). Returns the failure, with what could not be removed added to it.
[[nodiscard]] OPTOUT_API Status put_all_in_place(std::span<StagedResult* const> results);

// A run's complete results, ready for the commit.
struct Commit {
  std::vector<StagedResult*> side;   // rejects, stats: put in place first, in this order
  StagedResult* output = nullptr;    // the release, last; null when written to standard output
  std::optional<std::string> audit;  // the audit log, or none
};

// Steps 1-4 above. Returns ok with every result in place, or the failed step's error with
// nothing of the run left in place (what could not be removed is named in the message) and a
// "failed" record appended (its own failure is added to the message). context.run_id must be set.
[[nodiscard]] OPTOUT_API Status commit_run(const Commit& commit, const RunContext& context, const FilterStats& stats);

// A run that failed before its commit: discards every staged result, appends the "failed" record
// (stats may be null), and returns error with what could not be removed or recorded added to its
// message, its code unchanged.
[[nodiscard]] OPTOUT_API Status abandon_run(const Commit& commit, const RunContext& context, const FilterStats* stats,
                                            const Status& error);

// The commit of a run in parts (run_filter() with in_parts): context.pieces filtered into the
// staged output folder (and rejects folder). Adds up the pieces (add_pieces(); total.seconds =
// seconds), checks rows == kept + removed + rejected (kInternal otherwise), writes the stats file
// (pieces_stats_json()) when stats is set, and commits as commit_run() does: audit "committing",
// rejects folder, stats, output folder, audit "ok". Returns the stats JSON. On error nothing is
// left in place and a "failed" record is appended, as commit_run(). context.run_id must be set.
// after_stats: more side results (the impact report), put in place after the stats.
[[nodiscard]] OPTOUT_API Result<std::string> commit_pieces(const RunContext& context, double seconds,
                                                           StagedResult& output, StagedResult* rejects,
                                                           const std::optional<std::string>& stats,
                                                           const std::optional<std::string>& audit,
                                                           std::span<StagedResult* const> after_stats = {});

namespace detail {

// The commit's steps, for tests that fail each in turn.
enum class CommitStep { kAuditCommitting, kPutSide, kPutOutput, kAuditOk };
// Called before each step (index: which side result for kPutSide, else 0); a failed Status fails
// the step as if the system call had. Test-only seam: process-wide, not thread-safe; {} clears.
using CommitFault = std::function<Status(CommitStep step, std::size_t index)>;
OPTOUT_API void set_commit_fault(CommitFault fault);

}  // namespace detail
}  // namespace optout
