// Compressed input (issue 13.1): gzip, zstd and zip, told by content, give the plain run's bytes;
// truncated and corrupt streams fail closed naming the input and the compressed offset.
#include <archive.h>
#include <archive_entry.h>
#include <gtest/gtest.h>
#include <libdeflate.h>
#include <zstd.h>

#include <sstream>
#include <string>
#include <vector>

#include "decompress.hpp"
#include "optout/filter.hpp"
#include "optout/pieces.hpp"
#include "optout/run.hpp"
#include "test_support.hpp"

namespace optout {
namespace {

using testing::by_name;
using testing::kListed;
using testing::make_index;
using testing::make_registry;

std::string nhs(std::uint32_t stem) {
  std::string digits = std::to_string(stem);
  digits.insert(0, 9 - digits.size(), '0');
  int sum = 0;
  for (int i = 0; i < 9; ++i) sum += (digits[i] - '0') * (10 - i);
  const int check = 11 - sum % 11;
  return check == 10 ? "" : digits + static_cast<char>('0' + (check == 11 ? 0 : check));
}

// A CSV of rows kept, removed (kListed) and rejected, quoted fields with LFs among them.
std::string make_csv(std::size_t rows, std::uint32_t seed) {
  std::string csv = "id,nhs_number,note\n";
  std::uint32_t stem = 400'000'000 + seed;
  for (std::size_t i = 0; i < rows; ++i) {
    std::string number;
    if (i % 7 == 3) {
      number = nhs(kListed);
    } else if (i % 11 == 5) {
      number = "12345";
    } else {
      while ((number = nhs(stem++)).empty()) {
      }
    }
    csv += std::to_string(i) + "," + number + (i % 5 == 0 ? ",\"two\nlines\"\n" : ",plain\n");
  }
  return csv;
}

std::string gzip(std::string_view data, int level = 6) {
  libdeflate_compressor* c = libdeflate_alloc_compressor(level);
  std::string out(libdeflate_gzip_compress_bound(c, data.size()), '\0');
  out.resize(libdeflate_gzip_compress(c, data.data(), data.size(), out.data(), out.size()));
  libdeflate_free_compressor(c);
  return out;
}

std::string zstd(std::string_view data) {
  ZSTD_CCtx* c = ZSTD_createCCtx();
  (void)ZSTD_CCtx_setParameter(c, ZSTD_c_checksumFlag, 1);
  std::string out(ZSTD_compressBound(data.size()), '\0');
  out.resize(ZSTD_compress2(c, out.data(), out.size(), data.data(), data.size()));
  ZSTD_freeCCtx(c);
  return out;
}

std::string zip(const std::vector<std::pair<std::string, std::string>>& entries) {
  std::size_t total = 4096;
  for (const auto& [name, data] : entries) total += data.size() + name.size() * 3 + 512;
  std::string out(total, '\0');
  std::size_t used = 0;
  archive* a = archive_write_new();
  EXPECT_EQ(archive_write_set_format_zip(a), ARCHIVE_OK);
  EXPECT_EQ(archive_write_open_memory(a, out.data(), out.size(), &used), ARCHIVE_OK);
  for (const auto& [name, data] : entries) {
    archive_entry* e = archive_entry_new();
    archive_entry_set_pathname(e, name.c_str());
    archive_entry_set_size(e, static_cast<la_int64_t>(data.size()));
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, 0644);
    EXPECT_EQ(archive_write_header(a, e), ARCHIVE_OK);
    EXPECT_EQ(archive_write_data(a, data.data(), data.size()), static_cast<la_ssize_t>(data.size()));
    archive_entry_free(e);
  }
  EXPECT_EQ(archive_write_close(a), ARCHIVE_OK);
  archive_write_free(a);
  out.resize(used);
  return out;
}

class DecompressTest : public testing::TempDirTest {
 protected:
  DecompressTest() : index_(make_index(make_registry({kListed}))) {}

  // The filter of the file at path into out.csv: the output, or the error.
  Result<std::string> run_file(const std::string& name, FilterOptions options = by_name()) {
    FilterRequest request;
    request.inputs = {path(name)};
    request.output = path("out.csv");
    request.options = std::move(options);
    Result<RunResult> ran = run_filter(index_, request);
    if (!ran.ok()) return ran.status();
    return read("out.csv");
  }

