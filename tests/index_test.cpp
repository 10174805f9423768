// The index (opt_out_index.cpp): the applied lists, and its verdicts one at a time and in batches.
#include "optout/filter.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "optout/nhs_number.hpp"
#include "optout/registry.hpp"
#include "test_support.hpp"

namespace optout {
namespace {

using testing::kListed;
using testing::make_index;
using testing::make_registry;

TEST(IndexTest, UnknownListIsNotFound) {
  const Registry registry = make_registry({kListed});
  Result<OptOutIndex> index = OptOutIndex::create(registry, std::vector<std::string>{"type1"});
  ASSERT_FALSE(index.ok());
  EXPECT_EQ(index.code(), ErrorCode::kNotFound);
  EXPECT_EQ(index.status().message(), "<built>: no list named 'type1' in the registry (it has: national)");
}

// The batch lookups parse in chunks (1024 at a time) and probe each chunk after: over several
// chunks and a partial last one, each verdict must be the one-at-a-time verdict of its own input.
TEST(IndexTest, BatchVerdictsMatchOneAtATimeAcrossChunks) {
  std::mt19937_64 rng(11);
  std::vector<std::uint32_t> listed;
  std::vector<std::uint64_t> numbers;
  std::vector<std::string> texts;
  std::vector<std::uint32_t> stems;
  for (std::size_t i = 0; i < 2600; ++i) {
    std::uint32_t stem = 400'000'000 + static_cast<std::uint32_t>(rng() % 400'000'000);
    while (!is_valid_stem(stem)) ++stem;
    char digits[kMaxFormattedBytes];
    std::string text(digits, format_nhs_number(stem, digits));
    if (i % 3 == 0) listed.push_back(stem);
    stems.push_back(stem);
    if (i % 7 == 0) text.back() = text.back() == '0' ? '1' : '0';  // a wrong check digit: rejected
    if (i % 11 == 0) text = "not a number";
    texts.push_back(text);
    numbers.push_back(i % 11 == 0 ? 12345 : std::stoull(text));
  }
  const Registry registry = make_registry(listed);
  const OptOutIndex index = make_index(registry);

  std::vector<Verdict> from_numbers(numbers.size()), from_text(texts.size()), from_stems(stems.size());
  index.classify_numbers(numbers, from_numbers);
  std::vector<std::string_view> views(texts.begin(), texts.end());
  index.classify_text(views, from_text);
  index.classify_stems(stems, from_stems);
  std::size_t removed = 0, rejected = 0;
  for (std::size_t i = 0; i < numbers.size(); ++i) {
    const Verdict expected = index.verdict(parse_nhs_number(texts[i]));
    ASSERT_EQ(from_text[i], expected) << i;
    ASSERT_EQ(from_numbers[i], expected) << i;
    ASSERT_EQ(from_stems[i], index.removes(stems[i]) ? Verdict::kRemoved : Verdict::kKept) << i;
    removed += expected == Verdict::kRemoved;
    rejected += expected == Verdict::kRejected;
  }
  // Every kind occurs, so the comparison above covers each.
  EXPECT_GT(removed, 500u);
  EXPECT_GT(rejected, 500u);
  EXPECT_GT(numbers.size() - removed - rejected, 500u);
}

// The index expands each Roaring container kind into its bits: a block holding every valid stem
// (a bitset container), a short stretch of consecutive stems (runs, after build's run_optimize),
// and scattered stems (an array). Every stem of the blocks around them is probed, as are the
// batch paths. Sparse test lists reach only arrays; a real list's dense ranges reach the others.
TEST(IndexTest, EveryContainerKindIsExpandedIntoItsBits) {
  constexpr std::uint32_t kBlock = 6000;  // stems 6000 << 16 = 393 216 000 onwards
  std::vector<std::uint32_t> stems;
  auto add_valid = [&](std::uint32_t first, std::uint32_t last, std::uint32_t step) {
    for (std::uint32_t s = first; s < last; s += step) {
      if (is_valid_stem(s)) stems.push_back(s);
    }
  };
  add_valid(kBlock << 16, (kBlock + 1) << 16, 1);                // bitset
  add_valid((kBlock + 1) << 16, ((kBlock + 1) << 16) + 100, 1);  // runs
  add_valid((kBlock + 2) << 16, (kBlock + 3) << 16, 37);         // array
  RegistryBuilder builder;
  ASSERT_TRUE(builder.add_stems("dense", ListKind::kDeny, stems).ok());
  Result<Registry> registry = builder.build(0);
  ASSERT_TRUE(registry.ok()) << registry.status().message();
  Result<OptOutIndex> index = OptOutIndex::create(*registry);
  ASSERT_TRUE(index.ok()) << index.status().message();
  const std::set<std::uint32_t> listed(stems.begin(), stems.end());
  std::vector<std::uint32_t> probe;
  for (std::uint32_t s = (kBlock - 1) << 16; s < (kBlock + 4) << 16; ++s) {
    ASSERT_EQ(index->removes(s), listed.count(s) == 1) << s;
    if (is_valid_stem(s)) probe.push_back(s);
  }
  std::vector<Verdict> verdicts(probe.size());
  index->classify_stems(probe, verdicts);
  for (std::size_t i = 0; i < probe.size(); ++i) {
    ASSERT_EQ(verdicts[i], listed.count(probe[i]) == 1 ? Verdict::kRemoved : Verdict::kKept) << probe[i];
  }
}

// ---- The registry date rule (issue 10, --max-age bypass) -------------------------------------------

// The freshness gate as a run applies it: through the index, which knows its registry's age.
Status check_index_age(const Registry& registry, std::int64_t max_age_seconds, std::int64_t now) {
  Result<OptOutIndex> index = OptOutIndex::create(registry);
  if (!index.ok()) return index.status();
  return index->check_age(max_age_seconds, now);
}

TEST(IndexTest, FutureDatedRegistryFailsMaxAgeBeyondTheClockSkew) {
  const std::int64_t now = 1'800'000'000;
  const Registry skewed = make_registry({}, now + kClockSkewSeconds);
  EXPECT_TRUE(check_index_age(skewed, 0, now).ok());  // within the stated clock skew
  const Registry future = make_registry({}, now + kClockSkewSeconds + 1);
  const Status s = check_index_age(future, 365 * 86400, now);
  EXPECT_EQ(s.code(), ErrorCode::kStaleRegistry);
  EXPECT_EQ(s.message(),
            "<built>: the registry claims to be built 2027-01-15T08:05:01Z, in the future (a wrong clock?): "
            "its age is unknown, so it cannot pass a maximum age");
}

TEST(IndexTest, AgesAtTheEndsOfTheRangeDoNotOverflow) {
  const Registry oldest = make_registry({}, 0);
  EXPECT_EQ(check_index_age(oldest, 86400, kLatestCreatedAt).code(), ErrorCode::kStaleRegistry);
  EXPECT_TRUE(check_index_age(oldest, kLatestCreatedAt, kLatestCreatedAt).ok());
  const Registry latest = make_registry({}, kLatestCreatedAt);
  EXPECT_EQ(check_index_age(latest, 0, 0).code(), ErrorCode::kStaleRegistry);
  EXPECT_EQ(check_index_age(latest, 0, -1).code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(check_index_age(latest, -1, 0).code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(check_index_age(latest, 0, INT64_MIN).code(), ErrorCode::kInvalidArgument);
}

// An as-of date makes the applied lists as old as the list they were cut from (issue 12.2).
TEST(IndexTest, MaxAgeCountsFromTheOldestAsOfDateOfTheAppliedLists) {
  const std::int64_t built = 1'800'000'000;  // 2027-01-15T08:00:00Z
  RegistryBuilder b;
  ASSERT_TRUE(b.add_stems("national", ListKind::kDeny, std::vector<std::uint32_t>{401023213}).ok());
  ASSERT_TRUE(b.add_stems("type1", ListKind::kDeny, std::vector<std::uint32_t>{943476591}).ok());
  ASSERT_TRUE(b.add_stems("fresh", ListKind::kDeny, std::vector<std::uint32_t>{123456788}).ok());
  b.set_as_of("national", *parse_iso_date("2026-12-15"));  // a month before the build
  b.set_as_of("type1", *parse_iso_date("2027-01-14"));
  Result<Registry> registry = b.build(built);
  ASSERT_TRUE(registry.ok()) << registry.status().message();
  const std::int64_t now = built + 3600;
  const std::int64_t week = 7 * 86400;

  Result<OptOutIndex> all = OptOutIndex::create(*registry);
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->data_as_of(), *parse_iso_date("2026-12-15"));
  const Status s = all->check_age(week, now);
  EXPECT_EQ(s.code(), ErrorCode::kStaleRegistry);
  EXPECT_EQ(s.message(),
            "<built>: the registry's lists date from 2026-12-15 (as-of), 753 h ago, older than the limit of 168 h");

  const std::vector<std::string> recent = {"type1"};
  Result<OptOutIndex> type1 = OptOutIndex::create(*registry, recent);
  ASSERT_TRUE(type1.ok());
  EXPECT_TRUE(type1->check_age(week, now).ok());
  EXPECT_EQ(type1->check_age(3600, now).message(),
            "<built>: the registry's lists date from 2027-01-14 (as-of), 33 h ago, older than the limit of 1 h");

  // A list without an as-of date counts from the build.
  const std::vector<std::string> undated = {"fresh"};
  Result<OptOutIndex> fresh = OptOutIndex::create(*registry, undated);
  ASSERT_TRUE(fresh.ok());
  EXPECT_EQ(fresh->data_as_of(), built);
  EXPECT_TRUE(fresh->check_age(3600, now).ok());
  EXPECT_EQ(fresh->check_age(0, now).message(),
            "<built>: the registry was built 2027-01-15T08:00:00Z, 1 h ago, older than the limit of 0 h");

  // The audit record's facts: each applied list with its count and as-of date.
  ASSERT_EQ(all->applied_list_facts().size(), 3u);
  EXPECT_EQ(all->applied_list_facts()[0].name, "fresh");
  EXPECT_FALSE(all->applied_list_facts()[0].as_of.has_value());
  EXPECT_EQ(all->applied_list_facts()[1].name, "national");
  EXPECT_EQ(all->applied_list_facts()[1].count, 1u);
  EXPECT_EQ(all->applied_list_facts()[1].as_of, *parse_iso_date("2026-12-15"));
}

TEST(IndexTest, MaxAgeTextForms) {
  EXPECT_EQ(*parse_max_age("36h"), 36 * 3600);
  EXPECT_EQ(*parse_max_age("7d"), 7 * 86400);
  EXPECT_EQ(*parse_max_age("0h"), 0);
  EXPECT_EQ(*parse_max_age("999999999d"), std::int64_t{999'999'999} * 86400);
  for (const char* bad : {"", "h", "d", "7", "7m", "7D", "-1d", "+1d", " 7d", "7 d", "1.5d", "1000000000d"}) {
    const Result<std::int64_t> seconds = parse_max_age(bad);
    EXPECT_EQ(seconds.code(), ErrorCode::kInvalidArgument) << bad;
    EXPECT_EQ(seconds.status().message(), "the maximum age takes a number of hours or days, e.g. 36h or 7d") << bad;
  }
}

}  // namespace
}  // namespace optout
