#include "optout/run.hpp"

#include <gtest/gtest.h>

#include <unistd.h>

#include <sys/stat.h>
#include <xxhash.h>

#include <array>
#include <cctype>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>

#include "optout/commit.hpp"
#include "optout/io.hpp"
#include "optout/registry.hpp"
#include "optout/signing.hpp"
#include "test_support.hpp"

namespace optout {
namespace {

using namespace optout::testing;

const char* const kExtract =
    "id,nhs_number\n"
    "1,4010232137\n"
    "2,9434765919\n"
    "3,12345\n";

class RunTest : public TempDirTest {
 protected:
  void SetUp() override {
    // Saved beside the folder, so that it is a file (an input no output may replace) but not one
    // of files().
    registry_file_ = dir_.string() + ".optout";
    ASSERT_TRUE(save_registry(make_registry({kListed}), registry_file_).ok());
    Result<Registry> registry = load_registry(registry_file_);
    ASSERT_TRUE(registry.ok());
    registry_ = std::move(registry).value();
    index_.emplace(make_index(registry_));
    write("extract.csv", kExtract);
  }
  void TearDown() override { fs::remove(registry_file_); }

  // The run under test, and its counts.
  Result<FilterStats> run(const FilterRequest& request) const {
    Result<RunResult> ran = run_filter(*index_, request);
    if (!ran.ok()) return ran.status();
    return ran->stats;
  }
  Result<FilterStats> run(ByteSource& source, FilterRequest request) const {
    request.source = &source;
    return run(request);
  }

  FilterRequest job() const {
    FilterRequest j;
    j.inputs = {path("extract.csv")};
    j.output = path("clean.csv");
    j.rejects = path("rejects.csv");
    j.stats = path("stats.json");
    j.audit = path("audit.jsonl");
    j.options.column_name = "nhs_number";
    return j;
  }

  // Each case's change to job() is refused with kInvalidArgument and its message, before anything
  // is written: the folder then holds exactly `left`.
  struct Refused {
    std::function<void(FilterRequest&)> set;
    std::string message;
  };
  void expect_refused(std::span<const Refused> cases, const std::vector<std::string>& left) const {
    for (const Refused& c : cases) {
      SCOPED_TRACE(c.message);
      FilterRequest j = job();
      c.set(j);
      Result<FilterStats> stats = run(j);
      ASSERT_FALSE(stats.ok());
      EXPECT_EQ(stats.code(), ErrorCode::kInvalidArgument);
      EXPECT_EQ(stats.status().message(), c.message);
      EXPECT_EQ(files(), left);
    }
  }

  // The audit log's records, parsed (a line that does not parse fails the test).
  std::vector<nlohmann::json> audit_records() const {
    std::vector<nlohmann::json> records;
    std::istringstream lines(read("audit.jsonl"));
    for (std::string line; std::getline(lines, line);) {
      records.push_back(nlohmann::json::parse(line, nullptr, false));
      EXPECT_FALSE(records.back().is_discarded()) << line;
    }
    return records;
  }

