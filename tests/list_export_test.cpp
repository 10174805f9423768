// export_list: exact bytes in each format, the Roaring bytes read back by CRoaring, errors.
#include "optout/list_export.hpp"

#include <gtest/gtest.h>

#include <roaring/roaring.h>

#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "optout/nhs_number.hpp"
#include "optout/registry.hpp"

namespace optout {
namespace {

Registry make_registry(const std::vector<std::pair<std::string, std::vector<std::uint32_t>>>& deny,
                       const std::vector<std::pair<std::string, std::vector<std::uint32_t>>>& allow = {}) {
  RegistryBuilder builder;
  for (const auto& [name, stems] : deny) EXPECT_TRUE(builder.add_stems(name, ListKind::kDeny, stems).ok()) << name;
  for (const auto& [name, stems] : allow) EXPECT_TRUE(builder.add_stems(name, ListKind::kAllow, stems).ok()) << name;
  Result<Registry> registry = builder.build(1'700'000'000);
  EXPECT_TRUE(registry.ok()) << registry.status().message();
  return registry.ok() ? std::move(registry).value() : Registry();
}

// Every valid stem in [from, to).
std::vector<std::uint32_t> valid_range(std::uint32_t from, std::uint32_t to) {
  std::vector<std::uint32_t> stems;
  for (std::uint32_t s = from; s < to; ++s) {
    if (is_valid_stem(s)) stems.push_back(s);
  }
  return stems;
}

struct Exported {
  Status status;
  ListExportStats stats;
  std::string bytes;
};

Exported run_export(const Registry& registry, std::string_view list, NumbersFormat format) {
  Exported out;
  std::unique_ptr<ByteSink> sink = make_string_sink(out.bytes, "<memory>");
  Result<ListExportStats> stats = export_list(registry, list, format, *sink);
  out.status = stats.ok() ? Status() : stats.status();
  if (stats.ok()) out.stats = *stats;
  return out;
}

void put16(std::string& out, std::uint16_t v) {
  out += static_cast<char>(v & 0xff);
  out += static_cast<char>(v >> 8);
}
void put32(std::string& out, std::uint32_t v) {
  put16(out, static_cast<std::uint16_t>(v & 0xffff));
  put16(out, static_cast<std::uint16_t>(v >> 16));
}

// 9434765919, 4010232137 and 0101011113 (a leading zero; 0000000000 is no valid number).
const std::vector<std::uint32_t> kSmall = {943476591, 401023213, 10101111};

// The portable format, written out from its specification: cookie 12346 (no run containers), the
// container count, per container its key (the stem's high 16 bits) and cardinality - 1, then each
// container's offset, then the array containers' 16-bit values (one stem per container here).
std::string portable_arrays_of_one(const std::vector<std::uint32_t>& ascending) {
  std::string bytes;
  put32(bytes, 12346);
  put32(bytes, static_cast<std::uint32_t>(ascending.size()));
  for (const std::uint32_t stem : ascending) {
    put16(bytes, static_cast<std::uint16_t>(stem >> 16));
    put16(bytes, 0);
  }
  const auto header = static_cast<std::uint32_t>(8 + 8 * ascending.size());
  for (std::uint32_t i = 0; i < ascending.size(); ++i) put32(bytes, header + 2 * i);
  for (const std::uint32_t stem : ascending) put16(bytes, static_cast<std::uint16_t>(stem & 0xffff));
  return bytes;
}

TEST(ExportList, ExactBytes) {
  const Registry registry = make_registry({{"national", kSmall}, {"empty", {}}}, {{"cleared", kSmall}});
  const std::string small_roaring = portable_arrays_of_one({10101111, 401023213, 943476591});
  ASSERT_EQ(small_roaring.size(), 38u);
  struct Case {
    const char* list;
    NumbersFormat format;
    std::string bytes;
    std::uint64_t count;
  };
  const std::vector<Case> cases = {
      {"national", NumbersFormat::kText, "0101011113\n4010232137\n9434765919\n", 3},
      {"national", NumbersFormat::kMesh, "0101011113,\n4010232137,\n9434765919,\n", 3},
      {"national", NumbersFormat::kRoaring, small_roaring, 3},
      {"cleared", NumbersFormat::kText, "0101011113\n4010232137\n9434765919\n", 3},  // an allow list
      {"cleared", NumbersFormat::kRoaring, small_roaring, 3},
      {"empty", NumbersFormat::kText, "", 0},
      {"empty", NumbersFormat::kMesh, "", 0},
      {"empty", NumbersFormat::kRoaring, portable_arrays_of_one({}), 0},  // cookie, 0 containers
  };
  for (const Case& c : cases) {
    const Exported out = run_export(registry, c.list, c.format);
    const std::string what = std::string(c.list) + " as " + numbers_format_name(c.format);
    ASSERT_TRUE(out.status.ok()) << what << ": " << out.status.message();
    EXPECT_EQ(out.bytes, c.bytes) << what;
    EXPECT_EQ(out.stats.count, c.count) << what;
    EXPECT_EQ(out.stats.bytes, c.bytes.size()) << what;
  }
}

TEST(ExportList, RoaringBytesAreTheSnapshots) {
  const Registry registry = make_registry({{"national", kSmall}});
  const Exported roaring = run_export(registry, "national", NumbersFormat::kRoaring);
  ASSERT_TRUE(roaring.status.ok()) << roaring.status.message();
  EXPECT_EQ(registry.lists()[0].serialized_bytes, roaring.bytes.size());
  EXPECT_NE(encode_registry(registry).find(roaring.bytes), std::string::npos);
}

TEST(ExportList, RoaringRoundTripsThroughCRoaringWithEveryContainerKind) {
  // Every valid stem of two whole 65536-blocks (bitmap containers), of a short range (a run
  // container) and spread stems (array containers); a second list to pick the right one from.
  std::vector<std::uint32_t> stems = valid_range(100u << 16, 102u << 16);
  const std::vector<std::uint32_t> run = valid_range(300'000'000, 300'000'300);
  stems.insert(stems.end(), run.begin(), run.end());
  for (std::uint32_t s = 400'000'000; s < 800'000'000; s += 1'000'003) {
    if (is_valid_stem(s)) stems.push_back(s);
  }
  const std::set<std::uint32_t> distinct(stems.begin(), stems.end());
  const Registry registry = make_registry({{"national", stems}, {"other", kSmall}});

  const Exported roaring = run_export(registry, "national", NumbersFormat::kRoaring);
  ASSERT_TRUE(roaring.status.ok()) << roaring.status.message();
  EXPECT_EQ(roaring.stats.count, distinct.size());
  EXPECT_EQ(roaring.stats.bytes, roaring.bytes.size());
  EXPECT_EQ(roaring.bytes.size(), registry.lists()[0].serialized_bytes);
  ASSERT_EQ(roaring_bitmap_portable_deserialize_size(roaring.bytes.data(), roaring.bytes.size()), roaring.bytes.size());
  roaring_bitmap_t* read = roaring_bitmap_portable_deserialize_safe(roaring.bytes.data(), roaring.bytes.size());
  ASSERT_NE(read, nullptr);
  std::vector<std::uint32_t> members(roaring_bitmap_get_cardinality(read));
  roaring_bitmap_to_uint32_array(read, members.data());
  EXPECT_EQ(members, std::vector<std::uint32_t>(distinct.begin(), distinct.end()));
  std::set<std::uint8_t> kinds;
  for (std::int32_t i = 0; i < read->high_low_container.size; ++i) kinds.insert(read->high_low_container.typecodes[i]);
  EXPECT_EQ(kinds,
            (std::set<std::uint8_t>{BITSET_CONTAINER_TYPE_CODE, ARRAY_CONTAINER_TYPE_CODE, RUN_CONTAINER_TYPE_CODE}));
  roaring_bitmap_free(read);

  // The text form of the same list: every member's 10-digit number, ascending.
  const Exported text = run_export(registry, "national", NumbersFormat::kText);
  ASSERT_TRUE(text.status.ok()) << text.status.message();
  std::string expected;
  for (const std::uint32_t stem : distinct) expected += format_nhs_number(stem) + "\n";
  EXPECT_EQ(text.bytes, expected);  // more than one 1 MB write
  EXPECT_EQ(text.stats.bytes, expected.size());
}

TEST(ExportList, UnknownAndInvalidListNames) {
  const Registry registry = make_registry({{"national", kSmall}, {"type1", kSmall}});
  struct Case {
    std::string list;
    ErrorCode code;
    std::string message;
  };
  const std::vector<Case> cases = {
      {"objections", ErrorCode::kNotFound,
       "<built>: no list named 'objections' in the registry (it has: national, type1)"},
      {"National", ErrorCode::kNotFound, "<built>: no list named 'National' in the registry (it has: national, type1)"},
      {"", ErrorCode::kInvalidArgument, "list name is empty"},
      {"two words", ErrorCode::kInvalidArgument, "list name: byte 4 is not a letter, digit, '_', '.' or '-'"},
  };
  for (const Case& c : cases) {
    for (const NumbersFormat f : {NumbersFormat::kRoaring, NumbersFormat::kText, NumbersFormat::kMesh}) {
      const Exported out = run_export(registry, c.list, f);
      EXPECT_EQ(out.status.code(), c.code) << c.list;
      EXPECT_EQ(out.status.message(), c.message) << c.list;
      EXPECT_EQ(out.bytes, "") << c.list;
    }
  }
  const Exported none = run_export(Registry(), "national", NumbersFormat::kText);
  EXPECT_EQ(none.status.code(), ErrorCode::kNotFound);
  EXPECT_EQ(none.status.message(), "<built>: no list named 'national' in the registry (it has: no lists)");
}

// A sink that fails on its n-th write (1-based), keeping what it was given before.
class FailingSink : public ByteSink {
 public:
  FailingSink(int fail_at, ErrorCode code) : fail_at_(fail_at), code_(code) {}
  Status write(std::span<const std::string_view> spans) override {
    if (++writes_ == fail_at_) return Status(code_, name_ + ": disk full");
    for (const std::string_view p : spans) bytes_ += p;
    return Status();
  }
  const std::string& name() const override { return name_; }
  int writes() const { return writes_; }

 private:
  int fail_at_;
  ErrorCode code_;
  int writes_ = 0;
  std::string bytes_;
  std::string name_ = "out.txt";
};

TEST(ExportList, SinkErrorsStopTheExport) {
  const Registry registry = make_registry({{"national", valid_range(400'000'000, 400'200'000)}});  // ~2 MB of text
  for (const NumbersFormat f : {NumbersFormat::kRoaring, NumbersFormat::kText, NumbersFormat::kMesh}) {
    FailingSink sink(1, ErrorCode::kIoError);
    Result<ListExportStats> stats = export_list(registry, "national", f, sink);
    ASSERT_FALSE(stats.ok()) << numbers_format_name(f);
    EXPECT_EQ(stats.code(), ErrorCode::kIoError);
    EXPECT_EQ(stats.status().message(), "out.txt: disk full");
    EXPECT_EQ(sink.writes(), 1) << numbers_format_name(f);
  }
  FailingSink later(2, ErrorCode::kBrokenPipe);
  Result<ListExportStats> stats = export_list(registry, "national", NumbersFormat::kText, later);
  EXPECT_EQ(stats.code(), ErrorCode::kBrokenPipe);
  EXPECT_EQ(later.writes(), 2);  // stopped at the failing write
}

}  // namespace
}  // namespace optout
