// The commit protocol (commit.hpp): the order of the renames and audit records.
#include "optout/commit.hpp"

#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>

#include <cerrno>
#include <chrono>
#include <filesystem>
#include <thread>
#include <cstdio>
#include <cstring>
#include <memory>
#include <optional>
#include <random>
#include <system_error>
#include <utility>

namespace optout {

namespace {
// How long discard() keeps trying to remove a staged folder that a late piece writes into:
// 20 attempts 50 ms apart, a second in all.
constexpr int kDiscardAttempts = 20;
constexpr std::chrono::milliseconds kDiscardPause{50};
}  // namespace
namespace {

detail::CommitFault& commit_fault() {
  static detail::CommitFault fault;
  return fault;
}

Status injected(detail::CommitStep step, std::size_t index) {
  const detail::CommitFault& fault = commit_fault();
  return fault ? fault(step, index) : Status();
}

class StagedFile final : public StagedResult {
 public:
  explicit StagedFile(AtomicFile& file) : file_(file), name_(file.sink().name()) {}
  const std::string& name() const noexcept override { return name_; }
  Status put_in_place() override { return file_.commit(); }
  Status take_back() override { return file_.take_back(); }
  Status discard() override { return file_.discard(); }

 private:
  AtomicFile& file_;
  std::string name_;
};

// Appends "; <what went wrong>" to a message for each failed clean-up.
void add_note(std::string& notes, const Status& s) {
  if (!s.ok()) notes += "; " + s.message();
}

Status with_notes(const Status& error, const std::string& notes) {
  return notes.empty() ? error : Status(error.code(), error.message() + notes);
}

Status append_record(const Commit& commit, const RunContext& context, const FilterStats* stats, RunOutcome outcome,
                     ErrorCode error) {
  std::string line = audit_record_json(context, stats, outcome, error);
  if (context.sign_with) {
    Result<std::string> signed_line = sign_audit_record(line, *context.sign_with);
    if (!signed_line.ok()) return signed_line.status();
    line = std::move(signed_line).value();
  }
  return append_line(*commit.audit, line);
}

// After a failure: takes back the first `in_place` side results (and the output when
// output_in_place), discards the rest, appends "failed".
Status roll_back(const Commit& commit, const RunContext& context, const FilterStats* stats, const Status& error,
                 std::size_t in_place, bool output_in_place) {
  std::string notes;
  if (commit.output != nullptr)
    add_note(notes, output_in_place ? commit.output->take_back() : commit.output->discard());
  for (std::size_t i = 0; i < commit.side.size(); ++i) {
    add_note(notes, i < in_place ? commit.side[i]->take_back() : commit.side[i]->discard());
  }
  if (commit.audit) {
    const Status recorded = append_record(commit, context, stats, RunOutcome::kFailed, error.code());
    if (!recorded.ok()) notes += "; and its audit record could not be written: " + recorded.message();
  }
  return with_notes(error, notes);
}

}  // namespace

StagedResult::~StagedResult() = default;

Status put_all_in_place(std::span<StagedResult* const> results) {
  for (std::size_t i = 0; i < results.size(); ++i) {
    const Status s = results[i]->put_in_place();
    if (s.ok()) continue;
    std::string notes;
    for (std::size_t j = 0; j < results.size(); ++j) {
      if (j != i) add_note(notes, j < i ? results[j]->take_back() : results[j]->discard());
    }
    return with_notes(s, notes);
  }
  return Status();
}

std::unique_ptr<StagedResult> staged_file(AtomicFile& file) { return std::make_unique<StagedFile>(file); }

// ---- StagedDirectory ----------------------------------------------------------------------------

StagedDirectory::StagedDirectory(std::string name, std::filesystem::path temp)
    : name_(std::move(name)), temp_(std::move(temp)) {}

StagedDirectory::~StagedDirectory() {
  if (state_ == State::kStaged) (void)discard();
}

Result<std::unique_ptr<StagedDirectory>> StagedDirectory::create(const std::filesystem::path& path) {
  if (path.empty()) return Status(ErrorCode::kInvalidArgument, "an empty output folder path: give a folder name");
  const std::string name = path.string();
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0) return Status(ErrorCode::kIoError, name + ": already exists");
  const std::filesystem::path absolute = std::filesystem::absolute(path).lexically_normal();
  const std::filesystem::path final_path = absolute.has_filename() ? absolute : absolute.parent_path();
  std::random_device entropy;
  for (int attempt = 0; attempt < 100; ++attempt) {
    char suffix[16];
    std::snprintf(suffix, sizeof suffix, "%08x", entropy());
    std::filesystem::path temp = final_path.parent_path() /
                                 std::string(".").append(final_path.filename().string()).append(".tmp-").append(suffix);
    if (::mkdir(temp.c_str(), 0777) == 0) {
      return std::unique_ptr<StagedDirectory>(new StagedDirectory(name, std::move(temp)));
    }
    if (errno != EEXIST) {
      return Status(ErrorCode::kIoError,
                    name + ": cannot create a temporary folder beside it: " + std::strerror(errno));
    }
  }
  return Status(ErrorCode::kIoError, name + ": cannot create a temporary folder beside it");
}