  std::string registry_file_;
  Registry registry_;
  std::optional<OptOutIndex> index_;
};

TEST_F(RunTest, WritesEveryFileOnSuccess) {
  Result<FilterStats> stats = run(job());
  ASSERT_TRUE(stats.ok()) << stats.status().message();
  EXPECT_EQ(stats->rows, 3u);
  EXPECT_EQ(stats->kept, 1u);
  EXPECT_EQ(stats->removed, 1u);
  EXPECT_EQ(stats->rejected, 1u);
  ASSERT_TRUE(stats->output_digest.has_value());  // the audit record needs it
  EXPECT_EQ(read("clean.csv"), "id,nhs_number\n1,4010232137\n");
  EXPECT_EQ(read("rejects.csv"), "id,nhs_number\n3,12345\n");
  EXPECT_NE(read("stats.json").find("\"rows\":3"), std::string::npos) << read("stats.json");
  // The commit protocol: "committing", then "ok" of the same run, both with the digests.
  const std::vector<nlohmann::json> records = audit_records();
  ASSERT_EQ(records.size(), 2u) << read("audit.jsonl");
  EXPECT_EQ(records[0]["outcome"], "committing");
  EXPECT_EQ(records[1]["outcome"], "ok");
  EXPECT_EQ(records[0]["run_id"], records[1]["run_id"]);
  EXPECT_EQ(records[0]["run_id"].get<std::string>().size(), kRunIdLetters);
  const XXH128_hash_t input = XXH3_128bits(kExtract, std::strlen(kExtract));
  for (const nlohmann::json& r : records) {
    EXPECT_EQ(r["input_xxh3_128"], (Digest128{input.high64, input.low64}.hex()));  // as xxh128sum prints it
    EXPECT_EQ(r["output_xxh3_128"], stats->output_digest->hex());
    EXPECT_EQ(r["registry_digest"], registry_.digest().hex());
    EXPECT_EQ(r["output"], path("clean.csv"));
  }
  EXPECT_EQ(files(),
            (std::vector<std::string>{"audit.jsonl", "clean.csv", "extract.csv", "rejects.csv", "stats.json"}));
}

TEST_F(RunTest, FailedRunLeavesOnlyTheAuditRecord) {
  write("extract.csv", "id,nhs_number\n1,4010232137\n2,\"9434765919\n");  // unterminated quote
  Result<FilterStats> stats = run(job());
  ASSERT_FALSE(stats.ok());
  EXPECT_EQ(stats.code(), ErrorCode::kInvalidInput);
  EXPECT_EQ(stats.status().message(), path("extract.csv") + ":3: unterminated quoted field");
  EXPECT_EQ(files(), (std::vector<std::string>{"audit.jsonl", "extract.csv"}));
  const std::vector<nlohmann::json> records = audit_records();
  ASSERT_EQ(records.size(), 1u) << read("audit.jsonl");  // failed before the commit: no "committing"
  EXPECT_EQ(records[0]["outcome"], "failed");
  EXPECT_EQ(records[0]["error"], "invalid input");
}

TEST_F(RunTest, DataQualityGateFailsWithoutOutput) {
  FilterRequest j = job();
  j.options.max_rejected_rows = 0;
  Result<FilterStats> stats = run(j);
  ASSERT_FALSE(stats.ok());
  EXPECT_EQ(stats.code(), ErrorCode::kDataQuality);
  EXPECT_EQ(files(), (std::vector<std::string>{"audit.jsonl", "extract.csv"}));
}

TEST_F(RunTest, UnusableOptionsLeaveNothingAtAll) {
  FilterRequest j = job();
  j.options.delimiter = '"';
  Result<FilterStats> stats = run(j);
  ASSERT_FALSE(stats.ok());
  EXPECT_EQ(stats.code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(stats.status().message(), "the delimiter cannot be a quote, CR or LF");
  EXPECT_EQ(files(), (std::vector<std::string>{"extract.csv"}));
}

// An input that cannot be opened is a failed run like any other: no output, one "failed" record.
TEST_F(RunTest, MissingInputIsAnIoErrorNamingItAndAFailedRecord) {
  FilterRequest j = job();
  j.inputs = {path("absent.csv")};
  Result<FilterStats> stats = run(j);
  ASSERT_FALSE(stats.ok());
  EXPECT_EQ(stats.code(), ErrorCode::kIoError);
  EXPECT_EQ(stats.status().message().rfind(path("absent.csv") + ": cannot open", 0), 0u) << stats.status().message();
  EXPECT_EQ(files(), (std::vector<std::string>{"audit.jsonl", "extract.csv"}));
  const std::vector<nlohmann::json> records = audit_records();
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0]["outcome"], "failed");
  EXPECT_EQ(records[0]["error"], "i/o error");
  EXPECT_EQ(records[0]["input"], path("absent.csv"));
  EXPECT_FALSE(records[0].contains("rows"));
}

// What a signal handler calls: the temporary files of uncommitted outputs go, nothing else does.
TEST_F(RunTest, RemoveUncommittedFilesTakesOnlyTemporaryFiles) {
  Result<AtomicFile> committed = AtomicFile::create(path("done.csv"));
  ASSERT_TRUE(committed.ok()) << committed.status().message();
  ASSERT_TRUE(committed->write_all("done\n").ok());
  ASSERT_TRUE(committed->commit().ok());
  Result<AtomicFile> pending = AtomicFile::create(path("pending.csv"));
  ASSERT_TRUE(pending.ok()) << pending.status().message();
  ASSERT_TRUE(pending->write_all("half\n").ok());
  EXPECT_EQ(files().size(), 3u);  // done.csv, extract.csv and pending.csv's temporary file

  remove_uncommitted_files();
  EXPECT_EQ(files(), (std::vector<std::string>{"done.csv", "extract.csv"}));
  EXPECT_EQ(read("done.csv"), "done\n");
  const Status late = pending->commit();  // its file is gone: the commit cannot succeed
  EXPECT_EQ(late.code(), ErrorCode::kIoError);
  EXPECT_EQ(late.message().rfind(path("pending.csv") + ": rename failed", 0), 0u) << late.message();
  EXPECT_EQ(files(), (std::vector<std::string>{"done.csv", "extract.csv"}));
}

TEST_F(RunTest, CallerSourceNamesTheInput) {
  std::istringstream in(kExtract);
  auto source = make_istream_source(in, "piece-3");
  FilterRequest j = job();
  j.inputs = {"ignored"};
  j.rejects.reset();
  j.stats.reset();
  Result<FilterStats> stats = run(*source, j);
  ASSERT_TRUE(stats.ok()) << stats.status().message();
  EXPECT_EQ(read("clean.csv"), "id,nhs_number\n1,4010232137\n");
  EXPECT_NE(read("audit.jsonl").find("\"piece-3\""), std::string::npos) << read("audit.jsonl");
}

// ---- The commit protocol (commit.hpp), step by step ------------------------------------------

// A source that, once the whole extract has been read, runs a callback: something done to the
// outputs' folder mid-run, after the filter but before the commit.
class AtEndSource final : public ByteSource {
 public:
  AtEndSource(std::string text, std::function<void()> at_end) : text_(std::move(text)), at_end_(std::move(at_end)) {}
  Result<std::size_t> read(char* buffer, std::size_t capacity) override {
    const std::size_t n = std::min(capacity, text_.size() - at_);
    std::copy_n(text_.data() + at_, n, buffer);
    at_ += n;
    if (n == 0 && at_end_) std::exchange(at_end_, nullptr)();
    return n;
  }
  const std::string& name() const override { return name_; }

