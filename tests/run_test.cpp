#include "optout/run.hpp"

#include <gtest/gtest.h>

#include <unistd.h>

#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <sstream>

#include "optout/commit.hpp"
#include "optout/io.hpp"
#include "optout/registry.hpp"

namespace optout {
namespace {

namespace fs = std::filesystem;

constexpr std::uint32_t kListed = 943476591;  // 9434765919; 4010232137 is not listed

const char* const kExtract =
    "id,nhs_number\n"
    "1,4010232137\n"
    "2,9434765919\n"
    "3,12345\n";

class RunTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("optout-job-test-" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    RegistryBuilder builder;
    ASSERT_TRUE(builder.add_stems("national", ListKind::kDeny, std::vector<std::uint32_t>{kListed}).ok());
    Result<Registry> built = builder.build(1'700'000'000);
    ASSERT_TRUE(built.ok());
    // Beside the folder, so that it is a file (an input no output may replace) but not one of files().
    registry_file_ = dir_.string() + ".optout";
    ASSERT_TRUE(save_registry(*built, registry_file_).ok());
    Result<Registry> registry = load_registry(registry_file_);
    ASSERT_TRUE(registry.ok());
    registry_ = std::move(registry).value();
    Result<OptOutIndex> index = OptOutIndex::create(registry_);
    ASSERT_TRUE(index.ok());
    index_.emplace(std::move(index).value());
    write("extract.csv", kExtract);
  }
  void TearDown() override {
    fs::remove_all(dir_);
    fs::remove(registry_file_);
  }

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

  std::string path(const char* name) const { return (dir_ / name).string(); }
  void write(const char* name, const std::string& text) const { std::ofstream(dir_ / name) << text; }
  std::string read(const char* name) const {
    std::ifstream in(dir_ / name);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
  }
  std::vector<std::string> files() const {
    std::vector<std::string> names;
    for (const auto& entry : fs::directory_iterator(dir_)) names.push_back(entry.path().filename().string());
    std::sort(names.begin(), names.end());
    return names;
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

  fs::path dir_;
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
  for (const nlohmann::json& r : records) {
    EXPECT_EQ(r["output_xxh3_128"], stats->output_digest->hex());
    EXPECT_EQ(r["registry_digest"], registry_.digest().hex());
    EXPECT_EQ(r["output"], path("clean.csv"));
  }
  EXPECT_EQ(files(), (std::vector<std::string>{"audit.jsonl", "clean.csv", "extract.csv", "rejects.csv", "stats.json"}));
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
  EXPECT_EQ(files(), (std::vector<std::string>{"audit.jsonl", "clean.csv", "extract.csv", "rejects.csv", "stats.json"}));
}

// The output and rejects in place before the failure are taken back: no old file survives as if new.
TEST_F(RunTest, FailedCommitRemovesWhatItPutInPlace) {
  detail::set_commit_fault([](detail::CommitStep step, std::size_t) {
    return step == detail::CommitStep::kAuditOk ? Status(ErrorCode::kIoError, "audit.jsonl: write failed: No space left on device")
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
  struct Case {
    std::function<void(FilterRequest&)> set;
    const char* message;
  };
  const Case cases[] = {
      {[](FilterRequest& j) { j.inputs = {""}; }, "an empty input path: give a file name, or \"-\" for standard input"},
      {[](FilterRequest& j) { j.output = ""; }, "an empty output path: give a file name, or \"-\" for standard output"},
      {[](FilterRequest& j) { j.rejects = ""; }, "an empty rejects path: give a file name"},
      {[](FilterRequest& j) { j.stats = ""; }, "an empty stats path: give a file name"},
      {[](FilterRequest& j) { j.audit = ""; }, "an empty audit path: give a file name"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.message);
    FilterRequest j = job();
    c.set(j);
    Result<FilterStats> stats = run(j);
    ASSERT_FALSE(stats.ok());
    EXPECT_EQ(stats.code(), ErrorCode::kInvalidArgument);
    EXPECT_EQ(stats.status().message(), c.message);
    EXPECT_EQ(files(), (std::vector<std::string>{"extract.csv"}));
  }
}

// Issue 10.6: no output overwrites the input or another output; nothing is written.
TEST_F(RunTest, OutputNamingTheInputOrAnotherOutputIsRefused) {
  fs::create_hard_link(path("extract.csv"), path("linked.csv"));
  struct Case {
    std::function<void(FilterRequest&)> set;
    std::string message;
  };
  const std::string extract = path("extract.csv");
  const std::string dotted = (dir_ / "." / "extract.csv").string();
  const Case cases[] = {
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
  for (const Case& c : cases) {
    SCOPED_TRACE(c.message);
    FilterRequest j = job();
    c.set(j);
    Result<FilterStats> stats = run(j);
    ASSERT_FALSE(stats.ok());
    EXPECT_EQ(stats.code(), ErrorCode::kInvalidArgument);
    EXPECT_EQ(stats.status().message(), c.message);
    EXPECT_EQ(files(), (std::vector<std::string>{"extract.csv", "linked.csv"}));
    EXPECT_EQ(read("extract.csv"), kExtract);
  }
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

}  // namespace
}  // namespace optout
