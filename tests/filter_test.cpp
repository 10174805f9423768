#include "optout/filter.hpp"
#include "optout/numbers.hpp"

#include <gtest/gtest.h>

#include <limits>
#include <random>
#include <set>
#include <sstream>

#include "optout/registry.hpp"
#include "kernel/filter_kernel.hpp"  // detail::filter_arenas_made
#include "reference_filter.hpp"
#include "test_support.hpp"

namespace optout {
namespace {

using testing::by_name;
using testing::kListed;
using testing::make_index;
using testing::make_registry;

struct FilterRun {
  Result<FilterStats> stats;
  std::string output;
  std::string rejects;
};

FilterRun run_filter(std::string_view input, const OptOutIndex& index, FilterOptions options,
                     bool with_rejects = true) {
  std::istringstream in{std::string(input)};
  auto source = make_istream_source(in, "extract.csv");
  FilterRun run{Status(), "", ""};
  auto out = make_string_sink(run.output, "<out>");
  auto rejects = make_string_sink(run.rejects, "<rejects>");
  run.stats = filter(*source, *out, with_rejects ? rejects.get() : nullptr, index, options);
  return run;
}

TEST(FilterTest, KeepsRemovesAndRejectsExactly) {
  const Registry registry = make_registry({kListed});
  const OptOutIndex index = make_index(registry);
  const std::string input =
      "id,nhs_number,notes\n"
      "1,4010232137,kept\n"
      "2,9434765919,removed\n"
      "3,943 476 5919,removed spaced\n"
      "4,,empty\n"
      "5,943476591,nine digits\n"
      "6\n"
      "7,\"401-023-2137\",\"kept, quoted\"\r\n"
      "8,4010232137,\"multi\nline\"";
  FilterRun run = run_filter(input, index, by_name());
  ASSERT_TRUE(run.stats.ok()) << run.stats.status().message();
  EXPECT_EQ(run.output,
            "id,nhs_number,notes\n"
            "1,4010232137,kept\n"
            "7,\"401-023-2137\",\"kept, quoted\"\r\n"
            "8,4010232137,\"multi\nline\"");
  EXPECT_EQ(run.rejects,
            "id,nhs_number,notes\n"
            "4,,empty\n"
            "5,943476591,nine digits\n"
            "6\n");
  const FilterStats& s = *run.stats;
  EXPECT_EQ(s.rows, 8u);
  EXPECT_EQ(s.kept, 3u);
  EXPECT_EQ(s.removed, 2u);
  EXPECT_EQ(s.rejected, 3u);
  EXPECT_EQ(s.rejected_by_reason[0], 1u);  // missing field
  EXPECT_EQ(s.rejected_by_reason[static_cast<int>(InvalidReason::kEmpty)], 1u);
  EXPECT_EQ(s.rejected_by_reason[static_cast<int>(InvalidReason::kWrongLength)], 1u);
  EXPECT_EQ(s.bytes_in, input.size());
  EXPECT_EQ(s.bytes_out, run.output.size());
}

TEST(FilterTest, AllowListKeepsOnlyClearedPatients) {
  // national denies 943476591; cleared allows 401023213 and 943476591: the deny list wins.
  const Registry registry = make_registry({kListed}, {401023213, kListed}, true);
  const OptOutIndex index = make_index(registry);
  FilterRun run = run_filter("nhs_number\n4010232137\n9434765919\n4505577104\n", index, by_name());
  ASSERT_TRUE(run.stats.ok());
  EXPECT_EQ(run.output, "nhs_number\n4010232137\n");
  EXPECT_EQ(run.stats->removed, 2u);  // one denied, one never cleared

  const OptOutIndex only_national = make_index(registry, {"national"});
  FilterRun run2 = run_filter("nhs_number\n4010232137\n9434765919\n4505577104\n", only_national, by_name());
  ASSERT_TRUE(run2.stats.ok());
  EXPECT_EQ(run2.output, "nhs_number\n4010232137\n4505577104\n");
}

TEST(FilterTest, ColumnSelection) {
  const Registry registry = make_registry({kListed});
  const OptOutIndex index = make_index(registry);
  const std::string input = "\xEF\xBB\xBF\"nhs_number\",x\n9434765919,a\n4010232137,b\n";
  FilterRun named = run_filter(input, index, by_name());
  ASSERT_TRUE(named.stats.ok()) << named.stats.status().message();
  EXPECT_EQ(named.output, "\xEF\xBB\xBF\"nhs_number\",x\n4010232137,b\n");

  FilterOptions positional;
  positional.column_index = 1;
  FilterRun by_index = run_filter(input, index, positional);
  ASSERT_TRUE(by_index.stats.ok());
  EXPECT_EQ(by_index.output, named.output);

  FilterOptions no_header;
  no_header.column_index = 2;
  no_header.has_header = false;
  FilterRun headerless = run_filter("a,9434765919\nb,4010232137\n", index, no_header);
  ASSERT_TRUE(headerless.stats.ok());
  EXPECT_EQ(headerless.output, "b,4010232137\n");
  EXPECT_EQ(headerless.stats->rows, 2u);

  FilterRun missing = run_filter(input, index, by_name("nhs"));
  ASSERT_FALSE(missing.stats.ok());
  EXPECT_EQ(missing.stats.code(), ErrorCode::kNotFound);
  EXPECT_EQ(missing.stats.status().message(),
            "extract.csv: no column named 'nhs' in the header (it has: nhs_number, x)");
}

TEST(FilterTest, OptionErrors) {
  const Registry registry = make_registry({kListed});
  const OptOutIndex index = make_index(registry);
  FilterOptions neither;
  EXPECT_EQ(run_filter("a\n", index, neither).stats.code(), ErrorCode::kInvalidArgument);
  FilterOptions both = by_name();
  both.column_index = 1;
  EXPECT_EQ(run_filter("a\n", index, both).stats.code(), ErrorCode::kInvalidArgument);
  FilterOptions quote = by_name();
  quote.delimiter = '"';
  EXPECT_EQ(run_filter("a\n", index, quote).stats.code(), ErrorCode::kInvalidArgument);
  FilterOptions name_without_header = by_name();
  name_without_header.has_header = false;
  EXPECT_EQ(run_filter("a\n", index, name_without_header).stats.code(), ErrorCode::kInvalidArgument);
}

struct BadCase {
  std::string input;
  ErrorCode code;
  std::string message;
};

TEST(FilterTest, MalformedInputNamesTheLine) {
  const Registry registry = make_registry({kListed});
  const OptOutIndex index = make_index(registry);
  const std::vector<BadCase> cases = {
      {"", ErrorCode::kInvalidInput, "extract.csv: empty input: expected a header record"},
      {"nhs_number\n4010232137\n\"4010232137\n", ErrorCode::kInvalidInput, "extract.csv:3: unterminated quoted field"},
      {"nhs_number\n4010232137\n\"a\nb\nc\"\n40\"10232137\n", ErrorCode::kInvalidInput,
       "extract.csv:6: quote inside an unquoted field"},
      {"nhs_number,x\n4010232137,\"a\"b\n", ErrorCode::kInvalidInput,
       "extract.csv:2: text after the closing quote of a field"},
      {"nhs_number,x\n4010232137,\"a\"\rb\n", ErrorCode::kInvalidInput,
       "extract.csv:2: bare CR outside quotes (lines must end with LF or CRLF)"},
      {"\"nhs_number\n", ErrorCode::kInvalidInput, "extract.csv:1: unterminated quoted field"},
      {"nh\"s_number\n", ErrorCode::kInvalidInput, "extract.csv:1: quote inside an unquoted field"},
  };
  for (const BadCase& c : cases) {
    for (std::size_t block : {1, 3, 1024}) {
      FilterOptions options = by_name();
      options.block_bytes = block;
      FilterRun run = run_filter(c.input, index, options);
      ASSERT_FALSE(run.stats.ok()) << c.input;
      EXPECT_EQ(run.stats.code(), c.code) << c.input;
      EXPECT_EQ(run.stats.status().message(), c.message) << c.input << " block " << block;
    }
  }
}

TEST(FilterTest, RecordLongerThanTheLimit) {
  const Registry registry = make_registry({kListed});
  const OptOutIndex index = make_index(registry);
  const std::string input = "nhs_number,notes\n4010232137,short\n4010232137," + std::string(100, 'x') + "\n";
  for (std::size_t block : {4, 64, 4096}) {
    FilterOptions options = by_name();
    options.max_record_bytes = 64;
    options.block_bytes = block;
    FilterRun run = run_filter(input, index, options);
    ASSERT_FALSE(run.stats.ok());
    EXPECT_EQ(run.stats.code(), ErrorCode::kLimitExceeded);
    EXPECT_EQ(run.stats.status().message(), "extract.csv:3: record longer than the limit of 64 bytes")
        << "block " << block;
  }
}

TEST(FilterTest, DataQualityGate) {
  const Registry registry = make_registry({kListed});
  const OptOutIndex index = make_index(registry);
  const std::string input = "nhs_number\n4010232137\n\n123\n4010232137\n";  // 2 of 4 rejected
  const auto rows = [](std::uint64_t n) {
    FilterOptions o = by_name();
    o.max_rejected_rows = n;
    return o;
  };
  const auto share = [](double f) {
    FilterOptions o = by_name();
    o.max_rejected_fraction = f;
    return o;
  };
  struct Case {
    const char* what;
    FilterOptions at_limit;  // passes
    FilterOptions over;      // fails, with message when it is not null
    const char* message;
  };
  const Case cases[] = {
      {"a count", rows(2), rows(1), nullptr},
      {"a share", share(0.5), share(0.49),
       "extract.csv: 2 of 4 rows rejected (50.00%), more than the limit of 49.00% of rows"},
  };
  for (const Case& c : cases) {
    EXPECT_TRUE(run_filter(input, index, c.at_limit).stats.ok()) << c.what;
    const FilterRun over = run_filter(input, index, c.over);
    ASSERT_FALSE(over.stats.ok()) << c.what;
    EXPECT_EQ(over.stats.code(), ErrorCode::kDataQuality) << c.what;
    if (c.message != nullptr) {
      EXPECT_EQ(over.stats.status().message(), c.message) << c.what;
    }
  }
}

// The counts of verdicts decided elsewhere (a data frame's) are the filter's counts.
TEST(FilterTest, CountVerdictsCountsAsTheFilterDoes) {
  const std::uint8_t verdicts[] = {0, 1, 2, 2, 0};
  const std::uint8_t reasons[] = {0, 0, static_cast<std::uint8_t>(InvalidReason::kEmpty),
                                  static_cast<std::uint8_t>(InvalidReason::kCheckDigitTen), 0};
  const Result<FilterStats> stats = count_verdicts(verdicts, reasons);
  ASSERT_TRUE(stats.ok()) << stats.status().message();
  EXPECT_EQ(stats->rows, 5u);
  EXPECT_EQ(stats->kept, 2u);
  EXPECT_EQ(stats->removed, 1u);
  EXPECT_EQ(stats->rejected, 2u);
  EXPECT_EQ(stats->rejected_by_reason[static_cast<int>(InvalidReason::kEmpty)], 1u);
  EXPECT_EQ(stats->rejected_by_reason[static_cast<int>(InvalidReason::kCheckDigitTen)], 1u);
  const std::uint8_t bad_verdict[] = {0, 3};
  const std::uint8_t no_reason[] = {0, 0};
  EXPECT_EQ(count_verdicts(bad_verdict, no_reason).status().message(), "verdicts[1] is not a Verdict value");
  const std::uint8_t rejected[] = {2, 2};
  EXPECT_EQ(count_verdicts(rejected, no_reason).status().message(),
            "reasons[0] is not the InvalidReason of a rejected number");
  EXPECT_EQ(count_verdicts(rejected, std::span<const std::uint8_t>(no_reason, 1)).code(), ErrorCode::kInvalidArgument);
}

TEST(FilterTest, MaxRejectedTextForms) {
  FilterOptions options;
  EXPECT_TRUE(parse_max_rejected("250", options).ok());
  EXPECT_EQ(options.max_rejected_rows, 250u);
  EXPECT_FALSE(options.max_rejected_fraction.has_value());
  EXPECT_TRUE(parse_max_rejected("999999999999999999", options).ok());  // 18 digits
  EXPECT_EQ(options.max_rejected_rows, 999'999'999'999'999'999u);

  FilterOptions percent;
  EXPECT_TRUE(parse_max_rejected("0.5%", percent).ok());
  EXPECT_DOUBLE_EQ(*percent.max_rejected_fraction, 0.005);
  EXPECT_FALSE(percent.max_rejected_rows.has_value());
  EXPECT_TRUE(parse_max_rejected("100%", percent).ok());
  EXPECT_DOUBLE_EQ(*percent.max_rejected_fraction, 1.0);
  EXPECT_TRUE(parse_max_rejected("0%", percent).ok());
  EXPECT_DOUBLE_EQ(*percent.max_rejected_fraction, 0.0);

  for (const char* bad : {"", "%", "-1", "+5", "1e3", "2.5", "0x10", " 5", "5 ", "100.1%", "1.2.3%", ".%",
                          "1000000000000000000", "lots"}) {
    FilterOptions untouched;
    const Status s = parse_max_rejected(bad, untouched);
    EXPECT_EQ(s.code(), ErrorCode::kInvalidArgument) << bad;
    EXPECT_EQ(s.message(), "the rejected-row limit takes a row count (250) or a percentage of rows (0.5%)") << bad;
    EXPECT_FALSE(untouched.max_rejected_rows.has_value()) << bad;
    EXPECT_FALSE(untouched.max_rejected_fraction.has_value()) << bad;
  }
}

// oneTBB 2021.8 keeps ~7 KB for every arena made and destroyed, so a process filtering many
// times (Python, the C API, Dask workers) grew without bound (20 000 runs: +140 MB). Runs now
// borrow their arena from a pool: sequential runs of one thread count make one arena.
TEST(FilterTest, RepeatedRunsReuseOneArenaNotOneEach) {
  RegistryBuilder builder;
  ASSERT_TRUE(builder.add_stems("national", ListKind::kDeny, std::vector<std::uint32_t>{943476591}).ok());
  Result<Registry> registry = builder.build(0);
  ASSERT_TRUE(registry.ok());
  Result<OptOutIndex> index = OptOutIndex::create(*registry);
  ASSERT_TRUE(index.ok());
  FilterOptions options = by_name();
  options.threads = 3;
  options.block_bytes = 8;  // several blocks, so the pipeline really runs in parallel
  const std::size_t before = detail::filter_arenas_made(3);
  for (int run = 0; run < 50; ++run) {
    const FilterRun r = run_filter("id,nhs_number\n1,9434765919\n2,4010232137\n3,4010232137\n", *index, options);
    ASSERT_TRUE(r.stats.ok()) << r.stats.status().message();
    ASSERT_EQ(r.stats->kept, 2u);
  }
  EXPECT_LE(detail::filter_arenas_made(3) - before, 1u);
}

TEST(FilterTest, DataQualityGateIsOneRuleOverCounts) {
  FilterOptions none;
  EXPECT_TRUE(check_rejected(100, 100, none, "x.csv").ok());  // no limit set
  FilterOptions rows;
  rows.max_rejected_rows = 2;
  EXPECT_TRUE(check_rejected(100, 2, rows, "x.csv").ok());  // at the limit passes
  Status over = check_rejected(100, 3, rows, "x.csv");
  EXPECT_EQ(over.code(), ErrorCode::kDataQuality);
  EXPECT_EQ(over.message(), "x.csv: 3 of 100 rows rejected (3.00%), more than the limit of 2 rows");
  EXPECT_EQ(check_rejected(40, 3, rows, "x.csv", false).message(),
            "x.csv: 3 rows rejected in the first 40 rows (7.50%), more than the limit of 2 rows");
  FilterOptions share;
  share.max_rejected_fraction = 0.01;
  EXPECT_TRUE(check_rejected(0, 0, share, "x.csv").ok());      // no rows: nothing to pass
  EXPECT_TRUE(check_rejected(1000, 10, share, "x.csv").ok());  // exactly 1 %
  EXPECT_EQ(check_rejected(1000, 11, share, "x.csv").message(),
            "x.csv: 11 of 1000 rows rejected (1.10%), more than the limit of 1.00% of rows");
}

// Issue 15.4: the engine checks its own limits. max_record_bytes = SIZE_MAX made the block growth
// wrap to 0 and the run spin at 100 % CPU; the CLI's range check hid it from the command line.
TEST(FilterTest, ValidateRefusesEveryLimitOutOfRange) {
  constexpr std::size_t kHuge = std::numeric_limits<std::size_t>::max();
  struct Case {
    const char* what;
    void (*set)(FilterOptions&);
    const char* message;  // "" when valid
  };
  const Case cases[] = {
      {"block 0", [](FilterOptions& o) { o.block_bytes = 0; }, "the block size must be from 1 byte to 1 GiB"},
      {"block 1", [](FilterOptions& o) { o.block_bytes = 1; }, ""},
      {"block 1 GiB", [](FilterOptions& o) { o.block_bytes = kBlockBytesLimit; }, ""},
      {"block 1 GiB + 1", [](FilterOptions& o) { o.block_bytes = kBlockBytesLimit + 1; },
       "the block size must be from 1 byte to 1 GiB"},
      {"block SIZE_MAX", [](FilterOptions& o) { o.block_bytes = kHuge; },
       "the block size must be from 1 byte to 1 GiB"},
      {"record 0", [](FilterOptions& o) { o.max_record_bytes = 0; }, "the record limit must be from 1 byte to 1 GiB"},
      {"record 1", [](FilterOptions& o) { o.max_record_bytes = 1; }, ""},
      {"record 1 GiB", [](FilterOptions& o) { o.max_record_bytes = kRecordBytesLimit; }, ""},
      {"record 1 GiB + 1", [](FilterOptions& o) { o.max_record_bytes = kRecordBytesLimit + 1; },
       "the record limit must be from 1 byte to 1 GiB"},
      {"record SIZE_MAX", [](FilterOptions& o) { o.max_record_bytes = kHuge; },
       "the record limit must be from 1 byte to 1 GiB"},
      {"threads 0", [](FilterOptions& o) { o.threads = 0; }, ""},
      {"threads 1024", [](FilterOptions& o) { o.threads = kThreadsLimit; }, ""},
      {"threads 1025", [](FilterOptions& o) { o.threads = kThreadsLimit + 1; },
       "the thread count must be at most 1024 (0: every core)"},
      {"threads UINT_MAX", [](FilterOptions& o) { o.threads = std::numeric_limits<unsigned>::max(); },
       "the thread count must be at most 1024 (0: every core)"},
      {"column 2^20", [](FilterOptions& o) { o.column_name.clear(), o.column_index = kColumnIndexLimit; }, ""},
      {"column 2^20 + 1", [](FilterOptions& o) { o.column_name.clear(), o.column_index = kColumnIndexLimit + 1; },
       "the column position must be at most 1048576"},
      {"column SIZE_MAX", [](FilterOptions& o) { o.column_name.clear(), o.column_index = std::size_t(kHuge); },
       "the column position must be at most 1048576"},
      {"column 0", [](FilterOptions& o) { o.column_name.clear(), o.column_index = 0; }, "column positions start at 1"},
  };
  const Registry registry = make_registry({kListed});
  const OptOutIndex index = make_index(registry);
  for (const Case& c : cases) {
    FilterOptions options = by_name();
    c.set(options);
    const Status status = validate_filter_options(options);
    if (*c.message == '\0') {
      EXPECT_TRUE(status.ok()) << c.what << ": " << status.message();
      continue;
    }
    EXPECT_EQ(status.code(), ErrorCode::kInvalidArgument) << c.what;
    EXPECT_EQ(status.message(), c.message) << c.what;
    // filter() and write_numbers() refuse them before reading a byte.
    const FilterRun run = run_filter("nhs_number\n4010232137\n", index, options);
    EXPECT_EQ(run.stats.code(), ErrorCode::kInvalidArgument) << c.what;
    EXPECT_EQ(run.output, "") << c.what;
    std::istringstream in("nhs_number\n4010232137\n");
    auto source = make_istream_source(in, "extract.csv");
    std::string numbers;
    auto sink = make_string_sink(numbers, "numbers.txt");
    EXPECT_EQ(write_numbers(*source, *sink, options, NumbersFormat::kText).status().message(), c.message) << c.what;
  }
}

// Issue 15.4, the hang itself: a record longer than the first block, with the largest record limit,
// grows the block and ends (no wrap-around). Bounded: the record is 3 MB.
TEST(FilterTest, LargestRecordLimitGrowsTheBlockAndEnds) {
  const Registry registry = make_registry({kListed});
  const OptOutIndex index = make_index(registry);
  FilterOptions options = by_name();
  options.max_record_bytes = kRecordBytesLimit;
  options.block_bytes = 64;
  const std::string input = "nhs_number,notes\n4010232137," + std::string(3'000'000, 'x') + "\n";
  const FilterRun run = run_filter(input, index, options);
  ASSERT_TRUE(run.stats.ok()) << run.stats.status().message();
  EXPECT_EQ(run.output, input);
}

TEST(FilterTest, OutputDigestIsXxh3OfTheOutput) {
  const Registry registry = make_registry({kListed});
  const OptOutIndex index = make_index(registry);
  FilterOptions options = by_name();
  options.digest_output = true;
  FilterRun a = run_filter("nhs_number\n4010232137\n9434765919\n", index, options);
  options.block_bytes = 1;
  FilterRun b = run_filter("nhs_number\n4010232137\n9434765919\n", index, options);
  ASSERT_TRUE(a.stats.ok() && b.stats.ok());
  ASSERT_TRUE(a.stats->output_digest.has_value());
  EXPECT_EQ(a.stats->output_digest, b.stats->output_digest);
  FilterRun c = run_filter("nhs_number\n4010232137\n", index, options);
  ASSERT_TRUE(c.stats.ok());
  EXPECT_EQ(c.stats->output_digest, a.stats->output_digest);  // same output bytes
}

// ---- Differential test against the reference -----------------------------------------------

struct Generated {
  std::string csv;
  std::size_t column;  // 1-based
  char delimiter;
};

// A random extract mixing every case the filter must get right.
Generated random_extract(std::mt19937_64& rng, const std::vector<std::uint32_t>& listed, bool allow_malformed) {
  auto pick = [&](std::size_t n) { return static_cast<std::size_t>(rng() % n); };
  Generated g;
  const char delims[] = {',', ',', '|', '\t', ';'};
  g.delimiter = delims[pick(5)];
  const std::size_t columns = 1 + pick(5);
  g.column = 1 + pick(columns);
  const std::string d(1, g.delimiter);
  auto terminator = [&]() -> std::string { return pick(3) == 0 ? "\r\n" : "\n"; };
  auto text_field = [&]() -> std::string {
    switch (pick(9)) {
      case 0: return "";
      case 1: return "\"a" + d + "b\"";
      case 2: return "\"he said \"\"hi\"\"\"";
      case 3: return "\"line\nbreak\"";
      case 4: return "\"crlf\r\ninside\"";
      case 5: return "\"\"";
      case 6: return "\"quoted\rcr\"";  // a CR outside quotes is malformed: the junk below adds those
      default: return "v" + std::to_string(pick(1000));
    }
  };
  auto number_field = [&]() -> std::string {
    std::uint32_t stem;
    if (pick(3) == 0) {
      stem = listed[pick(listed.size())];
    } else {
      do stem = static_cast<std::uint32_t>(400000000 + pick(400000000));
      while (!is_valid_stem(stem));
    }
    switch (pick(14)) {
      case 0: return format_nhs_number(stem, NhsFormat::kSpaced);
      case 1: return format_nhs_number(stem, NhsFormat::kDashed);
      case 2: return "\"" + format_nhs_number(stem) + "\"";
      case 3: return " " + format_nhs_number(stem) + " ";
      case 4: return "";
      case 5: return format_nhs_number(stem).substr(1);
      case 6: {
        std::string t = format_nhs_number(stem);
        t[9] = t[9] == '9' ? '0' : static_cast<char>(t[9] + 1);
        return t;
      }
      case 7: return "\"" + format_nhs_number(stem, NhsFormat::kSpaced) + "\"";
      case 8: return "\"94\"\"34765919\"";
      default: return format_nhs_number(stem);
    }
  };
  auto record = [&](bool header) {
    std::string r;
    for (std::size_t c = 1; c <= columns; ++c) {
      if (c > 1) r += d;
      if (header)
        r += c == g.column ? "nhs_number" : "col" + std::to_string(c);
      else
        r += c == g.column ? number_field() : text_field();
    }
    return r;
  };
  if (pick(4) == 0) g.csv += "\xEF\xBB\xBF";
  g.csv += record(true) + terminator();
  const std::size_t rows = pick(60);
  for (std::size_t i = 0; i < rows; ++i) {
    switch (pick(20)) {
      case 0: g.csv += terminator(); break;            // an empty line
      case 1: g.csv += "short" + terminator(); break;  // too few fields (unless column 1)
      default: g.csv += record(false) + terminator();
    }
  }
  if (pick(3) == 0 && !g.csv.empty()) {  // no final terminator
    while (!g.csv.empty() && (g.csv.back() == '\n' || g.csv.back() == '\r')) g.csv.pop_back();
  }
  if (allow_malformed && pick(3) == 0 && !g.csv.empty()) {
    const char junk[] = {'"', '"', '\r', '\n', ','};
    g.csv.insert(g.csv.begin() + static_cast<std::ptrdiff_t>(pick(g.csv.size())), junk[pick(5)]);
  }
  return g;
}

TEST(FilterDifferentialTest, AgreesWithTheReferenceForEveryThreadCountAndBlockSize) {
  std::mt19937_64 rng(20261125);
  std::vector<std::uint32_t> listed;
  while (listed.size() < 50) {
    const auto stem = static_cast<std::uint32_t>(400000000 + rng() % 400000000);
    if (is_valid_stem(stem)) listed.push_back(stem);
  }
  const Registry registry = make_registry(listed);
  const OptOutIndex index = make_index(registry);
  const std::set<std::uint32_t> listed_set(listed.begin(), listed.end());
  const auto removes = [&](std::uint32_t stem) { return listed_set.count(stem) > 0; };

  std::size_t errors_seen = 0;
  for (int iteration = 0; iteration < 400; ++iteration) {
    const Generated g = random_extract(rng, listed, true);
    testing::ReferenceOptions ref_options;
    ref_options.delimiter = g.delimiter;
    ref_options.column_name = "nhs_number";
    const testing::ReferenceResult expected = testing::reference_filter(g.csv, ref_options, removes);
    errors_seen += !expected.error.empty();
    for (unsigned threads : {1u, 2u, 3u}) {
      for (std::size_t block : std::initializer_list<std::size_t>{1, 2, 5, 17, 64, 65, 1000, std::size_t{1} << 20}) {
        FilterOptions options = by_name();
        options.delimiter = g.delimiter;
        options.threads = threads;
        options.block_bytes = block;
        const FilterRun run = run_filter(g.csv, index, options);
        const std::string where = "iteration " + std::to_string(iteration) + ", threads " + std::to_string(threads) +
                                  ", block " + std::to_string(block);
        if (!expected.error.empty()) {
          ASSERT_FALSE(run.stats.ok()) << where << " expected " << expected.error;
          if (expected.error == "no column") {
            ASSERT_EQ(run.stats.code(), ErrorCode::kNotFound) << where;
          } else {
            ASSERT_EQ(run.stats.status().message(), expected.error) << where;
          }
          continue;
        }
        ASSERT_TRUE(run.stats.ok()) << where << ": " << run.stats.status().message();
        ASSERT_EQ(run.output, expected.output) << where << "\ninput: " << ::testing::PrintToString(g.csv);
        ASSERT_EQ(run.rejects, expected.rejects) << where;
        ASSERT_EQ(run.stats->rows, expected.rows) << where;
        ASSERT_EQ(run.stats->kept, expected.kept) << where;
        ASSERT_EQ(run.stats->removed, expected.removed) << where;
        ASSERT_EQ(run.stats->rejected, expected.rejected) << where;
        ASSERT_EQ(run.stats->rows, run.stats->kept + run.stats->removed + run.stats->rejected);
      }
    }
  }
  // The generator must exercise both outcomes.
  EXPECT_GT(errors_seen, 20u);
  EXPECT_LT(errors_seen, 200u);
}

}  // namespace
}  // namespace optout