 private:
  std::string text_;
  std::function<void()> at_end_;
  std::size_t at_ = 0;
  std::string name_ = "extract.csv";
};

// Issue 15.2: -o made a directory mid-run. The output's rename fails; before the fix the audit
// log said "ok" for an output that never appeared and the rejects and stats stayed committed.
TEST_F(RunTest, FailedOutputRenameLeavesFailedAuditAndNoSideFiles) {
  AtEndSource source(kExtract, [&] {
    fs::create_directory(path("clean.csv"));
    write("clean.csv/keep", "x");
  });
  Result<FilterStats> stats = run(source, job());
  ASSERT_FALSE(stats.ok());
  EXPECT_EQ(stats.code(), ErrorCode::kIoError);
  EXPECT_EQ(stats.status().message(),
            path("clean.csv") + ": rename failed: Is a directory; its temporary file was removed");
  EXPECT_EQ(files(), (std::vector<std::string>{"audit.jsonl", "clean.csv", "extract.csv"}));
  EXPECT_TRUE(fs::is_directory(path("clean.csv")));
  const std::vector<nlohmann::json> records = audit_records();
  ASSERT_EQ(records.size(), 2u) << read("audit.jsonl");
  EXPECT_EQ(records[0]["outcome"], "committing");
  EXPECT_EQ(records[1]["outcome"], "failed");
  EXPECT_EQ(records[1]["error"], "i/o error");
  EXPECT_EQ(records[0]["run_id"], records[1]["run_id"]);
}

// Each step of the commit failing in turn: what is left is never a result, and the audit log ends
// with "failed" (code as the step's error) for the run id of its "committing" record.
TEST_F(RunTest, EveryCommitStepFailingLeavesNoResultAndAFailedRecord) {
  using detail::CommitStep;
  struct Case {
    CommitStep step;
    std::size_t index;
    const char* what;
  };
  const Case cases[] = {
      {CommitStep::kAuditCommitting, 0, "audit committing"},
      {CommitStep::kPutSide, 0, "rejects"},
      {CommitStep::kPutSide, 1, "stats"},
      {CommitStep::kPutOutput, 0, "output"},
      {CommitStep::kAuditOk, 0, "audit ok"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    fs::remove(path("audit.jsonl"));
    detail::set_commit_fault([&](CommitStep step, std::size_t index) {
      if (step == c.step && index == c.index) return Status(ErrorCode::kIoError, std::string(c.what) + ": injected");
      return Status();
    });
    Result<FilterStats> stats = run(job());
    detail::set_commit_fault({});
    ASSERT_FALSE(stats.ok());
    EXPECT_EQ(stats.code(), ErrorCode::kIoError);
    EXPECT_EQ(stats.status().message(), std::string(c.what) + ": injected");
    EXPECT_EQ(files(), (std::vector<std::string>{"audit.jsonl", "extract.csv"}));
    const std::vector<nlohmann::json> records = audit_records();
    // A failed "committing" append leaves only the "failed" record.
    const bool wrote_committing = c.step != CommitStep::kAuditCommitting;
    ASSERT_EQ(records.size(), wrote_committing ? 2u : 1u) << read("audit.jsonl");
    EXPECT_EQ(records.back()["outcome"], "failed");
    EXPECT_EQ(records.back()["error"], "i/o error");
    if (wrote_committing) {
      EXPECT_EQ(records[0]["outcome"], "committing");
      EXPECT_EQ(records[0]["run_id"], records[1]["run_id"]);
    }
  }
  // And with the fault gone, the same job succeeds.
  fs::remove(path("audit.jsonl"));
  ASSERT_TRUE(run(job()).ok());
  EXPECT_EQ(files(),
            (std::vector<std::string>{"audit.jsonl", "clean.csv", "extract.csv", "rejects.csv", "stats.json"}));
}

// The output and rejects in place before the failure are taken back: no old file survives as if new.
TEST_F(RunTest, FailedCommitRemovesWhatItPutInPlace) {
  detail::set_commit_fault([](detail::CommitStep step, std::size_t) {
    return step == detail::CommitStep::kAuditOk
               ? Status(ErrorCode::kIoError, "audit.jsonl: write failed: No space left on device")
               : Status();
  });
  Result<FilterStats> stats = run(job());
  detail::set_commit_fault({});
  ASSERT_FALSE(stats.ok());
  EXPECT_EQ(files(), (std::vector<std::string>{"audit.jsonl", "extract.csv"}));
}

// Issue 15.8: an empty path is never standard output nor "none".
// An output that cannot even be opened (its folder is missing) fails the run before a byte is
// read; the audit log still gets the run's "failed" record, so no failure goes unrecorded.
TEST_F(RunTest, OutputThatCannotBeOpenedStillLeavesAFailedRecord) {
  FilterRequest j = job();
  j.rejects = path("no_such_dir/rejects.csv");
  Result<FilterStats> stats = run(j);
  ASSERT_FALSE(stats.ok());
  EXPECT_EQ(stats.code(), ErrorCode::kIoError);
  EXPECT_EQ(files(), (std::vector<std::string>{"audit.jsonl", "extract.csv"}));
  const std::vector<nlohmann::json> records = audit_records();
  ASSERT_EQ(records.size(), 1u) << read("audit.jsonl");
  EXPECT_EQ(records[0]["outcome"], "failed");
  EXPECT_EQ(records[0]["error"], "i/o error");
  EXPECT_EQ(records[0]["output"], path("clean.csv"));
}

TEST_F(RunTest, EmptyPathIsAUsageError) {
  const Refused cases[] = {
      {[](FilterRequest& j) { j.inputs = {""}; }, "an empty input path: give a file name, or \"-\" for standard input"},
      {[](FilterRequest& j) { j.output = ""; }, "an empty output path: give a file name, or \"-\" for standard output"},
      {[](FilterRequest& j) { j.rejects = ""; }, "an empty rejects path: give a file name"},
      {[](FilterRequest& j) { j.stats = ""; }, "an empty stats path: give a file name"},
      {[](FilterRequest& j) { j.audit = ""; }, "an empty audit path: give a file name"},
  };
  expect_refused(cases, {"extract.csv"});
}

// Issue 10.6: no output overwrites the input or another output; nothing is written.
TEST_F(RunTest, OutputNamingTheInputOrAnotherOutputIsRefused) {
  fs::create_hard_link(path("extract.csv"), path("linked.csv"));
  const std::string extract = path("extract.csv");
  const std::string dotted = (dir_ / "." / "extract.csv").string();
  const Refused cases[] = {
      {[&](FilterRequest& j) { j.output = extract; }, extract + " is given twice: an output would overwrite an input"},
      {[&](FilterRequest& j) { j.output = dotted; },
       extract + " and " + dotted + " are one file: an output would overwrite an input"},
      {[&](FilterRequest& j) { j.rejects = path("linked.csv"); },
       extract + " and " + path("linked.csv") + " are one file: an output would overwrite an input"},
      {[&](FilterRequest& j) { j.rejects = j.output; },
       path("clean.csv") + " is given twice: an output would overwrite another output"},
      {[&](FilterRequest& j) { j.stats = j.output; },
       path("clean.csv") + " is given twice: an output would overwrite another output"},
      {[&](FilterRequest& j) { j.audit = j.rejects; },
       path("rejects.csv") + " is given twice: an output would overwrite another output"},
      {[&](FilterRequest& j) { j.stats = registry_file_; },
       registry_file_ + " is given twice: an output would overwrite an input"},
  };
  expect_refused(cases, {"extract.csv", "linked.csv"});
  EXPECT_EQ(read("extract.csv"), kExtract);
}

// /dev/null may be given for more than one output.
TEST_F(RunTest, DevNullMayBeGivenForManyOutputs) {
  FilterRequest j = job();
  j.output = j.rejects.emplace("/dev/null");
  j.stats = "/dev/null";
  Result<FilterStats> stats = run(j);
  ASSERT_TRUE(stats.ok()) << stats.status().message();
  EXPECT_EQ(files(), (std::vector<std::string>{"audit.jsonl", "extract.csv"}));
}

// ---- Runs in parts ---------------------------------------------------------------------------------

// An extract of n rows, every third one listed, every seventh one invalid, some quoted over lines.
std::string parts_extract(int n) {
  std::string text = "id,note,nhs_number\n";
  for (int i = 0; i < n; ++i) {
    const std::string number = i % 7 == 6 ? "12345" : i % 3 == 0 ? "9434765919" : "4010232137";
    text += std::to_string(i) + (i % 5 == 0 ? ",\"a\nb\"," : ",x,") + number + "\n";
  }
  return text;
}

class RunInPartsTest : public RunTest {
 protected:
  // job() in parts: big.csv cut into pieces of about 200 bytes, into the folders out and rejects.
  FilterRequest parts() const {
    FilterRequest r = job();
    r.inputs = {path("big.csv")};
    r.in_parts = true;
    r.piece_bytes = 200;
    r.output = path("out");
    r.rejects = path("rejects");
    return r;
  }
  // The parts of a folder without their repeated headers, concatenated.
  std::string joined(const std::string& folder, std::size_t header_bytes) const {
    std::string all;
    const std::vector<std::string> names = folder_entries(dir_ / folder);
    for (std::size_t i = 0; i < names.size(); ++i) {
      const std::string bytes = read(folder + "/" + names[i]);
      all += i == 0 ? bytes : bytes.substr(header_bytes);
    }
    return all;
  }
};

TEST_F(RunInPartsTest, PartsPutTogetherAreTheWholeFilesOutput) {
  write("big.csv", parts_extract(300));
  FilterRequest whole = job();
  whole.inputs = {path("big.csv")};
  whole.audit.reset();
  whole.stats.reset();
  const Result<FilterStats> expected = run(whole);
  ASSERT_TRUE(expected.ok()) << expected.status().message();

  Result<RunResult> ran = run_filter(*index_, parts());
  ASSERT_TRUE(ran.ok()) << ran.status().message();
  EXPECT_GT(ran->pieces.size(), 5u);
  const std::size_t header = std::string("id,note,nhs_number\n").size();
  EXPECT_EQ(joined("out", header), read("clean.csv"));
  EXPECT_EQ(joined("rejects", header), read("rejects.csv"));
  EXPECT_EQ(ran->stats.rows, expected->rows);
  EXPECT_EQ(ran->stats.kept, expected->kept);
  EXPECT_EQ(ran->stats.removed, expected->removed);
  EXPECT_EQ(ran->stats.rejected, expected->rejected);
  EXPECT_EQ(ran->stats.bytes_in, expected->bytes_in);  // the header counted once
  EXPECT_EQ(read("stats.json"), ran->stats_json + "\n");
  const std::vector<nlohmann::json> records = audit_records();
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[1]["outcome"], "ok");
  EXPECT_EQ(records[1]["pieces"].size(), ran->pieces.size());
  EXPECT_EQ(records[1]["rows"], expected->rows);
}

TEST_F(RunInPartsTest, ManyFilesAreOnePartEach) {
  write("big.csv", parts_extract(10));
  write("other.csv", kExtract);
  FilterRequest r = parts();
  r.inputs = {path("big.csv"), path("other.csv")};
  r.piece_bytes.reset();
  Result<RunResult> ran = run_filter(*index_, r);
  ASSERT_TRUE(ran.ok()) << ran.status().message();
  EXPECT_EQ(folder_entries(dir_ / "out"), (std::vector<std::string>{"part-00000.csv", "part-00001.csv"}));
  EXPECT_EQ(read("out/part-00001.csv"), "id,nhs_number\n1,4010232137\n");
  EXPECT_EQ(audit_records()[1]["input"], "2 files");
}

// The gate applies once, over the whole run: each part passes it alone, the run does not.
TEST_F(RunInPartsTest, TheDataQualityGateCountsEveryPart) {
  write("big.csv", parts_extract(300));
  FilterRequest r = parts();
  r.options.max_rejected_rows = 20;  // 42 of 300 rows are rejected; no part holds more than 20
  Result<RunResult> ran = run_filter(*index_, r);
  ASSERT_FALSE(ran.ok());
  EXPECT_EQ(ran.code(), ErrorCode::kDataQuality);
  EXPECT_EQ(ran.status().message(),
            path("big.csv") + ": 42 of 300 rows rejected (14.00%), more than the limit of 20 rows");
  EXPECT_EQ(files(), (std::vector<std::string>{"audit.jsonl", "big.csv", "extract.csv"}));
  EXPECT_EQ(audit_records().back()["error"], "data quality");
}

// A part that failed elsewhere fails the run with its own error, and nothing of the run is left.
TEST_F(RunInPartsTest, ASchedulersErrorFailsTheRunWithItsCode) {
  write("big.csv", parts_extract(30));
  const PieceScheduler failing = [](std::span<const PieceTask> tasks, std::span<FilterStats>) {
    return Status(ErrorCode::kInvalidInput, tasks[0].input + ":7: unterminated quoted field");
  };
  Result<RunResult> ran = run_filter(*index_, parts(), failing);
  ASSERT_FALSE(ran.ok());
  EXPECT_EQ(ran.status().message(), path("big.csv") + ":7: unterminated quoted field");
  EXPECT_EQ(files(), (std::vector<std::string>{"audit.jsonl", "big.csv", "extract.csv"}));
  const std::vector<nlohmann::json> records = audit_records();
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0]["outcome"], "failed");
  EXPECT_EQ(records[0]["error"], "invalid input");
}