  // The filter of bytes read as a stream (standard input's way), decompressed.
  Result<std::string> run_stream(const std::string& bytes, const FilterOptions& options = by_name()) {
    std::istringstream in(bytes);
    std::unique_ptr<ByteSource> source = make_decompressing_source(make_istream_source(in, "<stdin>"), options.entry);
    std::string out;
    std::unique_ptr<ByteSink> sink = make_string_sink(out, "<stdout>");
    Result<FilterStats> stats = filter(*source, *sink, nullptr, index_, options);
    if (!stats.ok()) return stats.status();
    return out;
  }

  std::string plain(const std::string& csv) {
    write("plain.csv", csv);
    Result<std::string> out = run_file("plain.csv");
    EXPECT_TRUE(out.ok()) << out.status().message();
    return out.ok() ? *out : "";
  }

  OptOutIndex index_;
};

TEST_F(DecompressTest, EveryCodecFileAndStreamEveryBlockSizeAndThreadCountGivesThePlainBytes) {
  const std::string csv = make_csv(20'000, 1);
  const std::string expected = plain(csv);
  ASSERT_FALSE(expected.empty());
  const std::size_t half = csv.find('\n', csv.size() / 2) + 1;
  const std::string a = csv.substr(0, half);
  const std::string b = csv.substr(half);
  const std::vector<std::pair<std::string, std::string>> inputs = {
      {"gzip", gzip(csv)},
      {"gzip, stored (level 0)", gzip(csv, 0)},
      {"gzip, two members", gzip(a) + gzip(b)},
      {"gzip, an empty member between", gzip(a) + gzip("") + gzip(b)},
      {"zstd", zstd(csv)},
      {"zstd, two frames", zstd(a) + zstd(b)},
      {"zip", zip({{"extract.csv", csv}})},
  };
  for (const auto& [what, bytes] : inputs) {
    write("in.bin", bytes);
    for (const std::size_t block : {std::size_t{7}, std::size_t{4096}, kDefaultBlockBytes}) {
      for (const unsigned threads : {1u, 2u}) {
        SCOPED_TRACE(what + ", block " + std::to_string(block) + ", threads " + std::to_string(threads));
        FilterOptions options = by_name();
        options.block_bytes = block;
        options.threads = threads;
        if (block == 7 && what != "gzip") continue;  // tiny blocks are slow; one codec is enough
        Result<std::string> file = run_file("in.bin", options);
        ASSERT_TRUE(file.ok()) << file.status().message();
        EXPECT_TRUE(*file == expected);
        Result<std::string> stream = run_stream(bytes, options);
        ASSERT_TRUE(stream.ok()) << stream.status().message();
        EXPECT_TRUE(*stream == expected);
      }
    }
  }
}

TEST_F(DecompressTest, PlainTextPassesThroughUnchangedEvenWithTinyReads) {
  const std::string csv = make_csv(100, 2);
  const std::string expected = plain(csv);
  FilterOptions options = by_name();
  options.block_bytes = 3;  // smaller than the sniffed bytes: they are replayed
  Result<std::string> out = run_stream(csv, options);
  ASSERT_TRUE(out.ok()) << out.status().message();
  EXPECT_EQ(*out, expected);
}

TEST_F(DecompressTest, TruncatedStreamsFailNamingTheInputAndOffsetAndLeaveNoOutput) {
  const std::string csv = make_csv(20'000, 3);
  struct Case {
    std::string codec;
    std::string bytes;
    std::string message;  // after "IN: ", "K" standing for the cut
  };
  const Case cases[] = {
      {"gzip", gzip(csv), "truncated gzip input: it ends at byte K, inside a member"},
      {"zstd", zstd(csv), "truncated zstd input: it ends at byte K, inside a frame"},
  };
  for (const Case& c : cases) {
    for (const std::size_t cut : {std::size_t{10}, c.bytes.size() / 2, c.bytes.size() - 1}) {
      SCOPED_TRACE(c.codec + " cut at " + std::to_string(cut));
      write("in.gz", c.bytes.substr(0, cut));
      Result<std::string> out = run_file("in.gz");
      ASSERT_FALSE(out.ok());
      EXPECT_EQ(out.code(), ErrorCode::kInvalidInput);
      std::string message = c.message;
      message.replace(message.find('K'), 1, std::to_string(cut));
      EXPECT_EQ(out.status().message(), path("in.gz") + ": " + message);
      EXPECT_EQ(files(), (std::vector<std::string>{"in.gz"}));  // no output, no temporary file
      Result<std::string> stream = run_stream(c.bytes.substr(0, cut));
      ASSERT_FALSE(stream.ok());
      EXPECT_EQ(stream.status().message(), "<stdin>: " + message);
    }
  }
  // zip: cut inside the entry's data.
  const std::string archive = zip({{"extract.csv", csv}});
  for (const std::size_t cut : {std::size_t{40}, archive.size() / 2}) {
    SCOPED_TRACE("zip cut at " + std::to_string(cut));
    write("in.zip", archive.substr(0, cut));
    Result<std::string> out = run_file("in.zip");
    ASSERT_FALSE(out.ok());
    EXPECT_EQ(out.code(), ErrorCode::kInvalidInput);
    EXPECT_TRUE(out.status().message().starts_with(path("in.zip") + ": corrupt zip input at byte "))
        << out.status().message();
    EXPECT_EQ(files(), (std::vector<std::string>{"in.gz", "in.zip"}));
  }
  // Cut inside the central directory, after the entry's whole (CRC-checked) data: still refused.
  for (const std::size_t cut : {archive.size() - 1, archive.size() - 22}) {
    SCOPED_TRACE("zip cut at " + std::to_string(cut));
    write("in.zip", archive.substr(0, cut));
    Result<std::string> out = run_file("in.zip");
    ASSERT_FALSE(out.ok());
    EXPECT_EQ(out.code(), ErrorCode::kInvalidInput);
    EXPECT_EQ(out.status().message(), path("in.zip") + ": truncated zip input: it ends at byte " + std::to_string(cut) +
                                          ", inside its central directory");
    EXPECT_EQ(files(), (std::vector<std::string>{"in.gz", "in.zip"}));
  }
}

TEST_F(DecompressTest, ACorruptByteFailsNamingTheOffset) {
  const std::string csv = make_csv(5'000, 4);
  std::string gz = gzip(csv);
  gz[gz.size() - 6] ^= 0x55;  // in the CRC-32 of the trailer
  write("in.gz", gz);
  Result<std::string> out = run_file("in.gz");
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.code(), ErrorCode::kInvalidInput);
  EXPECT_EQ(out.status().message(),
            path("in.gz") + ": corrupt gzip input at byte " + std::to_string(gz.size()) + ": checksum mismatch");
  EXPECT_EQ(files(), (std::vector<std::string>{"in.gz"}));

  std::string zst = zstd(csv);
  zst[zst.size() - 2] ^= 0x55;  // in the content checksum
  write("in.zst", zst);
  out = run_file("in.zst");
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.code(), ErrorCode::kInvalidInput);
  EXPECT_TRUE(out.status().message().starts_with(path("in.zst") + ": corrupt zstd input at byte "))
      << out.status().message();

  // Bytes after a member that are not another member.
  write("trailing.gz", gzip(csv) + "this is not a gzip member\n");
  out = run_file("trailing.gz");
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.code(), ErrorCode::kInvalidInput);
  EXPECT_TRUE(out.status().message().starts_with(path("trailing.gz") + ": corrupt gzip input at byte "))
      << out.status().message();
}

TEST_F(DecompressTest, ZipEntries) {
  const std::string a = make_csv(300, 5);
  const std::string b = make_csv(200, 6);
  write("two.zip", zip({{"a.csv", a}, {"b.csv", b}}));
  Result<std::string> out = run_file("two.zip");
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.code(), ErrorCode::kInvalidInput);
  EXPECT_EQ(out.status().message(), path("two.zip") + ": the zip holds 2 entries: choose one with --entry NAME");

