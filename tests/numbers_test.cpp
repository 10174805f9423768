// numbers.hpp: an extract's distinct valid NHS numbers, written in each NumbersFormat, and the
// numbers command's run (run_numbers: its checks and its atomic output).
#include "optout/numbers.hpp"

#include <gtest/gtest.h>
#include <roaring/roaring.h>

#include <sstream>
#include <string>
#include <vector>

#include "optout/io.hpp"
#include "test_support.hpp"

namespace optout {
namespace {

using namespace optout::testing;

// Two rows of 9434765919, one of 4010232137, one invalid, one empty.
const char* const kExtract =
    "id,nhs_number\n"
    "1,9434765919\n"
    "2,401 023 2137\n"
    "3,943-476-5919\n"
    "4,12345\n"
    "5,\n";

Result<NumbersStats> numbers_of(const std::string& csv, NumbersFormat format, std::string& out) {
  std::istringstream in(csv);
  auto source = make_istream_source(in, "extract.csv");
  auto sink = make_string_sink(out, "out");
  return write_numbers(*source, *sink, by_name(), format);
}

TEST(NumbersTest, TextAndMeshListEachValidNumberOnceAscending) {
  std::string text;
  const Result<NumbersStats> stats = numbers_of(kExtract, NumbersFormat::kText, text);
  ASSERT_TRUE(stats.ok()) << stats.status().message();
  EXPECT_EQ(text, "4010232137\n9434765919\n");
  EXPECT_EQ(stats->rows, 5u);
  EXPECT_EQ(stats->valid, 3u);
  EXPECT_EQ(stats->distinct, 2u);
  EXPECT_EQ(stats->rejected, 2u);
  EXPECT_EQ(stats->bytes_out, text.size());
  std::string mesh;
  ASSERT_TRUE(numbers_of(kExtract, NumbersFormat::kMesh, mesh).ok());
  EXPECT_EQ(mesh, "4010232137,\n9434765919,\n");
}

// One NumbersFormat for numbers and export: the Roaring form holds the stems, portable.
TEST(NumbersTest, RoaringIsThePortableBitmapOfTheStems) {
  std::string bytes;
  const Result<NumbersStats> stats = numbers_of(kExtract, NumbersFormat::kRoaring, bytes);
  ASSERT_TRUE(stats.ok()) << stats.status().message();
  EXPECT_EQ(stats->bytes_out, bytes.size());
  roaring_bitmap_t* stems = roaring_bitmap_portable_deserialize_safe(bytes.data(), bytes.size());
  ASSERT_NE(stems, nullptr);
  EXPECT_EQ(roaring_bitmap_get_cardinality(stems), 2u);
  EXPECT_TRUE(roaring_bitmap_contains(stems, 401023213));
  EXPECT_TRUE(roaring_bitmap_contains(stems, 943476591));
  roaring_bitmap_free(stems);
}

TEST(NumbersTest, FormatNamesRoundTrip) {
  for (const NumbersFormat f : {NumbersFormat::kRoaring, NumbersFormat::kText, NumbersFormat::kMesh}) {
    ASSERT_EQ(numbers_format_from_name(numbers_format_name(f)), f) << numbers_format_name(f);
  }
  EXPECT_STREQ(numbers_format_name(NumbersFormat::kRoaring), "roaring");
  EXPECT_STREQ(numbers_format_name(NumbersFormat::kText), "text");
  EXPECT_STREQ(numbers_format_name(NumbersFormat::kMesh), "mesh");
  EXPECT_STREQ(numbers_format_name(static_cast<NumbersFormat>(9)), "unknown");
  for (const char* name : {"", "Roaring", "dat", "text ", "mesh\n"}) {
    EXPECT_EQ(numbers_format_from_name(name), std::nullopt) << name;
  }
}

class RunNumbersTest : public TempDirTest {
 protected:
  void SetUp() override { write("extract.csv", kExtract); }
  // The numbers of extract.csv, by name, into the file output.
  NumbersRequest request(const std::string& output) const {
    NumbersRequest r;
    r.input = path("extract.csv");
    r.output = path(output);
    r.options = by_name();
    return r;
  }
};

TEST_F(RunNumbersTest, WritesTheOutputAtomicallyOrNothing) {
  NumbersRequest request = this->request("numbers.txt");
  const Result<NumbersStats> stats = run_numbers(request);
  ASSERT_TRUE(stats.ok()) << stats.status().message();
  EXPECT_EQ(read("numbers.txt"), "4010232137\n9434765919\n");

  write("bad.csv", "id,nhs_number\n1,\"9434765919\n");  // unterminated quote: nothing written
  request.input = path("bad.csv");
  request.output = path("bad.txt");
  const Result<NumbersStats> failed = run_numbers(request);
  EXPECT_EQ(failed.code(), ErrorCode::kInvalidInput);
  EXPECT_EQ(failed.status().message(), path("bad.csv") + ":2: unterminated quoted field");
  EXPECT_EQ(files(), (std::vector<std::string>{"bad.csv", "extract.csv", "numbers.txt"}));
}

TEST_F(RunNumbersTest, ARequestThatCannotRunIsRefusedBeforeAnythingIsRead) {
  NumbersRequest request = this->request("extract.csv");
  EXPECT_EQ(run_numbers(request).status().message(),
            path("extract.csv") + " is given twice: an output would overwrite an input");
  request.output = path("n.txt");
  request.input = "";
  EXPECT_EQ(run_numbers(request).status().message(),
            "an empty input path: give a file name, or \"-\" for standard input");
  request.input = path("extract.csv");
  request.options.column_index = 0;
  EXPECT_EQ(run_numbers(request).status().message(),
            "choose the NHS-number column by name or by position, not both or neither");
  request.options.column_name.clear();
  EXPECT_EQ(run_numbers(request).status().message(), "column positions start at 1");
  EXPECT_EQ(files(), (std::vector<std::string>{"extract.csv"}));
}

}  // namespace
}  // namespace optout
