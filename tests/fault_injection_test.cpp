// Fault injection (issue 10, defence 3): every read and every write of a run fails in turn, and the
// run must end with exactly that error, never a success; short reads change nothing. Also the
// changed-file check (issue 15.5): a file that shrinks, grows or is rewritten while it is read, or
// after it was cut into pieces, is an error naming it.
#include "fault_injection.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "optout/filter.hpp"
#include "optout/numbers.hpp"
#include "optout/run.hpp"
#include "optout/io.hpp"
#include "optout/pieces.hpp"
#include "optout/registry.hpp"
#include "test_support.hpp"

namespace optout {
namespace {

namespace fs = std::filesystem;
using testing::Fault;
using testing::FaultPlan;
using testing::FaultySink;
using testing::FaultySource;

using testing::kListed;  // 9434765919; 4010232137 is not listed

// 120 rows: kept, removed, rejected, quoted fields with LFs (records that straddle reads).
std::string extract() {
  std::string csv = "id,nhs_number,notes\n";
  for (int i = 0; i < 120; ++i) {
    switch (i % 4) {
      case 0: csv += std::to_string(i) + ",4010232137,kept\n"; break;
      case 1: csv += std::to_string(i) + ",943 476 5919,removed\n"; break;
      case 2: csv += std::to_string(i) + ",12345,rejected\n"; break;
      case 3: csv += std::to_string(i) + ",\"401-023-2137\",\"kept,\nover two lines\"\r\n"; break;
    }
  }
  return csv;
}

class FaultInjectionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    registry_ = testing::make_registry({kListed});
    index_.emplace(testing::make_index(registry_));
    ASSERT_FALSE(HasFailure());
    options_.column_name = "nhs_number";
    options_.threads = 2;
    options_.block_bytes = 64;  // many blocks, records carried across them
    // The expected outputs, from a run without faults.
    FaultySource in(csv_, "extract.csv", {});
    auto out = make_string_sink(kept_, "out.csv");
    auto rejects = make_string_sink(rejected_, "rejects.csv");
    Result<FilterStats> stats = filter(in, *out, rejects.get(), *index_, options_);
    ASSERT_TRUE(stats.ok()) << stats.status().message();
    ASSERT_EQ(stats->rows, 120u);
    ASSERT_EQ(stats->kept, 60u);
    ASSERT_EQ(stats->removed, 30u);
    ASSERT_EQ(stats->rejected, 30u);
  }

  const std::string csv_ = extract();
  Registry registry_;
  std::optional<OptOutIndex> index_;
  FilterOptions options_;
  std::string kept_;
  std::string rejected_;
};

// Walks k = 1, 2, ... until a run does not reach call k; run(k) returns whether the fault fired.
template <typename Run>
std::size_t for_every_call(Run&& run) {
  constexpr std::size_t kMaxCalls = 10'000;  // a bound, should the walk never end
  for (std::size_t k = 1; k < kMaxCalls; ++k) {
    if (!run(k)) return k;
  }
  ADD_FAILURE() << "still failing at call " << kMaxCalls;
  return kMaxCalls;
}

TEST_F(FaultInjectionTest, FilterFailsWithTheErrorOfEveryFailingRead) {
  for (int error : {EIO, ENOSPC, EINTR}) {
    const std::size_t calls = for_every_call([&](std::size_t k) {
      FaultySource in(csv_, "extract.csv", {k, Fault::kError, error}, 37);
      std::string kept, rejected;
      auto out = make_string_sink(kept, "out.csv");
      auto rejects = make_string_sink(rejected, "rejects.csv");
      Result<FilterStats> stats = filter(in, *out, rejects.get(), *index_, options_);
      if (!in.fired()) {
        EXPECT_TRUE(stats.ok()) << "k=" << k << ": " << stats.status().message();
        EXPECT_EQ(kept, kept_) << "k=" << k;
        EXPECT_EQ(rejected, rejected_) << "k=" << k;
        return false;
      }
      EXPECT_FALSE(stats.ok()) << "read " << k << " failed (" << error << ") and the run succeeded";
      if (!stats.ok()) {
        EXPECT_EQ(stats.code(), ErrorCode::kIoError) << "k=" << k;
        EXPECT_EQ(stats.status().message(), in.injected().message()) << "k=" << k;
      }
      return true;
    });
    EXPECT_GT(calls, csv_.size() / 37) << "every read was tried";
  }
}

