// Property: on every input built from a small alphabet (delimiter, quote, CR, LF, CRLF, digits,
// letters and whole NHS numbers, listed and not), the engine either fails or agrees with the
// strict sequential reference (tests/reference_filter.hpp), record by record: output bytes,
// rejects bytes, counts; and it fails exactly when the reference says malformed, with the same
// message. Checked for filter(), write_numbers() and cut_file() + a filter per piece, over block
// sizes 1..64 and 1..4 threads. ctest runs it on both kernels (OPTOUT_KERNEL=baseline forces the
// baseline; filter_kernel.cpp reads it once). Seeded and bounded: a few seconds.
#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>
#include <sstream>

#include "optout/filter.hpp"
#include "optout/numbers.hpp"
#include "optout/pieces.hpp"
#include "optout/registry.hpp"
#include "reference_filter.hpp"

namespace optout {
namespace {

constexpr int kInputs = 1500;

// 9434765919 and 7408480374 are listed; 4010232137 and 4505577104 are not.
const std::set<std::uint32_t>& listed() {
  static const std::set<std::uint32_t> stems = {943476591, 740848037};
  return stems;
}

const OptOutIndex& index() {
  static const auto built = [] {
    RegistryBuilder builder;
    const std::vector<std::uint32_t> stems(listed().begin(), listed().end());
    EXPECT_TRUE(builder.add_stems("national", ListKind::kDeny, stems).ok());
    Result<Registry> registry = builder.build(1'700'000'000);
    Result<OptOutIndex> index = OptOutIndex::create(*registry);
    return std::make_unique<OptOutIndex>(std::move(index).value());
  }();
  return *built;
}

struct Case {
  std::string csv;
  FilterOptions options;
  testing::ReferenceOptions reference;
};

// Mostly well-formed records with random tokens in the fields; the tokens themselves break the
// quoting or the line endings now and then, so both outcomes are common.
Case random_case(std::mt19937_64& rng) {
  auto pick = [&](std::size_t n) { return static_cast<std::size_t>(rng() % n); };
  static const char* const kTokens[] = {
      ",",
      "\"",
      "\r",
      "\n",
      "\r\n",
      "\"\"",
      "\"\r\"",
      "\r\n\"",
      "\"\r\n",
      "\"\n\"",
      "\",\"",
      "7",
      "0",
      "a",
      "Z",
      "x y",
      "9434765919",
      "7408480374",
      "4010232137",
      "4505577104",
      "943 476 5919",
      "740-848-0374",
      "\"9434765919\"",
      "\"4010232137\"",
      "\" 7408480374\r\"",
      // Long ones move the rest across the kernel's 64-byte chunk edges.
      "LLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLL",
      "\"QQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQ\"",
  };
  const std::size_t token_count = sizeof kTokens / sizeof kTokens[0];
  Case c;
  const std::size_t mode = pick(4);
  c.options.threads = 1;
  if (mode < 2) {  // a header naming the column
    const std::size_t column = 1 + pick(3);
    for (std::size_t k = 1; k <= 3; ++k) c.csv += (k > 1 ? "," : "") + std::string(k == column ? "nhs" : "f");
    c.csv += pick(2) ? "\n" : "\r\n";
    c.options.column_name = c.reference.column_name = "nhs";
  } else {  // by position, with or without a (random) header
    c.options.column_index = c.reference.column_index = 1 + pick(3);
    c.options.has_header = c.reference.has_header = mode == 2;
  }
  if (pick(8) == 0) c.csv.insert(0, "\xEF\xBB\xBF");
  const std::size_t records = pick(7);
  for (std::size_t r = 0; r < records; ++r) {
    const std::size_t fields = 1 + pick(4);
    for (std::size_t f = 0; f < fields; ++f) {
      if (f > 0) c.csv += ',';
      const std::size_t tokens = pick(3);
      // A clean field most of the time: a number, a quoted text, a word.
      if (pick(4) != 0) {
        c.csv += kTokens[16 + pick(11)];
        continue;
      }
      for (std::size_t t = 0; t < tokens; ++t) c.csv += kTokens[pick(token_count)];
    }
    if (r + 1 < records || pick(2)) c.csv += pick(3) == 0 ? "\r\n" : "\n";
  }
  return c;
}

struct Engine {
  Result<FilterStats> stats{Status()};
  std::string output, rejects;
};

Engine run_filter(const Case& c, std::size_t block, unsigned threads) {
  std::istringstream in{c.csv};
  auto source = make_istream_source(in, "extract.csv");
  Engine e;
  auto out = make_string_sink(e.output, "<out>");
  auto rejects = make_string_sink(e.rejects, "<rejects>");
  FilterOptions options = c.options;
  options.block_bytes = block;
  options.threads = threads;
  e.stats = filter(*source, *out, rejects.get(), index(), options);
  return e;
}

// The engine failed: the reference must have said malformed, in the same words (or "no column").
void expect_same_failure(const Status& status, const std::string& expected, const std::string& where) {
  ASSERT_FALSE(expected.empty()) << where << ": the engine failed where the reference did not: " << status.message();
  if (expected == "no column") {
    EXPECT_EQ(status.code(), ErrorCode::kNotFound) << where;
  } else if (expected == "ambiguous column") {
    EXPECT_EQ(status.code(), ErrorCode::kInvalidInput) << where;
    EXPECT_NE(status.message().find("ambiguous"), std::string::npos) << where;
  } else {
    EXPECT_EQ(status.code(), ErrorCode::kInvalidInput) << where;
    EXPECT_EQ(status.message(), expected) << where;
  }
}

// "extract.csv:12: what" → "what" (pieces name the piece's file and lines).
std::string problem(const std::string& message) {
  const std::size_t at = message.rfind(": ");
  return at == std::string::npos ? message : message.substr(at + 2);
}

class CsvPropertyTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    std::mt19937_64 rng(20261207);
    for (int i = 0; i < kInputs; ++i) cases_.push_back(random_case(rng));
  }
  static testing::ReferenceResult reference(const Case& c, std::vector<std::uint32_t>* valid = nullptr) {
    return testing::reference_filter(c.csv, c.reference, [&](std::uint32_t stem) {
      if (valid != nullptr) valid->push_back(stem);
      return listed().count(stem) > 0;
    });
  }
  static std::vector<Case> cases_;
};
std::vector<Case> CsvPropertyTest::cases_;

TEST_F(CsvPropertyTest, FilterFailsOrAgreesWithTheReference) {
  std::size_t malformed = 0, accepted = 0, kept = 0, removed = 0, rejected = 0;
  for (std::size_t i = 0; i < cases_.size(); ++i) {
    const Case& c = cases_[i];
    const testing::ReferenceResult expected = reference(c);
    malformed += !expected.error.empty();
    accepted += expected.error.empty();
    kept += expected.kept;
    removed += expected.removed;
    rejected += expected.rejected;
    // Every input meets several block sizes (all of 1..64 over the run) and thread counts 1..4.
    for (int k = 0; k < 3; ++k) {
      const std::size_t block = 1 + (i * 3 + static_cast<std::size_t>(k) * 23) % 64;
      const unsigned threads = 1 + static_cast<unsigned>((i + static_cast<std::size_t>(k)) % 4);
      const std::string where = "input " + std::to_string(i) + " " + ::testing::PrintToString(c.csv) + ", block " +
                                std::to_string(block) + ", threads " + std::to_string(threads);
      const Engine e = run_filter(c, block, threads);
      if (!e.stats.ok()) {
        expect_same_failure(e.stats.status(), expected.error, where);
        continue;
      }
      ASSERT_TRUE(expected.error.empty())
          << where << ": the engine accepted what the reference calls " << expected.error;
      ASSERT_EQ(e.output, expected.output) << where;
      ASSERT_EQ(e.rejects, expected.rejects) << where;
      ASSERT_EQ(e.stats->rows, expected.rows) << where;
      ASSERT_EQ(e.stats->kept, expected.kept) << where;
      ASSERT_EQ(e.stats->removed, expected.removed) << where;
      ASSERT_EQ(e.stats->rejected, expected.rejected) << where;
    }
  }
  // The generator must reach every outcome, or the property says little.
  EXPECT_GT(malformed, cases_.size() / 10);
  EXPECT_GT(accepted, cases_.size() / 3);
  EXPECT_GT(kept, 200u);
  EXPECT_GT(removed, 200u);
  EXPECT_GT(rejected, 200u);
}

TEST_F(CsvPropertyTest, NumbersFailsOrAgreesWithTheReference) {
  for (std::size_t i = 0; i < cases_.size(); ++i) {
    const Case& c = cases_[i];
    std::vector<std::uint32_t> valid;
    const testing::ReferenceResult expected = reference(c, &valid);
    std::sort(valid.begin(), valid.end());
    const std::size_t rows_valid = valid.size();
    valid.erase(std::unique(valid.begin(), valid.end()), valid.end());
    std::string lines;
    for (std::uint32_t stem : valid) lines += format_nhs_number(stem) + ",\n";

    const std::size_t block = 1 + (i * 5) % 64;
    const unsigned threads = 1 + static_cast<unsigned>(i % 4);
    const std::string where = "input " + std::to_string(i) + " " + ::testing::PrintToString(c.csv) + ", block " +
                              std::to_string(block) + ", threads " + std::to_string(threads);
    std::istringstream in{c.csv};
    auto source = make_istream_source(in, "extract.csv");
    std::string written;
    auto out = make_string_sink(written, "<out>");
    FilterOptions options = c.options;
    options.block_bytes = block;
    options.threads = threads;
    const Result<NumbersStats> stats = write_numbers(*source, *out, options, NumbersFormat::kMesh);
    if (!stats.ok()) {
      expect_same_failure(stats.status(), expected.error, where);
      continue;
    }
    ASSERT_TRUE(expected.error.empty()) << where << ": numbers accepted what the reference calls " << expected.error;
    ASSERT_EQ(written, lines) << where;
    ASSERT_EQ(stats->rows, expected.rows) << where;
    ASSERT_EQ(stats->valid, rows_valid) << where;
    ASSERT_EQ(stats->rejected, expected.rejected) << where;
    ASSERT_EQ(stats->distinct, valid.size()) << where;
  }
}

TEST_F(CsvPropertyTest, PiecesFailOrAgreeWithTheReference) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / ("optout-csv-property-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const fs::path file = dir / "extract.csv";
  for (std::size_t i = 0; i < cases_.size(); i += 3) {
    const Case& c = cases_[i];
    const testing::ReferenceResult expected = reference(c);
    std::ofstream(file, std::ios::binary | std::ios::trunc) << c.csv;
    const std::uint64_t target = 1 + i % 17;
    const std::string where =
        "input " + std::to_string(i) + " " + ::testing::PrintToString(c.csv) + ", piece size " + std::to_string(target);
    Result<FilePieces> cut = cut_file(file, c.options, target);
    ASSERT_TRUE(cut.ok()) << where << ": " << cut.status().message();
    std::string output;
    std::string rejects;
    FilterStats total;
    Status failure;
    for (std::size_t p = 0; p < cut->pieces.size() && failure.ok(); ++p) {
      Result<std::unique_ptr<ByteSource>> source = open_piece_source(*cut, p);
      ASSERT_TRUE(source.ok()) << where;
      std::string out_bytes, reject_bytes;
      auto out = make_string_sink(out_bytes, "<out>");
      auto rej = make_string_sink(reject_bytes, "<rejects>");
      FilterOptions options = c.options;
      options.block_bytes = 1 + (i + p) % 64;
      options.threads = 1 + static_cast<unsigned>(p % 4);
      const Result<FilterStats> stats = filter(**source, *out, rej.get(), index(), options);
      if (!stats.ok()) {
        failure = stats.status();
        break;
      }
      ASSERT_TRUE(out_bytes.starts_with(cut->header)) << where;
      ASSERT_TRUE(reject_bytes.starts_with(cut->header)) << where;
      output += p == 0 ? out_bytes : out_bytes.substr(cut->header.size());
      rejects += p == 0 ? reject_bytes : reject_bytes.substr(cut->header.size());
      total.rows += stats->rows;
      total.kept += stats->kept;
      total.removed += stats->removed;
      total.rejected += stats->rejected;
    }
    if (!failure.ok()) {
      // A piece's source maps its lines to the file's: compare the problem.
      ASSERT_FALSE(expected.error.empty())
          << where << ": a piece failed where the reference did not: " << failure.message();
      if (expected.error == "no column") {
        EXPECT_EQ(failure.code(), ErrorCode::kNotFound) << where;
      } else if (expected.error == "ambiguous column") {
        EXPECT_EQ(failure.code(), ErrorCode::kInvalidInput) << where;
      } else {
        EXPECT_EQ(failure.code(), ErrorCode::kInvalidInput) << where;
        EXPECT_EQ(problem(failure.message()), problem(expected.error)) << where;
      }
      continue;
    }
    ASSERT_TRUE(expected.error.empty()) << where << ": the pieces accepted what the reference calls " << expected.error;
    ASSERT_EQ(output, expected.output) << where;
    ASSERT_EQ(rejects, expected.rejects) << where;
    ASSERT_EQ(total.rows, expected.rows) << where;
    ASSERT_EQ(total.kept, expected.kept) << where;
    ASSERT_EQ(total.removed, expected.removed) << where;
    ASSERT_EQ(total.rejected, expected.rejected) << where;
  }
  fs::remove_all(dir);
}

}  // namespace
}  // namespace optout