// The engine checks the parts a scheduler reports: a missing or short one fails the run; a
// temporary file a killed worker left is removed.
TEST_F(RunInPartsTest, PartsAreCheckedBeforeTheFolderAppears) {
  write("big.csv", parts_extract(30));
  for (const int damage : {0, 1, 2}) {
    SCOPED_TRACE(damage);
    const PieceScheduler damaging = [&](std::span<const PieceTask> tasks, std::span<FilterStats> results) {
      for (std::size_t i = 0; i < tasks.size(); ++i) {
        Result<FilterStats> stats = run_piece(*index_, tasks[i]);
        if (!stats.ok()) return stats.status();
        results[i] = *stats;
      }
      const fs::path part = tasks[1].output;
      if (damage == 0) fs::remove(part);
      if (damage == 1) fs::resize_file(part, fs::file_size(part) - 1);
      if (damage == 2) write_file(part.parent_path() / ".part-00001.csv.tmp-abc123", "h\n");
      return Status();
    };
    Result<RunResult> ran = run_filter(*index_, parts(), damaging);
    if (damage == 2) {
      ASSERT_TRUE(ran.ok()) << ran.status().message();
      EXPECT_EQ(folder_entries(dir_ / "out").size(), ran->pieces.size());
      fs::remove_all(dir_ / "out");
      fs::remove_all(dir_ / "rejects");
      continue;
    }
    ASSERT_FALSE(ran.ok());
    EXPECT_EQ(ran.code(), ErrorCode::kIoError);
    const std::string& message = ran.status().message();
    EXPECT_NE(message.find("/part-00001.csv: expected "), std::string::npos) << message;
    // "...: expected N bytes, found none" (missing) or "found N-1" (cut short).
    const std::size_t expected_at = message.find(": expected ") + 11;
    const std::uint64_t expected = std::stoull(message.substr(expected_at));
    EXPECT_TRUE(message.ends_with(damage == 0 ? std::string("found none") : "found " + std::to_string(expected - 1)))
        << message;
    EXPECT_FALSE(fs::exists(dir_ / "out"));
    EXPECT_FALSE(fs::exists(dir_ / "rejects"));
  }
}