TEST_F(FaultInjectionTest, ShortReadAtAnyCallChangesNothing) {
  const std::size_t calls = for_every_call([&](std::size_t k) {
    FaultySource in(csv_, "extract.csv", {k, Fault::kShortRead}, 53);
    std::string kept, rejected;
    auto out = make_string_sink(kept, "out.csv");
    auto rejects = make_string_sink(rejected, "rejects.csv");
    Result<FilterStats> stats = filter(in, *out, rejects.get(), *index_, options_);
    EXPECT_TRUE(stats.ok()) << "k=" << k << ": " << stats.status().message();
    EXPECT_EQ(kept, kept_) << "k=" << k;
    EXPECT_EQ(rejected, rejected_) << "k=" << k;
    return in.fired();
  });
  EXPECT_GT(calls, csv_.size() / 53) << "every read was tried";
}

TEST_F(FaultInjectionTest, FilterFailsWithTheErrorOfEveryFailingWrite) {
  for (Fault kind : {Fault::kError, Fault::kBrokenPipe}) {
    for (bool fail_rejects : {false, true}) {
      const std::size_t calls = for_every_call([&](std::size_t k) {
        FaultySource in(csv_, "extract.csv", {});
        std::string kept, rejected;
        FaultySink out(kept, "out.csv", fail_rejects ? FaultPlan{} : FaultPlan{k, kind, ENOSPC});
        FaultySink rejects(rejected, "rejects.csv", fail_rejects ? FaultPlan{k, kind, ENOSPC} : FaultPlan{});
        Result<FilterStats> stats = filter(in, out, &rejects, *index_, options_);
        const FaultySink& faulty = fail_rejects ? rejects : out;
        const std::string where =
            std::string(testing::fault_name(kind)) + (fail_rejects ? " rejects" : " out") + " k=" + std::to_string(k);
        if (!faulty.fired()) {
          EXPECT_TRUE(stats.ok()) << where << ": " << stats.status().message();
          EXPECT_EQ(kept, kept_) << where;
          EXPECT_EQ(rejected, rejected_) << where;
          return false;
        }
        EXPECT_FALSE(stats.ok()) << where << ": the write failed and the run succeeded";
        if (!stats.ok()) {
          EXPECT_EQ(stats.code(), faulty.injected().code()) << where;
          EXPECT_EQ(stats.status().message(), faulty.injected().message()) << where;
        }
        return true;
      });
      EXPECT_GT(calls, 10u) << "64-byte blocks: many writes";
    }
  }
}

TEST_F(FaultInjectionTest, NumbersFailWithTheErrorOfEveryFailingReadOrWrite) {
  std::string expected;
  {
    FaultySource in(csv_, "extract.csv", {});
    auto out = make_string_sink(expected, "numbers.txt");
    ASSERT_TRUE(write_numbers(in, *out, options_, NumbersFormat::kText).ok());
    ASSERT_EQ(expected, "4010232137\n9434765919\n");
  }
  for (bool fail_write : {false, true}) {
    for_every_call([&](std::size_t k) {
      const FaultPlan plan{k, Fault::kError, fail_write ? ENOSPC : EIO};
      FaultySource in(csv_, "extract.csv", fail_write ? FaultPlan{} : plan, 41);
      std::string numbers;
      FaultySink out(numbers, "numbers.txt", fail_write ? plan : FaultPlan{});
      Result<NumbersStats> stats = write_numbers(in, out, options_, NumbersFormat::kText);
      const bool fired = fail_write ? out.fired() : in.fired();
      const Status injected = fail_write ? out.injected() : in.injected();
      if (!fired) {
        EXPECT_TRUE(stats.ok()) << "k=" << k << ": " << stats.status().message();
        EXPECT_EQ(numbers, expected);
        return false;
      }
      EXPECT_FALSE(stats.ok()) << "k=" << k << ": the fault fired and the run succeeded";
      if (!stats.ok()) {
        EXPECT_EQ(stats.status().message(), injected.message()) << "k=" << k;
      }
      return true;
    });
  }
}

