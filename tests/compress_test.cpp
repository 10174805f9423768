// Compressed output (issue 13 part 2): one gzip member or zstd frame per block, compressed in the
// parallel stage. Decoded here with other libraries than the encoders' (zlib for gzip; libzstd's
// decoder for zstd), the output must be exactly the uncompressed run's bytes, for every codec,
// level, thread count and block size.
#include <gtest/gtest.h>
#include <xxhash.h>
#include <zlib.h>
#include <zstd.h>

#include <fstream>
#include <random>
#include <sstream>

#include "optout/filter.hpp"
#include "optout/run.hpp"
#include "test_support.hpp"

namespace optout {
namespace {

using testing::by_name;
using testing::kListed;
using testing::make_index;
using testing::make_registry;

// Every gzip member of bytes, decoded by zlib one after another; "<bad gzip>" when one is broken.
std::string gunzip(std::string_view bytes) {
  std::string out;
  z_stream z{};
  if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK) return "<bad gzip>";
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(bytes.data()));
  z.avail_in = static_cast<uInt>(bytes.size());
  char buffer[1 << 14];
  while (z.avail_in > 0) {
    z.next_out = reinterpret_cast<Bytef*>(buffer);
    z.avail_out = sizeof buffer;
    const int rc = inflate(&z, Z_NO_FLUSH);
    out.append(buffer, sizeof buffer - z.avail_out);
    if (rc == Z_STREAM_END) {
      if (inflateReset(&z) != Z_OK) break;
    } else if (rc != Z_OK) {
      inflateEnd(&z);
      return "<bad gzip>";
    }
  }
  inflateEnd(&z);
  return out;
}

// Every zstd frame of bytes; "<bad zstd>" when broken.
std::string unzstd(std::string_view bytes) {
  std::string out;
  std::unique_ptr<ZSTD_DStream, decltype(&ZSTD_freeDStream)> d(ZSTD_createDStream(), &ZSTD_freeDStream);
  ZSTD_inBuffer in{bytes.data(), bytes.size(), 0};
  char buffer[1 << 14];
  while (in.pos < in.size) {
    ZSTD_outBuffer o{buffer, sizeof buffer, 0};
    const std::size_t rc = ZSTD_decompressStream(d.get(), &o, &in);
    if (ZSTD_isError(rc)) return "<bad zstd>";
    out.append(buffer, o.pos);
  }
  return out;
}

std::string decompress(Compression codec, std::string_view bytes) {
  switch (codec) {
    case Compression::kGzip: return gunzip(bytes);
    case Compression::kZstd: return unzstd(bytes);
    case Compression::kNone: break;
  }
  return std::string(bytes);
}

Digest128 xxh128(std::string_view bytes) {
  const XXH128_hash_t h = XXH3_128bits(bytes.data(), bytes.size());
  return Digest128{h.high64, h.low64};
}

struct FilterRun {
  Result<FilterStats> stats;
  std::string output, rejects;
};

FilterRun filter_string(const std::string& input, const OptOutIndex& index, const FilterOptions& options) {
  std::istringstream in{input};
  auto source = make_istream_source(in, "extract.csv");
  FilterRun run{Status(), "", ""};
  auto out = make_string_sink(run.output, "<out>");
  auto rejects = make_string_sink(run.rejects, "<rejects>");
  run.stats = filter(*source, *out, rejects.get(), index, options);
  return run;
}

// A seeded extract: kept, removed (kListed) and rejected rows, quoted fields, CRLF.
std::string extract(std::size_t rows, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::string csv = "id,nhs_number,notes\r\n";
  for (std::size_t i = 0; i < rows; ++i) {
    csv += std::to_string(i) + ",";
    switch (rng() % 6) {
      case 0: csv += "9434765919"; break;  // listed: removed
      case 1: csv += "12345"; break;       // rejected
      case 2: csv += "\"401 023 2137\""; break;
      default: csv += "4010232137"; break;
    }
    csv += rng() % 2 ? ",\"a, b\nc\"" : ",plain text " + std::to_string(rng() % 1000);
    csv += rng() % 3 ? "\n" : "\r\n";
  }
  return csv;
}

