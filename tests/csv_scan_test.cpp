// The CSV scanner's line-ending rule (issue 10): records end with LF or CRLF; a CR outside quotes
// that no LF follows is malformed input, never a record end (a reader that split there would
// release the rows it hid) nor data. ctest runs these on both kernels (OPTOUT_KERNEL=baseline).
#include "kernel/csv_scan.hpp"

#include <gtest/gtest.h>

#include <sstream>
#include <string>
#include <vector>

#include "optout/filter.hpp"
#include "optout/registry.hpp"

namespace optout {
namespace {

constexpr const char* kBareCr = "bare CR outside quotes (lines must end with LF or CRLF)";

// 9434765919 and 7408480374 are listed; 4010232137 is not.
struct Fixture {
  Registry registry;
  OptOutIndex index;
};

const Fixture& fixture() {
  static const Fixture f = [] {
    RegistryBuilder builder;
    const std::vector<std::uint32_t> stems = {943476591, 740848037};
    EXPECT_TRUE(builder.add_stems("national", ListKind::kDeny, stems).ok());
    Result<Registry> registry = builder.build(1'700'000'000);
    Result<OptOutIndex> index = OptOutIndex::create(*registry);
    return Fixture{std::move(registry).value(), std::move(index).value()};
  }();
  return f;
}

struct Run {
  Result<FilterStats> stats;
  std::string output;
};

Run run(const std::string& input, std::size_t block, unsigned threads = 1) {
  std::istringstream in{input};
  auto source = make_istream_source(in, "extract.csv");
  Run r{Status(), ""};
  auto out = make_string_sink(r.output, "<out>");
  FilterOptions options;
  options.column_name = "nhs_number";
  options.block_bytes = block;
  options.threads = threads;
  r.stats = filter(*source, *out, nullptr, fixture().index, options);
  return r;
}

// Every block size from 1 past the input's length, so that a block ends after every byte.
void expect_error(const std::string& input, const std::string& message) {
  for (std::size_t block = 1; block <= input.size() + 1; ++block) {
    const Run r = run(input, block, 1 + static_cast<unsigned>(block % 3));
    ASSERT_FALSE(r.stats.ok()) << "block " << block << ": " << ::testing::PrintToString(input);
    EXPECT_EQ(r.stats.code(), ErrorCode::kInvalidInput) << "block " << block;
    EXPECT_EQ(r.stats.status().message(), message) << "block " << block;
  }
}

void expect_output(const std::string& input, const std::string& output, std::uint64_t rows) {
  for (std::size_t block = 1; block <= input.size() + 1; ++block) {
    const Run r = run(input, block, 1 + static_cast<unsigned>(block % 3));
    ASSERT_TRUE(r.stats.ok()) << "block " << block << ": " << r.stats.status().message();
    EXPECT_EQ(r.output, output) << "block " << block;
    EXPECT_EQ(r.stats->rows, rows) << "block " << block;
  }
}

TEST(CsvScanTest, BareCrBetweenRecordsIsAnError) {
  // Issue 10's file: the old reading made rows 2 and 3 one field of row 1 and released them.
  expect_error("id,nhs_number,x\n1,4010232137,a\r2,7408480374,b\r3,7408480374,c\n",
               std::string("extract.csv:2: ") + kBareCr);
}

TEST(CsvScanTest, BareCrLineEndingsEverywhereAreAnErrorInTheHeader) {
  // Every record joined by CRs: the whole file was "the header", copied out with 0 rows.
  expect_error("id,nhs_number,x\r1,9434765919,a\r2,7408480374,b\r", std::string("extract.csv:1: ") + kBareCr);
}

TEST(CsvScanTest, BareCrAtEndOfInputIsAnError) {
  expect_error("nhs_number\n4010232137\n9434765919\r", std::string("extract.csv:3: ") + kBareCr);
  expect_error("nhs_number\r", std::string("extract.csv:1: ") + kBareCr);
  expect_error("nhs_number\n\r", std::string("extract.csv:2: ") + kBareCr);
}

TEST(CsvScanTest, CrAfterClosingQuoteWithoutLfIsAnError) {
  expect_error("nhs_number,x\n4010232137,\"a\"\rb\n", std::string("extract.csv:2: ") + kBareCr);
  expect_error("nhs_number,x\n4010232137,\"a\"\r", std::string("extract.csv:2: ") + kBareCr);
  expect_error("nhs_number,x\n4010232137,\"a\"\r\r\n", std::string("extract.csv:2: ") + kBareCr);
}

TEST(CsvScanTest, CrInsideUnquotedFieldIsAnError) {
  expect_error("nhs_number,x\n4010232137,a\rb\n", std::string("extract.csv:2: ") + kBareCr);
  expect_error("nhs_number,x\n\"a\nb\",c\n4010232137,a\r\rb\r\n", std::string("extract.csv:4: ") + kBareCr);
}

TEST(CsvScanTest, CrInsideQuotesIsData) {
  const std::string input = "nhs_number,x\n4010232137,\"a\rb\"\n9434765919,\"\r\"\n4010232137,\"\r\r\n\r\"\r\n";
  expect_output(input, "nhs_number,x\n4010232137,\"a\rb\"\n4010232137,\"\r\r\n\r\"\r\n", 3);
}

TEST(CsvScanTest, CrlfEndingsAreRecordEndsForEveryBlockSize) {
  // A block may end between the CR and the LF of a CRLF: that CR is not bare.
  const std::string input = "nhs_number,x\r\n4010232137,a\r\n9434765919,\"b\"\r\n4010232137,\"c\"\r\n4010232137";
  expect_output(input, "nhs_number,x\r\n4010232137,a\r\n4010232137,\"c\"\r\n4010232137", 4);
}

// The scanner itself, on the baseline kernel: a CR at every offset around the 64-byte chunk edges
// (bit 63 is checked against the next chunk's bit 0), followed by LF, by other text, or by nothing.
TEST(CsvScanTest, BareCrIsFoundAtEveryOffset) {
  for (std::size_t at = 0; at < 200; ++at) {
    for (int follow = 0; follow < 6; ++follow) {  // LF, text, end of input, CR, quote, delimiter
      std::string data(at, 'a');
      data += '\r';
      if (follow == 0) data += "\nz\n";
      if (follow == 1) data += "b\n";
      if (follow == 3) data += "\r\n";
      if (follow == 4) data += "\"q\"\n";  // found by filter_fuzz: CR at bit 63, quote at the next bit 0
      if (follow == 5) data += ",\n";
      std::size_t records = 0;
      const detail::ScanOutcome outcome = detail::scan_records(
          data.data(), data.size(), true, ',', 0, [&](std::size_t, std::size_t, std::size_t, std::size_t, bool) {
            ++records;
            return true;
          });
      const std::string where = "CR at " + std::to_string(at) + ", follow " + std::to_string(follow);
      if (follow == 0) {
        EXPECT_EQ(outcome.error, detail::ScanError::kNone) << where;
        EXPECT_EQ(records, 2u) << where;
      } else {
        EXPECT_EQ(outcome.error, detail::ScanError::kBareCr) << where;
        EXPECT_EQ(outcome.error_record_begin, 0u) << where;
        EXPECT_EQ(records, 0u) << where;
      }
    }
  }
}

TEST(CsvScanTest, BareCrErrorTextIsOneLine) {
  EXPECT_STREQ(detail::scan_error_text(detail::ScanError::kBareCr), kBareCr);
}

}  // namespace
}  // namespace optout