// ---- Whole jobs over files: a failure leaves no output, complete-looking or temporary ------------

class FaultInjectionJobTest : public FaultInjectionTest {
 protected:
  std::string path(const char* name) const { return (dir_ / name).string(); }
  std::string read(const char* name) const { return temp_.read(name); }
  std::vector<std::string> files() const { return temp_.entries(); }

  testing::TempDir temp_;
  const fs::path& dir_ = temp_.path();
};

TEST_F(FaultInjectionJobTest, FailedReadLeavesOnlyAFailedAuditRecord) {
  FilterRequest job;
  job.output = path("out.csv");
  job.rejects = path("rejects.csv");
  job.stats = path("stats.json");
  job.audit = path("audit.jsonl");
  job.options = options_;
  for_every_call([&](std::size_t k) {
    fs::remove(dir_ / "audit.jsonl");
    FaultySource in(csv_, "extract.csv", {k, Fault::kError, EIO}, 61);
    job.source = &in;
    Result<RunResult> stats = run_filter(*index_, job);
    if (!in.fired()) {
      EXPECT_TRUE(stats.ok()) << stats.status().message();
      EXPECT_EQ(files(), (std::vector<std::string>{"audit.jsonl", "out.csv", "rejects.csv", "stats.json"}));
      EXPECT_EQ(read("out.csv"), kept_);
      EXPECT_EQ(read("rejects.csv"), rejected_);
      return false;
    }
    EXPECT_FALSE(stats.ok()) << "k=" << k;
    if (!stats.ok()) {
      EXPECT_EQ(stats.status().message(), in.injected().message()) << "k=" << k;
    }
    EXPECT_EQ(files(), std::vector<std::string>{"audit.jsonl"}) << "k=" << k;
    const std::string audit = read("audit.jsonl");
    EXPECT_NE(audit.find("\"outcome\":\"failed\""), std::string::npos) << "k=" << k << ": " << audit;
    EXPECT_EQ(audit.find("\"outcome\":\"ok\""), std::string::npos) << "k=" << k << ": " << audit;
    return true;
  });
}

// ---- Files that change while they are read (issue 15.5) -------------------------------------------

class ChangedFileTest : public FaultInjectionJobTest {
 protected:
  void write_file(const char* name, const std::string& bytes) const { testing::write_file(dir_ / name, bytes); }
};

// A source over the real file that lets change() act on it after the first read, mid-run.
class ChangingSource final : public ByteSource {
 public:
  ChangingSource(std::unique_ptr<ByteSource> inner, std::function<void()> change)
      : inner_(std::move(inner)), change_(std::move(change)) {}
  Result<std::size_t> read(char* buffer, std::size_t capacity) override {
    Result<std::size_t> n = inner_->read(buffer, std::min<std::size_t>(capacity, 100));
    if (change_) std::exchange(change_, nullptr)();
    return n;
  }
  const std::string& name() const override { return inner_->name(); }

 private:
  std::unique_ptr<ByteSource> inner_;
  std::function<void()> change_;
};