TEST(CompressedFilterTest, EveryCodecLevelThreadCountAndBlockSizeDecompressesToThePlainRun) {
  const Registry registry = make_registry({kListed});
  const OptOutIndex index = make_index(registry);
  const std::string input = extract(3000, 20261207);
  FilterOptions plain_options = by_name();
  plain_options.digest_output = true;
  const FilterRun plain = filter_string(input, index, plain_options);
  ASSERT_TRUE(plain.stats.ok()) << plain.stats.status().message();
  ASSERT_GT(plain.stats->removed, 0u);
  ASSERT_GT(plain.stats->rejected, 0u);

  struct Codec {
    Compression codec;
    std::vector<int> levels;
  };
  const Codec codecs[] = {{Compression::kGzip, {kGzipMinLevel, 1, 2, kGzipMaxLevel}},
                          {Compression::kZstd, {kZstdMinLevel, kZstdDefaultLevel, kZstdMaxLevel}}};
  for (const Codec& c : codecs) {
    for (int level : c.levels) {
      for (unsigned threads : {1u, 2u, 3u}) {
        for (std::size_t block : std::initializer_list<std::size_t>{1, 17, 1000, 64 << 10, 1 << 20}) {
          FilterOptions options = plain_options;
          options.threads = threads;
          options.block_bytes = block;
          options.output_compression = c.codec;
          options.rejects_compression = c.codec;
          options.compression_level = level;
          const FilterRun run = filter_string(input, index, options);
          const std::string where = std::string(compression_name(c.codec)) + " level " + std::to_string(level) +
                                    ", threads " + std::to_string(threads) + ", block " + std::to_string(block);
          ASSERT_TRUE(run.stats.ok()) << where << ": " << run.stats.status().message();
          ASSERT_EQ(decompress(c.codec, run.output), plain.output) << where;
          ASSERT_EQ(decompress(c.codec, run.rejects), plain.rejects) << where;
          // The counts and the output digest are the uncompressed run's; the compressed bytes
          // have their own size and digest.
          EXPECT_EQ(run.stats->bytes_out, plain.stats->bytes_out) << where;
          EXPECT_EQ(run.stats->bytes_rejected, plain.stats->bytes_rejected) << where;
          EXPECT_EQ(run.stats->output_digest, plain.stats->output_digest) << where;
          EXPECT_EQ(run.stats->bytes_out_compressed, run.output.size()) << where;
          ASSERT_TRUE(run.stats->output_compressed_digest.has_value()) << where;
          EXPECT_EQ(*run.stats->output_compressed_digest, xxh128(run.output)) << where;
        }
      }
    }
  }
}

TEST(CompressedFilterTest, OnlyTheOutputOrOnlyTheRejectsMayBeCompressed) {
  const Registry registry = make_registry({kListed});
  const OptOutIndex index = make_index(registry);
  const std::string input = extract(500, 7);
  const FilterRun plain = filter_string(input, index, by_name());
  FilterOptions options = by_name();
  options.block_bytes = 256;
  options.rejects_compression = Compression::kZstd;
  FilterRun run = filter_string(input, index, options);
  ASSERT_TRUE(run.stats.ok()) << run.stats.status().message();
  EXPECT_EQ(run.output, plain.output);
  EXPECT_EQ(unzstd(run.rejects), plain.rejects);
  EXPECT_EQ(run.stats->bytes_out_compressed, 0u);
  EXPECT_FALSE(run.stats->output_compressed_digest.has_value());

  options.rejects_compression = Compression::kNone;
  options.output_compression = Compression::kGzip;
  run = filter_string(input, index, options);
  ASSERT_TRUE(run.stats.ok()) << run.stats.status().message();
  EXPECT_EQ(gunzip(run.output), plain.output);
  EXPECT_EQ(run.rejects, plain.rejects);
}