  FilterOptions options = by_name();
  options.entry = "b.csv";
  const std::string expected_b = plain(b);
  out = run_file("two.zip", options);
  ASSERT_TRUE(out.ok()) << out.status().message();
  EXPECT_EQ(*out, expected_b);
  Result<std::string> stream = run_stream(read("two.zip"), options);
  ASSERT_TRUE(stream.ok()) << stream.status().message();
  EXPECT_EQ(*stream, expected_b);

  options.entry = "9434765919.csv";  // names are redacted as any caller text
  out = run_file("two.zip", options);
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.code(), ErrorCode::kNotFound);
  EXPECT_EQ(out.status().message(), path("two.zip") + ": the zip has no entry '[redacted].csv' (it has 2 entries)");

  options.entry = "a.csv";
  write("plain.gz", gzip(a));
  out = run_file("plain.gz", options);
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(out.status().message(), path("plain.gz") + ": not a zip, so it has no entry 'a.csv'");
}

TEST_F(DecompressTest, OtherCompressedKindsAreRefusedByKind) {
  const std::pair<std::string, std::string> cases[] = {
      {std::string("BZh91AY&SY"), "bzip2"},
      {std::string("\xfd"
                   "7zXZ\x00\x00",
                   8),
       "xz"},
      {std::string("\x04\x22\x4d\x18\x64\x40", 6), "lz4"},
      {gzip(gzip("nhs_number\n")), "gzip"},  // compressed twice
  };
  for (const auto& [bytes, kind] : cases) {
    SCOPED_TRACE(kind);
    write("in.bin", bytes);
    Result<std::string> out = run_file("in.bin");
    ASSERT_FALSE(out.ok());
    EXPECT_EQ(out.code(), ErrorCode::kInvalidInput);
    EXPECT_EQ(out.status().message(),
              path("in.bin") + ": unsupported compressed input (" + kind + "): decompress it first");
  }
}