Status StagedDirectory::put_in_place() {
  if (state_ != State::kStaged) return Status(ErrorCode::kIoError, name_ + ": already put in place or discarded");
  if (::renameat2(AT_FDCWD, temp_.c_str(), AT_FDCWD, name_.c_str(), RENAME_NOREPLACE) == 0) {
    state_ = State::kInPlace;
    return Status();
  }
  const int error = errno;
  const std::string why = error == EEXIST || error == ENOTEMPTY
                              ? std::string("already exists (made while this run ran)")
                              : "rename failed: " + std::string(std::strerror(error));
  const Status removed = discard();
  state_ = State::kGone;  // reported here, once
  return Status(ErrorCode::kIoError,
                name_ + ": " + why + (removed.ok() ? "; its temporary folder was removed" : "; " + removed.message()));
}

Status StagedDirectory::take_back() {
  if (state_ != State::kInPlace) return Status();
  std::error_code error;
  std::filesystem::remove_all(name_, error);
  if (error) return Status(ErrorCode::kIoError, name_ + ": could not be removed: " + error.message());
  state_ = State::kGone;
  return Status();
}

Status StagedDirectory::discard() {
  if (state_ != State::kStaged) return Status();
  std::error_code error;
  // A piece still running elsewhere (a worker the run stopped waiting for) may create a file in
  // the folder while it is removed ("Directory not empty"): try again, a few times, briefly.
  bool gone = false;
  for (int attempt = 0; attempt < kDiscardAttempts && !gone; ++attempt) {
    if (attempt > 0) std::this_thread::sleep_for(kDiscardPause);
    error.clear();
    std::filesystem::remove_all(temp_, error);
    std::error_code looked;
    gone = !error && !std::filesystem::exists(temp_, looked) && !looked;
  }
  if (!gone) {
    return Status(ErrorCode::kIoError, name_ + ": its temporary folder " + temp_.string() +
                                           " could not be removed: " + (error ? error.message() : "it is not empty"));
  }
  state_ = State::kGone;
  return Status();
}

// ---- The protocol ---------------------------------------------------------------------------------

Status commit_run(const Commit& commit, const RunContext& context, const FilterStats& stats) {
  if (commit.audit) {
    Status s = injected(detail::CommitStep::kAuditCommitting, 0);
    if (s.ok()) s = append_record(commit, context, &stats, RunOutcome::kCommitting, ErrorCode::kOk);
    if (!s.ok()) return roll_back(commit, context, &stats, s, 0, false);
  }
  for (std::size_t i = 0; i < commit.side.size(); ++i) {
    Status s = injected(detail::CommitStep::kPutSide, i);
    if (s.ok()) s = commit.side[i]->put_in_place();
    if (!s.ok()) return roll_back(commit, context, &stats, s, i, false);
  }
  if (commit.output != nullptr) {
    Status s = injected(detail::CommitStep::kPutOutput, 0);
    if (s.ok()) s = commit.output->put_in_place();
    if (!s.ok()) return roll_back(commit, context, &stats, s, commit.side.size(), false);
  }
  if (commit.audit) {
    Status s = injected(detail::CommitStep::kAuditOk, 0);
    if (s.ok()) s = append_record(commit, context, &stats, RunOutcome::kOk, ErrorCode::kOk);
    if (!s.ok()) return roll_back(commit, context, &stats, s, commit.side.size(), true);
  }
  return Status();
}

Status abandon_run(const Commit& commit, const RunContext& context, const FilterStats* stats, const Status& error) {
  return roll_back(commit, context, stats, error, 0, false);
}

Result<std::string> commit_pieces(const RunContext& context, double seconds, StagedResult& output,
                                  StagedResult* rejects, const std::optional<std::string>& stats,
                                  const std::optional<std::string>& audit, std::span<StagedResult* const> after_stats) {
  Commit commit;
  commit.output = &output;
  commit.audit = audit;
  if (rejects != nullptr) commit.side.push_back(rejects);
  FilterStats total = add_pieces(context.pieces);
  total.seconds = seconds;
  if (total.rows != total.kept + total.removed + total.rejected) {
    return abandon_run(commit, context, nullptr,
                       Status(ErrorCode::kInternal, context.input_name + ": the pieces' counts do not add up"));
  }
  const std::string json = pieces_stats_json(total, context.pieces);
  std::optional<AtomicFile> stats_file;
  std::unique_ptr<StagedResult> staged_stats;
  if (stats) {
    Result<AtomicFile> file = AtomicFile::create(*stats);
    if (!file.ok()) return abandon_run(commit, context, &total, file.status());
    stats_file.emplace(std::move(file).value());
    if (Status s = stats_file->write_all(json + "\n"); !s.ok()) {
      (void)stats_file->discard();
      return abandon_run(commit, context, &total, s);
    }
    staged_stats = staged_file(*stats_file);
    commit.side.push_back(staged_stats.get());
  }
  commit.side.insert(commit.side.end(), after_stats.begin(), after_stats.end());
  if (Status s = commit_run(commit, context, total); !s.ok()) return s;
  return json;
}

namespace detail {

void set_commit_fault(CommitFault fault) { commit_fault() = std::move(fault); }

}  // namespace detail
}  // namespace optout
