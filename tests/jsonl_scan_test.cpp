// JSON Lines input (FilterOptions::format kJsonLines): keys, JSON Pointers, value types, errors with
// their exact messages, and the same output for every thread count and block size.
#include <gtest/gtest.h>

#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "optout/filter.hpp"
#include "optout/numbers.hpp"
#include "jsonl_scan.hpp"
#include "optout/pieces.hpp"
#include "test_support.hpp"

namespace optout {
namespace {

using testing::kListed;
using testing::make_index;
using testing::make_registry;

constexpr const char* kRemoved = "9434765919";  // kListed's number
constexpr const char* kKept = "4010232137";     // on no list

struct JsonlRun {
  Result<FilterStats> stats;
  std::string output;
  std::string rejects;
};

FilterOptions jsonl(std::string column) {
  FilterOptions o;
  o.format = InputFormat::kJsonLines;
  o.column_name = std::move(column);
  return o;
}

JsonlRun run(std::string_view input, const FilterOptions& options) {
  static const OptOutIndex index = make_index(make_registry({kListed}));
  std::istringstream in{std::string(input)};
  auto source = make_istream_source(in, "x.jsonl");
  JsonlRun r{Status(), "", ""};
  auto out = make_string_sink(r.output, "<out>");
  auto rejects = make_string_sink(r.rejects, "<rejects>");
  r.stats = filter(*source, *out, rejects.get(), index, options);
  return r;
}

enum Want { kKeep, kRemove, kMissing, kEmpty, kBadChar, kWrongLength, kWrongCheck, kAllZeros };

struct Case {
  const char* column;
  std::string line;
  Want want;
};

TEST(JsonlScanTest, ReadsEveryValueKindAsDocumented) {
  const std::string k = kKept, r = kRemoved;
  const std::vector<Case> cases = {
      {"nhs", R"({"nhs": ")" + k + R"("})", kKeep},
      {"nhs", R"({"nhs": ")" + r + R"("})", kRemove},
      {"nhs", R"({"a": [1, {"b": "x"}], "nhs": ")" + r + R"("})", kRemove},
      {"nhs", R"({"nhs": "943 476 5919"})", kRemove},
      {"nhs", R"({"nhs": " 943-476-5919\t"})", kRemove},
      {"nhs", R"({"nhs": "\u0039434765919"})", kRemove},  // an escape inside the string
      {"nhs", R"({"nhs": 9434765919})", kRemove},
      {"nhs", R"({"nhs": 4010232137})", kKeep},
      {"nhs", R"({"nhs": null})", kMissing},
      {"nhs", R"({"other": "9434765919"})", kMissing},
      {"nhs", R"({"nhs": ""})", kEmpty},
      {"nhs", R"({"nhs": "  "})", kEmpty},
      {"nhs", R"({"nhs": true})", kBadChar},
      {"nhs", R"({"nhs": false})", kBadChar},
      {"nhs", R"({"nhs": 9434765919.0})", kBadChar},
      {"nhs", R"({"nhs": 9.434765919e9})", kBadChar},
      {"nhs", R"({"nhs": -9434765919})", kBadChar},
      {"nhs", R"({"nhs": {"v": "9434765919"}})", kBadChar},
      {"nhs", R"({"nhs": ["9434765919"]})", kBadChar},
      {"nhs", R"({"nhs": "N/A"})", kBadChar},
      {"nhs", R"({"nhs": 94347659190})", kWrongLength},
      {"nhs", R"({"nhs": 123456789012345678901234567890})", kWrongLength},
      {"nhs", R"({"nhs": "943476591"})", kWrongLength},
      {"nhs", R"({"nhs": 9434765918})", kWrongCheck},
      {"nhs", R"({"nhs": 1})", kWrongCheck},  // 0000000001
      {"nhs", R"({"nhs": 0})", kAllZeros},
      {"nhs", R"({"nhs": -0})", kAllZeros},
      {"/nhs", R"({"nhs": ")" + r + R"("})", kRemove},
      {"/p/nhs", R"({"p": {"nhs": ")" + r + R"("}})", kRemove},
      {"/p/nhs", R"({"p": "flat"})", kMissing},
      {"/p/nhs", R"({"p": {}})", kMissing},
      {"/p/1", R"({"p": ["x", ")" + r + R"("]})", kRemove},
      {"/p/2", R"({"p": ["x", "y"]})", kMissing},
      {"/a~1b/c~0d", R"({"a/b": {"c~d": ")" + r + R"("}})", kRemove},
      {"/", R"({"": ")" + r + R"("})", kRemove},
      {"nhs", R"({"nhs": "9434765919", "nhs": "4010232137"})", kRemove},  // the first of two keys
  };
  for (const Case& c : cases) {
    for (const char* end : {"\n", "\r\n", ""}) {
      const std::string input = c.line + end;
      const JsonlRun got = run(input, jsonl(c.column));
      ASSERT_TRUE(got.stats.ok()) << input << ": " << got.stats.status().message();
      const FilterStats& s = *got.stats;
      EXPECT_EQ(s.rows, 1u) << input;
      EXPECT_EQ(s.kept, c.want == kKeep ? 1u : 0u) << input;
      EXPECT_EQ(s.removed, c.want == kRemove ? 1u : 0u) << input;
      EXPECT_EQ(got.output, c.want == kKeep ? input : "") << input;
      const bool rejected = c.want != kKeep && c.want != kRemove;
      EXPECT_EQ(got.rejects, rejected ? input : "") << input;
      if (!rejected) continue;
      const std::size_t reason = c.want == kMissing       ? 0
                                 : c.want == kEmpty       ? static_cast<std::size_t>(InvalidReason::kEmpty)
                                 : c.want == kBadChar     ? static_cast<std::size_t>(InvalidReason::kBadCharacter)
                                 : c.want == kWrongLength ? static_cast<std::size_t>(InvalidReason::kWrongLength)
                                 : c.want == kWrongCheck  ? static_cast<std::size_t>(InvalidReason::kWrongCheckDigit)
                                                          : static_cast<std::size_t>(InvalidReason::kAllZeros);
      EXPECT_EQ(s.rejected_by_reason[reason], 1u) << input;
    }
  }
}

TEST(JsonlScanTest, MalformedLinesFailNamingTheLine) {
  const std::string good = std::string(R"({"nhs": ")") + kKept + "\"}\n";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"nope", "x.jsonl:3: not a JSON object"},
      {"[1, 2]", "x.jsonl:3: not a JSON object"},
      {"42", "x.jsonl:3: not a JSON object"},
      {"{\"nhs\": \"open}", "x.jsonl:3: not a JSON object"},
      {"{\"nhs\": \"\\x\"}", "x.jsonl:3: not a JSON object"},
      {"{\"nhs\" \"9434765919\"}", "x.jsonl:3: not a JSON object"},
      {"{\"nhs\": nul}", "x.jsonl:3: not a JSON object"},
      {"{\"nhs\": \"\xff\"}", "x.jsonl:3: not a JSON object"},
      {"", "x.jsonl:3: a blank line (JSON Lines holds one JSON object per line)"},
      {" \t\r", "x.jsonl:3: a blank line (JSON Lines holds one JSON object per line)"},
  };
  for (const auto& [bad, message] : cases) {
    for (std::size_t block : {std::size_t{1}, std::size_t{5}, kDefaultBlockBytes}) {
      FilterOptions o = jsonl("nhs");
      o.block_bytes = block;
      o.threads = 2;
      const JsonlRun got = run(good + good + bad + "\n" + good, o);
      ASSERT_FALSE(got.stats.ok()) << bad;
      EXPECT_EQ(got.stats.code(), ErrorCode::kInvalidInput) << bad;
      EXPECT_EQ(got.stats.status().message(), message) << bad;
    }
  }
  const JsonlRun bom = run("\xEF\xBB\xBF" + good, jsonl("nhs"));
  ASSERT_FALSE(bom.stats.ok());
  EXPECT_EQ(bom.stats.status().message(), "x.jsonl:1: a UTF-8 byte-order mark (JSON Lines must not start with one)");
}

