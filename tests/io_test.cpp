// Files: sources and sinks over them, empty paths, outputs apart from inputs and each other, atomic
// files and failed commits.
#include "optout/io.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "optout/filter.hpp"
#include "optout/registry.hpp"
#include "test_support.hpp"

namespace optout {
namespace {

namespace fs = std::filesystem;

// in.csv and two links to it: hard.csv, soft.csv.
class IoTest : public testing::InputFolderTest {};

using testing::by_name;
using testing::kListed;
using testing::make_index;
using testing::make_registry;

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
      {{"-"}, {"-", "-"}, ""},                 // standard input and output are not files
      {{in}, {"/dev/null", "/dev/null"}, ""},  // a device may repeat
      {{"/dev/null"}, {"/dev/null"}, ""},
      {{""}, {out}, "an empty input path: give a file name"},
      {{in}, {out, ""}, "an empty output path: give a file name"},
      {{},
       {path("9434765919.csv"), path("9434765919.csv")},
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

TEST_F(IoTest, FiltersAFileOpenedByTheLibrary) {
  const Registry registry = make_registry({kListed});
  const OptOutIndex index = make_index(registry);
  const std::filesystem::path path =
      std::filesystem::temp_directory_path() / ("optout-filter-test-" + std::to_string(::getpid()) + ".csv");
  { std::ofstream(path) << "nhs_number\n4010232137\n9434765919\n"; }
  Result<std::unique_ptr<ByteSource>> source = open_file_source(path);
  ASSERT_TRUE(source.ok()) << source.status().message();
  EXPECT_EQ((*source)->name(), path.string());
  std::string output;
  auto out = make_string_sink(output, "<out>");
  Result<FilterStats> stats = filter(**source, *out, nullptr, index, by_name());
  std::filesystem::remove(path);
  ASSERT_TRUE(stats.ok()) << stats.status().message();
  EXPECT_EQ(output, "nhs_number\n4010232137\n");

  Result<std::unique_ptr<ByteSource>> missing = open_file_source(path);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.code(), ErrorCode::kIoError);
  EXPECT_EQ(missing.status().message(), path.string() + ": cannot open: No such file or directory");
}

// A file sink hands written ranges to the disk early (by file offset); what lands in the file must
// not depend on that, also when the sink starts in the middle of a file (a shell's >> redirect).
TEST_F(IoTest, FileSinkWritesEveryByteInPlaceFromAnyStartingOffset) {
  const std::filesystem::path path =
      std::filesystem::temp_directory_path() / ("optout-sink-test-" + std::to_string(::getpid()) + ".csv");
  { std::ofstream(path) << "existing\n"; }
  const int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  std::string expected = "existing\n";
  {
    auto sink = make_fd_sink(fd, path.string());
    std::mt19937_64 rng(7);
    // 40 MiB in uneven pieces: more than two writeback ranges, with some writes across their edges.
    std::string piece;
    while (expected.size() < (std::size_t{40} << 20)) {
      piece.assign(1 + rng() % (3 << 20), static_cast<char>('a' + rng() % 26));
      const std::string_view pieces[] = {piece, "\n"};
      ASSERT_TRUE(sink->write(pieces).ok());
      expected += piece;
      expected += '\n';
    }
  }
  ASSERT_EQ(::close(fd), 0);
  std::ifstream in(path, std::ios::binary);
  std::stringstream written;
  written << in.rdbuf();
  std::filesystem::remove(path);
  EXPECT_EQ(written.str().size(), expected.size());
  EXPECT_TRUE(written.str() == expected);
}

}  // namespace
}  // namespace optout