TEST_F(DecompressTest, AnEmptyGzipIsAnEmptyInput) {
  write("empty.csv", "");
  Result<std::string> plain_out = run_file("empty.csv");
  ASSERT_FALSE(plain_out.ok());
  for (const auto& [name, bytes] : {std::pair<std::string, std::string>{"empty.gz", gzip("")},
                                    std::pair<std::string, std::string>{"empty.zst", zstd("")}}) {
    write(name, bytes);
    Result<std::string> out = run_file(name);
    ASSERT_FALSE(out.ok());
    EXPECT_EQ(out.code(), plain_out.code());
    std::string expected = plain_out.status().message();
    expected.replace(0, path("empty.csv").size(), path(name));
    EXPECT_EQ(out.status().message(), expected);
  }
}

TEST_F(DecompressTest, CompressedFilesAreOneWholePartAndCutFileRefusesThem) {
  const std::string csv = make_csv(3'000, 7);
  const std::string expected = plain(csv);
  write("in.gz", gzip(csv));
  Result<FilePieces> cut = cut_file(path("in.gz"), by_name(), 1000);
  ASSERT_FALSE(cut.ok());
  EXPECT_EQ(cut.code(), ErrorCode::kInvalidInput);
  EXPECT_EQ(cut.status().message(), path("in.gz") +
                                        ": gzip-compressed input cannot be cut at byte offsets: filter it whole (a "
                                        "run in parts makes it one whole part)");
  FilterRequest request;
  request.inputs = {path("in.gz")};
  request.output = path("parts");
  request.options = by_name();
  request.in_parts = true;
  request.piece_bytes = 1000;
  Result<RunResult> ran = run_filter(index_, request);
  ASSERT_TRUE(ran.ok()) << ran.status().message();
  ASSERT_EQ(ran->pieces.size(), 1u);
  EXPECT_FALSE(ran->pieces[0].cut);
  EXPECT_EQ(read("parts/part-00000.csv"), expected);
  ASSERT_TRUE(ran->pieces[0].stats.input_compressed_digest.has_value());
  EXPECT_EQ(ran->pieces[0].stats.input_compressed_bytes, read("in.gz").size());
}

TEST_F(DecompressTest, StatsCarryTheCompressedFilesDigestAndSize) {
  const std::string csv = make_csv(1'000, 8);
  const std::string gz = gzip(csv);
  write("in.gz", gz);
  FilterRequest request;
  request.inputs = {path("in.gz")};
  request.output = path("out.csv");
  request.options = by_name();
  request.options.digest_output = true;
  Result<RunResult> ran = run_filter(index_, request);
  ASSERT_TRUE(ran.ok()) << ran.status().message();
  EXPECT_EQ(ran->stats.bytes_in, csv.size());  // the decompressed bytes
  EXPECT_EQ(ran->stats.input_compressed_bytes, gz.size());
  ASSERT_TRUE(ran->stats.input_compressed_digest.has_value());
  EXPECT_FALSE(*ran->stats.input_compressed_digest == *ran->stats.input_digest);
}

}  // namespace
}  // namespace optout