// The jsonl fuzzer found a malformed line read one way with a recycled block's leftovers after
// it and another way with other bytes there (one run failed, the other did not). A line reads
// the same whatever follows it.
TEST(JsonlScanTest, BytesAfterALineNeverChangeHowItReads) {
  const std::string line = R"({"nhs": "%4717329'439]]]]]]]]]]]]]1hs": 40})";
  const std::vector<std::string> afters = {
      std::string(64, ' '), std::string(64, ']'),  std::string(64, '"'),
      std::string(64, '}'), std::string(64, '\0'), "\n{\"p\": {\"nhs\": \"9434765919\"}}" + std::string(40, '}')};
  // The key is found before the stray ':' (On-Demand does not check what follows the field it
  // reads, as the README says); the pointer /p/nhs has to walk past it, and fails.
  const std::vector<std::pair<std::string, detail::JsonLineKind>> cases = {{"/p/nhs", detail::JsonLineKind::kMalformed},
                                                                           {"nhs", detail::JsonLineKind::kValue}};
  for (const auto& [column, kind] : cases) {
    for (const std::string& after : afters) {
      const std::string buffer = line + after;
      const detail::JsonLineField field = detail::read_json_line(buffer.data(), line.size(), column);
      EXPECT_EQ(field.kind, kind) << column;
    }
  }
}

