// Output files: empty paths, outputs apart from inputs and each other, failed commits, staged folders.
#include "optout/io.hpp"

#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "optout/commit.hpp"

namespace optout {
namespace {

namespace fs = std::filesystem;

class IoTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("optout-io-test-" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    std::ofstream(dir_ / "in.csv") << "a\n";
    fs::create_hard_link(dir_ / "in.csv", dir_ / "hard.csv");
    fs::create_symlink(dir_ / "in.csv", dir_ / "soft.csv");
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }
  std::vector<std::string> files() const {
    std::vector<std::string> names;
    for (const auto& entry : fs::directory_iterator(dir_)) names.push_back(entry.path().filename().string());
    std::sort(names.begin(), names.end());
    return names;
  }

  fs::path dir_;
};

// Issue 15.8: "" was standard output; only "-" is.
TEST_F(IoTest, EmptyOutputPathIsAUsageError) {
  Result<Destination> destination = Destination::open("");
  ASSERT_FALSE(destination.ok());
  EXPECT_EQ(destination.code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(destination.status().message(), "an empty output path: give a file name, or \"-\" for standard output");
  Result<AtomicFile> file = AtomicFile::create("");
  ASSERT_FALSE(file.ok());
  EXPECT_EQ(file.code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(file.status().message(), "an empty output path: give a file name");
  Result<Destination> standard_output = Destination::open("-");
  ASSERT_TRUE(standard_output.ok());
  EXPECT_TRUE(standard_output->is_stdout());
}

// Issue 10.6: the one rule, table-driven.
TEST_F(IoTest, CheckDistinctFiles) {
  struct Case {
    std::vector<std::string> inputs;
    std::vector<std::string> outputs;
    std::string message;  // "" when accepted
  };
  const std::string in = path("in.csv");
  const std::string out = path("out.csv");
  const std::string dotted = (dir_ / "sub" / ".." / "out.csv").string();
  const Case cases[] = {
      {{in}, {out, path("rejects.csv")}, ""},
      {{in}, {in}, in + " is given twice: an output would overwrite an input"},
      {{in}, {path("hard.csv")}, in + " and " + path("hard.csv") + " are one file: an output would overwrite an input"},
      {{in}, {path("soft.csv")}, in + " and " + path("soft.csv") + " are one file: an output would overwrite an input"},
      {{}, {out, out}, out + " is given twice: an output would overwrite another output"},
      // Not there yet: compared as resolved paths.
      {{}, {out, dotted}, out + " and " + dotted + " are one file: an output would overwrite another output"},
      {{"-"}, {"-", "-"}, ""},                        // standard input and output are not files
      {{in}, {"/dev/null", "/dev/null"}, ""},         // a device may repeat
      {{"/dev/null"}, {"/dev/null"}, ""},
      {{""}, {out}, "an empty input path: give a file name"},
      {{in}, {out, ""}, "an empty output path: give a file name"},
      {{}, {path("9434765919.csv"), path("9434765919.csv")},
       path("[redacted].csv") + " is given twice: an output would overwrite another output"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.message);
    const Status s = check_distinct_files(c.inputs, c.outputs);
    if (c.message.empty()) {
      EXPECT_TRUE(s.ok()) << s.message();
    } else {
      EXPECT_EQ(s.code(), ErrorCode::kInvalidArgument);
      EXPECT_EQ(s.message(), c.message);
    }
  }
}

// A failed rename removes the temporary file and says so (issue 15.2: a 393 MB hidden file stayed).
TEST_F(IoTest, FailedCommitRemovesTheTemporaryFileAndSaysSo) {
  Result<AtomicFile> file = AtomicFile::create(path("out.csv"));
  ASSERT_TRUE(file.ok());
  ASSERT_TRUE(file->write_all("data\n").ok());
  fs::create_directory(path("out.csv"));
  std::ofstream(dir_ / "out.csv" / "x") << "x";
  const Status s = file->commit();
  EXPECT_EQ(s.code(), ErrorCode::kIoError);
  EXPECT_EQ(s.message(), path("out.csv") + ": rename failed: Is a directory; its temporary file was removed");
  EXPECT_EQ(files(), (std::vector<std::string>{"hard.csv", "in.csv", "out.csv", "soft.csv"}));
  EXPECT_TRUE(file->discard().ok());  // already reported: nothing more to say
}

TEST_F(IoTest, TakeBackRemovesACommittedFile) {
  Result<AtomicFile> file = AtomicFile::create(path("out.csv"));
  ASSERT_TRUE(file.ok());
  ASSERT_TRUE(file->commit().ok());
  EXPECT_TRUE(fs::exists(path("out.csv")));
  EXPECT_TRUE(file->take_back().ok());
  EXPECT_FALSE(fs::exists(path("out.csv")));
}

// Issue 15.3: two runs to one output folder; the second's rename must fail, never merge or replace.
TEST_F(IoTest, StagedDirectoryNeverReplacesAFolderMadeMeanwhile) {
  Result<std::unique_ptr<StagedDirectory>> first = StagedDirectory::create(path("out"));
  Result<std::unique_ptr<StagedDirectory>> second = StagedDirectory::create(path("out"));
  ASSERT_TRUE(first.ok() && second.ok());
  std::ofstream((*first)->temp_path() / "part-00000.csv") << "first\n";
  std::ofstream((*second)->temp_path() / "part-00000.csv") << "second\n";
  ASSERT_TRUE((*first)->put_in_place().ok());
  const Status s = (*second)->put_in_place();
  EXPECT_EQ(s.code(), ErrorCode::kIoError);
  EXPECT_EQ(s.message(), path("out") + ": already exists (made while this run ran); its temporary folder was removed");
  EXPECT_EQ(files(), (std::vector<std::string>{"hard.csv", "in.csv", "out", "soft.csv"}));
  std::ifstream part(dir_ / "out" / "part-00000.csv");
  std::string line;
  std::getline(part, line);
  EXPECT_EQ(line, "first");
  // An existing folder is refused up front.
  Result<std::unique_ptr<StagedDirectory>> third = StagedDirectory::create(path("out"));
  EXPECT_EQ(third.code(), ErrorCode::kIoError);
  EXPECT_EQ(third.status().message(), path("out") + ": already exists");
}

TEST_F(IoTest, StagedDirectoryIsRemovedWhenDiscarded) {
  {
    Result<std::unique_ptr<StagedDirectory>> staged = StagedDirectory::create(path("out"));
    ASSERT_TRUE(staged.ok());
    std::ofstream((*staged)->temp_path() / "part-00000.csv") << "x\n";
    EXPECT_EQ(files().size(), 4u);
  }
  EXPECT_EQ(files(), (std::vector<std::string>{"hard.csv", "in.csv", "soft.csv"}));
}

}  // namespace
}  // namespace optout
