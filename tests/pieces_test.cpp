#include "optout/pieces.hpp"

#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "optout/run.hpp"
#include "optout/registry.hpp"
#include "test_support.hpp"

namespace optout {
namespace {

using namespace optout::testing;

class PiecesTest : public TempDirTest {
 protected:
  void SetUp() override {
    std::mt19937_64 rng(6);
    listed_.push_back(kListed);
    while (listed_.size() < 40) {
      const auto stem = static_cast<std::uint32_t>(400000000 + rng() % 400000000);
      if (is_valid_stem(stem)) listed_.push_back(stem);
    }
    RegistryBuilder builder;
    ASSERT_TRUE(builder.add_stems("national", ListKind::kDeny, listed_).ok());
    Result<Registry> registry = builder.build(1'700'000'000);
    ASSERT_TRUE(registry.ok());
    registry_ = std::move(registry).value();
    Result<OptOutIndex> index = OptOutIndex::create(registry_);
    ASSERT_TRUE(index.ok());
    index_.emplace(std::move(index).value());
  }
  // Writes text to the file name in the folder and returns its path.
  std::string write(const std::string& name, const std::string& text) const {
    TempDirTest::write(name, text);
    return path(name);
  }
  static FilterOptions by_name() {
    FilterOptions options;
    options.column_name = "nhs_number";
    options.threads = 1;
    return options;
  }

  // Piece i of file as a run in parts hands it to a worker.
  PieceTask task(const FilePieces& file, std::size_t i, const std::string& output, const FilterOptions& options) {
    PieceTask t;
    t.input = file.path.string();
    t.cut = true;
    t.header = file.header;
    t.header_lines = file.header_lines;
    t.file_bytes = file.file_bytes;
    t.piece = file.pieces[i];
    t.output = output;
    t.options = options;
    t.registry_digest = index_->registry_digest();
    return t;
  }

  // The whole file filtered at once.
  struct Whole {
    Result<FilterStats> stats;
    std::string output;
  };
  Whole filter_whole(const std::string& input, const FilterOptions& options) {
    FilterRequest request;
    request.inputs = {input};
    request.output = path("whole.out");
    request.options = options;
    Result<RunResult> ran = run_filter(*index_, request);
    Whole whole{ran.ok() ? Result<FilterStats>(ran->stats) : Result<FilterStats>(ran.status()), ""};
    if (whole.stats.ok()) whole.output = read("whole.out");
    return whole;
  }

  // Every piece filtered; the outputs without their headers after the first, concatenated, and
  // the first failure (pieces after it are not run, as a run that fails stops).
  struct Pieced {
    Status failure;
    std::string output;
    FilterStats total;
  };
  Pieced filter_pieces(const FilePieces& file, const FilterOptions& options) {
    Pieced out;
    for (std::size_t i = 0; i < file.pieces.size(); ++i) {
      Result<FilterStats> stats = run_piece(*index_, task(file, i, path("piece.out"), options));
      if (!stats.ok()) {
        out.failure = stats.status();
        return out;
      }
      const std::string bytes = read("piece.out");
      EXPECT_TRUE(bytes.starts_with(file.header)) << "piece " << i;
      out.output += i == 0 ? bytes : bytes.substr(file.header.size());
      out.total.rows += stats->rows;
      out.total.kept += stats->kept;
      out.total.removed += stats->removed;
      out.total.rejected += stats->rejected;
      EXPECT_EQ(stats->bytes_in, file.header.size() + file.pieces[i].length) << "piece " << i;
    }
    return out;
  }

  // The pieces tile the file after the header, and each starts on the line it says.
  static void expect_tiling(const FilePieces& file, const std::string& text, const std::string& where) {
    ASSERT_FALSE(file.pieces.empty()) << where;
    EXPECT_EQ(file.file_bytes, text.size()) << where;
    std::uint64_t pos = file.header.size();
    EXPECT_EQ(text.substr(0, file.header.size()), file.header) << where;
    EXPECT_EQ(file.header_lines, static_cast<std::uint64_t>(std::count(file.header.begin(), file.header.end(), '\n')))
        << where;
    for (const FilePiece& piece : file.pieces) {
      EXPECT_EQ(piece.offset, pos) << where;
      EXPECT_EQ(piece.first_line, 1 + static_cast<std::uint64_t>(std::count(
                                          text.begin(), text.begin() + static_cast<std::ptrdiff_t>(pos), '\n')))
          << where;
      pos += piece.length;
    }
    EXPECT_EQ(pos, text.size()) << where;
  }

  std::vector<std::uint32_t> listed_;
  Registry registry_;
  std::optional<OptOutIndex> index_;
};

std::string nhs(std::uint32_t stem) { return format_nhs_number(stem); }

TEST_F(PiecesTest, CutsAtRecordEndsNeverInsideQuotedFields) {
  // Records 2 and 3 hold LFs inside quotes; a cut there would split a patient's row.
  const std::string header = "id,note,nhs_number\n";
  const std::string text = header + "1,plain," + nhs(401023213) +
                           "\n"
                           "2,\"two\nlines\"," +
                           nhs(kListed) +
                           "\n"
                           "3,\"a\n\nb\r\nc\"," +
                           nhs(401023213) +
                           "\r\n"
                           "4,last," +
                           nhs(401023213);  // no final terminator
  const std::string input = write("quoted.csv", text);
  Result<FilePieces> file = cut_file(input, by_name(), 1);  // every record its own piece
  ASSERT_TRUE(file.ok()) << file.status().message();
  EXPECT_EQ(file->path, input);
  EXPECT_EQ(file->header, header);
  EXPECT_EQ(file->header_lines, 1u);
  const std::uint64_t h = header.size();
  const std::uint64_t r1 = std::string_view("1,plain,4010232137\n").size();
  const std::uint64_t r2 = std::string_view("2,\"two\nlines\",9434765919\n").size();
  const std::uint64_t r3 = std::string_view("3,\"a\n\nb\r\nc\",4010232137\r\n").size();
  const std::vector<FilePiece> expected = {
      {h, r1, 2}, {h + r1, r2, 3}, {h + r1 + r2, r3, 5}, {h + r1 + r2 + r3, text.size() - h - r1 - r2 - r3, 9}};
  EXPECT_EQ(file->pieces, expected);
  expect_tiling(*file, text, "target 1");

  const Pieced pieced = filter_pieces(*file, by_name());
  ASSERT_TRUE(pieced.failure.ok()) << pieced.failure.message();
  const Whole whole = filter_whole(input, by_name());
  ASSERT_TRUE(whole.stats.ok());
  EXPECT_EQ(pieced.output, whole.output);
  EXPECT_EQ(pieced.total.rows, 4u);
  EXPECT_EQ(pieced.total.kept, 3u);
  EXPECT_EQ(pieced.total.removed, 1u);

  // A larger target groups whole records; one past the file's size gives one piece.
  Result<FilePieces> two = cut_file(input, by_name(), r1 + r2);
  ASSERT_TRUE(two.ok());
  EXPECT_EQ(two->pieces, (std::vector<FilePiece>{{h, r1 + r2, 2}, {h + r1 + r2, text.size() - h - r1 - r2, 5}}));
  Result<FilePieces> one = cut_file(input, by_name(), text.size() + 1);
  ASSERT_TRUE(one.ok());
  EXPECT_EQ(one->pieces, (std::vector<FilePiece>{{h, text.size() - h, 2}}));
}

TEST_F(PiecesTest, BomHeaderOnlyEmptyAndNoHeader) {
  const std::string bom = "\xEF\xBB\xBF";
  {  // The BOM belongs to the header, so every piece's output starts with it, as the whole's does.
    const std::string text = bom + "\"nhs_number\",x\n" + nhs(kListed) + ",1\n" + nhs(401023213) + ",2\n";
    Result<FilePieces> file = cut_file(write("bom.csv", text), by_name(), 1);
    ASSERT_TRUE(file.ok());
    EXPECT_EQ(file->header, bom + "\"nhs_number\",x\n");
    EXPECT_EQ(file->pieces.size(), 2u);
    expect_tiling(*file, text, "bom");
    const Pieced pieced = filter_pieces(*file, by_name());
    ASSERT_TRUE(pieced.failure.ok());
    EXPECT_EQ(pieced.output, bom + "\"nhs_number\",x\n" + nhs(401023213) + ",2\n");
  }
  {  // A header and nothing else, without a terminator: one empty piece, whose output is the header.
    const std::string text = "id,nhs_number";
    Result<FilePieces> file = cut_file(write("header_only.csv", text), by_name(), 1);
    ASSERT_TRUE(file.ok());
    EXPECT_EQ(file->header, text);
    EXPECT_EQ(file->pieces, (std::vector<FilePiece>{{text.size(), 0, 1}}));
    const Pieced pieced = filter_pieces(*file, by_name());
    ASSERT_TRUE(pieced.failure.ok());
    EXPECT_EQ(pieced.output, text);
    EXPECT_EQ(pieced.total.rows, 0u);
  }
  {  // An empty file: one piece, the whole (empty) file, whose filter says what is wrong.
    const std::string input = write("empty.csv", "");
    Result<FilePieces> file = cut_file(input, by_name(), 10);
    ASSERT_TRUE(file.ok());
    EXPECT_EQ(file->header, "");
    EXPECT_EQ(file->pieces, (std::vector<FilePiece>{{0, 0, 1}}));
    const Pieced pieced = filter_pieces(*file, by_name());
    EXPECT_EQ(pieced.failure.code(), ErrorCode::kInvalidInput);
    EXPECT_EQ(pieced.failure.message(), input + ": empty input: expected a header record");
  }
  {  // Without a header the first piece starts at byte 0, BOM and all.
    FilterOptions options;
    options.column_index = 1;
    options.has_header = false;
    const std::string text = bom + nhs(kListed) + "\n" + nhs(401023213) + "\n" + nhs(401023213) + "\n";
    const std::string input = write("no_header.csv", text);
    Result<FilePieces> file = cut_file(input, options, 11);
    ASSERT_TRUE(file.ok());
    EXPECT_EQ(file->header, "");
    EXPECT_EQ(file->header_lines, 0u);
    // The 1 MiB-or-target window grows to hold the first record (BOM + 11 bytes) whole.
    EXPECT_EQ(file->pieces, (std::vector<FilePiece>{{0, 14, 1}, {14, 11, 2}, {25, 11, 3}}));
    const Pieced pieced = filter_pieces(*file, options);
    ASSERT_TRUE(pieced.failure.ok());
    EXPECT_EQ(pieced.output, bom + nhs(401023213) + "\n" + nhs(401023213) + "\n");
    EXPECT_EQ(pieced.total.rows, 3u);
  }
}

TEST_F(PiecesTest, ErrorsNameTheFileAndItsLine) {
  std::string text = "id,nhs_number\n";
  for (int i = 0; i < 20; ++i) text += std::to_string(i) + "," + nhs(401023213) + "\n";
  text += "20,\"unterminated\n";  // line 22
  for (int i = 0; i < 5; ++i) text += "x,y\n";
  const std::string input = write("bad.csv", text);
  const Whole whole = filter_whole(input, by_name());
  ASSERT_FALSE(whole.stats.ok());
  EXPECT_EQ(whole.stats.status().message(), input + ":22: unterminated quoted field");
  for (std::uint64_t target : {1u, 40u, 100u, 1000u}) {
    Result<FilePieces> file = cut_file(input, by_name(), target);
    ASSERT_TRUE(file.ok());
    expect_tiling(*file, text, "target " + std::to_string(target));
    const Pieced pieced = filter_pieces(*file, by_name());
    EXPECT_EQ(pieced.failure.code(), ErrorCode::kInvalidInput) << target;
    EXPECT_EQ(pieced.failure.message(), input + ":22: unterminated quoted field") << target;
  }

  // A record over the limit: the rest of the file is one piece, which fails as the whole does.
  FilterOptions limited = by_name();
  limited.max_record_bytes = 40;
  std::string long_text = "id,nhs_number\n1," + nhs(401023213) + "\n2,\"" + std::string(50, 'x') + "\"\n3,4\n";
  const std::string long_input = write("long.csv", long_text);
  Result<FilePieces> file = cut_file(long_input, limited, 1);
  ASSERT_TRUE(file.ok());
  EXPECT_EQ(file->pieces.size(), 2u);
  expect_tiling(*file, long_text, "long");
  const Pieced pieced = filter_pieces(*file, limited);
  EXPECT_EQ(pieced.failure.code(), ErrorCode::kLimitExceeded);
  EXPECT_EQ(pieced.failure.message(), long_input + ":3: record longer than the limit of 40 bytes");
  EXPECT_EQ(filter_whole(long_input, limited).stats.status().message(), pieced.failure.message());

  // A malformed header: one piece, the whole file.
  const std::string bad_header = write("bad_header.csv", "a\"b,nhs_number\n1,2\n");
  Result<FilePieces> header_file = cut_file(bad_header, by_name(), 1);
  ASSERT_TRUE(header_file.ok());
  EXPECT_EQ(header_file->pieces, (std::vector<FilePiece>{{0, 19, 1}}));
  EXPECT_EQ(filter_pieces(*header_file, by_name()).failure.message(),
            bad_header + ":1: quote inside an unquoted field");

  // A column the header lacks: the message lists the header's names, as for the whole file.
  FilterOptions other = by_name();
  other.column_name = "nhs";
  Result<FilePieces> column_file = cut_file(input, other, 100);
  ASSERT_TRUE(column_file.ok());
  EXPECT_EQ(filter_pieces(*column_file, other).failure.message(),
            input + ": no column named 'nhs' in the header (it has: id, nhs_number)");
}

TEST_F(PiecesTest, CallerErrors) {
  const std::string input = write("ok.csv", "nhs_number\n" + nhs(kListed) + "\n");
  Result<FilePieces> zero = cut_file(input, by_name(), 0);
  EXPECT_EQ(zero.code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(zero.status().message(), "the piece size must be at least 1 byte");

  FilterOptions no_column;
  Result<FilePieces> bad_options = cut_file(input, no_column, 10);
  EXPECT_EQ(bad_options.code(), ErrorCode::kInvalidArgument);

  Result<FilePieces> missing = cut_file(path("missing.csv"), by_name(), 10);
  EXPECT_EQ(missing.code(), ErrorCode::kIoError);
  EXPECT_EQ(missing.status().message(), path("missing.csv") + ": cannot open: No such file or directory");

  Result<FilePieces> file = cut_file(input, by_name(), 10);
  ASSERT_TRUE(file.ok());
  Result<std::unique_ptr<ByteSource>> past = open_piece_source(*file, 1);
  EXPECT_EQ(past.code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(past.status().message(), input + ": no piece 1 (it has 1)");

  // The file changed after it was cut: its pieces no longer mean anything.
  write("ok.csv", "nhs_number\n" + nhs(kListed) + "\n" + nhs(401023213) + "\n");
  Result<FilterStats> changed = run_piece(*index_, task(*file, 0, path("out.csv"), by_name()));
  EXPECT_EQ(changed.code(), ErrorCode::kIoError);
  EXPECT_EQ(changed.status().message(), input + ": changed after it was cut into pieces (22 bytes then, 33 now)");
  EXPECT_FALSE(fs::exists(path("out.csv")));
}

// Seeded random extracts with quoted LFs and CRLFs, some malformed: for every piece size, the
// pieces' outputs put together equal the whole file's output, and a failure is the same failure.
TEST_F(PiecesTest, DifferentialAgainstTheWholeFile) {
  std::mt19937_64 rng(20261125);
  auto pick = [&](std::size_t n) { return static_cast<std::size_t>(rng() % n); };
  std::size_t failures = 0;
  for (int iteration = 0; iteration < 100; ++iteration) {
    std::string text = pick(4) == 0 ? "\xEF\xBB\xBF" : "";
    text += pick(2) == 0 ? "\"a\nheader\",nhs_number\n" : "note,nhs_number\r\n";
    const std::size_t rows = pick(40);
    for (std::size_t r = 0; r < rows; ++r) {
      switch (pick(6)) {
        case 0: text += "\"q\n\"\"x\"\"\r\ny\","; break;
        case 1: text += ","; break;
        case 2: text += "\"\","; break;
        default: text += "v" + std::to_string(r) + ",";
      }
      std::uint32_t stem = listed_[pick(listed_.size())];
      if (pick(2) == 0) do
          stem = static_cast<std::uint32_t>(400000000 + pick(400000000));
        while (!is_valid_stem(stem));
      text += pick(8) == 0 ? "bad" : nhs(stem);
      text += pick(3) == 0 ? "\r\n" : "\n";
    }
    if (pick(5) == 0) text.insert(text.begin() + static_cast<std::ptrdiff_t>(pick(text.size() + 1)), '"');
    if (pick(4) == 0 && !text.empty() && text.back() == '\n') text.pop_back();
    const std::string input = write("random.csv", text);
    const Whole whole = filter_whole(input, by_name());
    failures += !whole.stats.ok();
    for (std::uint64_t target : {1u, 2u, 30u, 77u, 300u, 100000u}) {
      const std::string where = "iteration " + std::to_string(iteration) + ", target " + std::to_string(target) +
                                "\ninput: " + ::testing::PrintToString(text);
      Result<FilePieces> file = cut_file(input, by_name(), target);
      ASSERT_TRUE(file.ok()) << where;
      expect_tiling(*file, text, where);
      const Pieced pieced = filter_pieces(*file, by_name());
      if (!whole.stats.ok()) {
        ASSERT_EQ(pieced.failure.message(), whole.stats.status().message()) << where;
        ASSERT_EQ(pieced.failure.code(), whole.stats.code()) << where;
        continue;
      }
      ASSERT_TRUE(pieced.failure.ok()) << where << ": " << pieced.failure.message();
      ASSERT_EQ(pieced.output, whole.output) << where;
      ASSERT_EQ(pieced.total.rows, whole.stats->rows) << where;
      ASSERT_EQ(pieced.total.kept, whole.stats->kept) << where;
      ASSERT_EQ(pieced.total.removed, whole.stats->removed) << where;
      ASSERT_EQ(pieced.total.rejected, whole.stats->rejected) << where;
    }
  }
  EXPECT_GT(failures, 5u);
  EXPECT_LT(failures, 75u);
}

// Issue 10: a bare CR (CR line ends, or a CR ending the file) fails the piece that holds it with the
// file's line, as the whole file's filter does; no piece releases the rows it hid.
TEST_F(PiecesTest, BareCrLineEndingIsAnErrorNotARelease) {
  const std::string bare = "bare CR outside quotes (lines must end with LF or CRLF)";
  std::string rows;
  for (int i = 0; i < 12; ++i) rows += std::to_string(i) + "," + nhs(401023213) + "\r\n";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"id,nhs_number\r\n" + rows + "12," + nhs(401023213) + "\r13," + nhs(kListed) + "\r\n" + rows, ":14: "},
      {"id,nhs_number\r\n" + rows + "12," + nhs(kListed) + "\r", ":14: "},
      {"id,nhs_number\r1," + nhs(kListed) + "\r2," + nhs(401023213) + "\r", ":1: "},
  };
  for (const auto& [text, line] : cases) {
    const std::string input = write("cr.csv", text);
    const Whole whole = filter_whole(input, by_name());
    ASSERT_FALSE(whole.stats.ok());
    EXPECT_EQ(whole.stats.status().message(), input + line + bare);
    for (std::uint64_t target : {1u, 7u, 40u, 100u, 1000u}) {
      Result<FilePieces> file = cut_file(input, by_name(), target);
      ASSERT_TRUE(file.ok());
      expect_tiling(*file, text, "target " + std::to_string(target));
      const Pieced pieced = filter_pieces(*file, by_name());
      EXPECT_EQ(pieced.failure.code(), ErrorCode::kInvalidInput) << target;
      EXPECT_EQ(pieced.failure.message(), input + line + bare) << target;
    }
  }
}

}  // namespace
}  // namespace optout
