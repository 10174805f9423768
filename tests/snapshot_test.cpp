// Snapshots: round trips, and every kind of bad input: empty, garbage, truncated at every length,
// one flipped byte at every position, bad header fields, bad sections, and structurally invalid
// bitmaps written by hand with a correct checksum. Never a crash, never a silent success.
#include <gtest/gtest.h>
#include <roaring/roaring.h>

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <filesystem>
#include <functional>
#include <set>
#include <fstream>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "optout/nhs_number.hpp"
#include "optout/registry.hpp"
#include "optout/signing.hpp"
#include "registry_data.hpp"
#include "snapshot_format.hpp"
#include "test_support.hpp"

namespace optout {
namespace {

namespace fs = std::filesystem;
using detail::SnapshotSection;

std::vector<std::uint32_t> valid_stems(std::uint32_t start, std::size_t n, std::uint32_t step = 1) {
  std::vector<std::uint32_t> out;
  for (std::uint32_t s = start; out.size() < n; s += step) {
    if (is_valid_stem(s)) out.push_back(s);
  }
  return out;
}

void patch32(std::string& bytes, std::size_t at, std::uint32_t value) { std::memcpy(bytes.data() + at, &value, 4); }
void patch64(std::string& bytes, std::size_t at, std::uint64_t value) { std::memcpy(bytes.data() + at, &value, 8); }
std::uint64_t read64(const std::string& bytes, std::size_t at) {
  std::uint64_t v;
  std::memcpy(&v, bytes.data() + at, 8);
  return v;
}

// Offsets of section table entry i's fields.
std::size_t entry(std::size_t i) { return 64 + 24 * i; }

bool starts_with(const std::string& text, const std::string& prefix) { return text.rfind(prefix, 0) == 0; }

// A registry with array, bitset and run containers, an empty list and an allow list.
Registry sample_registry() {
  RegistryBuilder b;
  b.set_description("NDOO 2026-11-24 \xE2\x80\x94 sample");
  EXPECT_TRUE(b.add_stems("national", ListKind::kDeny, valid_stems(400'000'000, 300, 977)).ok());  // arrays
  EXPECT_TRUE(b.add_stems("dense", ListKind::kDeny, valid_stems(600'000'000, 9000, 2)).ok());      // bitsets
  std::vector<std::uint32_t> ranges;
  for (std::uint32_t s = 700'000'000; s < 700'000'000 + 3000; ++s) ranges.push_back(s);  // runs (with gaps)
  ranges.erase(std::remove_if(ranges.begin(), ranges.end(), [](std::uint32_t s) { return !is_valid_stem(s); }),
               ranges.end());
  EXPECT_TRUE(b.add_stems("ranges", ListKind::kDeny, ranges).ok());
  EXPECT_TRUE(b.declare_list("empty", ListKind::kDeny).ok());
  EXPECT_TRUE(b.add_stems("cleaned", ListKind::kAllow, valid_stems(800'000'000, 5)).ok());
  auto r = b.build(1'764'000'000);
  EXPECT_TRUE(r.ok());
  return std::move(r).value();
}

// A small snapshot: two lists of a few array values.
std::string small_snapshot() {
  RegistryBuilder b;
  b.set_description("test");
  EXPECT_TRUE(b.add_stems("a", ListKind::kDeny, valid_stems(400'000'000, 3)).ok());
  EXPECT_TRUE(b.add_stems("b", ListKind::kAllow, valid_stems(600'000'000, 2)).ok());
  auto r = b.build(42);
  EXPECT_TRUE(r.ok());
  return encode_registry(*r);
}

void expect_same_registry(const Registry& a, const Registry& b) {
  EXPECT_EQ(a.digest(), b.digest());
  EXPECT_EQ(a.created_at(), b.created_at());
  EXPECT_EQ(a.description(), b.description());
  ASSERT_EQ(a.lists().size(), b.lists().size());
  for (std::size_t i = 0; i < a.lists().size(); ++i) {
    EXPECT_EQ(a.lists()[i].name, b.lists()[i].name);
    EXPECT_EQ(a.lists()[i].kind, b.lists()[i].kind) << a.lists()[i].name;
    EXPECT_EQ(a.lists()[i].count, b.lists()[i].count) << a.lists()[i].name;
    EXPECT_EQ(a.lists()[i].serialized_bytes, b.lists()[i].serialized_bytes) << a.lists()[i].name;
    EXPECT_EQ(a.stems(i), b.stems(i)) << a.lists()[i].name;
  }
}

using testing::read_file;
using testing::TempDir;

// ---- Round trips --------------------------------------------------------------------------------

TEST(SnapshotRoundTrip, SaveThenLoadGivesTheSameRegistry) {
  TempDir dir;
  const Registry built = sample_registry();
  const fs::path path = dir.path() / "reg.optout";
  ASSERT_TRUE(save_registry(built, path).ok());
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"reg.optout"});  // no temporary file left
  auto loaded = load_registry(path);
  ASSERT_TRUE(loaded.ok()) << loaded.status().message();
  expect_same_registry(built, *loaded);
  EXPECT_EQ(read_file(path), encode_registry(built));
  EXPECT_EQ(encode_registry(*loaded), read_file(path));
  EXPECT_EQ(loaded->digest(),
            detail::snapshot_checksum(std::string_view(read_file(path)).substr(0, fs::file_size(path) - 16)));
  EXPECT_GT(loaded->memory_bytes(), 0u);
  const std::size_t dense = *loaded->find_list("dense");
  EXPECT_TRUE(loaded->contains(dense, loaded->stems(dense)[4321]));
  EXPECT_FALSE(loaded->contains(dense, 600'000'001));
}

TEST(SnapshotRoundTrip, CoversEveryContainerTypeAndLoadsFrozen) {
  const Registry built = sample_registry();
  auto loaded = decode_registry(encode_registry(built), "<memory>");
  ASSERT_TRUE(loaded.ok());
  std::set<int> types;
  for (const auto& bitmap : detail::RegistryAccess::data(*loaded).bitmaps) {
    const roaring_array_t& ra = bitmap->high_low_container;
    EXPECT_NE(ra.flags & ROARING_FLAG_FROZEN, 0);
    for (std::int32_t i = 0; i < ra.size; ++i) types.insert(ra.typecodes[i]);
  }
  EXPECT_EQ(types, (std::set<int>{BITSET_CONTAINER_TYPE_CODE, ARRAY_CONTAINER_TYPE_CODE, RUN_CONTAINER_TYPE_CODE}));
}

TEST(SnapshotRoundTrip, EmptyRegistry) {
  RegistryBuilder b;
  auto built = b.build(0);
  ASSERT_TRUE(built.ok());
  const std::string bytes = encode_registry(*built);
  EXPECT_EQ(bytes.size(), 64u + 24u + 16u);  // header, one (empty) description entry, trailer
  auto loaded = decode_registry(bytes, "<memory>");
  ASSERT_TRUE(loaded.ok()) << loaded.status().message();
  expect_same_registry(*built, *loaded);
}

TEST(SnapshotRoundTrip, LayoutMatchesTheDocumentation) {
  const std::string bytes = small_snapshot();
  EXPECT_EQ(bytes.substr(0, 8), "OPTOUTRG");
  EXPECT_EQ(read64(bytes, 8) & 0xFFFFFFFF, 1u);  // format_version
  EXPECT_EQ(read64(bytes, 8) >> 32, 64u);        // header_size
  EXPECT_EQ(read64(bytes, 16), bytes.size());    // file_size
  EXPECT_EQ(read64(bytes, 24), 42u);             // created_at
  EXPECT_EQ(read64(bytes, 32), 3u);              // section_count 3, flags 0
  for (std::size_t at = 40; at < 64; ++at) EXPECT_EQ(bytes[at], 0) << at;
  EXPECT_EQ(read64(bytes, entry(0)), 1u | (1ull << 32));  // DESCRIPTION, REQUIRED
  EXPECT_EQ(read64(bytes, entry(0) + 8), 136u);           // right after the 3-entry table
  EXPECT_EQ(read64(bytes, entry(0) + 16), 4u);
  EXPECT_EQ(bytes.substr(136, 4), "test");
  EXPECT_EQ(read64(bytes, entry(1)), 2u | (1ull << 32));  // LIST, REQUIRED
  const std::size_t list = read64(bytes, entry(1) + 8);
  EXPECT_EQ(list, 144u);
  EXPECT_EQ(bytes[list], 0);                          // kind deny
  EXPECT_EQ(read64(bytes, list) >> 16 & 0xFFFF, 1u);  // name_length
  EXPECT_EQ(read64(bytes, list + 8), 3u);             // cardinality
  EXPECT_EQ(bytes[list + 24], 'a');
  const Digest128 d = detail::snapshot_checksum(std::string_view(bytes).substr(0, bytes.size() - 16));
  EXPECT_EQ(read64(bytes, bytes.size() - 16), d.high);
  EXPECT_EQ(read64(bytes, bytes.size() - 8), d.low);
}

// ---- Files --------------------------------------------------------------------------------------

TEST(SnapshotFiles, LoadErrors) {
  TempDir dir;
  const fs::path missing = dir.path() / "missing.optout";
  auto m = load_registry(missing);
  EXPECT_EQ(m.code(), ErrorCode::kIoError);
  EXPECT_EQ(m.status().message(), missing.string() + ": cannot open: No such file or directory");
  auto d = load_registry(dir.path());
  EXPECT_EQ(d.code(), ErrorCode::kIoError);
  EXPECT_EQ(d.status().message(), dir.path().string() + ": Is a directory");

  struct Case {
    const char* name;
    std::string content;
    const char* message;
  };
  std::mt19937_64 rng(5);
  std::string garbage(4096, '\0');
  for (char& c : garbage) c = static_cast<char>(rng());
  const std::vector<Case> cases = {
      {"empty", "", "truncated (0 bytes)"},
      {"blank lines", "\n\n  \n", "truncated (5 bytes)"},
      {"many blank lines", std::string(200, '\n'), "not an optout registry snapshot"},
      {"garbage", garbage, "not an optout registry snapshot"},
      {"a source list",
       "9434765919\n9434765919\n9434765919\n9434765919\n9434765919\n9434765919\n9434765919\n9434765919\n",
       "not an optout registry snapshot"},
      {"magic only", "OPTOUTRG", "truncated (8 bytes)"},
  };
  for (const Case& c : cases) {
    const fs::path p = dir.file("bad.optout", c.content);
    auto r = load_registry(p);
    EXPECT_EQ(r.code(), ErrorCode::kCorruption) << c.name;
    EXPECT_EQ(r.status().message(), p.string() + ": " + c.message) << c.name;
  }
}

// Issue 10.9: `optout info /dev/zero` read until memory ran out. A registry path that is not a
// regular file is refused before a byte is read (a FIFO without a writer must not block either),
// and a regular file is read no further than its header's file size after the header checks.
TEST(SnapshotFiles, NonRegularFilesAreRefusedWithoutReadingThem) {
  TempDir dir;
  const fs::path fifo = dir.path() / "fifo.optout";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  for (const fs::path& p : {fs::path("/dev/zero"), fs::path("/dev/null"), fifo}) {
    auto r = load_registry(p);
    EXPECT_EQ(r.code(), ErrorCode::kIoError) << p;
    EXPECT_EQ(r.status().message(), p.string() + ": not a regular file");
  }
  auto d = load_registry(dir.path());
  EXPECT_EQ(d.status().message(), dir.path().string() + ": Is a directory");
}

TEST(SnapshotFiles, HeaderClaimingAHugeSizeIsRefusedBeforeAllocating) {
  TempDir dir;
  std::string bytes = encode_registry(sample_registry());
  for (std::uint64_t claimed : {std::uint64_t{1} << 62, ~std::uint64_t{0}, std::uint64_t{bytes.size()} + 1}) {
    patch64(bytes, 16, claimed);
    detail::rewrite_trailer(bytes);
    const fs::path p = dir.file("huge.optout", bytes);
    auto r = load_registry(p);
    EXPECT_EQ(r.code(), ErrorCode::kCorruption) << claimed;
    EXPECT_EQ(r.status().message(), p.string() + ": file size in the header disagrees with the real size (" +
                                        std::to_string(bytes.size()) + " bytes): truncated or extended")
        << claimed;
  }
  // A header alone (the file cut after 64 bytes) is refused the same way, from the header.
  const fs::path cut = dir.file("cut.optout", std::string_view(bytes).substr(0, 100));
  EXPECT_EQ(load_registry(cut).status().message(),
            cut.string() + ": file size in the header disagrees with the real size (100 bytes): truncated or extended");
}

TEST(SnapshotFiles, SaveReplacesAtomicallyAndFailsCleanly) {
  TempDir dir;
  const Registry first = sample_registry();
  const Registry second = [] {
    RegistryBuilder b;
    EXPECT_TRUE(b.declare_list("only", ListKind::kDeny).ok());
    return std::move(b.build(7)).value();
  }();
  const fs::path path = dir.path() / "reg.optout";
  ASSERT_TRUE(save_registry(first, path).ok());
  ASSERT_TRUE(save_registry(second, path).ok());
  EXPECT_EQ(read_file(path), encode_registry(second));
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"reg.optout"});

  // A missing directory, a directory component that is a file, and a target that is a directory:
  // kIoError, nothing created, and what was there stays.
  const fs::path missing_dir = dir.path() / "no" / "such" / "reg.optout";
  const Status a = save_registry(first, missing_dir);
  EXPECT_EQ(a.code(), ErrorCode::kIoError);
  EXPECT_TRUE(starts_with(a.message(), missing_dir.string() + ": ")) << a.message();
  EXPECT_NE(a.message().find("No such file or directory"), std::string::npos) << a.message();

  const Status b = save_registry(first, path / "reg.optout");
  EXPECT_EQ(b.code(), ErrorCode::kIoError);
  EXPECT_NE(b.message().find("Not a directory"), std::string::npos) << b.message();

  fs::create_directory(dir.path() / "target");
  const Status c = save_registry(first, dir.path() / "target");
  EXPECT_EQ(c.code(), ErrorCode::kIoError);
  EXPECT_TRUE(fs::is_directory(dir.path() / "target"));
  EXPECT_TRUE(fs::is_empty(dir.path() / "target"));

  EXPECT_EQ(dir.entries(), (std::vector<std::string>{"reg.optout", "target"}));
  EXPECT_EQ(read_file(path), encode_registry(second));
}