TEST_F(RunInPartsTest, ARequestThatCannotRunIsRefusedBeforeAnythingIsWritten) {
  struct Case {
    std::function<void(FilterRequest&)> set;
    std::string message;
  };
  const Case cases[] = {
      {[](FilterRequest& r) { r.inputs = {"-"}; }, "a run in parts reads files, not standard input"},
      {[](FilterRequest& r) { r.output = "-"; }, "a run in parts writes a folder, not standard output"},
      {[](FilterRequest& r) { r.piece_bytes = 0; }, "the piece size must be at least 1 byte"},
      {[](FilterRequest& r) { r.in_parts = false; }, "a piece size needs a run in parts"},
      {[](FilterRequest& r) { r.in_parts = false, r.piece_bytes.reset(), r.inputs.push_back(r.inputs[0]); },
       "a run reads one input; more than one needs a run in parts (an output folder)"},
      {[](FilterRequest& r) { r.apply = {"national"}; },
       "a run given an index applies the index's lists: leave the request's lists empty"},
      {[](FilterRequest& r) { r.inputs.clear(); }, "no input: give a file name, or \"-\" for standard input"},
  };
  for (const Case& c : cases) {
    FilterRequest r = parts();
    c.set(r);
    Result<RunResult> ran = run_filter(*index_, r);
    ASSERT_FALSE(ran.ok()) << c.message;
    EXPECT_EQ(ran.code(), ErrorCode::kInvalidArgument);
    EXPECT_EQ(ran.status().message(), c.message);
    EXPECT_EQ(files(), (std::vector<std::string>{"extract.csv"}));
  }
}