TEST(JsonlScanTest, RecordLimitAppliesToLines) {
  FilterOptions o = jsonl("nhs");
  o.max_record_bytes = 30;
  const JsonlRun got =
      run(std::string(R"({"nhs": "9434765919"})") + "\n{\"nhs\": \"" + std::string(40, ' ') + "\"}\n", o);
  ASSERT_FALSE(got.stats.ok());
  EXPECT_EQ(got.stats.code(), ErrorCode::kLimitExceeded);
  EXPECT_EQ(got.stats.status().message(), "x.jsonl:2: record longer than the limit of 30 bytes");
}

TEST(JsonlScanTest, OptionsThatDoNotApplyAreRefused) {
  struct Bad {
    FilterOptions options;
    std::string message;
  };
  FilterOptions by_index = jsonl("");
  by_index.column_index = 2;
  FilterOptions no_header = jsonl("nhs");
  no_header.has_header = false;
  const std::vector<Bad> cases = {
      {by_index, "JSON Lines has no column positions: name the key, or a JSON Pointer such as /patient/nhs_number"},
      {no_header, "JSON Lines has no header: every line is a record (drop --no-header)"},
      {jsonl(""), "name the NHS-number key, or a JSON Pointer such as /patient/nhs_number"},
      {jsonl("/a~"), "a JSON Pointer escapes '~' only as ~0 or ~1 (RFC 6901)"},
      {jsonl("/a~2"), "a JSON Pointer escapes '~' only as ~0 or ~1 (RFC 6901)"},
      {jsonl("9434765919"), "the key looks like a number (6 or more digits), not a key's name"},
  };
  for (const Bad& b : cases) {
    const Status s = validate_filter_options(b.options);
    EXPECT_EQ(s.code(), ErrorCode::kInvalidArgument) << b.message;
    EXPECT_EQ(s.message(), b.message);
  }
  EXPECT_TRUE(validate_filter_options(jsonl("/a~0b~1c")).ok());
  EXPECT_EQ(parse_input_format("jsonl").value(), InputFormat::kJsonLines);
  EXPECT_EQ(parse_input_format("csv").value(), InputFormat::kCsv);
  EXPECT_EQ(parse_input_format("json").status().message(), "the format is csv or jsonl");
}

