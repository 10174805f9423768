// Staged results (commit.cpp): folders filled under a temporary name and put in place without
// replacing anything.
#include "optout/commit.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "test_support.hpp"

namespace optout {
namespace {

// in.csv, hard.csv and soft.csv, beside which results must appear.
class CommitTest : public testing::InputFolderTest {};

// Issue 15.3: two runs to one output folder; the second's rename must fail, never merge or replace.
TEST_F(CommitTest, StagedDirectoryNeverReplacesAFolderMadeMeanwhile) {
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

TEST_F(CommitTest, StagedDirectoryIsRemovedWhenDiscarded) {
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