// An output with no bytes at all (no header, every row removed) is still a valid compressed file
// (one empty member or frame), which decompresses to nothing.
TEST(CompressedFilterTest, AnEmptyOutputIsAnEmptyMemberOrFrame) {
  const Registry registry = make_registry({kListed});
  const OptOutIndex index = make_index(registry);
  for (const Compression codec : {Compression::kGzip, Compression::kZstd}) {
    FilterOptions options;
    options.has_header = false;
    options.column_index = 1;
    options.block_bytes = 4;
    options.output_compression = codec;
    options.rejects_compression = codec;
    const FilterRun run = filter_string("9434765919\n9434765919\n", index, options);
    ASSERT_TRUE(run.stats.ok()) << run.stats.status().message();
    EXPECT_EQ(run.stats->kept, 0u);
    EXPECT_FALSE(run.output.empty()) << compression_name(codec);
    EXPECT_EQ(decompress(codec, run.output), "") << compression_name(codec);
    EXPECT_EQ(decompress(codec, run.rejects), "") << compression_name(codec);
  }
}

TEST(CompressedFilterTest, ValidateRefusesALevelOutOfRangeOrWithNothingCompressed) {
  struct Case {
    Compression output, rejects;
    std::optional<int> level;
    const char* message;  // "" when valid
  };
  const Case cases[] = {
      {Compression::kGzip, Compression::kNone, std::nullopt, ""},
      {Compression::kGzip, Compression::kNone, 0, ""},
      {Compression::kGzip, Compression::kNone, 3, ""},
      {Compression::kGzip, Compression::kNone, -1, "the gzip level must be from 0 to 3"},
      {Compression::kGzip, Compression::kNone, 4, "the gzip level must be from 0 to 3"},
      {Compression::kZstd, Compression::kNone, 1, ""},
      {Compression::kZstd, Compression::kNone, 19, ""},
      {Compression::kZstd, Compression::kNone, 0, "the zstd level must be from 1 to 19"},
      {Compression::kZstd, Compression::kNone, 20, "the zstd level must be from 1 to 19"},
      {Compression::kNone, Compression::kZstd, 20, "the zstd level must be from 1 to 19"},
      {Compression::kZstd, Compression::kGzip, 9, "the gzip level must be from 0 to 3"},
      {Compression::kNone, Compression::kNone, 3,
       "a compression level needs a compressed output (a .gz or .zst name, or a compression)"},
      {static_cast<Compression>(7), Compression::kNone, std::nullopt, "the compression is gzip, zstd or none"},
  };
  for (const Case& c : cases) {
    FilterOptions options = by_name();
    options.output_compression = c.output;
    options.rejects_compression = c.rejects;
    options.compression_level = c.level;
    const Status s = validate_filter_options(options);
    const std::string where = std::string(compression_name(c.output)) + "/" + compression_name(c.rejects) + " level " +
                              (c.level ? std::to_string(*c.level) : "unset");
    if (*c.message == '\0') {
      EXPECT_TRUE(s.ok()) << where << ": " << s.message();
    } else {
      EXPECT_EQ(s.code(), ErrorCode::kInvalidArgument) << where;
      EXPECT_EQ(s.message(), c.message) << where;
    }
  }
}

TEST(CompressedFilterTest, ParsesCodecNamesAndSuffixes) {
  EXPECT_EQ(*parse_compression("gzip"), Compression::kGzip);
  EXPECT_EQ(*parse_compression("gz"), Compression::kGzip);
  EXPECT_EQ(*parse_compression("zstd"), Compression::kZstd);
  EXPECT_EQ(*parse_compression("zst"), Compression::kZstd);
  EXPECT_EQ(*parse_compression("none"), Compression::kNone);
  for (const char* bad : {"", "GZIP", "xz", "bzip2", "gzip "}) {
    EXPECT_EQ(parse_compression(bad).status().message(), "the compression is gzip, zstd or none") << bad;
  }
  EXPECT_EQ(compression_by_suffix("out/clean.csv.gz"), Compression::kGzip);
  EXPECT_EQ(compression_by_suffix("clean.csv.zst"), Compression::kZstd);
  EXPECT_EQ(compression_by_suffix("clean.csv"), Compression::kNone);
  EXPECT_EQ(compression_by_suffix("clean.gzip"), Compression::kNone);
  EXPECT_EQ(compression_by_suffix("-"), Compression::kNone);
}

