// RegistryBuilder: list set logic, kinds and names, source text in every accepted shape, invalid
// lines (reported by number, never by content), a large source parsed in parallel chunks checked
// against a sorted-vector reference, and daily deltas from a base registry.
#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "optout/nhs_number.hpp"
#include "optout/registry.hpp"
#include "test_support.hpp"

namespace optout {
namespace {

namespace fs = std::filesystem;

// The first n valid stems at or after start.
std::vector<std::uint32_t> valid_stems(std::uint32_t start, std::size_t n) {
  std::vector<std::uint32_t> out;
  for (std::uint32_t s = start; out.size() < n; ++s) {
    if (is_valid_stem(s)) out.push_back(s);
  }
  return out;
}

std::string number(std::uint32_t stem, NhsFormat format = NhsFormat::kPlain) { return format_nhs_number(stem, format); }

// True when text holds a run of 9 or more digits: what an NHS number or stem would look like.
bool has_long_digit_run(const std::string& text) {
  std::size_t run = 0;
  for (char c : text) {
    run = (c >= '0' && c <= '9') ? run + 1 : 0;
    if (run >= 9) return true;
  }
  return false;
}

Registry build_or_die(RegistryBuilder& b, std::int64_t created_at = 1'700'000'000) {
  auto r = b.build(created_at);
  EXPECT_TRUE(r.ok()) << r.status().message();
  return r.ok() ? std::move(r).value() : Registry();
}

std::vector<std::uint32_t> list_stems(const Registry& r, std::string_view name) {
  const auto index = r.find_list(name);
  if (!index) return {};
  return r.stems(*index);
}

using testing::TempDir;

// ---- Set logic --------------------------------------------------------------------------------

struct SetStep {
  const char* name;
  bool remove;
  std::vector<int> stems;  // indices into a fixed pool of valid stems
  std::uint64_t changed;
  std::uint64_t unchanged;
};

TEST(SourceLine, EveryLineFormOfAListSource) {
  struct Case {
    const char* line;
    std::uint32_t stem;  // 0: not a number
    InvalidReason reason;
    bool blank;
  };
  const Case cases[] = {
      {"9434765919", 943476591, InvalidReason::kNone, false},
      {"9434765919,", 943476591, InvalidReason::kNone, false},      // the .dat form
      {"9434765919,\r\n", 943476591, InvalidReason::kNone, false},  // ... with CRLF endings
      {"9434765919\n", 943476591, InvalidReason::kNone, false},
      {" 943 476 5919 , ", 943476591, InvalidReason::kNone, false},
      {"", 0, InvalidReason::kEmpty, true},
      {" \t\r\n", 0, InvalidReason::kEmpty, true},
      {",", 0, InvalidReason::kEmpty, false},  // a .dat line without its number
      {"9434765919,,", 0, InvalidReason::kBadCharacter, false},
      {"12345,", 0, InvalidReason::kWrongLength, false},
      {"9434765918,", 0, InvalidReason::kWrongCheckDigit, false},
  };
  for (const Case& c : cases) {
    const SourceLine line = parse_source_line(c.line);
    EXPECT_EQ(line.number.stem, c.stem) << c.line;
    EXPECT_EQ(line.number.reason, c.reason) << c.line;
    EXPECT_EQ(line.blank, c.blank) << c.line;
    EXPECT_FALSE(line.bare_cr) << c.line;
    EXPECT_TRUE(source_line_status("src.txt", 3, line).ok()) << c.line;
  }
}

TEST(SourceLine, BareCrInsideALineIsFlaggedWithTheSourcesMessage) {
  for (const char* text : {"9434765919\r4010232137", "\r9434765919\n", "9434765919\r\r\n", "\r\r", "9434765919\r"}) {
    const SourceLine line = parse_source_line(text);
    EXPECT_TRUE(line.bare_cr) << text;
    const Status s = source_line_status("<stdin>", 7, line);
    EXPECT_EQ(s.code(), ErrorCode::kInvalidInput);
    EXPECT_EQ(s.message(), "<stdin>:7: bare CR (lines must end with LF or CRLF)");
  }
}

TEST(RegistryBuilderSetLogic, AddsAndWithdrawsLikeASet) {
  const std::vector<std::uint32_t> pool = valid_stems(400'000'000, 10);
  const std::vector<SetStep> steps = {
      {"add three", false, {0, 1, 2}, 3, 0},
      {"add with duplicates inside the call", false, {3, 3, 4, 3}, 2, 2},
      {"add already present", false, {0, 1}, 0, 2},
      {"add mixed", false, {1, 5}, 1, 1},
      {"withdraw present and absent", true, {0, 9}, 1, 1},
      {"withdraw duplicates", true, {1, 1}, 1, 1},
      {"withdraw nothing present", true, {8, 9}, 0, 2},
      {"withdraw the rest", true, {2, 3, 4, 5}, 4, 0},
      {"add into the emptied list", false, {7}, 1, 0},
  };
  RegistryBuilder b;
  std::set<std::uint32_t> reference;
  for (const SetStep& step : steps) {
    std::vector<std::uint32_t> stems;
    for (int i : step.stems) stems.push_back(pool[i]);
    auto stats = step.remove ? b.remove_stems("national", stems) : b.add_stems("national", ListKind::kDeny, stems);
    ASSERT_TRUE(stats.ok()) << step.name << ": " << stats.status().message();
    EXPECT_EQ(stats->numbers, stems.size()) << step.name;
    EXPECT_EQ(stats->changed, step.changed) << step.name;
    EXPECT_EQ(stats->unchanged, step.unchanged) << step.name;
    for (std::uint32_t s : stems) {
      if (step.remove) {
        reference.erase(s);
      } else {
        reference.insert(s);
      }
    }
  }
  const Registry r = build_or_die(b);
  EXPECT_EQ(list_stems(r, "national"), std::vector<std::uint32_t>(reference.begin(), reference.end()));
}

TEST(RegistryBuilderSetLogic, WithdrawingEverythingKeepsAnEmptyList) {
  RegistryBuilder b;
  const auto stems = valid_stems(600'000'000, 5);
  ASSERT_TRUE(b.add_stems("national", ListKind::kDeny, stems).ok());
  auto stats = b.remove_stems("national", stems);
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->changed, 5u);
  const Registry r = build_or_die(b);
  ASSERT_EQ(r.lists().size(), 1u);
  EXPECT_EQ(r.lists()[0].name, "national");
  EXPECT_EQ(r.lists()[0].count, 0u);
}

TEST(RegistryBuilderSetLogic, StemsAtTheEdgesOfTheRange) {
  std::uint32_t largest = kStemLimit - 1;
  while (!is_valid_stem(largest)) --largest;
  // The first valid stems at the start of the range and around a container boundary, and the last.
  std::vector<std::uint32_t> stems;
  for (const std::uint32_t from : {0u, 1u, 65535u - 20, 65536u}) {
    std::uint32_t s = from;
    while (!is_valid_stem(s) || (!stems.empty() && s <= stems.back())) ++s;
    stems.push_back(s);
  }
  stems.push_back(largest);
  ASSERT_EQ(stems[0], 1u);  // 000 000 0019: 000 000 0000 passes modulus 11 but is no patient's
  RegistryBuilder b;
  auto stats = b.add_stems("edges", ListKind::kDeny, stems);
  ASSERT_TRUE(stats.ok()) << stats.status().message();
  EXPECT_EQ(list_stems(build_or_die(b), "edges"), stems);
}

TEST(RegistryBuilderSetLogic, InvalidStemIsNamedByIndexAndChangesNothing) {
  std::uint32_t ten = 400'000'000;
  while (is_valid_stem(ten)) ++ten;  // a stem whose check digit would be 10
  struct Case {
    std::uint32_t bad;
    const char* why;
  };
  for (const Case& c : {Case{ten, "check digit 10"}, Case{kStemLimit, "10^9"}, Case{0xFFFFFFFF, "max"}}) {
    RegistryBuilder b;
    auto good = valid_stems(400'000'000, 3);
    ASSERT_TRUE(b.add_stems("national", ListKind::kDeny, good).ok());
    std::vector<std::uint32_t> stems = {good[0], good[1], c.bad, good[2]};
    auto added = b.add_stems("national", ListKind::kDeny, stems);
    EXPECT_EQ(added.code(), ErrorCode::kInvalidArgument) << c.why;
    EXPECT_EQ(added.status().message(), "stems[2] is not a valid stem (below 10^9, check digit not 10)") << c.why;
    auto removed = b.remove_stems("national", stems);
    EXPECT_EQ(removed.code(), ErrorCode::kInvalidArgument) << c.why;
    EXPECT_FALSE(has_long_digit_run(added.status().message()));
    EXPECT_EQ(list_stems(build_or_die(b), "national"), good) << c.why;
  }
}

TEST(RegistryBuilderSetLogic, ManyUnsortedStemsMatchAReference) {
  std::mt19937_64 rng(7);
  std::vector<std::uint32_t> stems;
  while (stems.size() < 300'000) {
    const auto s = static_cast<std::uint32_t>(rng() % kStemLimit);
    if (is_valid_stem(s)) stems.push_back(s);
  }
  // Duplicates and a dense stretch (bitset containers), then random ones (array containers).
  stems.insert(stems.end(), stems.begin(), stems.begin() + 1000);
  const auto dense = valid_stems(700'000'000, 60'000);
  stems.insert(stems.end(), dense.begin(), dense.end());
  std::shuffle(stems.begin(), stems.end(), rng);
  RegistryBuilder b;
  auto stats = b.add_stems("big", ListKind::kDeny, stems);
  ASSERT_TRUE(stats.ok()) << stats.status().message();
  std::vector<std::uint32_t> reference = stems;
  std::sort(reference.begin(), reference.end());
  reference.erase(std::unique(reference.begin(), reference.end()), reference.end());
  EXPECT_EQ(stats->changed, reference.size());
  EXPECT_EQ(stats->unchanged, stems.size() - reference.size());
  // Withdraw every third distinct stem.
  std::vector<std::uint32_t> withdrawn;
  for (std::size_t i = 0; i < reference.size(); i += 3) withdrawn.push_back(reference[i]);
  std::shuffle(withdrawn.begin(), withdrawn.end(), rng);
  auto removed = b.remove_stems("big", withdrawn);
  ASSERT_TRUE(removed.ok());
  EXPECT_EQ(removed->changed, withdrawn.size());
  std::vector<std::uint32_t> expected;
  for (std::size_t i = 0; i < reference.size(); ++i) {
    if (i % 3 != 0) expected.push_back(reference[i]);
  }
  EXPECT_EQ(list_stems(build_or_die(b), "big"), expected);
}

// ---- Kinds and names ----------------------------------------------------------------------------

TEST(RegistryBuilderLists, KindConflictsAreRejectedAndChangeNothing) {
  RegistryBuilder b;
  ASSERT_TRUE(b.declare_list("national", ListKind::kDeny).ok());
  ASSERT_TRUE(b.declare_list("national", ListKind::kDeny).ok());  // idempotent
  ASSERT_TRUE(b.declare_list("cleaned", ListKind::kAllow).ok());
  const auto stems = valid_stems(400'000'000, 2);

  const Status redeclare = b.declare_list("national", ListKind::kAllow);
  EXPECT_EQ(redeclare.code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(redeclare.message(), "list 'national' is a deny list, not an allow list");

  auto add = b.add_stems("cleaned", ListKind::kDeny, stems);
  EXPECT_EQ(add.code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(add.status().message(), "list 'cleaned' is an allow list, not a deny list");

  auto text = b.add_text("national", ListKind::kAllow, number(stems[0]) + "\n", "n.txt");
  EXPECT_EQ(text.code(), ErrorCode::kInvalidArgument);

  const Registry r = build_or_die(b);
  ASSERT_EQ(r.lists().size(), 2u);
  EXPECT_EQ(r.lists()[0].name, "cleaned");
  EXPECT_EQ(r.lists()[0].kind, ListKind::kAllow);
  EXPECT_EQ(r.lists()[0].count, 0u);
  EXPECT_EQ(r.lists()[1].name, "national");
  EXPECT_EQ(r.lists()[1].kind, ListKind::kDeny);
  EXPECT_EQ(r.lists()[1].count, 0u);
}

TEST(RegistryBuilderLists, BadNamesAreRejectedEverywhere) {
  const std::vector<std::string> bad = {"",          std::string(65, 'a'),     "two words", "a/b", "caf\xC3\xA9",
                                        "tab\there", std::string("nul\0x", 5), "semi;colon"};
  for (const std::string& name : bad) {
    RegistryBuilder b;
    EXPECT_EQ(b.declare_list(name, ListKind::kDeny).code(), ErrorCode::kInvalidArgument) << name;
    EXPECT_EQ(b.add_stems(name, ListKind::kDeny, valid_stems(400'000'000, 1)).code(), ErrorCode::kInvalidArgument)
        << name;
    EXPECT_EQ(b.add_text(name, ListKind::kDeny, "", "t").code(), ErrorCode::kInvalidArgument) << name;
    EXPECT_EQ(b.remove_stems(name, {}).code(), ErrorCode::kInvalidArgument) << name;
    EXPECT_TRUE(build_or_die(b).lists().empty()) << name;
  }
}

TEST(RegistryBuilderLists, WithdrawingFromAMissingListIsNotFound) {
  TempDir dir;
  RegistryBuilder b;
  auto stems = b.remove_stems("national", valid_stems(400'000'000, 1));
  EXPECT_EQ(stems.code(), ErrorCode::kNotFound);
  EXPECT_EQ(stems.status().message(), "no list 'national' to withdraw from");
  auto file = b.remove_source("national", dir.file("w.txt", "9434765919\n"));
  EXPECT_EQ(file.code(), ErrorCode::kNotFound);
}

TEST(RegistryBuilderLists, BuildSortsListsAndLeavesTheBuilderEmpty) {
  RegistryBuilder b;
  b.set_description("NDOO 2026-11-24 \xE2\x80\x94 test");
  for (const char* name : {"type1", "national", "Zeta", "audit.epilepsy12", "a-b_c"}) {
    ASSERT_TRUE(b.declare_list(name, ListKind::kDeny).ok()) << name;
  }
  auto first = b.build(1'764'000'000);
  ASSERT_TRUE(first.ok());
  std::vector<std::string> names;
  for (const ListInfo& info : first->lists()) names.push_back(info.name);
  EXPECT_EQ(names, (std::vector<std::string>{"Zeta", "a-b_c", "audit.epilepsy12", "national", "type1"}));
  EXPECT_EQ(first->created_at(), 1'764'000'000);
  EXPECT_EQ(first->description(), "NDOO 2026-11-24 \xE2\x80\x94 test");

  auto second = b.build(1'764'000'000);
  ASSERT_TRUE(second.ok());
  EXPECT_TRUE(second->lists().empty());
  EXPECT_EQ(second->description(), "");
}

TEST(RegistryBuilderLists, BuildUsesTheClockByDefault) {
  RegistryBuilder b;
  const auto before =
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  auto r = b.build();
  const auto after =
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  ASSERT_TRUE(r.ok());
  EXPECT_GE(r->created_at(), before);
  EXPECT_LE(r->created_at(), after);
}

TEST(RegistryAge, BuildRefusesACreationTimeOutsideTheRange) {
  for (const std::int64_t t : {std::int64_t{-1}, INT64_MIN, kLatestCreatedAt + 1, INT64_MAX}) {
    RegistryBuilder b;
    const Result<Registry> r = b.build(t);
    EXPECT_EQ(r.code(), ErrorCode::kInvalidArgument) << t;
    EXPECT_EQ(r.status().message(), "the creation time must be between 1970 and 9999") << t;
  }
}

TEST(RegistryBuilderLists, DescriptionMustBeUtf8) {
  RegistryBuilder b;
  b.set_description("bad \xC3\x28 text");
  auto r = b.build(0);
  EXPECT_EQ(r.code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(r.status().message(), "description is not valid UTF-8");
}

TEST(RegistryBuilderLists, DigestDependsOnContentAndTimeOnly) {
  const auto stems = valid_stems(400'000'000, 100);
  auto make = [&](std::int64_t created_at, std::string description, std::size_t n) {
    RegistryBuilder b;
    b.set_description(std::move(description));
    std::vector<std::uint32_t> some(stems.begin(), stems.begin() + static_cast<std::ptrdiff_t>(n));
    std::reverse(some.begin(), some.end());  // insertion order must not matter
    EXPECT_TRUE(b.add_stems("national", ListKind::kDeny, some).ok());
    return build_or_die(b, created_at).digest();
  };
  const Digest128 base = make(100, "d", 100);
  EXPECT_EQ(make(100, "d", 100), base);
  EXPECT_NE(make(101, "d", 100), base);
  EXPECT_NE(make(100, "e", 100), base);
  EXPECT_NE(make(100, "d", 99), base);
}

// ---- Source text --------------------------------------------------------------------------------

struct TextCase {
  const char* name;
  std::string text;
  std::uint64_t lines;
  std::uint64_t blank;
  std::vector<std::uint32_t> stems;  // in line order, duplicates kept
};

std::vector<TextCase> text_cases() {
  const std::uint32_t a = 943476591;  // 9434765919
  const auto v = valid_stems(600'000'000, 3);
  const std::uint32_t b = v[0], c = v[1], d = v[2];
  return {
      {"empty", "", 0, 0, {}},
      {"one newline", "\n", 1, 1, {}},
      {"only blank lines", "\n  \n\t\r\n \f\v\n", 4, 4, {}},
      {"plain LF", number(a) + "\n" + number(b) + "\n", 2, 0, {a, b}},
      {"plain CRLF", number(a) + "\r\n" + number(b) + "\r\n", 2, 0, {a, b}},
      {"last line without newline", number(a) + "\n" + number(b), 2, 0, {a, b}},
      {"spaced and dashed", number(a, NhsFormat::kSpaced) + "\n" + number(b, NhsFormat::kDashed) + "\n", 2, 0, {a, b}},
      {".dat form LF", number(a) + ",\n" + number(b) + ",\n", 2, 0, {a, b}},
      {".dat form CRLF", number(a) + ",\r\n" + number(b) + ",\r\n", 2, 0, {a, b}},
      {".dat form without final newline", number(a) + ",\n" + number(b) + ",", 2, 0, {a, b}},
      {".dat spaced", number(a, NhsFormat::kSpaced) + ",\n", 1, 0, {a}},
      {"surrounding whitespace",
       std::string("  ").append(number(a)).append(" \t\n\t").append(number(b)).append(", \r\n"),
       2,
       0,
       {a, b}},
      {"blank lines between",
       std::string("\n").append(number(a)).append("\n\n  \n").append(number(c)).append("\r\n\r\n"),
       6,
       4,
       {a, c}},
      {"mixed shapes and duplicates",
       number(a) + "\n" + number(a, NhsFormat::kSpaced) + ",\r\n" + number(d, NhsFormat::kDashed) + "\n" + number(d) +
           ",\n",
       4,
       0,
       {a, a, d, d}},
  };
}

TEST(RegistryBuilderText, AcceptsEveryShape) {
  for (const TextCase& c : text_cases()) {
    RegistryBuilder b;
    auto stats = b.add_text("national", ListKind::kDeny, c.text, "ndoo.txt");
    ASSERT_TRUE(stats.ok()) << c.name << ": " << stats.status().message();
    std::set<std::uint32_t> distinct(c.stems.begin(), c.stems.end());
    EXPECT_EQ(stats->lines, c.lines) << c.name;
    EXPECT_EQ(stats->blank, c.blank) << c.name;
    EXPECT_EQ(stats->numbers, c.stems.size()) << c.name;
    EXPECT_EQ(stats->invalid, 0u) << c.name;
    EXPECT_EQ(stats->changed, distinct.size()) << c.name;
    EXPECT_EQ(stats->unchanged, c.stems.size() - distinct.size()) << c.name;
    EXPECT_EQ(list_stems(build_or_die(b), "national"), std::vector<std::uint32_t>(distinct.begin(), distinct.end()))
        << c.name;
  }
}

TEST(RegistryBuilderText, LeadingByteOrderMarkIsNotData) {
  RegistryBuilder b;
  auto stats = b.add_text("national", ListKind::kDeny,
                          "\xEF\xBB\xBF"
                          "9434765919,\r\n4010232137\n",
                          "reply.dat");
  ASSERT_TRUE(stats.ok()) << stats.status().message();
  EXPECT_EQ(stats->numbers, 2u);
  EXPECT_EQ(list_stems(build_or_die(b), "national"), (std::vector<std::uint32_t>{401023213, 943476591}));
  // Only at the start: a BOM further on is a bad character on its line.
  RegistryBuilder later;
  auto bad = later.add_text("national", ListKind::kDeny,
                            "9434765919\n\xEF\xBB\xBF"
                            "4010232137\n",
                            "x.txt");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message(), "x.txt:2: bad character");
}

TEST(RegistryBuilderText, FilesGiveTheSameResultAsText) {
  TempDir dir;
  for (const TextCase& c : text_cases()) {
    RegistryBuilder from_text;
    RegistryBuilder from_file;
    auto t = from_text.add_text("national", ListKind::kDeny, c.text, "ndoo.txt");
    auto f = from_file.add_source("national", ListKind::kDeny, dir.file("ndoo.txt", c.text));
    ASSERT_TRUE(t.ok() && f.ok()) << c.name << ": " << f.status().message();
    EXPECT_EQ(f->lines, t->lines) << c.name;
    EXPECT_EQ(f->blank, t->blank) << c.name;
    EXPECT_EQ(f->numbers, t->numbers) << c.name;
    EXPECT_EQ(build_or_die(from_file).digest(), build_or_die(from_text).digest()) << c.name;
  }
}

struct InvalidCase {
  const char* name;
  std::string text;
  std::string message;            // with skip_invalid off
  std::uint64_t invalid;          // with skip_invalid on
  std::uint64_t numbers;          // with skip_invalid on
  std::string skip_message = "";  // with skip_invalid on, when even that fails (a bare CR)
};

std::vector<InvalidCase> invalid_cases() {
  const std::string good = number(943476591);
  std::uint32_t ten = 400'000'000;
  while (is_valid_stem(ten)) ++ten;
  const std::string ten_text = std::to_string(ten) + "0";
  return {
      {"wrong check digit", good + "\n9434765918\n", "src.txt:2: wrong check digit", 1, 1},
      {"check digit ten", ten_text + "\n" + good + "\n", "src.txt:1: check digit 10", 1, 1},
      {"nine digits", "943476591\n", "src.txt:1: wrong length", 1, 0},
      {"eleven digits", good + "\n\n94347659190\n", "src.txt:3: wrong length", 1, 1},
      {"bad shape", "943 4765919\n" + good, "src.txt:1: bad shape", 1, 1},
      {"letter", good + "\n943476591X\n" + good, "src.txt:2: bad character", 1, 2},
      {"two commas", good + ",,\n", "src.txt:1: bad character", 1, 0},
      {"comma only", ",\n" + good, "src.txt:1: empty", 1, 1},
      {"comma first", "," + good + "\n", "src.txt:1: bad character", 1, 0},
      {"semicolon", good + ";\n", "src.txt:1: bad character", 1, 0},
      {"NUL byte", good + "\n" + std::string("\0", 1) + "\n" + good, "src.txt:2: bad character", 1, 2},
      {"binary garbage", std::string("\x89PNG\r\n\x1a\n\0\0\0\rIHDR", 16), "src.txt:1: bad character", 3, 0,
       "src.txt:3: bare CR (lines must end with LF or CRLF)"},
      {"UTF-8 BOM on a later line", good + "\n\xEF\xBB\xBF" + good + "\n", "src.txt:2: bad character", 1, 1},
      {"old Mac CR line ends", good + "\r" + good + "\r", "src.txt:1: bare CR (lines must end with LF or CRLF)", 1, 0,
       "src.txt:1: bare CR (lines must end with LF or CRLF)"},
      {"first of several", good + "\n1\n2\n" + good, "src.txt:2: wrong length", 2, 2},
  };
}

TEST(RegistryBuilderText, FirstInvalidLineIsReportedByNumberAndReason) {
  for (const InvalidCase& c : invalid_cases()) {
    RegistryBuilder b;
    ASSERT_TRUE(b.add_stems("national", ListKind::kDeny, valid_stems(700'000'000, 1)).ok());
    const Digest128 before = [&] {
      RegistryBuilder copy;
      EXPECT_TRUE(copy.add_stems("national", ListKind::kDeny, valid_stems(700'000'000, 1)).ok());
      return build_or_die(copy).digest();
    }();
    auto stats = b.add_text("national", ListKind::kDeny, c.text, "src.txt");
    EXPECT_EQ(stats.code(), ErrorCode::kInvalidInput) << c.name;
    EXPECT_EQ(stats.status().message(), c.message) << c.name;
    EXPECT_FALSE(has_long_digit_run(stats.status().message())) << c.name;
    // A failed call leaves the builder as it was, and no new list appears.
    auto other = b.add_text("other", ListKind::kDeny, c.text, "src.txt");
    EXPECT_EQ(other.code(), ErrorCode::kInvalidInput) << c.name;
    EXPECT_EQ(build_or_die(b).digest(), before) << c.name;
  }
}

TEST(RegistryBuilderText, SkipInvalidCountsAndSkips) {
  for (const InvalidCase& c : invalid_cases()) {
    RegistryBuilder b;
    auto stats = b.add_text("national", ListKind::kDeny, c.text, "src.txt", SourceOptions{.skip_invalid = true});
    if (!c.skip_message.empty()) {
      EXPECT_EQ(stats.code(), ErrorCode::kInvalidInput) << c.name;
      EXPECT_EQ(stats.status().message(), c.skip_message) << c.name;
      continue;
    }
    ASSERT_TRUE(stats.ok()) << c.name << ": " << stats.status().message();
    EXPECT_EQ(stats->invalid, c.invalid) << c.name;
    EXPECT_EQ(stats->numbers, c.numbers) << c.name;
    EXPECT_EQ(stats->lines, stats->blank + stats->numbers + stats->invalid) << c.name;
  }
}

TEST(RegistryBuilderText, LineLongerThanABlockIsRejectedWithoutBuffering) {
  TempDir dir;
  const std::string good = number(943476591);
  for (const bool final_newline : {true, false}) {
    const std::string text =
        good + "\n" + std::string((std::size_t{17} << 20), '1') + (final_newline ? "\n" + good + "\n" : "");
    const fs::path path = dir.file("long.txt", text);
    for (const bool from_file : {false, true}) {
      const std::string name = from_file ? path.string() : std::string("long.txt");
      RegistryBuilder b;
      auto strict = from_file ? b.add_source("n", ListKind::kDeny, path) : b.add_text("n", ListKind::kDeny, text, name);
      EXPECT_EQ(strict.code(), ErrorCode::kInvalidInput);
      EXPECT_EQ(strict.status().message(), name + ":2: line too long");
      const SourceOptions skip{.skip_invalid = true};
      auto lenient = from_file ? b.add_source("n", ListKind::kDeny, path, skip)
                               : b.add_text("n", ListKind::kDeny, text, name, skip);
      ASSERT_TRUE(lenient.ok()) << lenient.status().message();
      EXPECT_EQ(lenient->lines, final_newline ? 3u : 2u);
      EXPECT_EQ(lenient->invalid, 1u);
      EXPECT_EQ(lenient->numbers, final_newline ? 2u : 1u);
    }
  }
}

// Issue 10: a source with CR line ends (or one stray CR) once read as one invalid line, which
// skip_invalid skipped: every number but the lines around it left out of the list, silently.
TEST(RegistryBuilderText, BareCrLineEndingIsAnErrorNotASkippedLine) {
  TempDir dir;
  const std::string good = number(943476591);
  const std::string other = number(740848037);
  struct BareCase {
    const char* name;
    std::string text;
    std::string message;
  };
  const std::string bare = "bare CR (lines must end with LF or CRLF)";
  const std::vector<BareCase> cases = {
      {"CR line ends", good + "\r" + other + "\r" + good + "\n", "src.txt:1: " + bare},
      {"CR at the end of the source", good + "\r\n" + other + "\r", "src.txt:2: " + bare},
      {"CR before a valid number", good + "\n\r" + other + "\n", "src.txt:2: " + bare},
      {"CR as a blank line", good + "\n\r\n\r\r\n" + other + "\n", "src.txt:3: " + bare},
      {"CR ends of a line longer than a block",
       good + "\n" +
           [&] {
             std::string joined;
             while (joined.size() < (std::size_t{17} << 20)) joined += other + "\r";
             return joined;
           }() +
           "\n",
       "src.txt:2: " + bare},
  };
  for (const BareCase& c : cases) {
    const fs::path path = dir.file("src.txt", c.text);
    for (const bool skip : {false, true}) {
      for (const bool from_file : {false, true}) {
        RegistryBuilder b;
        const SourceOptions options{.skip_invalid = skip};
        auto stats = from_file ? b.add_source("n", ListKind::kDeny, path, options)
                               : b.add_text("n", ListKind::kDeny, c.text, "src.txt", options);
        const std::string name = from_file ? path.string() : std::string("src.txt");
        EXPECT_EQ(stats.code(), ErrorCode::kInvalidInput) << c.name;
        EXPECT_EQ(stats.status().message(), name + c.message.substr(7)) << c.name << ", skip " << skip;
      }
    }
  }
}

TEST(RegistryBuilderText, UnreadableSourcesAreIoErrors) {
  TempDir dir;
  RegistryBuilder b;
  const fs::path missing = dir.path() / "missing.txt";
  auto m = b.add_source("national", ListKind::kDeny, missing);
  EXPECT_EQ(m.code(), ErrorCode::kIoError);
  EXPECT_EQ(m.status().message(), missing.string() + ": cannot open: No such file or directory");
  auto d = b.add_source("national", ListKind::kDeny, dir.path());
  EXPECT_EQ(d.code(), ErrorCode::kIoError);
  EXPECT_EQ(d.status().message(), dir.path().string() + ": read failed: Is a directory");
  EXPECT_TRUE(build_or_die(b).lists().empty());
}

// ---- A large source, parsed in many parallel chunks across several blocks ---------------------

struct BigSource {
  std::string text;
  std::vector<std::uint32_t> reference;  // distinct stems, sorted
  std::uint64_t lines = 0;
  std::uint64_t blank = 0;
  std::uint64_t numbers = 0;
};

// ~2.2 M lines (~28 MB: two 16 MiB blocks, ~28 chunks of 1 MiB) in every shape, with duplicates.
const BigSource& big_source() {
  static const BigSource source = [] {
    BigSource s;
    std::mt19937_64 rng(2026);
    std::vector<std::uint32_t> pool;
    while (pool.size() < 1'500'000) {
      const std::uint64_t r = rng() % 300'000'000;
      const auto stem = static_cast<std::uint32_t>(r < 100'000'000 ? 400'000'000 + r : 500'000'000 + r);
      if (is_valid_stem(stem)) pool.push_back(stem);
    }
    s.text.reserve(30 << 20);
    std::vector<std::uint32_t> seen;
    for (std::size_t i = 0; i < 2'200'000; ++i) {
      const unsigned kind = static_cast<unsigned>(rng() % 100);
      ++s.lines;
      if (kind < 3) {
        s.text += (kind == 0 ? "" : kind == 1 ? "  " : "\t\r");
        s.text += '\n';
        ++s.blank;
        continue;
      }
      const std::uint32_t stem = pool[rng() % pool.size()];
      const NhsFormat format = kind < 70 ? NhsFormat::kPlain : kind < 85 ? NhsFormat::kSpaced : NhsFormat::kDashed;
      if (kind % 7 == 0) s.text += ' ';
      s.text += format_nhs_number(stem, format);
      if (kind % 2 == 0) s.text += ',';
      s.text += (kind % 5 == 0) ? "\r\n" : "\n";
      seen.push_back(stem);
      ++s.numbers;
    }
    std::sort(seen.begin(), seen.end());
    seen.erase(std::unique(seen.begin(), seen.end()), seen.end());
    s.reference = std::move(seen);
    return s;
  }();
  return source;
}

// The byte offset where 1-based line n starts.
std::size_t line_start(const std::string& text, std::uint64_t n) {
  std::size_t pos = 0;
  for (std::uint64_t i = 1; i < n; ++i) pos = text.find('\n', pos) + 1;
  return pos;
}

TEST(RegistryBuilderBigSource, MatchesTheReferenceFromTextAndFile) {
  const BigSource& s = big_source();
  ASSERT_GT(s.text.size(), std::size_t{17} << 20);  // more than one block
  TempDir dir;
  const fs::path path = dir.file("big.txt", s.text);
  for (const bool from_file : {false, true}) {
    RegistryBuilder b;
    auto stats = from_file ? b.add_source("national", ListKind::kDeny, path)
                           : b.add_text("national", ListKind::kDeny, s.text, "big.txt");
    ASSERT_TRUE(stats.ok()) << stats.status().message();
    EXPECT_EQ(stats->lines, s.lines);
    EXPECT_EQ(stats->blank, s.blank);
    EXPECT_EQ(stats->numbers, s.numbers);
    EXPECT_EQ(stats->invalid, 0u);
    EXPECT_EQ(stats->changed, s.reference.size());
    EXPECT_EQ(stats->unchanged, s.numbers - s.reference.size());
    EXPECT_EQ(list_stems(build_or_die(b), "national"), s.reference) << (from_file ? "file" : "text");
  }
}

TEST(RegistryBuilderBigSource, FirstInvalidLineIsExactAcrossChunksAndBlocks) {
  const BigSource& s = big_source();
  TempDir dir;
  // Line 1, one inside the first chunk, one past the first 1 MiB chunk, one in the second 16 MiB
  // block, and the last line. A second invalid line after the first must not win.
  for (const std::uint64_t line : std::vector<std::uint64_t>{1, 5'000, 95'001, 1'600'000, s.lines}) {
    std::string text = s.text;
    const std::size_t at = line_start(text, line);
    const std::size_t end = text.find('\n', at);
    text.replace(at, end - at, "9434765918");  // wrong check digit
    if (line < s.lines) {
      const std::size_t later = line_start(text, s.lines);
      text.replace(later, text.find('\n', later) - later, "12345");
    }
    const std::string expected = "big.txt:" + std::to_string(line) + ": wrong check digit";
    RegistryBuilder b;
    auto t = b.add_text("national", ListKind::kDeny, text, "big.txt");
    EXPECT_EQ(t.code(), ErrorCode::kInvalidInput) << line;
    EXPECT_EQ(t.status().message(), expected);
    const fs::path path = dir.file("big.txt", text);
    auto f = b.add_source("national", ListKind::kDeny, path);
    EXPECT_EQ(f.code(), ErrorCode::kInvalidInput) << line;
    EXPECT_EQ(f.status().message(), path.string() + ":" + std::to_string(line) + ": wrong check digit");
  }
}

TEST(RegistryBuilderBigSource, SkipInvalidCountsEveryInvalidLine) {
  const BigSource& s = big_source();
  std::string text = s.text;
  std::mt19937_64 rng(99);
  std::set<std::uint64_t> lines;
  while (lines.size() < 500) lines.insert(1 + rng() % s.lines);
  std::vector<std::size_t> starts = {0};
  for (std::size_t pos = text.find('\n'); pos != std::string::npos; pos = text.find('\n', pos + 1)) {
    starts.push_back(pos + 1);
  }
  // Replace from the end so that earlier offsets stay valid; count what each replaced line held.
  std::uint64_t replaced_blank = 0;
  for (auto it = lines.rbegin(); it != lines.rend(); ++it) {
    const std::size_t at = starts[*it - 1];
    const std::size_t end = text.find('\n', at);
    if (parse_nhs_number(std::string_view(text).substr(at, end - at)).reason == InvalidReason::kEmpty) ++replaced_blank;
    text.replace(at, end - at, "not a number");
  }
  RegistryBuilder b;
  auto stats = b.add_text("national", ListKind::kDeny, text, "big.txt", SourceOptions{.skip_invalid = true});
  ASSERT_TRUE(stats.ok()) << stats.status().message();
  EXPECT_EQ(stats->lines, s.lines);
  EXPECT_EQ(stats->invalid, 500u);
  EXPECT_EQ(stats->blank, s.blank - replaced_blank);
  EXPECT_EQ(stats->numbers, s.numbers - (500 - replaced_blank));
}

// ---- Deltas from a base -------------------------------------------------------------------------

TEST(RegistryBuilderDelta, StartsFromTheBaseAndLeavesItUntouched) {
  TempDir dir;
  const auto v = valid_stems(400'000'000, 8);
  RegistryBuilder first;
  first.set_description("day 1");
  ASSERT_TRUE(first.add_stems("national", ListKind::kDeny, std::vector<std::uint32_t>{v[0], v[1], v[2], v[3]}).ok());
  ASSERT_TRUE(first.add_stems("cleaned", ListKind::kAllow, std::vector<std::uint32_t>{v[6], v[7]}).ok());
  const Registry base = build_or_die(first, 1000);
  const Digest128 base_digest = base.digest();

  RegistryBuilder delta(base);
  std::string added = number(v[4]) + ",\n" + number(v[5]) + ",\n" + number(v[0]) + ",\n";
  auto add = delta.add_source("national", ListKind::kDeny, dir.file("new.dat", added));
  ASSERT_TRUE(add.ok()) << add.status().message();
  EXPECT_EQ(add->changed, 2u);
  EXPECT_EQ(add->unchanged, 1u);
  auto withdraw = delta.remove_source("national", dir.file("withdrawn.txt", number(v[1]) + "\n" + number(v[7]) + "\n"));
  ASSERT_TRUE(withdraw.ok()) << withdraw.status().message();
  EXPECT_EQ(withdraw->changed, 1u);
  EXPECT_EQ(withdraw->unchanged, 1u);
  EXPECT_EQ(delta.add_stems("cleaned", ListKind::kDeny, std::vector<std::uint32_t>{v[0]}).code(),
            ErrorCode::kInvalidArgument);
  const Registry next = build_or_die(delta, 2000);

  EXPECT_EQ(next.description(), "day 1");
  EXPECT_EQ(list_stems(next, "national"), (std::vector<std::uint32_t>{v[0], v[2], v[3], v[4], v[5]}));
  EXPECT_EQ(list_stems(next, "cleaned"), (std::vector<std::uint32_t>{v[6], v[7]}));
  EXPECT_EQ(base.digest(), base_digest);
  EXPECT_EQ(list_stems(base, "national"), (std::vector<std::uint32_t>{v[0], v[1], v[2], v[3]}));
}

TEST(RegistryBuilderDelta, WorksFromALoadedSnapshot) {
  const auto v = valid_stems(600'000'000, 6000);  // dense enough for a bitset container
  RegistryBuilder first;
  ASSERT_TRUE(first.add_stems("national", ListKind::kDeny, v).ok());
  const Registry built = build_or_die(first, 5);
  auto loaded = decode_registry(encode_registry(built), "<memory>");
  ASSERT_TRUE(loaded.ok()) << loaded.status().message();
  RegistryBuilder delta(*loaded);
  ASSERT_TRUE(delta.remove_stems("national", std::vector<std::uint32_t>(v.begin(), v.begin() + 3000)).ok());
  ASSERT_TRUE(delta.add_stems("national", ListKind::kDeny, valid_stems(800'000'000, 10)).ok());
  const Registry next = build_or_die(delta, 6);
  EXPECT_EQ(next.lists()[0].count, 3010u);
  EXPECT_EQ(loaded->lists()[0].count, 6000u);  // the loaded registry is unchanged
  EXPECT_EQ(list_stems(*loaded, "national"), v);
}

// Issue 10.7: every engine message that quotes a list name passes it through redact_numbers().
TEST(RegistryBuilderMessages, NumberLikeListNamesAreRedacted) {
  RegistryBuilder b;
  ASSERT_TRUE(b.declare_list("9434765919", ListKind::kDeny).ok());
  const Status kind = b.declare_list("9434765919", ListKind::kAllow);
  EXPECT_EQ(kind.code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(kind.message(), "list '[redacted]' is a deny list, not an allow list");
  const std::vector<std::uint32_t> stems = {943476591};
  const auto removed = b.remove_stems("401-023-2137", stems);
  ASSERT_FALSE(removed.ok());
  EXPECT_EQ(removed.status().code(), ErrorCode::kNotFound);
  EXPECT_EQ(removed.status().message(), "no list '[redacted]' to withdraw from");
  const Registry r = build_or_die(b);
  const auto unknown = r.require_list("4010232137");
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.status().message(), "<built>: no list named '[redacted]' in the registry (it has: [redacted])");
  const auto changes = list_changes(r, r, "4010232137");
  ASSERT_FALSE(changes.ok());
  EXPECT_EQ(changes.status().message(), "no list '[redacted]' in either registry");
}

// Issue 10.3: stem 0 (0000000000) passes modulus 11 but is no patient's: not a registry stem.
TEST(RegistryBuilderMessages, AllZeroStemIsRefused) {
  RegistryBuilder b;
  const std::vector<std::uint32_t> stems = {943476591, 0};
  const auto added = b.add_stems("national", ListKind::kDeny, stems);
  ASSERT_FALSE(added.ok());
  EXPECT_EQ(added.status().code(), ErrorCode::kInvalidArgument);
  const auto text = b.add_text("national", ListKind::kDeny, "9434765919\n0000000000\n", "zeros.txt");
  ASSERT_FALSE(text.ok());
  EXPECT_EQ(text.status().message(), "zeros.txt:2: all zeros");
}

// ---- Provenance ---------------------------------------------------------------------------------

constexpr std::int64_t kNov24 = 1'795'478'400;  // 2026-11-24T00:00:00Z
constexpr std::int64_t kNov01 = 1'793'491'200;  // 2026-11-01T00:00:00Z

TEST(RegistryBuilderProvenance, EachSourceIsRecordedByBaseNameSizeDigestAndCounts) {
  TempDir dir;
  const std::string add = number(943476591) + "\n\n" + number(401023213) + ",\n";
  const std::string withdraw = number(401023213) + "\n";
  const fs::path added = dir.file("ndoo.dat", add);
  const fs::path withdrawn = dir.file("gone.txt", withdraw);
  RegistryBuilder b;
  ASSERT_TRUE(b.add_source("national", ListKind::kDeny, added).ok());
  ASSERT_TRUE(b.remove_source("national", withdrawn).ok());
  ASSERT_TRUE(b.add_text("cleared", ListKind::kAllow, withdraw, "some/where/reply.csv").ok());
  ASSERT_TRUE(b.add_stems("stems", ListKind::kDeny, valid_stems(500'000'000, 2)).ok());  // records nothing
  const Registry r = build_or_die(b);

  const auto digest_of = [](const std::string& text) {
    RegistryBuilder d;
    EXPECT_TRUE(d.add_text("x", ListKind::kDeny, text, "x").ok());
    return d.build(0)->provenance_of("x")->sources[0].xxh3;
  };
  ASSERT_EQ(r.provenance().size(), 2u);  // sorted by list; "stems" has none
  const ListProvenance* national = r.provenance_of("national");
  ASSERT_NE(national, nullptr);
  EXPECT_EQ(national->list, "national");
  EXPECT_FALSE(national->as_of.has_value());
  const std::vector<SourceRecord> expected = {
      {"ndoo.dat", false, add.size(), digest_of(add), 3, 2},
      {"gone.txt", true, withdraw.size(), digest_of(withdraw), 1, 1},
  };
  EXPECT_EQ(national->sources, expected);
  const ListProvenance* cleared = r.provenance_of("cleared");
  ASSERT_NE(cleared, nullptr);
  EXPECT_EQ(cleared->sources,
            (std::vector<SourceRecord>{{"reply.csv", false, withdraw.size(), digest_of(withdraw), 1, 1}}));
  EXPECT_EQ(r.provenance()[0].list, "cleared");
  EXPECT_EQ(r.provenance_of("stems"), nullptr);
  // XXH3-128 of the bytes: the empty text's digest is XXH3-128's of nothing.
  EXPECT_EQ(digest_of("").hex(), "99aa06d3014798d86001c324468d497f");

  // A round trip keeps it all.
  auto loaded = decode_registry(encode_registry(r), "mem");
  ASSERT_TRUE(loaded.ok()) << loaded.status().message();
  EXPECT_EQ(loaded->provenance(), r.provenance());
}

TEST(RegistryBuilderProvenance, AFailedSourceRecordsNothing) {
  TempDir dir;
  RegistryBuilder b;
  ASSERT_TRUE(b.add_text("national", ListKind::kDeny, number(943476591) + "\n", "good.txt").ok());
  EXPECT_FALSE(b.add_text("national", ListKind::kDeny, "12\n", "bad.txt").ok());
  EXPECT_FALSE(b.add_source("national", ListKind::kDeny, dir.path() / "missing.txt").ok());
  EXPECT_FALSE(b.remove_source("national", dir.file("bad2.txt", "x\n")).ok());
  const Registry r = build_or_die(b);
  ASSERT_NE(r.provenance_of("national"), nullptr);
  ASSERT_EQ(r.provenance_of("national")->sources.size(), 1u);
  EXPECT_EQ(r.provenance_of("national")->sources[0].file, "good.txt");
}

TEST(RegistryBuilderProvenance, AsOfDatesAndTheirErrors) {
  RegistryBuilder b;
  ASSERT_TRUE(b.add_stems("national", ListKind::kDeny, valid_stems(400'000'000, 2)).ok());
  ASSERT_TRUE(b.declare_list("type1", ListKind::kDeny).ok());
  b.set_as_of("national", kNov01);
  b.set_as_of("national", kNov24 + 3600);  // replaces; a date keeps its day only
  b.set_as_of("ghost", kNov24);
  auto failed = b.build(1'796'000'000);
  EXPECT_EQ(failed.code(), ErrorCode::kNotFound);
  EXPECT_EQ(failed.status().message(), "as-of date for list 'ghost': no list of that name in the registry");
  b.set_as_of("9434765919", kNov24);  // the builder is unchanged by the failure; this name is redacted
  failed = b.build(1'796'000'000);
  EXPECT_EQ(failed.status().message(), "as-of date for list '[redacted]': no list of that name in the registry");
  RegistryBuilder bad_name;
  bad_name.set_as_of("no/such", kNov24);
  EXPECT_EQ(bad_name.build(1).status().message(),
            "as-of date for list of that name: no list of that name in the registry");
  RegistryBuilder out_of_range;
  ASSERT_TRUE(out_of_range.declare_list("national", ListKind::kDeny).ok());
  out_of_range.set_as_of("national", -86400);
  auto range = out_of_range.build(1);
  EXPECT_EQ(range.code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(range.status().message(), "as-of date for list 'national': outside 1970-01-01 to 9999-12-31");

  RegistryBuilder good;
  ASSERT_TRUE(good.add_stems("national", ListKind::kDeny, valid_stems(400'000'000, 2)).ok());
  ASSERT_TRUE(good.declare_list("type1", ListKind::kDeny).ok());
  good.set_as_of("national", kNov01);
  good.set_as_of("national", kNov24 + 3600);
  const Registry r = build_or_die(good, 1'796'000'000);
  ASSERT_EQ(r.provenance().size(), 1u);  // type1: no date, no source
  EXPECT_EQ(r.provenance_of("national")->as_of, kNov24);
  EXPECT_TRUE(r.provenance_of("national")->sources.empty());
  auto loaded = decode_registry(encode_registry(r), "mem");
  ASSERT_TRUE(loaded.ok()) << loaded.status().message();
  EXPECT_EQ(loaded->provenance(), r.provenance());
}

TEST(RegistryBuilderProvenance, DataAsOfIsTheOldestAsOfElseTheBuildTime) {
  constexpr std::int64_t kBuilt = 1'796'100'000;
  RegistryBuilder b;
  for (const char* name : {"national", "type1", "cleared"}) ASSERT_TRUE(b.declare_list(name, ListKind::kDeny).ok());
  b.set_as_of("national", kNov24);
  b.set_as_of("type1", kNov01);
  const Registry r = build_or_die(b, kBuilt);
  const std::vector<std::string> national = {"national"};
  const std::vector<std::string> both = {"national", "type1"};
  const std::vector<std::string> cleared = {"cleared"};
  const std::vector<std::string> missing = {"nothing"};
  EXPECT_EQ(r.data_as_of(national), kNov24);
  EXPECT_EQ(r.data_as_of(both), kNov01);
  EXPECT_EQ(r.data_as_of(cleared), kBuilt);
  EXPECT_EQ(r.data_as_of(), kNov01);
  EXPECT_EQ(r.data_as_of(missing), kBuilt);  // a name no list has counts from the build time
  EXPECT_EQ(Registry().data_as_of(), 0);
  RegistryBuilder undated;
  ASSERT_TRUE(undated.declare_list("national", ListKind::kDeny).ok());
  EXPECT_EQ(build_or_die(undated, kBuilt).data_as_of(), kBuilt);
}

TEST(RegistryBuilderProvenance, ADeltaKeepsItsBasesProvenance) {
  RegistryBuilder first;
  ASSERT_TRUE(first.add_text("national", ListKind::kDeny, number(943476591) + "\n", "day1.dat").ok());
  ASSERT_TRUE(first.add_text("type1", ListKind::kDeny, number(401023213) + "\n", "t1.dat").ok());
  first.set_as_of("national", kNov01);
  first.set_as_of("type1", kNov01);
  const Registry base = build_or_die(first);
  auto loaded = decode_registry(encode_registry(base), "base.optout");
  ASSERT_TRUE(loaded.ok());

  RegistryBuilder delta(*loaded);
  ASSERT_TRUE(delta.add_text("national", ListKind::kDeny, "\n", "day2.dat").ok());
  delta.set_as_of("national", kNov24);
  const Registry r = build_or_die(delta);
  const ListProvenance* national = r.provenance_of("national");
  ASSERT_NE(national, nullptr);
  EXPECT_EQ(national->as_of, kNov24);
  ASSERT_EQ(national->sources.size(), 2u);
  EXPECT_EQ(national->sources[0], base.provenance_of("national")->sources[0]);
  EXPECT_EQ(national->sources[1].file, "day2.dat");
  EXPECT_EQ(*r.provenance_of("type1"), *base.provenance_of("type1"));
  EXPECT_EQ(r.data_as_of(), kNov01);
  // The base is untouched.
  EXPECT_EQ(loaded->provenance_of("national")->sources.size(), 1u);
}

TEST(RegistryBuilderProvenance, FileNamesAreRecordedAsValidUtf8BaseNames) {
  RegistryBuilder b;
  ASSERT_TRUE(b.add_text("a", ListKind::kDeny, "\n", std::string("dir/bad\xff name.txt")).ok());
  ASSERT_TRUE(b.add_text("a", ListKind::kDeny, "\n", "").ok());
  ASSERT_TRUE(b.add_text("a", ListKind::kDeny, "\n", "dir/").ok());
  const Registry r = build_or_die(b);
  const auto& sources = r.provenance_of("a")->sources;
  ASSERT_EQ(sources.size(), 3u);
  EXPECT_EQ(sources[0].file, "bad\xEF\xBF\xBD name.txt");  // U+FFFD for the invalid byte
  EXPECT_EQ(sources[1].file, "<unnamed>");
  EXPECT_EQ(sources[2].file, "<unnamed>");
  auto loaded = decode_registry(encode_registry(r), "mem");
  ASSERT_TRUE(loaded.ok()) << loaded.status().message();
  EXPECT_EQ(loaded->provenance(), r.provenance());
}

}  // namespace
}  // namespace optout