// ---- Truncation and flipped bytes ---------------------------------------------------------------

TEST(SnapshotDamage, TruncatedAtEveryLengthOfASmallSnapshot) {
  const std::string bytes = small_snapshot();
  ASSERT_TRUE(decode_registry(bytes, "mem").ok());
  for (std::size_t n = 0; n < bytes.size(); ++n) {
    auto r = decode_registry(std::string_view(bytes).substr(0, n), "mem");
    ASSERT_EQ(r.code(), ErrorCode::kCorruption) << n;
    if (n < 80) {
      EXPECT_EQ(r.status().message(), "mem: truncated (" + std::to_string(n) + " bytes)");
    } else {
      EXPECT_EQ(r.status().message(), "mem: file size in the header disagrees with the real size (" +
                                          std::to_string(n) + " bytes): truncated or extended");
    }
  }
}

TEST(SnapshotDamage, TruncatedLargerSnapshot) {
  const std::string bytes = encode_registry(sample_registry());
  const std::size_t table_end = 64 + 24 * 6;
  for (std::size_t n = 0; n < bytes.size(); n += (n < table_end + 64 ? 1 : 61)) {
    auto r = decode_registry(std::string_view(bytes).substr(0, n), "mem");
    ASSERT_EQ(r.code(), ErrorCode::kCorruption) << n;
    EXPECT_TRUE(starts_with(r.status().message(), "mem: ")) << n;
  }
  std::string longer = bytes + '\0';
  EXPECT_EQ(decode_registry(longer, "mem").code(), ErrorCode::kCorruption);
}

void expect_every_flip_rejected(const std::string& bytes, unsigned char mask, std::size_t stride = 1) {
  std::string copy = bytes;
  for (std::size_t i = 0; i < copy.size(); i += stride) {
    copy[i] = static_cast<char>(copy[i] ^ mask);
    auto r = decode_registry(copy, "mem");
    copy[i] = bytes[i];
    ASSERT_FALSE(r.ok()) << "byte " << i;
    ASSERT_TRUE(r.code() == ErrorCode::kCorruption || r.code() == ErrorCode::kUnsupportedVersion)
        << "byte " << i << ": " << r.status().message();
    ASSERT_TRUE(starts_with(r.status().message(), "mem: ")) << i;
  }
}