TEST_F(ChangedFileTest, FileThatShrinksGrowsOrIsRewrittenWhileReadIsAnError) {
  const std::string csv = csv_;
  struct Case {
    const char* what;
    std::function<void(const fs::path&)> change;
  };
  const Case cases[] = {
      {"truncated", [&](const fs::path& p) { fs::resize_file(p, csv.size() - 30); }},
      {"truncated to a record end", [&](const fs::path& p) { fs::resize_file(p, csv.find("\n60,") + 1); }},
      {"appended to", [&](const fs::path& p) { std::ofstream(p, std::ios::app) << "999,4010232137,late\n"; }},
      {"rewritten in place, same size",
       [&](const fs::path& p) {
         std::fstream f(p, std::ios::in | std::ios::out | std::ios::binary);
         f.seekp(static_cast<std::streamoff>(csv.size() - 10));
         f << "XXXXXXXXX";
         f.close();
         // The kernel's clock may not have moved since the file was written: set another mtime.
         const timespec times[2] = {{0, UTIME_OMIT}, {1'600'000'000, 0}};
         ::utimensat(AT_FDCWD, p.c_str(), times, 0);
       }},
  };
  for (const Case& c : cases) {
    write_file("extract.csv", csv);
    Result<std::unique_ptr<ByteSource>> opened = open_file_source(path("extract.csv"));
    ASSERT_TRUE(opened.ok());
    ChangingSource in(std::move(opened).value(), [&] { c.change(dir_ / "extract.csv"); });
    std::string kept;
    auto out = make_string_sink(kept, "out.csv");
    Result<FilterStats> stats = filter(in, *out, nullptr, *index_, options_);
    ASSERT_FALSE(stats.ok()) << c.what << ": accepted";
    EXPECT_EQ(stats.code(), ErrorCode::kIoError) << c.what;
    EXPECT_EQ(stats.status().message(), path("extract.csv") + ": the file changed while it was read") << c.what;
  }
  // Unchanged: read to the end without complaint.
  write_file("extract.csv", csv);
  Result<std::unique_ptr<ByteSource>> opened = open_file_source(path("extract.csv"));
  ASSERT_TRUE(opened.ok());
  std::string kept;
  auto out = make_string_sink(kept, "out.csv");
  Result<FilterStats> stats = filter(**opened, *out, nullptr, *index_, options_);
  ASSERT_TRUE(stats.ok()) << stats.status().message();
  EXPECT_EQ(kept, kept_);
}

TEST_F(ChangedFileTest, RunOverAFileCutShortWritesNothing) {
  write_file("extract.csv", csv_);
  FilterRequest job;
  job.output = path("out.csv");
  job.audit = path("audit.jsonl");
  job.options = options_;
  Result<std::unique_ptr<ByteSource>> opened = open_file_source(path("extract.csv"));
  ASSERT_TRUE(opened.ok());
  ChangingSource in(std::move(opened).value(), [&] { fs::resize_file(dir_ / "extract.csv", 2000); });
  job.source = &in;
  Result<RunResult> stats = run_filter(*index_, job);
  ASSERT_FALSE(stats.ok());
  EXPECT_EQ(stats.status().message(), path("extract.csv") + ": the file changed while it was read");
  EXPECT_EQ(files(), (std::vector<std::string>{"audit.jsonl", "extract.csv"}));
}

TEST_F(ChangedFileTest, PieceOfAFileThatChangesWhileReadIsAnError) {
  write_file("extract.csv", csv_);
  Result<FilePieces> cut = cut_file(path("extract.csv"), options_, 500);
  ASSERT_TRUE(cut.ok()) << cut.status().message();
  ASSERT_GT(cut->pieces.size(), 2u);
  // Rewritten in place after the cut, same size: caught when the piece has been read.
  for (std::size_t piece = 0; piece < cut->pieces.size(); ++piece) {
    Result<std::unique_ptr<ByteSource>> source = open_piece_source(*cut, piece);
    ASSERT_TRUE(source.ok());
    ChangingSource in(std::move(source).value(), [&] {
      const timespec times[2] = {{0, UTIME_OMIT}, {1'600'000'000, static_cast<long>(piece)}};
      ASSERT_EQ(::utimensat(AT_FDCWD, path("extract.csv").c_str(), times, 0), 0);
    });
    std::string kept;
    auto out = make_string_sink(kept, "out.csv");
    Result<FilterStats> stats = filter(in, *out, nullptr, *index_, options_);
    ASSERT_FALSE(stats.ok()) << "piece " << piece;
    EXPECT_EQ(stats.status().message(), path("extract.csv") + ": the file changed while it was read");
  }
  // Cut short while a piece is read: the piece's read comes up short.
  Result<std::unique_ptr<ByteSource>> source = open_piece_source(*cut, 1);
  ASSERT_TRUE(source.ok());
  ChangingSource in(std::move(source).value(), [&] { fs::resize_file(dir_ / "extract.csv", cut->pieces[1].offset); });
  std::string kept;
  auto out = make_string_sink(kept, "out.csv");
  Result<FilterStats> stats = filter(in, *out, nullptr, *index_, options_);
  ASSERT_FALSE(stats.ok());
  EXPECT_EQ(stats.status().message(), path("extract.csv") + ": the file changed while it was read");
}

}  // namespace
}  // namespace optout