class CompressedRunTest : public testing::TempDirTest {
 protected:
  void SetUp() override {
    registry_.emplace(make_registry({kListed}));
    index_.emplace(make_index(*registry_));
    input_ = extract(2000, 99);
    write("in.csv", input_);
  }
  FilterRequest request(const std::string& output) const {
    FilterRequest r;
    r.inputs = {path("in.csv")};
    r.output = path(output);
    r.options = by_name();
    r.options.block_bytes = 4096;
    r.options.threads = 2;
    return r;
  }
  std::string plain_output() {
    Result<RunResult> ran = run_filter(*index_, request("plain.csv"));
    EXPECT_TRUE(ran.ok()) << ran.status().message();
    return read("plain.csv");
  }

  std::optional<Registry> registry_;
  std::optional<OptOutIndex> index_;
  std::string input_;
};

TEST_F(CompressedRunTest, TheSuffixChoosesTheCodecOfOutputAndRejects) {
  const std::string plain = plain_output();
  FilterRequest r = request("clean.csv.gz");
  r.rejects = path("rejects.csv.zst");
  r.audit = path("audit.jsonl");
  Result<RunResult> ran = run_filter(*index_, r);
  ASSERT_TRUE(ran.ok()) << ran.status().message();
  const std::string compressed = read("clean.csv.gz");
  EXPECT_EQ(gunzip(compressed), plain);
  EXPECT_NE(unzstd(read("rejects.csv.zst")), "<bad zstd>");
  EXPECT_FALSE(unzstd(read("rejects.csv.zst")).empty());
  // The audit record: the output's digest over its uncompressed bytes, the file's too.
  const std::string audit = read("audit.jsonl");
  EXPECT_NE(audit.find("\"output_xxh3_128\":\"" + xxh128(plain).hex() + "\""), std::string::npos) << audit;
  EXPECT_NE(audit.find("\"output_compressed_xxh3_128\":\"" + xxh128(compressed).hex() + "\""), std::string::npos)
      << audit;
  EXPECT_NE(audit.find("\"output_compressed_bytes\":" + std::to_string(compressed.size())), std::string::npos) << audit;
  EXPECT_NE(ran->stats_json.find("\"bytes_out_compressed\":" + std::to_string(compressed.size())), std::string::npos);
}

TEST_F(CompressedRunTest, CompressOverridesTheSuffix) {
  const std::string plain = plain_output();
  FilterRequest r = request("clean.csv.gz");
  r.compress = Compression::kNone;
  ASSERT_TRUE(run_filter(*index_, r).ok());
  EXPECT_EQ(read("clean.csv.gz"), plain);
  r = request("clean.csv");
  r.compress = Compression::kZstd;
  r.options.compression_level = 7;
  ASSERT_TRUE(run_filter(*index_, r).ok());
  EXPECT_EQ(unzstd(read("clean.csv")), plain);
}

TEST_F(CompressedRunTest, ALevelOutOfRangeIsRefusedBeforeAnythingIsWritten) {
  FilterRequest r = request("clean.csv.gz");
  r.options.compression_level = 4;
  r.audit = path("audit.jsonl");
  Result<RunResult> ran = run_filter(*index_, r);
  ASSERT_FALSE(ran.ok());
  EXPECT_EQ(ran.code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(ran.status().message(), "the gzip level must be from 0 to 3");
  EXPECT_EQ(files(), std::vector<std::string>{"in.csv"});
}

TEST_F(CompressedRunTest, AFailureMidRunLeavesNoOutput) {
  // A malformed record far into the input: blocks before it were compressed and written.
  write("in.csv", input_ + "1,4010232137,\"unterminated\n");
  for (const char* name : {"clean.csv.gz", "clean.csv.zst"}) {
    FilterRequest r = request(name);
    r.rejects = path(std::string("rejects-") + name);
    Result<RunResult> ran = run_filter(*index_, r);
    ASSERT_FALSE(ran.ok()) << name;
    EXPECT_EQ(ran.code(), ErrorCode::kInvalidInput) << name;
    EXPECT_EQ(files(), std::vector<std::string>{"in.csv"}) << name;
  }
}

TEST_F(CompressedRunTest, ARunInPartsRefusesCompression) {
  FilterRequest r = request("parts");
  r.in_parts = true;
  r.compress = Compression::kGzip;
  Result<RunResult> ran = run_filter(*index_, r);
  ASSERT_FALSE(ran.ok());
  EXPECT_EQ(ran.code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(ran.status().message(), "a run in parts writes uncompressed parts: compress a one-output run");
}

}  // namespace
}  // namespace optout