TEST(JsonlScanTest, SameOutputForEveryThreadCountAndBlockSize) {
  std::mt19937 rng(13);
  std::string input;
  const char* values[] = {"\"9434765919\"", "\"4010232137\"", "9434765919", "null", "true", "\"943 476 5919\"", "1"};
  for (int i = 0; i < 2000; ++i) {
    input += "{\"id\": " + std::to_string(i) + ", \"name\": \"Zo\\u00eb " + std::string(rng() % 40, 'x') +
             "\", \"nhs\": " + values[rng() % std::size(values)] + (rng() % 3 ? "}\n" : "}\r\n");
  }
  input += R"({"nhs": "4010232137"})";  // no final LF
  const JsonlRun whole = run(input, jsonl("nhs"));
  ASSERT_TRUE(whole.stats.ok());
  EXPECT_EQ(whole.stats->rows, 2001u);
  for (unsigned threads : {1u, 2u, 5u}) {
    for (std::size_t block : {std::size_t{1}, std::size_t{63}, std::size_t{4096}, kDefaultBlockBytes}) {
      FilterOptions o = jsonl("/nhs");
      o.threads = threads;
      o.block_bytes = block;
      const JsonlRun got = run(input, o);
      ASSERT_TRUE(got.stats.ok());
      EXPECT_EQ(got.output, whole.output) << threads << " " << block;
      EXPECT_EQ(got.rejects, whole.rejects) << threads << " " << block;
      EXPECT_EQ(got.stats->kept, whole.stats->kept);
      EXPECT_EQ(got.stats->removed, whole.stats->removed);
    }
  }
}

TEST(JsonlScanTest, NumbersReadsJsonLines) {
  std::istringstream in{std::string("{\"n\": 9434765919}\n{\"n\": \"943 476 5919\"}\n{\"n\": \"4010232137\"}\n")};
  auto source = make_istream_source(in, "x.jsonl");
  std::string text;
  auto out = make_string_sink(text, "<out>");
  Result<NumbersStats> stats = write_numbers(*source, *out, jsonl("n"), NumbersFormat::kText);
  ASSERT_TRUE(stats.ok()) << stats.status().message();
  EXPECT_EQ(stats->distinct, 2u);
  EXPECT_EQ(text, "4010232137\n9434765919\n");
}

// A JSON string may hold an escaped quote (\"; one a line here, so a CSV cutter would see every
// other line end inside quotes): pieces of a JSON Lines file are cut at LFs, and their outputs, in
// order, are the whole file's output.
TEST(JsonlScanTest, PiecesCutAtLineEndsAndAddUpToTheWholeFile) {
  std::string input;
  for (int i = 0; i < 300; ++i) {
    input += "{\"note\": \"say \\\"hi\", \"nhs\": \"" + std::string(i % 3 ? kKept : kRemoved) + "\"}\n";
  }
  testing::TempDir dir;
  const auto path = dir.file("x.jsonl", input);
  const FilterOptions options = jsonl("nhs");
  Result<FilePieces> cut = cut_file(path, options, 500);
  ASSERT_TRUE(cut.ok()) << cut.status().message();
  ASSERT_GT(cut->pieces.size(), 5u);
  EXPECT_TRUE(cut->header.empty());
  static const OptOutIndex index = make_index(make_registry({kListed}));
  std::string joined;
  for (std::size_t i = 0; i < cut->pieces.size(); ++i) {
    EXPECT_EQ(input[cut->pieces[i].offset + cut->pieces[i].length - 1], '\n');
    Result<std::unique_ptr<ByteSource>> source = open_piece_source(*cut, i);
    ASSERT_TRUE(source.ok());
    std::string out;
    auto sink = make_string_sink(out, "<out>");
    ASSERT_TRUE(filter(**source, *sink, nullptr, index, options).ok());
    joined += out;
  }
  EXPECT_EQ(joined, run(input, options).output);
}

}  // namespace
}  // namespace optout