TEST_F(RunInPartsTest, TasksAndTheirCountsTravelAsBytes) {
  PieceTask task;
  task.input = "big-\xff.csv";  // not UTF-8: carried as bytes
  task.cut = true;
  task.header = "id,nhs_number\r\n";
  task.header_lines = 1;
  task.file_bytes = 1234;
  task.piece = {17, 100, 3};
  task.output = "out/part-00001.csv";
  task.rejects = "rejects/part-00001.csv";
  task.options.column_index = 2;
  task.options.has_header = true;
  task.options.delimiter = '\t';
  task.registry_digest = index_->registry_digest();
  Result<PieceTask> back = decode_piece_task(encode_piece_task(task));
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_EQ(back->input, task.input);
  EXPECT_EQ(back->header, task.header);
  EXPECT_EQ(back->piece, task.piece);
  EXPECT_EQ(back->rejects, task.rejects);
  EXPECT_EQ(back->options.column_index, std::optional<std::size_t>(2));
  EXPECT_EQ(back->options.delimiter, '\t');
  EXPECT_EQ(back->registry_digest, task.registry_digest);
  EXPECT_EQ(decode_piece_task("not a task").code(), ErrorCode::kInvalidArgument);

  FilterStats stats;
  stats.rows = 5, stats.kept = 3, stats.removed = 1, stats.rejected = 1, stats.rejected_by_reason[2] = 1;
  stats.output_digest = Digest128{1, 2};
  Result<FilterStats> counts = decode_piece_stats(encode_piece_stats(stats));
  ASSERT_TRUE(counts.ok());
  EXPECT_EQ(counts->rows, 5u);
  EXPECT_EQ(counts->rejected_by_reason[2], 1u);
  EXPECT_EQ(counts->output_digest, stats.output_digest);
  EXPECT_EQ(decode_piece_stats("").code(), ErrorCode::kInvalidArgument);
}

