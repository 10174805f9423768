#include "optout/filter_job.hpp"

#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

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

class FilterJobTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("optout-job-test-" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    RegistryBuilder builder;
    ASSERT_TRUE(builder.add_stems("national", ListKind::kDeny, std::vector<std::uint32_t>{kListed}).ok());
    Result<Registry> registry = builder.build(1'700'000'000);
    ASSERT_TRUE(registry.ok());
    registry_ = std::move(registry).value();
    Result<OptOutIndex> index = OptOutIndex::create(registry_);
    ASSERT_TRUE(index.ok());
    index_.emplace(std::move(index).value());
    write("extract.csv", kExtract);
  }
  void TearDown() override { fs::remove_all(dir_); }

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
  FilterJob job() const {
    FilterJob j;
    j.input = path("extract.csv");
    j.output = path("clean.csv");
    j.rejects = path("rejects.csv");
    j.stats = path("stats.json");
    j.audit = path("audit.jsonl");
    j.options.column_name = "nhs_number";
    return j;
  }

  fs::path dir_;
  Registry registry_;
  std::optional<OptOutIndex> index_;
};

TEST_F(FilterJobTest, WritesEveryFileOnSuccess) {
  Result<FilterStats> stats = run_filter_job(registry_, *index_, job());
  ASSERT_TRUE(stats.ok()) << stats.status().message();
  EXPECT_EQ(stats->rows, 3u);
  EXPECT_EQ(stats->kept, 1u);
  EXPECT_EQ(stats->removed, 1u);
  EXPECT_EQ(stats->rejected, 1u);
  ASSERT_TRUE(stats->output_digest.has_value());  // the audit record needs it
  EXPECT_EQ(read("clean.csv"), "id,nhs_number\n1,4010232137\n");
  EXPECT_EQ(read("rejects.csv"), "id,nhs_number\n3,12345\n");
  EXPECT_NE(read("stats.json").find("\"rows\":3"), std::string::npos) << read("stats.json");
  const std::string audit = read("audit.jsonl");
  EXPECT_NE(audit.find("\"outcome\":\"ok\""), std::string::npos) << audit;
  EXPECT_NE(audit.find(stats->output_digest->hex()), std::string::npos) << audit;
  EXPECT_NE(audit.find(registry_.digest().hex()), std::string::npos) << audit;
  EXPECT_EQ(files(), (std::vector<std::string>{"audit.jsonl", "clean.csv", "extract.csv", "rejects.csv", "stats.json"}));
}

TEST_F(FilterJobTest, FailedRunLeavesOnlyTheAuditRecord) {
  write("extract.csv", "id,nhs_number\n1,4010232137\n2,\"9434765919\n");  // unterminated quote
  Result<FilterStats> stats = run_filter_job(registry_, *index_, job());
  ASSERT_FALSE(stats.ok());
  EXPECT_EQ(stats.code(), ErrorCode::kInvalidInput);
  EXPECT_EQ(stats.status().message(), path("extract.csv") + ":3: unterminated quoted field");
  EXPECT_EQ(files(), (std::vector<std::string>{"audit.jsonl", "extract.csv"}));
  EXPECT_NE(read("audit.jsonl").find("\"outcome\":\"failed\""), std::string::npos) << read("audit.jsonl");
}

TEST_F(FilterJobTest, DataQualityGateFailsWithoutOutput) {
  FilterJob j = job();
  j.options.max_rejected_rows = 0;
  Result<FilterStats> stats = run_filter_job(registry_, *index_, j);
  ASSERT_FALSE(stats.ok());
  EXPECT_EQ(stats.code(), ErrorCode::kDataQuality);
  EXPECT_EQ(files(), (std::vector<std::string>{"audit.jsonl", "extract.csv"}));
}

TEST_F(FilterJobTest, UnusableOptionsLeaveNothingAtAll) {
  FilterJob j = job();
  j.options.delimiter = '"';
  Result<FilterStats> stats = run_filter_job(registry_, *index_, j);
  ASSERT_FALSE(stats.ok());
  EXPECT_EQ(stats.code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(stats.status().message(), "the delimiter cannot be a quote, CR or LF");
  EXPECT_EQ(files(), (std::vector<std::string>{"extract.csv"}));
}

TEST_F(FilterJobTest, MissingInputIsAnIoErrorNamingIt) {
  FilterJob j = job();
  j.input = path("absent.csv");
  Result<FilterStats> stats = run_filter_job(registry_, *index_, j);
  ASSERT_FALSE(stats.ok());
  EXPECT_EQ(stats.code(), ErrorCode::kIoError);
  EXPECT_EQ(stats.status().message().rfind(path("absent.csv") + ": cannot open", 0), 0u) << stats.status().message();
  EXPECT_EQ(files(), (std::vector<std::string>{"extract.csv"}));
}

// What a signal handler calls: the temporary files of uncommitted outputs go, nothing else does.
TEST_F(FilterJobTest, RemoveUncommittedFilesTakesOnlyTemporaryFiles) {
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

TEST_F(FilterJobTest, CallerSourceNamesTheInput) {
  std::istringstream in(kExtract);
  auto source = make_istream_source(in, "piece-3");
  FilterJob j = job();
  j.input = "ignored";
  j.rejects.clear();
  j.stats.clear();
  Result<FilterStats> stats = run_filter_job(registry_, *index_, *source, j);
  ASSERT_TRUE(stats.ok()) << stats.status().message();
  EXPECT_EQ(read("clean.csv"), "id,nhs_number\n1,4010232137\n");
  EXPECT_NE(read("audit.jsonl").find("\"piece-3\""), std::string::npos) << read("audit.jsonl");
}

}  // namespace
}  // namespace optout
