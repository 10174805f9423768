// The impact report (impact.hpp): the disclosure rule, merging, the report's bytes, the request's
// rules, a run in parts summing its parts before suppression, and the piece formats carrying groups.
#include "optout/impact.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "optout/run.hpp"
#include "test_support.hpp"

namespace optout {
namespace {

using testing::TempDirTest;

TEST(ImpactCountText, SuppressesOneToSevenAndRoundsTheRestToFive) {
  const std::pair<std::uint64_t, const char*> cases[] = {
      {0, "0"},   {1, "*"},   {7, "*"},   {8, "10"},  {9, "10"},      {10, "10"},
      {12, "10"}, {13, "15"}, {17, "15"}, {18, "20"}, {1002, "1000"}, {1003, "1005"},
  };
  for (const auto& [count, text] : cases) EXPECT_EQ(impact_count_text(count, false), text) << count;
  for (const std::uint64_t count : {0, 1, 7, 8, 13, 1003})
    EXPECT_EQ(impact_count_text(count, true), std::to_string(count));
}

TEST(ImpactReport, CsvQuotesWhatNeedsItAndLeavesMissingEmpty) {
  ImpactGroups groups;
  groups[{std::nullopt, std::string("a")}] = {3, 1, 1, 1};
  groups[{std::string(""), std::string("x,y")}] = {20, 13, 7, 0};
  groups[{std::string("F"), std::string("q\"r")}] = {8, 8, 0, 0};
  const std::vector<std::string> by = {"sex", "region"};
  EXPECT_EQ(impact_report(groups, by, true, ImpactFormat::kCsv),
            "sex,region,rows,kept,removed,rejected\n,a,3,1,1,1\n\"\",\"x,y\",20,13,7,0\nF,\"q\"\"r\",8,8,0,0\n");
  EXPECT_EQ(impact_report(groups, by, false, ImpactFormat::kCsv),
            "sex,region,rows,kept,removed,rejected\n,a,*,*,*,*\n\"\",\"x,y\",20,15,*,0\nF,\"q\"\"r\",10,10,0,0\n");
  EXPECT_EQ(impact_report(groups, by, false, ImpactFormat::kJson),
            "{\"by\":[\"sex\",\"region\"],\"exact\":false,\"suppressed_up_to\":7,\"rounded_to\":5,\"groups\":["
            "{\"values\":[null,\"a\"],\"rows\":\"*\",\"kept\":\"*\",\"removed\":\"*\",\"rejected\":\"*\"},"
            "{\"values\":[\"\",\"x,y\"],\"rows\":20,\"kept\":15,\"removed\":\"*\",\"rejected\":0},"
            "{\"values\":[\"F\",\"q\\\"r\"],\"rows\":10,\"kept\":10,\"removed\":0,\"rejected\":0}]}\n");
  EXPECT_EQ(impact_format_by_suffix("x.json"), ImpactFormat::kJson);
  EXPECT_EQ(impact_format_by_suffix("x.csv"), ImpactFormat::kCsv);
  EXPECT_EQ(impact_format_by_suffix("x.json.gz"), ImpactFormat::kCsv);
}

TEST(AddImpact, SumsAndStopsAtTheLimit) {
  const std::vector<std::string> by = {"id"};
  ImpactGroups total, part;
  part[{std::string("a")}] = {2, 1, 1, 0};
  ASSERT_TRUE(add_impact(total, part, "in.csv", by).ok());
  ASSERT_TRUE(add_impact(total, part, "in.csv", by).ok());
  EXPECT_EQ(total.size(), 1u);
  EXPECT_EQ(total.begin()->second.rows, 4u);
  EXPECT_EQ(total.begin()->second.removed, 2u);
  ImpactGroups many;
  for (std::size_t i = 0; i <= kImpactGroupsLimit; ++i) many[{std::to_string(i)}] = {1, 1, 0, 0};
  ImpactGroups sum;
  const Status s = add_impact(sum, many, "in.csv", by);
  EXPECT_EQ(s.code(), ErrorCode::kLimitExceeded);
  EXPECT_EQ(s.message(),
            "in.csv: more than 100000 groups of 'id' for the impact report (its limit): group by fewer or coarser "
            "columns");
}

TEST(CountImpact, CountsVerdictsByGroupAndRefusesBadInput) {
  const std::vector<std::uint8_t> verdicts = {0, 1, 2, 0};
  const std::vector<std::vector<std::optional<std::string>>> keys = {
      {std::string("F"), std::string("F"), std::nullopt, std::string("M")}};
  const std::vector<std::string> by = {"sex"};
  Result<ImpactGroups> groups = count_impact(verdicts, keys, by);
  ASSERT_TRUE(groups.ok());
  EXPECT_EQ(groups->size(), 3u);
  const ImpactCounts f = groups->at({std::string("F")});
  EXPECT_EQ(f.rows, 2u);
  EXPECT_EQ(f.kept, 1u);
  EXPECT_EQ(f.removed, 1u);
  EXPECT_EQ(groups->at({std::nullopt}).rejected, 1u);
  const std::vector<std::uint8_t> bad = {0, 1, 3, 0};
  EXPECT_EQ(count_impact(bad, keys, by).status().message(), "verdicts[2] is not a Verdict value");
  const std::vector<std::uint8_t> short_verdicts = {0};
  EXPECT_EQ(count_impact(short_verdicts, keys, by).status().code(), ErrorCode::kInvalidArgument);
}

TEST(ImpactOptions, RulesNeedNoInput) {
  FilterOptions options = testing::by_name();
  options.impact_by = {"sex", "nhs_number"};
  EXPECT_EQ(validate_filter_options(options).message(),
            "the NHS-number column cannot be a grouping column of the impact report (the report would hold NHS "
            "numbers)");
  options.format = InputFormat::kJsonLines;
  options.impact_by = {"/nhs_number"};  // the same key as a pointer
  EXPECT_EQ(validate_filter_options(options).code(), ErrorCode::kInvalidArgument);
  options.impact_by = {"a", "/a"};
  EXPECT_EQ(validate_filter_options(options).message(), "the grouping column '/a' is given twice");
  options.impact_by = {"a", "/b~2"};
  EXPECT_EQ(validate_filter_options(options).message(), "a JSON Pointer escapes '~' only as ~0 or ~1 (RFC 6901)");
  options.impact_by = {"a", "/p/b"};
  EXPECT_TRUE(validate_filter_options(options).ok());
}

class ImpactRunTest : public TempDirTest {
 protected:
  // rows records: id, nhs_number (every 5th listed, every 7th invalid), sex, region (quoted when
  // it holds a comma), a short row every 50th.
  std::string extract(std::size_t rows) const {
    std::string text = "id,nhs_number,sex,region\n";
    for (std::size_t i = 0; i < rows; ++i) {
      const std::string number = i % 7 == 3 ? "12345" : i % 5 == 0 ? "9434765919" : "4000000004";
      if (i % 50 == 49) {
        text += std::to_string(i) + "," + number + "\n";
        continue;
      }
      text += std::to_string(i) + "," + number + "," + (i % 3 ? "F" : "M") + "," +
              (i % 11 == 0 ? "\"a,b\"" : "r" + std::to_string(i % 13)) + "\n";
    }
    return text;
  }
};

TEST_F(ImpactRunTest, APartsRunSumsItsPartsBeforeSuppression) {
  write("in.csv", extract(3000));
  const Registry registry = testing::make_registry({943476591});
  FilterRequest whole;
  whole.inputs = {path("in.csv")};
  whole.output = path("whole.csv");
  whole.options = testing::by_name();
  whole.impact = path("whole_impact.csv");
  whole.impact_by = {"sex", "region"};
  Result<RunResult> one = run_filter(registry, whole);
  ASSERT_TRUE(one.ok()) << one.status().message();
  FilterRequest parts = whole;
  parts.in_parts = true;
  parts.piece_bytes = 1000;
  parts.output = path("parts");
  parts.impact = path("parts_impact.csv");
  Result<RunResult> many = run_filter(registry, parts);
  ASSERT_TRUE(many.ok()) << many.status().message();
  ASSERT_GT(many->pieces.size(), 20u);
  EXPECT_EQ(read("whole_impact.csv"), read("parts_impact.csv"));
  EXPECT_EQ(one->stats.impact, many->stats.impact);
  // Every group's counts add up to the run's.
  ImpactCounts sum;
  for (const auto& [key, c] : many->stats.impact) {
    EXPECT_EQ(c.rows, c.kept + c.removed + c.rejected);
    sum.rows += c.rows, sum.kept += c.kept, sum.removed += c.removed, sum.rejected += c.rejected;
  }
  EXPECT_EQ(sum.rows, many->stats.rows);
  EXPECT_EQ(sum.kept, many->stats.kept);
  EXPECT_EQ(sum.removed, many->stats.removed);
  EXPECT_EQ(sum.rejected, many->stats.rejected);
  EXPECT_EQ(one->stats.impact.count({std::string("M"), std::string("a,b")}), 1u);
  EXPECT_EQ(one->stats.impact.count({std::nullopt, std::nullopt}), 1u);
}

TEST_F(ImpactRunTest, PieceTasksAndStatsCarryTheGroups) {
  PieceTask task;
  task.options = testing::by_name();
  task.options.impact_by = {"sex", "region"};
  Result<PieceTask> decoded = decode_piece_task(encode_piece_task(task));
  ASSERT_TRUE(decoded.ok());
  EXPECT_EQ(decoded->options.impact_by, task.options.impact_by);
  FilterStats stats;
  stats.impact[{std::string("F"), std::nullopt}] = {6, 3, 2, 1};
  stats.impact[{std::string("\xff\x00", 2), std::string("")}] = {1, 1, 0, 0};
  Result<FilterStats> back = decode_piece_stats(encode_piece_stats(stats));
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->impact, stats.impact);
}

TEST_F(ImpactRunTest, TheReportIsAnOutputOfTheRun) {
  write("in.csv", extract(10));
  const Registry registry = testing::make_registry({943476591});
  FilterRequest request;
  request.inputs = {path("in.csv")};
  request.output = path("out.csv");
  request.options = testing::by_name();
  request.impact_by = {"sex"};
  for (const std::string& clash : {path("in.csv"), path("out.csv")}) {
    request.impact = clash;
    Result<RunResult> ran = run_filter(registry, request);
    EXPECT_EQ(ran.status().code(), ErrorCode::kInvalidArgument) << clash;
  }
  request.impact = path("i.csv");
  request.stats = path("i.csv");
  EXPECT_EQ(run_filter(registry, request).status().code(), ErrorCode::kInvalidArgument);
  EXPECT_FALSE(std::filesystem::exists(path("i.csv")));
  EXPECT_FALSE(std::filesystem::exists(path("out.csv")));
}

}  // namespace
}  // namespace optout