// A worker holding another registry than the run's refuses the task.
TEST_F(RunInPartsTest, APieceForAnotherRegistryIsRefused) {
  PieceTask task;
  task.input = path("extract.csv");
  task.output = path("part.csv");
  task.options.column_name = "nhs_number";
  task.registry_digest = Digest128{1, 2};
  Result<FilterStats> stats = run_piece(*index_, task);
  ASSERT_FALSE(stats.ok());
  EXPECT_EQ(stats.status().message(), registry_file_ + ": the registry changed after the run started (digest " +
                                          index_->registry_digest().hex() + ", expected " + (Digest128{1, 2}).hex() +
                                          ")");
  EXPECT_EQ(files(), (std::vector<std::string>{"extract.csv"}));
}

// ---- Which registry (issue 12): trust, the digest pin, signed audit records -------------------------

class RunTrustTest : public RunTest {
 protected:
  static SecretKey key(std::uint8_t fill) {
    std::array<std::uint8_t, 32> seed{};
    seed.fill(fill);
    return std::move(SecretKey::from_seed(seed)).value();
  }
  // The run with a signed registry's index (signed by signer).
  Result<FilterStats> run_signed(const SecretKey& signer, const FilterRequest& request) const {
    Result<Registry> signed_registry = sign_registry(registry_, signer);
    if (!signed_registry.ok()) return signed_registry.status();
    Result<RunResult> ran = run_filter(*signed_registry, request);
    if (!ran.ok()) return ran.status();
    return ran->stats;
  }
};

