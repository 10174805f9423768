// Registry queries, list names, digests, and comparing registries (diff_registries, list_changes).
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <set>
#include <string>
#include <vector>

#include "optout/nhs_number.hpp"
#include "optout/index.hpp"
#include "optout/registry.hpp"
#include "test_support.hpp"

namespace optout {
namespace {

std::vector<std::uint32_t> valid_stems(std::uint32_t start, std::size_t n, std::uint32_t step = 1) {
  std::vector<std::uint32_t> out;
  for (std::uint32_t s = start; out.size() < n; s += step) {
    if (is_valid_stem(s)) out.push_back(s);
  }
  return out;
}

using testing::make_registry;

TEST(ListNames, ValidateListName) {
  struct Case {
    std::string name;
    bool ok;
    const char* message;
  };
  const std::vector<Case> cases = {
      {"national", true, ""},
      {"type1", true, ""},
      {"A-Z_a.z-0.9", true, ""},
      {"x", true, ""},
      {std::string(64, 'n'), true, ""},
      {"", false, "list name is empty"},
      {std::string(65, 'n'), false, "list name is longer than 64 bytes"},
      {"two words", false, "list name: byte 4 is not a letter, digit, '_', '.' or '-'"},
      {"a/b", false, "list name: byte 2 is not a letter, digit, '_', '.' or '-'"},
      {"caf\xC3\xA9", false, "list name: byte 4 is not a letter, digit, '_', '.' or '-'"},
      {std::string("\0", 1), false, "list name: byte 1 is not a letter, digit, '_', '.' or '-'"},
      {"national\n", false, "list name: byte 9 is not a letter, digit, '_', '.' or '-'"},
  };
  for (const Case& c : cases) {
    const Status s = validate_list_name(c.name);
    EXPECT_EQ(s.ok(), c.ok) << c.name;
    EXPECT_EQ(s.code(), c.ok ? ErrorCode::kOk : ErrorCode::kInvalidArgument) << c.name;
    EXPECT_EQ(s.message(), c.message) << c.name;
  }
}

TEST(ListNames, KindNames) {
  EXPECT_STREQ(list_kind_name(ListKind::kDeny), "deny");
  EXPECT_STREQ(list_kind_name(ListKind::kAllow), "allow");
  EXPECT_STREQ(list_kind_name(static_cast<ListKind>(7)), "unknown");
}

TEST(Digest, HexIsHighThenLowLowerCase) {
  EXPECT_EQ((Digest128{0x0123456789abcdefULL, 0xfedcba9876543210ULL}.hex()), "0123456789abcdeffedcba9876543210");
  EXPECT_EQ((Digest128{0, 1}.hex()), "00000000000000000000000000000001");
  EXPECT_EQ((Digest128{~0ULL, 0}.hex()), "ffffffffffffffff0000000000000000");
}

TEST(Registry, DefaultIsEmptyAndMatchesAnEmptyBuild) {
  const Registry empty;
  EXPECT_TRUE(empty.lists().empty());
  EXPECT_EQ(empty.created_at(), 0);
  EXPECT_EQ(empty.description(), "");
  EXPECT_EQ(empty.total_count(), 0u);
  EXPECT_EQ(empty.memory_bytes(), 0u);
  EXPECT_FALSE(empty.find_list("national").has_value());
  EXPECT_EQ(empty.require_list("national").status().message(),
            "<built>: no list named 'national' in the registry (it has: no lists)");
  RegistryBuilder b;
  auto built = b.build(0);
  ASSERT_TRUE(built.ok());
  EXPECT_EQ(empty.digest(), built->digest());
  EXPECT_EQ(encode_registry(empty), encode_registry(*built));
}

TEST(Registry, Queries) {
  const auto deny = valid_stems(400'000'000, 5000, 7);  // > 4096 in one key: a bitset container
  const auto allow = valid_stems(600'000'000, 20, 1000);
  const Registry r = make_registry({{"national", ListKind::kDeny, deny},
                                    {"cleaned", ListKind::kAllow, allow},
                                    {"type1", ListKind::kDeny, {deny[0], allow[0]}}});
  ASSERT_EQ(r.lists().size(), 3u);
  EXPECT_EQ(r.find_list("cleaned"), 0u);
  EXPECT_EQ(r.find_list("national"), 1u);
  EXPECT_EQ(r.find_list("type1"), 2u);
  EXPECT_FALSE(r.find_list("nationa").has_value());
  EXPECT_FALSE(r.find_list("").has_value());
  ASSERT_TRUE(r.require_list("type1").ok());
  EXPECT_EQ(*r.require_list("type1"), 2u);
  const Result<std::size_t> missing = r.require_list("nationa");
  EXPECT_EQ(missing.code(), ErrorCode::kNotFound);
  EXPECT_EQ(missing.status().message(),
            "<built>: no list named 'nationa' in the registry (it has: cleaned, national, type1)");
  EXPECT_EQ(r.lists()[0].kind, ListKind::kAllow);
  EXPECT_EQ(r.lists()[0].count, 20u);
  EXPECT_EQ(r.lists()[1].count, 5000u);
  EXPECT_EQ(r.lists()[2].count, 2u);
  EXPECT_EQ(r.total_count(), 5022u);  // a stem in two lists counts twice
  for (const ListInfo& info : r.lists()) {
    EXPECT_GT(info.serialized_bytes, 0u) << info.name;
    EXPECT_GT(info.memory_bytes, 0u) << info.name;
  }
  EXPECT_EQ(r.memory_bytes(), r.lists()[0].memory_bytes + r.lists()[1].memory_bytes + r.lists()[2].memory_bytes);

  const std::size_t national = *r.find_list("national");
  EXPECT_TRUE(r.contains(national, deny[0]));
  EXPECT_TRUE(r.contains(national, deny.back()));
  EXPECT_FALSE(r.contains(national, allow[0]));
  EXPECT_FALSE(r.contains(national, deny[0] + 1));
  EXPECT_EQ(r.stems(national), deny);

  const std::vector<std::uint32_t> probe = {deny[3], allow[1], 0, deny[4999], kStemLimit - 1};
  std::vector<std::uint8_t> out(probe.size(), 7);
  r.contains_many(national, probe, out);
  EXPECT_EQ(out, (std::vector<std::uint8_t>{1, 0, 0, 1, 0}));

  std::vector<std::uint32_t> first_ten;
  r.for_each_stem(national, [&](std::uint32_t stem) {
    first_ten.push_back(stem);
    return first_ten.size() < 10;
  });
  EXPECT_EQ(first_ten, std::vector<std::uint32_t>(deny.begin(), deny.begin() + 10));
}

TEST(Registry, CopiesAndMovesShareTheSameData) {
  const Registry r = make_registry({{"national", ListKind::kDeny, valid_stems(400'000'000, 3)}});
  Registry copy = r;
  EXPECT_EQ(copy.digest(), r.digest());
  Registry moved = std::move(copy);
  EXPECT_EQ(moved.digest(), r.digest());
  EXPECT_EQ(copy.lists().size(), 1u);  // NOLINT(bugprone-use-after-move): documented to stay valid
  Registry assigned;
  assigned = moved;
  EXPECT_EQ(assigned.stems(0), r.stems(0));
}

// ---- Comparing ----------------------------------------------------------------------------------

TEST(Compare, DiffRegistries) {
  const auto v = valid_stems(400'000'000, 10);
  const Registry older = make_registry({{"a", ListKind::kDeny, {v[0], v[1], v[2]}},
                                        {"b", ListKind::kAllow, {v[3]}},
                                        {"c", ListKind::kDeny, {v[4], v[5]}},
                                        {"e", ListKind::kDeny, {}}});
  const Registry newer = make_registry({{"a", ListKind::kDeny, {v[1], v[2], v[6], v[7]}},
                                        {"b", ListKind::kDeny, {v[3]}},
                                        {"d", ListKind::kAllow, {v[8], v[9], v[0]}},
                                        {"e", ListKind::kDeny, {}}});
  const std::vector<ListDiff> diff = diff_registries(older, newer);
  struct Row {
    const char* name;
    std::optional<ListKind> old_kind;
    std::optional<ListKind> new_kind;
    std::uint64_t added;
    std::uint64_t withdrawn;
  };
  const std::vector<Row> expected = {
      {"a", ListKind::kDeny, ListKind::kDeny, 2, 1}, {"b", ListKind::kAllow, ListKind::kDeny, 0, 0},
      {"c", ListKind::kDeny, std::nullopt, 0, 2},    {"d", std::nullopt, ListKind::kAllow, 3, 0},
      {"e", ListKind::kDeny, ListKind::kDeny, 0, 0},
  };
  ASSERT_EQ(diff.size(), expected.size());
  for (std::size_t i = 0; i < expected.size(); ++i) {
    EXPECT_EQ(diff[i].name, expected[i].name) << i;
    EXPECT_EQ(diff[i].old_kind, expected[i].old_kind) << expected[i].name;
    EXPECT_EQ(diff[i].new_kind, expected[i].new_kind) << expected[i].name;
    EXPECT_EQ(diff[i].added, expected[i].added) << expected[i].name;
    EXPECT_EQ(diff[i].withdrawn, expected[i].withdrawn) << expected[i].name;
  }
  EXPECT_TRUE(diff_registries(Registry(), Registry()).empty());
  const auto same = diff_registries(newer, newer);
  for (const ListDiff& d : same) {
    EXPECT_EQ(d.added, 0u) << d.name;
    EXPECT_EQ(d.withdrawn, 0u) << d.name;
  }
}

TEST(Compare, ListChanges) {
  const auto v = valid_stems(400'000'000, 200'000, 3);  // several containers on each side
  std::vector<std::uint32_t> old_stems;
  std::vector<std::uint32_t> new_stems;
  std::vector<std::uint32_t> added;
  std::vector<std::uint32_t> withdrawn;
  for (std::size_t i = 0; i < v.size(); ++i) {
    const bool in_old = i % 3 != 0;
    const bool in_new = i % 5 != 0;
    if (in_old) old_stems.push_back(v[i]);
    if (in_new) new_stems.push_back(v[i]);
    if (in_new && !in_old) added.push_back(v[i]);
    if (in_old && !in_new) withdrawn.push_back(v[i]);
  }
  const Registry older = make_registry({{"national", ListKind::kDeny, old_stems}, {"gone", ListKind::kDeny, {v[0]}}});
  const Registry newer =
      make_registry({{"national", ListKind::kDeny, new_stems}, {"fresh", ListKind::kDeny, {v[1], v[2]}}});

  auto changes = list_changes(older, newer, "national");
  ASSERT_TRUE(changes.ok());
  EXPECT_EQ(changes->added, added);
  EXPECT_EQ(changes->withdrawn, withdrawn);

  auto gone = list_changes(older, newer, "gone");
  ASSERT_TRUE(gone.ok());
  EXPECT_TRUE(gone->added.empty());
  EXPECT_EQ(gone->withdrawn, std::vector<std::uint32_t>{v[0]});

  auto fresh = list_changes(older, newer, "fresh");
  ASSERT_TRUE(fresh.ok());
  EXPECT_EQ(fresh->added, (std::vector<std::uint32_t>{v[1], v[2]}));
  EXPECT_TRUE(fresh->withdrawn.empty());

  auto missing = list_changes(older, newer, "type1");
  EXPECT_EQ(missing.code(), ErrorCode::kNotFound);
  EXPECT_EQ(missing.status().message(), "no list 'type1' in either registry");
  auto odd = list_changes(older, newer, "9434765919 ");
  EXPECT_EQ(odd.code(), ErrorCode::kNotFound);
  EXPECT_EQ(odd.status().message(), "no list of that name in either registry");
}

TEST(RegistryLists, AnInvalidListNameIsAUsageErrorAndAnUnknownOneIsNotFound) {
  const Registry r = make_registry({{"national", ListKind::kDeny, valid_stems(1000, 3)}});
  EXPECT_EQ(r.require_list("a b").code(), ErrorCode::kInvalidArgument);
  const Result<std::size_t> numeric = r.require_list("9434765919");
  EXPECT_EQ(numeric.code(), ErrorCode::kNotFound);
  EXPECT_EQ(numeric.status().message(), "<built>: no list named '[redacted]' in the registry (it has: national)");
}

// ---- Dates and trust ----------------------------------------------------------------------------

TEST(Dates, ParseIsoDateTakesRealDatesOnly) {
  struct Case {
    std::string text;
    std::int64_t seconds;  // -1: refused
  };
  const Case cases[] = {
      {"1970-01-01", 0},
      {"2026-11-24", 1'795'478'400},
      {"2024-02-29", 1'709'164'800},  // a leap day
      {"2000-02-29", 951'782'400},    // divisible by 400: a leap year
      {"9999-12-31", 253'402'214'400},
      {"2026-02-29", -1},
      {"1900-02-29", -1},
      {"2026-02-30", -1},
      {"2026-04-31", -1},
      {"2026-13-01", -1},
      {"2026-00-10", -1},
      {"2026-01-00", -1},
      {"1969-12-31", -1},
      {"2026-1-05", -1},
      {"2026-01-5", -1},
      {"2026-11-24T00:00:00Z", -1},
      {"2026-11-24 ", -1},
      {" 2026-11-24", -1},
      {"2026/11/24", -1},
      {"20261124", -1},
      {"+026-11-24", -1},
      {"2026-+1-24", -1},
      {"", -1},
  };
  for (const Case& c : cases) {
    auto r = parse_iso_date(c.text);
    if (c.seconds >= 0) {
      ASSERT_TRUE(r.ok()) << c.text << ": " << r.status().message();
      EXPECT_EQ(*r, c.seconds) << c.text;
      EXPECT_EQ(iso_date_utc(*r), c.text);
      EXPECT_EQ(iso_date_utc(*r + 86399), c.text);
    } else {
      EXPECT_EQ(r.code(), ErrorCode::kInvalidArgument) << c.text;
      EXPECT_EQ(r.status().message(), "the as-of date takes YYYY-MM-DD, e.g. 2026-11-24") << c.text;
    }
  }
}

TEST(Trust, ExpectedDigest) {
  const Registry r = make_registry({testing::kListed});
  const std::string hex = r.digest().hex();
  EXPECT_TRUE(check_expected_digest("reg.optout", r.digest(), hex).ok());
  std::string upper = hex;
  std::transform(upper.begin(), upper.end(), upper.begin(), [](char c) { return static_cast<char>(std::toupper(c)); });
  EXPECT_TRUE(check_expected_digest("reg.optout", r.digest(), upper).ok());

  std::string other = hex;
  other[31] = other[31] == '0' ? '1' : '0';
  Status s = check_expected_digest("reg.optout", r.digest(), other);
  EXPECT_EQ(s.code(), ErrorCode::kUntrusted);
  EXPECT_EQ(s.message(), "reg.optout: digest " + hex + " is not the expected " + other);
  std::string other_upper = other;
  std::transform(other_upper.begin(), other_upper.end(), other_upper.begin(),
                 [](char c) { return static_cast<char>(std::toupper(c)); });
  s = check_expected_digest("reg.optout", r.digest(), other_upper);
  EXPECT_EQ(s.message(), "reg.optout: digest " + hex + " is not the expected " + other);  // shown lower case

  for (const std::string& bad : {std::string(""), hex.substr(0, 31), hex + "0", hex.substr(0, 31) + "g", " " + hex}) {
    s = check_expected_digest("reg.optout", r.digest(), bad);
    EXPECT_EQ(s.code(), ErrorCode::kInvalidArgument) << bad;
    EXPECT_EQ(s.message(), "the expected digest takes 32 hex digits (optout info shows it)") << bad;
  }
}

}  // namespace
}  // namespace optout