TEST(SnapshotDamage, OneFlippedByteAnywhereIsRejected) {
  const std::string small = small_snapshot();
  for (const unsigned char mask : {std::uint8_t{0x01}, std::uint8_t{0x80}, std::uint8_t{0xFF}}) {
    expect_every_flip_rejected(small, mask);
  }
  const std::string sample = encode_registry(sample_registry());
  expect_every_flip_rejected(sample, 0x10, 3);
}

// ---- Header and section table -------------------------------------------------------------------

struct PatchCase {
  const char* name;
  std::function<void(std::string&)> patch;
  bool fix_checksum;
  ErrorCode code;
  std::string message;  // after "mem: "
};

TEST(SnapshotHeader, BadFieldsAreRejectedInOrder) {
  const std::string good = small_snapshot();
  const std::size_t size = good.size();
  const std::vector<PatchCase> cases = {
      {"wrong magic", [](std::string& b) { b[0] = 'X'; }, false, ErrorCode::kCorruption,
       "not an optout registry snapshot"},
      {"lower-case magic", [](std::string& b) { b[7] = 'g'; }, true, ErrorCode::kCorruption,
       "not an optout registry snapshot"},
      {"newer version", [](std::string& b) { patch32(b, 8, 2); }, true, ErrorCode::kUnsupportedVersion,
       "format version 2 is newer than this build reads (1)"},
      {"newest version, bad checksum", [](std::string& b) { patch32(b, 8, 0xFFFFFFFF); }, false,
       ErrorCode::kUnsupportedVersion, "format version 4294967295 is newer than this build reads (1)"},
      {"version 0", [](std::string& b) { patch32(b, 8, 0); }, true, ErrorCode::kCorruption,
       "format version 0 is invalid"},
      {"header size", [](std::string& b) { patch32(b, 12, 72); }, true, ErrorCode::kCorruption,
       "header size is not 64"},
      {"file size", [](std::string& b) { patch64(b, 16, b.size() + 8); }, true, ErrorCode::kCorruption,
       "file size in the header disagrees with the real size (" + std::to_string(size) +
           " bytes): truncated or extended"},
      {"checksum", [](std::string& b) { b[b.size() - 1] ^= 1; }, false, ErrorCode::kCorruption, "checksum mismatch"},
      {"body byte", [](std::string& b) { b[140] ^= 1; }, false, ErrorCode::kCorruption, "checksum mismatch"},
      {"header flags", [](std::string& b) { patch32(b, 36, 1); }, true, ErrorCode::kUnsupportedVersion,
       "header flags not known to this build"},
      {"reserved header byte", [](std::string& b) { b[50] = 1; }, true, ErrorCode::kCorruption,
       "reserved header bytes are not zero"},
      // Regression (issue 10, --max-age bypass): a creation time that cannot be aged without
      // overflow or printed as a date is corruption, not a registry of unknown age.
      {"created_at before 1970", [](std::string& b) { patch64(b, 24, ~0ULL); }, true, ErrorCode::kCorruption,
       "creation time out of range (before 1970 or after 9999)"},
      {"created_at near INT64_MIN", [](std::string& b) { patch64(b, 24, 1ULL << 63); }, true, ErrorCode::kCorruption,
       "creation time out of range (before 1970 or after 9999)"},
      {"created_at after 9999", [](std::string& b) { patch64(b, 24, kLatestCreatedAt + 1); }, true,
       ErrorCode::kCorruption, "creation time out of range (before 1970 or after 9999)"},
      {"section count huge", [](std::string& b) { patch32(b, 32, 1'000'000'000); }, true, ErrorCode::kCorruption,
       "section table runs past the end of the file"},
      {"section count one more", [](std::string& b) { patch32(b, 32, 4); }, true, ErrorCode::kCorruption,
       "section 0: overlaps the section table or the previous section"},
      {"misaligned offset", [](std::string& b) { patch64(b, entry(1) + 8, read64(b, entry(1) + 8) + 4); }, true,
       ErrorCode::kCorruption, "section 1: offset not 8-byte aligned"},
      {"offset in the table", [](std::string& b) { patch64(b, entry(0) + 8, 64); }, true, ErrorCode::kCorruption,
       "section 0: overlaps the section table or the previous section"},
      {"sections overlap", [](std::string& b) { patch64(b, entry(2) + 8, read64(b, entry(1) + 8)); }, true,
       ErrorCode::kCorruption, "section 2: overlaps the section table or the previous section"},
      {"section past the end", [](std::string& b) { patch64(b, entry(2) + 16, 1'000'000); }, true,
       ErrorCode::kCorruption, "section 2: runs past the end of the file"},
      {"section length overflows", [](std::string& b) { patch64(b, entry(2) + 16, ~0ULL - 7); }, true,
       ErrorCode::kCorruption, "section 2: runs past the end of the file"},
      {"section offset overflows", [](std::string& b) { patch64(b, entry(2) + 8, ~0ULL - 7); }, true,
       ErrorCode::kCorruption, "section 2: runs past the end of the file"},
      {"padding not zero", [](std::string& b) { b[141] = 'x'; }, true, ErrorCode::kCorruption,
       "section 1: padding before it is not zero"},
      {"trailing padding not zero", [](std::string& b) { b[b.size() - 17] = 'x'; }, true, ErrorCode::kCorruption,
       "padding after the last section is not zero"},
      {"unknown section flag", [](std::string& b) { patch32(b, entry(0) + 4, 3); }, true,
       ErrorCode::kUnsupportedVersion, "section 0: flags not known to this build"},
      {"description not required", [](std::string& b) { patch32(b, entry(0) + 4, 0); }, true, ErrorCode::kCorruption,
       "section 0: not marked required"},
      {"list not required", [](std::string& b) { patch32(b, entry(1) + 4, 0); }, true, ErrorCode::kCorruption,
       "section 1: not marked required"},
      {"description as list", [](std::string& b) { patch32(b, entry(0), 2); }, true, ErrorCode::kCorruption,
       "section 0: list section too short"},
      {"list as description", [](std::string& b) { patch32(b, entry(1), 1); }, true, ErrorCode::kCorruption,
       "section 1: a second description"},
      {"unknown required type", [](std::string& b) { patch32(b, entry(2), 77); }, true, ErrorCode::kUnsupportedVersion,
       "section 2: required section of type 77 is not known to this build"},
      {"description not UTF-8", [](std::string& b) { b[137] = '\xC3'; }, true, ErrorCode::kCorruption,
       "section 0: description is not valid UTF-8"},
      {"unknown list kind", [](std::string& b) { b[144] = 2; }, true, ErrorCode::kCorruption,
       "section 1: unknown list kind"},
      {"reserved list byte", [](std::string& b) { b[145] = 1; }, true, ErrorCode::kCorruption,
       "section 1: reserved list bytes are not zero"},
      {"reserved list word", [](std::string& b) { b[150] = 1; }, true, ErrorCode::kCorruption,
       "section 1: reserved list bytes are not zero"},
      {"name length zero", [](std::string& b) { b[146] = 0; }, true, ErrorCode::kCorruption,
       "section 1: list lengths do not add up"},
      {"bad name byte", [](std::string& b) { b[144 + 24] = '/'; }, true, ErrorCode::kCorruption,
       "section 1: list name: byte 1 is not a letter, digit, '_', '.' or '-'"},
      {"name padding", [](std::string& b) { b[144 + 25] = 'x'; }, true, ErrorCode::kCorruption,
       "section 1: list name padding is not zero"},
      {"bitmap length", [](std::string& b) { patch64(b, 144 + 16, read64(b, 144 + 16) + 1); }, true,
       ErrorCode::kCorruption, "section 1: list lengths do not add up"},
      {"stored count", [](std::string& b) { patch64(b, 144 + 8, 4); }, true, ErrorCode::kCorruption,
       "list 'a': stored count does not match the bitmap"},
      {"list names out of order",
       [](std::string& b) {
         const std::size_t second = read64(b, entry(2) + 8);
         b[second + 24] = 'A';  // "A" < "a"
       },
       true, ErrorCode::kCorruption, "list 'A': lists not in strictly increasing name order"},
      {"duplicate list names",
       [](std::string& b) {
         const std::size_t second = read64(b, entry(2) + 8);
         b[second + 24] = 'a';
       },
       true, ErrorCode::kCorruption, "list 'a': lists not in strictly increasing name order"},
  };
  for (const PatchCase& c : cases) {
    std::string bytes = good;
    c.patch(bytes);
    if (c.fix_checksum) detail::rewrite_trailer(bytes);
    auto r = decode_registry(bytes, "mem");
    EXPECT_EQ(r.code(), c.code) << c.name;
    EXPECT_EQ(r.status().message(), "mem: " + c.message) << c.name;
  }
}

// The small snapshot must have trailing padding for the case above to mean something.
TEST(SnapshotHeader, SmallSnapshotHasTrailingPadding) {
  const std::string b = small_snapshot();
  const std::uint64_t end = read64(b, entry(2) + 8) + read64(b, entry(2) + 16);
  EXPECT_LE(end, b.size() - 17);
}

std::vector<SnapshotSection> sections_of_small_registry() {
  RegistryBuilder b;
  b.set_description("sections");
  EXPECT_TRUE(b.add_stems("a", ListKind::kDeny, valid_stems(400'000'000, 3)).ok());
  auto r = b.build(1);
  const std::string bytes = encode_registry(*r);
  std::vector<SnapshotSection> out;
  for (std::size_t i = 0; i < 2; ++i) {
    const std::uint64_t type_flags = read64(bytes, entry(i));
    out.push_back({static_cast<std::uint32_t>(type_flags), static_cast<std::uint32_t>(type_flags >> 32),
                   bytes.substr(read64(bytes, entry(i) + 8), read64(bytes, entry(i) + 16))});
  }
  return out;
}

TEST(SnapshotSections, AssembledSectionsMatchTheEncoder) {
  const auto sections = sections_of_small_registry();
  auto direct = decode_registry(detail::assemble_snapshot(1, sections), "mem");
  ASSERT_TRUE(direct.ok()) << direct.status().message();
  EXPECT_EQ(direct->description(), "sections");
  EXPECT_EQ(direct->lists()[0].count, 3u);
}

// The rule that lets a reader older than the PROVENANCE (3) and SIGNATURE (4) sections read a
// snapshot holding them: an optional section of a type it does not know is skipped. Type 99
// stands for a type this build does not know.
TEST(SnapshotSections, UnknownOptionalSectionIsSkippedUnknownRequiredIsRefused) {
  auto sections = sections_of_small_registry();
  auto expected = decode_registry(detail::assemble_snapshot(1, sections), "mem");
  ASSERT_TRUE(expected.ok());
  for (std::size_t at : {std::size_t{0}, std::size_t{1}, std::size_t{2}}) {
    auto optional = sections;
    optional.insert(optional.begin() + static_cast<std::ptrdiff_t>(at),
                    SnapshotSection{99, 0, std::string(1000, '\x5A')});
    auto r = decode_registry(detail::assemble_snapshot(1, optional), "mem");
    ASSERT_TRUE(r.ok()) << at << ": " << r.status().message();
    EXPECT_EQ(r->description(), expected->description());
    EXPECT_EQ(r->stems(0), expected->stems(0));

    auto required = sections;
    required.insert(required.begin() + static_cast<std::ptrdiff_t>(at), SnapshotSection{99, 1, "index"});
    auto refused = decode_registry(detail::assemble_snapshot(1, required), "mem");
    EXPECT_EQ(refused.code(), ErrorCode::kUnsupportedVersion) << at;
    EXPECT_EQ(refused.status().message(),
              "mem: section " + std::to_string(at) + ": required section of type 99 is not known to this build");
  }
}

TEST(SnapshotSections, DescriptionMustBeThereOnce) {
  const auto sections = sections_of_small_registry();
  auto none = decode_registry(detail::assemble_snapshot(1, std::vector<SnapshotSection>{sections[1]}), "mem");
  EXPECT_EQ(none.code(), ErrorCode::kCorruption);
  EXPECT_EQ(none.status().message(), "mem: no description section");
  auto twice = decode_registry(
      detail::assemble_snapshot(1, std::vector<SnapshotSection>{sections[0], sections[1], sections[0]}), "mem");
  EXPECT_EQ(twice.code(), ErrorCode::kCorruption);
  EXPECT_EQ(twice.status().message(), "mem: section 2: a second description");
  auto nothing = decode_registry(detail::assemble_snapshot(1, {}), "mem");
  EXPECT_EQ(nothing.status().message(), "mem: no description section");
}

// ---- Bitmaps written by hand --------------------------------------------------------------------

// One container of a portable Roaring bitmap, as the format stores it.
struct Container {
  enum Type { kArray, kBitset, kRun };
  std::uint16_t key = 0;
  Type type = kArray;
  std::vector<std::uint16_t> values;                          // array
  std::vector<std::uint64_t> words;                           // bitset (1024)
  std::vector<std::pair<std::uint16_t, std::uint16_t>> runs;  // run: (start, length - 1)
  std::optional<std::uint32_t> header_cardinality;            // default: the true count

  std::uint32_t count() const {
    if (header_cardinality) return *header_cardinality;
    if (type == kArray) return static_cast<std::uint32_t>(values.size());
    std::uint32_t n = 0;
    if (type == kBitset) {
      for (std::uint64_t w : words) n += static_cast<std::uint32_t>(__builtin_popcountll(w));
    } else {
      for (auto [start, length] : runs) n += length + 1u;
    }
    return n;
  }
  std::size_t bytes() const {
    return type == kArray ? 2 * values.size() : type == kBitset ? 8192 : 2 + 4 * runs.size();
  }
};

Container array(std::uint16_t key, std::vector<std::uint16_t> values) {
  Container c;
  c.key = key;
  c.values = std::move(values);
  return c;
}
Container bitset(std::uint16_t key, std::uint32_t every, std::uint32_t count) {  // count values, every n-th
  Container c;
  c.key = key;
  c.type = Container::kBitset;
  c.words.assign(1024, 0);
  for (std::uint32_t i = 0; i < count; ++i) c.words[(i * every) / 64] |= 1ULL << ((i * every) % 64);
  return c;
}
Container run(std::uint16_t key, std::vector<std::pair<std::uint16_t, std::uint16_t>> runs) {
  Container c;
  c.key = key;
  c.type = Container::kRun;
  c.runs = std::move(runs);
  return c;
}

template <typename T>
void put(std::string& out, T value) {
  out.append(reinterpret_cast<const char*>(&value), sizeof value);
}

// The portable serialization (CRoaring's ra_portable_serialize), written independently.
std::string portable(const std::vector<Container>& cs) {
  const bool has_run = std::any_of(cs.begin(), cs.end(), [](const Container& c) { return c.type == Container::kRun; });
  const auto n = static_cast<std::uint32_t>(cs.size());
  std::string out;
  if (has_run) {
    put<std::uint32_t>(out, 12347u | ((n - 1) << 16));
    std::string bits((n + 7) / 8, '\0');
    for (std::uint32_t i = 0; i < n; ++i) {
      if (cs[i].type == Container::kRun) bits[i / 8] = static_cast<char>(bits[i / 8] | (1 << (i % 8)));
    }
    out += bits;
  } else {
    put<std::uint32_t>(out, 12346u);
    put<std::uint32_t>(out, n);
  }
  for (const Container& c : cs) {
    put<std::uint16_t>(out, c.key);
    put<std::uint16_t>(out, static_cast<std::uint16_t>(c.count() - 1));
  }
  if (!has_run || n >= 4) {
    auto offset = static_cast<std::uint32_t>(out.size() + 4 * n);
    for (const Container& c : cs) {
      put<std::uint32_t>(out, offset);
      offset += static_cast<std::uint32_t>(c.bytes());
    }
  }
  for (const Container& c : cs) {
    if (c.type == Container::kArray) {
      for (std::uint16_t v : c.values) put(out, v);
    } else if (c.type == Container::kBitset) {
      for (std::uint64_t w : c.words) put(out, w);
    } else {
      put<std::uint16_t>(out, static_cast<std::uint16_t>(c.runs.size()));
      for (auto [start, length] : c.runs) {
        put(out, start);
        put(out, length);
      }
    }
  }
  return out;
}

std::string snapshot_with_bitmap(const std::string& bitmap, std::uint64_t cardinality) {
  const std::vector<SnapshotSection> sections = {
      {detail::kSectionDescription, detail::kSectionRequired, "crafted"},
      {detail::kSectionList, detail::kSectionRequired,
       detail::list_section_payload("national", ListKind::kDeny, cardinality, bitmap)}};
  return detail::assemble_snapshot(1, sections);
}

std::vector<Container> valid_containers() {
  return {array(6200, {1, 5, 9}), bitset(6201, 3, 5000), run(6202, {{10, 99}, {500, 0}}), array(6203, {7})};
}

TEST(SnapshotBitmaps, HandWrittenEncodingMatchesCRoaring) {
  std::vector<std::uint32_t> values;
  for (const Container& c : valid_containers()) {
    const std::uint32_t high = std::uint32_t{c.key} << 16;
    for (std::uint16_t v : c.values) values.push_back(high | v);
    for (std::uint32_t i = 0; i < 65536; ++i) {
      if (!c.words.empty() && (c.words[i / 64] >> (i % 64) & 1)) values.push_back(high | i);
    }
    for (auto [start, length] : c.runs) {
      for (std::uint32_t v = start; v <= std::uint32_t{start} + length; ++v) values.push_back(high | v);
    }
  }
  roaring_bitmap_t* r = roaring_bitmap_of_ptr(values.size(), values.data());
  roaring_bitmap_run_optimize(r);
  std::string expected(roaring_bitmap_portable_size_in_bytes(r), '\0');
  roaring_bitmap_portable_serialize(r, expected.data());
  roaring_bitmap_free(r);
  EXPECT_EQ(portable(valid_containers()), expected);

  auto loaded = decode_registry(snapshot_with_bitmap(expected, values.size()), "mem");
  ASSERT_TRUE(loaded.ok()) << loaded.status().message();
  EXPECT_EQ(loaded->stems(0), values);
}

struct BitmapCase {
  const char* name;
  std::string bitmap;
  std::optional<std::uint64_t> cardinality;  // default: the sum of the containers' true counts
  std::string message;                       // after "mem: list 'national': "
};

std::uint64_t true_count(const std::vector<Container>& cs) {
  std::uint64_t n = 0;
  for (Container c : cs) {
    c.header_cardinality.reset();
    n += c.count();
  }
  return n;
}

TEST(SnapshotBitmaps, StructurallyInvalidBitmapsAreCorruption) {
  auto with = [](std::vector<Container> cs, std::size_t i, auto&& change) {
    change(cs[i]);
    return cs;
  };
  const auto good = valid_containers();
  std::string wrong_offset = portable(good);
  // Run cookie (4 bytes), run flags (1 byte), 4 key/cardinality pairs, then the offsets.
  wrong_offset[4 + 1 + 4 * 4 + 2 * 4] ^= 2;  // the third container's offset
  std::string good_bytes = portable(good);
  struct Raw {
    const char* name;
    std::vector<Container> containers;
    std::string message;
  };
  const std::vector<Raw> raws = {
      {"array unsorted", {array(6200, {5, 3})}, "bitmap container 0: array container values not strictly increasing"},
      {"array duplicate",
       {array(6200, {3, 3, 4})},
       "bitmap container 0: array container values not strictly increasing"},
      {"array later container",
       with(good, 3,
            [](Container& c) {
              c.values = {9, 8};
            }),
       "bitmap container 3: array container values not strictly increasing"},
      {"bitset count disagrees", with(good, 1, [](Container& c) { c.header_cardinality = 5001; }),
       "bitmap container 1: bitset container cardinality disagrees with its bits"},
      {"keys decreasing", {array(6201, {1}), array(6200, {1})}, "bitmap container 1: keys not increasing"},
      {"keys equal", {array(6200, {1}), array(6200, {2})}, "bitmap container 1: keys not increasing"},
      {"runs overlap", {run(6200, {{10, 10}, {15, 3}})}, "bitmap container 0: runs overlap, touch or are out of order"},
      {"runs touch", {run(6200, {{10, 4}, {15, 0}})}, "bitmap container 0: runs overlap, touch or are out of order"},
      {"runs out of order",
       {run(6200, {{100, 0}, {10, 0}})},
       "bitmap container 0: runs overlap, touch or are out of order"},
      {"run past the end", {run(6200, {{65530, 10}})}, "bitmap container 0: run goes past the end of the container"},
      {"run without runs",
       {[] {
         Container c = run(6200, {});
         c.header_cardinality = 1;
         return c;
       }()},
       "bitmap container 0: run container without runs"},
      {"run count disagrees", with(good, 2, [](Container& c) { c.header_cardinality = 102; }),
       "bitmap container 2: run container cardinality disagrees with the header"},
      {"value of 10^9", {array(15258, {0xC9FF, 0xCA00})}, "bitmap holds a value of 10^9 or more, which is not a stem"},
      {"key past 10^9",
       {array(6200, {1}), array(15259, {0})},
       "bitmap holds a value of 10^9 or more, which is not a stem"},
      {"largest key", {array(65535, {65535})}, "bitmap holds a value of 10^9 or more, which is not a stem"},
  };
  std::vector<BitmapCase> cases;
  for (const Raw& r : raws) {
    cases.push_back({r.name, portable(r.containers), true_count(r.containers), r.message});
  }
  const auto u32 = [](std::uint32_t v) { return std::string(reinterpret_cast<const char*>(&v), 4); };
  cases.push_back({"wrong offset", wrong_offset, std::nullopt, "bitmap container 2: wrong offset"});
  cases.push_back({"unknown cookie", u32(12345) + u32(0), 0, "bitmap: not a portable Roaring bitmap (unknown cookie)"});
  cases.push_back({"negative container count", u32(12346) + u32(0xFFFFFFFF), 0, "bitmap: impossible container count"});
  cases.push_back({"too many containers", u32(12346) + u32(65537), 0, "bitmap: impossible container count"});
  cases.push_back({"count past the end", u32(12346) + u32(65536), 0, "bitmap: truncated"});
  cases.push_back({"two bytes", "\x3a\x30", 0, "bitmap: truncated"});
  cases.push_back({"cookie only", u32(12346), 0, "bitmap: truncated"});
  cases.push_back({"empty", "", 0, "bitmap: truncated"});
  cases.push_back(
      {"bytes left over", good_bytes + std::string(2, '\0'), std::nullopt, "bitmap: bytes left over after its end"});
  cases.push_back({"payload cut short", good_bytes.substr(0, good_bytes.size() - 2), std::nullopt,
                   "bitmap: truncated or malformed"});
  cases.push_back(
      {"stored count too high", good_bytes, true_count(good) + 1, "stored count does not match the bitmap"});
  cases.push_back({"empty bitmap, count 1", u32(12346) + u32(0), 1, "stored count does not match the bitmap"});
  for (const BitmapCase& c : cases) {
    const std::uint64_t cardinality = c.cardinality.value_or(true_count(good));
    auto r = decode_registry(snapshot_with_bitmap(c.bitmap, cardinality), "mem");
    EXPECT_EQ(r.code(), ErrorCode::kCorruption) << c.name;
    EXPECT_EQ(r.status().message(), "mem: list 'national': " + c.message) << c.name;
  }
}

TEST(SnapshotBitmaps, ValidEdgeCasesLoad) {
  const auto u32 = [](std::uint32_t v) { return std::string(reinterpret_cast<const char*>(&v), 4); };
  struct Case {
    const char* name;
    std::string bitmap;
    std::vector<std::uint32_t> stems;
  };
  const std::vector<Case> cases = {
      {"empty", u32(12346) + u32(0), {}},
      {"largest stem", portable({array(15258, {0xC9FF})}), {999'999'999}},
      {"full run", portable({run(6200, {{0, 65535}})}), {}},  // checked by count below
      {"run cookie, no run containers",
       [&] {
         std::string b = u32(12347) + std::string(1, '\0');
         b += std::string("\x18\x18\x00\x00", 4) + std::string("\x07\x00", 2);
         return b;
       }(),
       {(6168u << 16) | 7}},
  };
  for (const Case& c : cases) {
    roaring_bitmap_t* probe = roaring_bitmap_portable_deserialize_safe(c.bitmap.data(), c.bitmap.size());
    ASSERT_NE(probe, nullptr) << c.name;
    const std::uint64_t count = roaring_bitmap_get_cardinality(probe);
    roaring_bitmap_free(probe);
    auto r = decode_registry(snapshot_with_bitmap(c.bitmap, count), "mem");
    ASSERT_TRUE(r.ok()) << c.name << ": " << r.status().message();
    EXPECT_EQ(r->lists()[0].count, count) << c.name;
    if (!c.stems.empty()) {
      EXPECT_EQ(r->stems(0), c.stems) << c.name;
    }
  }
}

// ---- Signatures ---------------------------------------------------------------------------------

SecretKey seeded_key(std::uint8_t fill) {
  std::array<std::uint8_t, 32> seed{};
  seed.fill(fill);
  auto key = SecretKey::from_seed(seed);
  EXPECT_TRUE(key.ok());
  return std::move(key).value();
}

// A registry with provenance: two lists read from text, one with an as-of date.
Registry registry_with_provenance() {
  RegistryBuilder b;
  b.set_description("with provenance");
  EXPECT_TRUE(b.add_text("national", ListKind::kDeny, "9434765919\n\n", "dir/ndoo.dat").ok());
  EXPECT_TRUE(b.add_text("type1", ListKind::kDeny, "4010232137\n", "t1.txt").ok());
  b.set_as_of("national", 1'795'478'400);  // 2026-11-24
  auto r = b.build(1'796'000'000);
  EXPECT_TRUE(r.ok()) << r.status().message();
  return std::move(r).value();
}

std::size_t signature_offset(const std::string& bytes) {
  return bytes.size() - detail::kSnapshotTrailerBytes - detail::kSignatureSectionBytes;
}

TEST(SnapshotSignature, SignedAndUnsignedRoundTripsGiveTheSameBytesAndDigest) {
  const Registry plain = registry_with_provenance();
  const SecretKey key = seeded_key(7);
  auto signed_registry = sign_registry(plain, key);
  ASSERT_TRUE(signed_registry.ok()) << signed_registry.status().message();
  EXPECT_EQ(signed_registry->signer(), key.public_key());
  EXPECT_FALSE(plain.signer().has_value());
  EXPECT_EQ(signed_registry->source(), "<built>");
  EXPECT_EQ(signed_registry->provenance(), plain.provenance());
  EXPECT_EQ(signed_registry->created_at(), plain.created_at());
  EXPECT_EQ(signed_registry->description(), plain.description());
  EXPECT_EQ(signed_registry->stems(0), plain.stems(0));
  EXPECT_NE(signed_registry->digest(), plain.digest());

  for (const Registry* r : {&plain, static_cast<const Registry*>(&*signed_registry)}) {
    const std::string bytes = encode_registry(*r);
    EXPECT_EQ(detail::snapshot_checksum(std::string_view(bytes).substr(0, bytes.size() - 16)), r->digest());
    auto loaded = decode_registry(bytes, "mem");
    ASSERT_TRUE(loaded.ok()) << loaded.status().message();
    EXPECT_EQ(encode_registry(*loaded), bytes);
    EXPECT_EQ(loaded->digest(), r->digest());
    EXPECT_EQ(loaded->signer(), r->signer());
    EXPECT_EQ(loaded->provenance(), r->provenance());
  }

  // The signature section is the last, of type 4, optional, over every byte before it.
  const std::string bytes = encode_registry(*signed_registry);
  const std::uint64_t sections = read64(bytes, 32) & 0xFFFFFFFF;
  const std::size_t last = entry(sections - 1);
  EXPECT_EQ(read64(bytes, last), 4u);  // type 4, flags 0
  EXPECT_EQ(read64(bytes, last + 8), signature_offset(bytes));
  EXPECT_EQ(read64(bytes, last + 16), 112u);
  EXPECT_EQ(read64(bytes, entry(sections - 2)), 3u);  // the provenance before it, optional
  const std::size_t at = signature_offset(bytes);
  Signature signature{};
  std::memcpy(signature.data(), bytes.data() + at + 48, 64);
  EXPECT_TRUE(verify_bytes(key.public_key(), SignedKind::kRegistry, std::string_view(bytes).substr(0, at), signature));
  EXPECT_EQ(to_hex(std::span(reinterpret_cast<const std::uint8_t*>(bytes.data()) + at + 8, 8)),
            key.public_key().key_id());

  // Signing is deterministic; signing again with another key replaces the signature.
  EXPECT_EQ(encode_registry(*sign_registry(plain, key)), bytes);
  auto resigned = sign_registry(*signed_registry, seeded_key(8));
  ASSERT_TRUE(resigned.ok());
  EXPECT_EQ(resigned->signer(), seeded_key(8).public_key());
  EXPECT_EQ(encode_registry(*resigned).size(), bytes.size());

  // Saved and loaded from a file, the same.
  testing::TempDir dir;
  ASSERT_TRUE(save_registry(*signed_registry, dir.path() / "s.optout").ok());
  auto from_file = load_registry(dir.path() / "s.optout");
  ASSERT_TRUE(from_file.ok()) << from_file.status().message();
  EXPECT_EQ(from_file->digest(), signed_registry->digest());
  EXPECT_EQ(from_file->signer(), key.public_key());
}

TEST(SnapshotSignature, EmptyRegistrySignsToo) {
  auto r = sign_registry(Registry(), seeded_key(1));
  ASSERT_TRUE(r.ok()) << r.status().message();
  auto loaded = decode_registry(encode_registry(*r), "mem");
  ASSERT_TRUE(loaded.ok()) << loaded.status().message();
  EXPECT_EQ(loaded->signer(), seeded_key(1).public_key());
  EXPECT_TRUE(loaded->provenance().empty());
}

TEST(SnapshotSignature, AByteChangedUnderTheSignatureWithTheChecksumRecomputedIsCorruption) {
  const SecretKey key = seeded_key(7);
  const std::string bytes = encode_registry(*sign_registry(registry_with_provenance(), key));
  const std::string message =
      "mem: signature does not verify (key " + key.public_key().key_id() + "): changed after signing";
  const std::size_t description = read64(bytes, entry(0) + 8);
  const std::size_t at = signature_offset(bytes);
  struct Case {
    const char* name;
    std::size_t offset;
    char xor_with;
  };
  const Case cases[] = {
      {"created_at", 24, 1},
      {"description", description, 1},
      {"signature", at + 48 + 5, 1},
      {"signature's last byte", at + 111, 0x10},
  };
  for (const Case& c : cases) {
    std::string changed = bytes;
    changed[c.offset] = static_cast<char>(changed[c.offset] ^ c.xor_with);
    detail::rewrite_trailer(changed);
    auto r = decode_registry(changed, "mem");
    EXPECT_EQ(r.code(), ErrorCode::kCorruption) << c.name;
    EXPECT_EQ(r.status().message(), message) << c.name;
  }
  // The public key changed: its key id no longer matches.
  std::string changed = bytes;
  changed[at + 16] = static_cast<char>(changed[at + 16] ^ 1);
  detail::rewrite_trailer(changed);
  auto r = decode_registry(changed, "mem");
  EXPECT_EQ(r.code(), ErrorCode::kCorruption);
  const std::uint64_t sections = read64(bytes, 32) & 0xFFFFFFFF;
  EXPECT_EQ(r.status().message(),
            "mem: section " + std::to_string(sections - 1) + ": the signature's key id is not that of its public key");
  // Without the checksum recomputed, the checksum catches it first.
  std::string unchecked = bytes;
  unchecked[description] = static_cast<char>(unchecked[description] ^ 1);
  EXPECT_EQ(decode_registry(unchecked, "mem").status().message(), "mem: checksum mismatch");
}

TEST(SnapshotSignature, TrustIsTheCallersQuestion) {
  const SecretKey key = seeded_key(7);
  const SecretKey other = seeded_key(9);
  auto loaded = decode_registry(encode_registry(*sign_registry(registry_with_provenance(), key)), "reg.optout");
  ASSERT_TRUE(loaded.ok());
  const std::vector<PublicKey> none;
  const std::vector<PublicKey> right = {other.public_key(), key.public_key()};
  const std::vector<PublicKey> wrong = {other.public_key()};
  EXPECT_TRUE(check_trust(loaded->source(), loaded->signer(), none).ok());
  EXPECT_TRUE(check_trust(loaded->source(), loaded->signer(), right).ok());
  Status s = check_trust(loaded->source(), loaded->signer(), wrong);
  EXPECT_EQ(s.code(), ErrorCode::kUntrusted);
  EXPECT_EQ(s.message(), "reg.optout: signed by key " + key.public_key().key_id() +
                             ", which is not trusted (trusted: " + other.public_key().key_id() + ")");
  s = check_trust("reg.optout", std::nullopt, right);
  EXPECT_EQ(s.code(), ErrorCode::kUntrusted);
  EXPECT_EQ(s.message(), "reg.optout: unsigned: a registry signed by a trusted key is required");
  EXPECT_TRUE(check_trust("reg.optout", std::nullopt, none).ok());
}

// The sections of a registry with lists "a" and "b" (description, a, b), created at 1.
std::vector<SnapshotSection> sections_of_two_lists() {
  RegistryBuilder b;
  b.set_description("two");
  EXPECT_TRUE(b.add_stems("a", ListKind::kDeny, valid_stems(400'000'000, 3)).ok());
  EXPECT_TRUE(b.add_stems("b", ListKind::kDeny, valid_stems(500'000'000, 2)).ok());
  const std::string bytes = encode_registry(*b.build(1));
  std::vector<SnapshotSection> out;
  for (std::size_t i = 0; i < 3; ++i) {
    const std::uint64_t type_flags = read64(bytes, entry(i));
    out.push_back({static_cast<std::uint32_t>(type_flags), static_cast<std::uint32_t>(type_flags >> 32),
                   bytes.substr(read64(bytes, entry(i) + 8), read64(bytes, entry(i) + 16))});
  }
  return out;
}

// A snapshot of sections whose SIGNATURE section (the last, when sign) is signed by key.
std::string signed_snapshot(std::vector<SnapshotSection> sections, const SecretKey& key) {
  sections.push_back({4, 0, detail::signature_section_payload(key.public_key(), Signature{})});
  std::string bytes = detail::assemble_snapshot(1, sections);
  const std::size_t at = signature_offset(bytes);
  auto signature = sign_bytes(key, SignedKind::kRegistry, std::string_view(bytes).substr(0, at));
  EXPECT_TRUE(signature.ok());
  std::memcpy(bytes.data() + at + 48, signature->data(), 64);
  detail::rewrite_trailer(bytes);
  return bytes;
}

TEST(SnapshotSignature, AssembledSignedSnapshotLoads) {
  const SecretKey key = seeded_key(3);
  const std::string bytes = signed_snapshot(sections_of_two_lists(), key);
  auto r = decode_registry(bytes, "mem");
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->signer(), key.public_key());
  EXPECT_EQ(encode_registry(*r), bytes);
}

// A later writer's optional section under the signature: this build skips it and the signature
// still verifies, but re-encoding drops the section, so the encoding is unsigned rather than
// carrying a signature that no longer verifies.
TEST(SnapshotSignature, ARegistryThatDoesNotReencodeToTheSignedBytesIsEncodedUnsigned) {
  const SecretKey key = seeded_key(3);
  auto sections = sections_of_two_lists();
  sections.push_back({99, 0, "a later writer's section"});
  const std::string bytes = signed_snapshot(sections, key);
  auto r = decode_registry(bytes, "mem");
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->signer(), key.public_key());
  const std::string again = encode_registry(*r);
  auto reloaded = decode_registry(again, "mem");
  ASSERT_TRUE(reloaded.ok()) << reloaded.status().message();
  EXPECT_FALSE(reloaded->signer().has_value());
  EXPECT_EQ(reloaded->stems(0), r->stems(0));
  sections.pop_back();
  EXPECT_EQ(again, detail::assemble_snapshot(1, sections));
}

TEST(SnapshotSignature, MalformedSignatureSectionsAreRefused) {
  const SecretKey key = seeded_key(3);
  const auto base = sections_of_two_lists();
  const std::string good = detail::signature_section_payload(key.public_key(), Signature{});
  struct Case {
    const char* name;
    std::vector<SnapshotSection> sections;
    ErrorCode code;
    std::string message;
  };
  const auto with = [&](std::vector<SnapshotSection> extra, std::size_t at) {
    auto out = base;
    out.insert(out.begin() + static_cast<std::ptrdiff_t>(at), extra.begin(), extra.end());
    return out;
  };
  const auto edited = [&](std::size_t at, std::uint32_t value) {
    std::string payload = good;
    std::memcpy(payload.data() + at, &value, 4);
    return payload;
  };
  std::string wrong_id = good;
  wrong_id[8] = static_cast<char>(wrong_id[8] ^ 1);
  const std::vector<Case> cases = {
      {"too short", with({{4, 0, good.substr(0, 4)}}, 3), ErrorCode::kCorruption,
       "section 3: signature section too short"},
      {"one byte short", with({{4, 0, good.substr(0, 111)}}, 3), ErrorCode::kCorruption,
       "section 3: signature section of 111 bytes (an Ed25519 one has 112)"},
      {"one byte long", with({{4, 0, good + std::string(1, '\0')}}, 3), ErrorCode::kCorruption,
       "section 3: signature section of 113 bytes (an Ed25519 one has 112)"},
      {"unknown algorithm", with({{4, 0, edited(0, 2)}}, 3), ErrorCode::kUnsupportedVersion,
       "section 3: signature algorithm 2 is not known to this build"},
      {"algorithm 0", with({{4, 0, edited(0, 0)}}, 3), ErrorCode::kUnsupportedVersion,
       "section 3: signature algorithm 0 is not known to this build"},
      {"reserved", with({{4, 0, edited(4, 1)}}, 3), ErrorCode::kCorruption,
       "section 3: reserved signature bytes are not zero"},
      {"key id", with({{4, 0, wrong_id}}, 3), ErrorCode::kCorruption,
       "section 3: the signature's key id is not that of its public key"},
      {"required", with({{4, 1, good}}, 3), ErrorCode::kCorruption,
       "section 3: signature section marked required (it is optional)"},
      {"not last", with({{4, 0, good}}, 1), ErrorCode::kCorruption, "section 1: signature section is not the last"},
      {"two", with({{4, 0, good}, {4, 0, good}}, 3), ErrorCode::kCorruption,
       "section 3: signature section is not the last"},
      {"zero signature", with({{4, 0, good}}, 3), ErrorCode::kCorruption,
       "signature does not verify (key " + key.public_key().key_id() + "): changed after signing"},
  };
  for (const Case& c : cases) {
    auto r = decode_registry(detail::assemble_snapshot(1, c.sections), "mem");
    EXPECT_EQ(r.code(), c.code) << c.name;
    EXPECT_EQ(r.status().message(), "mem: " + c.message) << c.name;
  }
}

// What a reader older than sections 3 and 4 does with a signed snapshot with provenance: to it they
// are optional sections of unknown types, skipped by the rule above. Renumbering them to types
// this build does not know reproduces that reader: the lists load, nothing else is seen.
TEST(SnapshotSignature, AnOlderReaderSkipsProvenanceAndSignature) {
  const std::string bytes = encode_registry(*sign_registry(registry_with_provenance(), seeded_key(7)));
  const std::uint64_t count = read64(bytes, 32) & 0xFFFFFFFF;
  std::vector<SnapshotSection> sections;
  for (std::size_t i = 0; i < count; ++i) {
    const std::uint64_t type_flags = read64(bytes, entry(i));
    sections.push_back({static_cast<std::uint32_t>(type_flags), static_cast<std::uint32_t>(type_flags >> 32),
                        bytes.substr(read64(bytes, entry(i) + 8), read64(bytes, entry(i) + 16))});
  }
  ASSERT_EQ(sections[count - 2].type, 3u);
  ASSERT_EQ(sections[count - 1].type, 4u);
  sections[count - 2].type = 103;
  sections[count - 1].type = 104;
  auto old = decode_registry(detail::assemble_snapshot(1'796'000'000, sections), "mem");
  ASSERT_TRUE(old.ok()) << old.status().message();
  const Registry expected = registry_with_provenance();
  EXPECT_EQ(old->lists().size(), expected.lists().size());
  EXPECT_EQ(old->stems(0), expected.stems(0));
  EXPECT_EQ(old->description(), expected.description());
  EXPECT_TRUE(old->provenance().empty());
  EXPECT_FALSE(old->signer().has_value());
}

// ---- Provenance ---------------------------------------------------------------------------------

constexpr const char* kSource =
    R"({"file":"a.txt","op":"add","bytes":33,"xxh3_128":"000102030405060708090a0b0c0d0e0f","lines":3,"numbers":3})";

std::string provenance_json(const std::string& entries) { return R"({"lists":[)" + entries + "]}"; }
std::string entry_json(const std::string& name, const std::string& rest) {
  return R"({"name":")" + name + "\"," + rest + "}";
}

TEST(SnapshotProvenance, CanonicalProvenanceLoadsAndRoundTrips) {
  const std::string json =
      provenance_json(entry_json("a", R"("as_of":"2026-11-24","sources":[)" + std::string(kSource) + "]") + "," +
                      entry_json("b", R"("as_of":"1970-01-01","sources":[])"));
  auto sections = sections_of_two_lists();
  sections.push_back({3, 0, json});
  const std::string bytes = detail::assemble_snapshot(1, sections);
  auto r = decode_registry(bytes, "mem");
  ASSERT_TRUE(r.ok()) << r.status().message();
  ASSERT_EQ(r->provenance().size(), 2u);
  const ListProvenance* a = r->provenance_of("a");
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->list, "a");
  EXPECT_EQ(a->as_of, 1'795'478'400);
  ASSERT_EQ(a->sources.size(), 1u);
  const SourceRecord expected{"a.txt", false, 33, Digest128{0x0001020304050607, 0x08090a0b0c0d0e0f}, 3, 3};
  EXPECT_EQ(a->sources[0], expected);
  EXPECT_EQ(r->provenance_of("b")->as_of, 0);
  EXPECT_TRUE(r->provenance_of("b")->sources.empty());
  EXPECT_EQ(r->provenance_of("c"), nullptr);
  EXPECT_EQ(encode_registry(*r), bytes);
  EXPECT_EQ(detail::provenance_payload(r->provenance()), json);
}

TEST(SnapshotProvenance, EveryRuleIsCheckedAtLoad) {
  const std::string source = kSource;
  const auto src = [&](const std::string& from, const std::string& to) {
    std::string s = source;
    s.replace(s.find(from), from.size(), to);
    return provenance_json(entry_json("a", R"("sources":[)" + s + "]"));
  };
  const std::string one_a = entry_json("a", R"("sources":[)" + source + "]");
  const std::string one_b = entry_json("b", R"("sources":[)" + source + "]");
  struct Case {
    std::string payload;
    std::string problem;
  };
  const std::vector<Case> cases = {
      {"", "not JSON (or not UTF-8)"},
      {"{", "not JSON (or not UTF-8)"},
      {provenance_json(entry_json("a\xff", R"("sources":[])")), "not JSON (or not UTF-8)"},
      {"[]", "not an object holding only a 'lists' array"},
      {R"({"lists":{}})", "not an object holding only a 'lists' array"},
      {R"({"lists":[],"x":1})", "not an object holding only a 'lists' array"},
      {R"({"lists":[]})", "no list entry"},
      {R"({"lists":[1]})", "a list entry is not an object"},
      {provenance_json(R"({"name":"a","sources":[],"x":1})"),
       "a list entry does not hold exactly name, sources and an optional as_of"},
      {provenance_json(R"({"name":"a"})"), "a list entry does not hold exactly name, sources and an optional as_of"},
      {provenance_json(R"({"name":1,"sources":[]})"), "a list entry's name is not a string"},
      {provenance_json(entry_json("c", R"("sources":[])")), "a list entry names no list of the snapshot"},
      {provenance_json(entry_json("a", R"("as_of":"2026-02-30","sources":[])")),
       "list 'a': as_of is not a date YYYY-MM-DD"},
      {provenance_json(entry_json("a", R"("as_of":"2026-1-05","sources":[])")),
       "list 'a': as_of is not a date YYYY-MM-DD"},
      {provenance_json(entry_json("a", R"("as_of":null,"sources":[])")), "list 'a': as_of is not a date YYYY-MM-DD"},
      {provenance_json(entry_json("a", R"("sources":{})")), "list 'a': sources is not an array"},
      {provenance_json(entry_json("a", R"("sources":[])")), "list 'a': empty entry (no as_of, no source)"},
      {provenance_json(entry_json("a", R"("sources":[1])")),
       "list 'a': source 1: a source is not an object of the 6 source fields"},
      {src(R"(,"numbers":3)", ""), "list 'a': source 1: a source is not an object of the 6 source fields"},
      {src(R"("op")", R"("oq")"), "list 'a': source 1: a source has no 'op'"},
      {src("a.txt", "d/a.txt"),
       "list 'a': source 1: a source's file is not a base name (a non-empty name without '/')"},
      {src("a.txt", ""), "list 'a': source 1: a source's file is not a base name (a non-empty name without '/')"},
      {src("a.txt", ".."), "list 'a': source 1: a source's file is not a base name (a non-empty name without '/')"},
      {src("a.txt", "a\\u0000"),
       "list 'a': source 1: a source's file is not a base name (a non-empty name without '/')"},
      {src(R"("file":"a.txt")", R"("file":7)"),
       "list 'a': source 1: a source's file is not a base name (a non-empty name without '/')"},
      {src(R"("add")", R"("move")"), "list 'a': source 1: a source's op is not \"add\" or \"remove\""},
      {src(R"("bytes":33)", R"("bytes":-1)"), "list 'a': source 1: a source's bytes is not an unsigned integer"},
      {src(R"("lines":3)", R"("lines":3.0)"), "list 'a': source 1: a source's lines is not an unsigned integer"},
      {src(R"("numbers":3)", R"("numbers":"3")"), "list 'a': source 1: a source's numbers is not an unsigned integer"},
      {src(R"("numbers":3)", R"("numbers":4)"), "list 'a': source 1: a source has more numbers than lines"},
      {src("0e0f\"", "0E0F\""), "list 'a': source 1: a source's xxh3_128 is not 32 lower-case hex digits"},
      {src("0e0f\"", "0e0\""), "list 'a': source 1: a source's xxh3_128 is not 32 lower-case hex digits"},
      {provenance_json(one_b + "," + one_a), "list 'a': list entries not in strictly increasing name order"},
      {provenance_json(one_a + "," + one_a), "list 'a': list entries not in strictly increasing name order"},
      {R"({"lists": [)" + one_a + "]}", "not in the canonical form optout writes"},
      {provenance_json(R"({"sources":[)" + source + R"(],"name":"a"})"), "not in the canonical form optout writes"},
      {src(R"("bytes":33)", R"("bytes":033)"), "not JSON (or not UTF-8)"},
      {src("a.txt", "\\u0061.txt"), "not in the canonical form optout writes"},
  };
  for (const Case& c : cases) {
    auto sections = sections_of_two_lists();
    sections.push_back({3, 0, c.payload});
    auto r = decode_registry(detail::assemble_snapshot(1, sections), "mem");
    EXPECT_EQ(r.code(), ErrorCode::kCorruption) << c.payload;
    EXPECT_EQ(r.status().message(), "mem: section 3: provenance: " + c.problem) << c.payload;
  }
  // At most one, and optional.
  auto sections = sections_of_two_lists();
  sections.push_back({3, 0, provenance_json(one_a)});
  sections.push_back({3, 0, provenance_json(one_a)});
  auto twice = decode_registry(detail::assemble_snapshot(1, sections), "mem");
  EXPECT_EQ(twice.code(), ErrorCode::kCorruption);
  EXPECT_EQ(twice.status().message(), "mem: section 4: a second provenance section");
  sections.pop_back();
  sections.back().flags = 1;
  auto required = decode_registry(detail::assemble_snapshot(1, sections), "mem");
  EXPECT_EQ(required.code(), ErrorCode::kCorruption);
  EXPECT_EQ(required.status().message(), "mem: section 3: provenance section marked required (it is optional)");
}

}  // namespace
}  // namespace optout