TEST_F(RunTrustTest, AnUnsignedOrUntrustedRegistryIsRefusedBeforeAnythingIsWritten) {
  const SecretKey signer = key(1);
  const SecretKey other = key(2);
  FilterRequest j = job();
  j.trust = {other.public_key()};
  Result<FilterStats> unsigned_run = run(j);
  ASSERT_FALSE(unsigned_run.ok());
  EXPECT_EQ(unsigned_run.code(), ErrorCode::kUntrusted);
  EXPECT_EQ(unsigned_run.status().message(),
            registry_file_ + ": unsigned: a registry signed by a trusted key is required");
  Result<FilterStats> untrusted = run_signed(signer, j);
  ASSERT_FALSE(untrusted.ok());
  EXPECT_EQ(untrusted.code(), ErrorCode::kUntrusted);
  EXPECT_EQ(untrusted.status().message(), registry_file_ + ": signed by key " + signer.public_key().key_id() +
                                              ", which is not trusted (trusted: " + other.public_key().key_id() + ")");
  EXPECT_EQ(files(), (std::vector<std::string>{"extract.csv"}));  // not even an audit record

  j.trust.push_back(signer.public_key());
  Result<FilterStats> trusted = run_signed(signer, j);
  ASSERT_TRUE(trusted.ok()) << trusted.status().message();
  EXPECT_EQ(trusted->kept, 1u);
  const std::vector<nlohmann::json> records = audit_records();
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[1]["registry_signer"], signer.public_key().key_id());
}

TEST_F(RunTrustTest, TheDigestPinRefusesAnyOtherRegistry) {
  FilterRequest j = job();
  j.expect_digest = std::string(32, '0');
  Result<FilterStats> refused = run(j);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.code(), ErrorCode::kUntrusted);
  EXPECT_EQ(refused.status().message(),
            registry_file_ + ": digest " + registry_.digest().hex() + " is not the expected " + std::string(32, '0'));
  EXPECT_EQ(files(), (std::vector<std::string>{"extract.csv"}));
  j.expect_digest = "not hex";
  EXPECT_EQ(run(j).code(), ErrorCode::kInvalidArgument);
  std::string upper = registry_.digest().hex();
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  j.expect_digest = upper;  // either case
  EXPECT_TRUE(run(j).ok());
}

TEST_F(RunTrustTest, SignedAuditRecordsVerifyWithTheSignersKey) {
  const SecretKey signer = key(3);
  FilterRequest j = job();
  j.sign_audit = std::make_shared<const SecretKey>(key(3));
  Result<FilterStats> stats = run(j);
  ASSERT_TRUE(stats.ok()) << stats.status().message();
  std::istringstream lines(read("audit.jsonl"));
  std::vector<std::string> records;
  for (std::string line; std::getline(lines, line);) records.push_back(line);
  ASSERT_EQ(records.size(), 2u);  // committing, ok: both signed
  const std::vector<PublicKey> trusted = {signer.public_key()};
  for (const std::string& r : records) {
    EXPECT_TRUE(check_audit_record("audit.jsonl", r, trusted).ok()) << r;
    const nlohmann::json parsed = nlohmann::json::parse(r);
    EXPECT_EQ(parsed["signature"]["key_id"], signer.public_key().key_id());
    EXPECT_EQ(parsed["lists"][0]["name"], "national");
    EXPECT_EQ(parsed["lists"][0]["kind"], "deny");
    EXPECT_TRUE(parsed["lists"][0]["as_of"].is_null());
  }
  EXPECT_EQ(nlohmann::json::parse(records[1])["output_xxh3_128"], stats->output_digest->hex());

  // Signing needs a log to sign.
  j.audit.reset();
  const Result<FilterStats> no_log = run(j);
  EXPECT_EQ(no_log.code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(no_log.status().message(), "signing the audit record needs an audit log");
}

}  // namespace
}  // namespace optout
