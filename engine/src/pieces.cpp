// Cutting a file at record ends with the filter's own scanner (csv_scan.hpp), and reading one
// piece as header + records, its lines mapped to the file's.
#include "optout/pieces.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string_view>
#include <utility>

#include "csv_header.hpp"
#include "decompress.hpp"
#include "jsonl_scan.hpp"
#include "kernel/csv_scan.hpp"

namespace optout {
namespace {

// Cutting reads the file in blocks of this size (less when pieces are smaller): the filter's own
// block size (kDefaultBlockBytes), for which last_record_end's backward walk is a vanishing cost.
constexpr std::size_t kCutBlockBytes = kDefaultBlockBytes;

// The header record's end (BOM included), found as the filter finds it: the first block is cut at
// its last record end (grown until it holds one, up to the record limit), then scanned. 0 when the
// header cannot be read, which the filter of the whole file will report.
Result<std::size_t> header_end(const ReadOnlyFile& file, const FilterOptions& options, std::size_t block) {
  std::size_t capacity = block;
  std::unique_ptr<char[]> buffer;
  for (;;) {
    const std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(capacity, file.size()));
    buffer = std::make_unique_for_overwrite<char[]>(want);
    if (Status s = file.read_exactly(buffer.get(), want, 0); !s.ok()) return s;
    const bool at_end = want == file.size();
    const std::size_t usable = at_end ? want : detail::last_record_end(buffer.get(), want);
    if (usable == 0 && !at_end) {
      if (want > options.max_record_bytes) return std::size_t{0};
      capacity = std::min(capacity * 2, options.max_record_bytes + 1);
      continue;
    }
    const detail::HeaderRecord header = detail::find_header(buffer.get(), usable, at_end, options.delimiter);
    if (header.end == 0 || header.end - header.bom > options.max_record_bytes) return std::size_t{0};
    return header.end;
  }
}

class PieceSource final : public ByteSource {
 public:
  PieceSource(ReadOnlyFile file, std::string_view header, std::uint64_t header_lines, FilePiece piece)
      : file_(std::move(file)),
        header_(header),
        header_lines_(header_lines),
        first_line_(piece.first_line),
        offset_(piece.offset),
        remaining_(piece.length) {}

  Result<std::size_t> read(char* buffer, std::size_t capacity) override {
    if (!header_.empty()) {
      const std::size_t n = std::min(capacity, header_.size());
      std::memcpy(buffer, header_.data(), n);
      header_.remove_prefix(n);
      return n;
    }
    const std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(capacity, remaining_));
    if (want == 0) {
      // The piece's end: its bytes are only the cut's if the file did not change meanwhile.
      if (!checked_) {
        if (Status s = file_.check_unchanged(); !s.ok()) return s;
        checked_ = true;
      }
      return std::size_t{0};
    }
    Result<std::size_t> n = file_.read_at(buffer, want, offset_);
    if (!n.ok()) return n.status();
    if (*n == 0) return file_.changed_while_read();
    offset_ += *n;
    remaining_ -= *n;
    return *n;
  }
  const std::string& name() const override { return file_.name(); }
  // The header's lines are the file's own; the piece's first byte is on the source's line
  // header_lines + 1, which is the file's first_line.
  std::uint64_t line_in_file(std::uint64_t line) const noexcept override {
    return line <= header_lines_ ? line : first_line_ + (line - header_lines_ - 1);
  }

 private:
  ReadOnlyFile file_;
  std::string_view header_;  // what is left of it; points into the FilePieces
  std::uint64_t header_lines_;
  std::uint64_t first_line_;
  std::uint64_t offset_;
  std::uint64_t remaining_;
  bool checked_ = false;
};

}  // namespace

Result<FilePieces> cut_file(const std::filesystem::path& path, const FilterOptions& options,
                            std::uint64_t target_bytes) {
  if (target_bytes == 0) return Status(ErrorCode::kInvalidArgument, "the piece size must be at least 1 byte");
  if (Status s = validate_filter_options(options); !s.ok()) return s;
  Result<ReadOnlyFile> opened = ReadOnlyFile::open(path);
  if (!opened.ok()) return opened.status();
  const ReadOnlyFile& file = *opened;
  char first[detail::kSniffBytes];
  Result<std::size_t> sniffed = file.read_at(first, sizeof first, 0);
  if (!sniffed.ok()) return sniffed.status();
  if (const detail::Compression kind = detail::sniff_compression(std::string_view(first, *sniffed));
      kind != detail::Compression::kNone) {
    return Status(ErrorCode::kInvalidInput, file.name() + ": " + detail::compression_name(kind) +
                                                "-compressed input cannot be cut at byte offsets: filter it whole (a "
                                                "run in parts makes it one whole part)");
  }
  const std::uint64_t size = file.size();
  const std::size_t block = static_cast<std::size_t>(std::min<std::uint64_t>(target_bytes, kCutBlockBytes));

  FilePieces out;
  out.path = path;
  out.file_bytes = size;
  std::uint64_t pos = 0;
  std::uint64_t lines = 0;  // LFs before pos
  const bool json_lines = options.format == InputFormat::kJsonLines;
  if (options.has_header && !json_lines) {  // JSON Lines has no header
    Result<std::size_t> end = header_end(file, options, block);
    if (!end.ok()) return end.status();
    if (*end == 0) {  // the filter of the whole file says what is wrong
      out.pieces.push_back({0, size, 1});
      return out;
    }
    out.header.resize(*end);
    if (Status s = file.read_exactly(out.header.data(), *end, 0); !s.ok()) return s;
    out.header_lines = detail::count_byte(out.header.data(), out.header.size(), '\n');
    pos = *end;
    lines = out.header_lines;
  }

  std::uint64_t piece_start = pos;
  std::uint64_t piece_first_line = lines + 1;
  std::size_t window = block;  // bytes read at pos; grows only while no record ends in it
  std::size_t allocated = block;
  auto buffer = std::make_unique_for_overwrite<char[]>(allocated);
  while (pos < size) {
    const std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(window, size - pos));
    if (Status s = file.read_exactly(buffer.get(), want, pos); !s.ok()) return s;
    const bool at_end = pos + want == size;
    // A JSON Lines record ends at every LF; a CSV one only outside quotes.
    const std::size_t cut = at_end       ? want
                            : json_lines ? detail::last_line_end(buffer.get(), want)
                                         : detail::last_record_end(buffer.get(), want);
    if (cut == 0) {
      // Not one whole record in the window: grow it as the filter does, up to the record limit.
      if (want > options.max_record_bytes) {
        out.pieces.push_back({piece_start, size - piece_start, piece_first_line});
        return out;
      }
      window = std::min(window * 2, options.max_record_bytes + 1);
      if (window > allocated) {
        allocated = window;
        buffer = std::make_unique_for_overwrite<char[]>(allocated);
      }
      continue;
    }
    window = block;
    lines += detail::count_byte(buffer.get(), cut, '\n');
    pos += cut;
    if (pos - piece_start >= target_bytes || pos == size) {
      out.pieces.push_back({piece_start, pos - piece_start, piece_first_line});
      piece_start = pos;
      piece_first_line = lines + 1;
    }
  }
  if (out.pieces.empty()) out.pieces.push_back({pos, 0, lines + 1});  // a header and no records
  // Cut points found in a file that changed while it was cut would not be record ends.
  if (Status s = file.check_unchanged(); !s.ok()) return s;
  return out;
}

Result<std::unique_ptr<ByteSource>> open_piece_source(const FilePieces& file, std::size_t piece) {
  if (piece >= file.pieces.size()) {
    return Status(ErrorCode::kInvalidArgument, file.path.string() + ": no piece " + std::to_string(piece) +
                                                   " (it has " + std::to_string(file.pieces.size()) + ")");
  }
  Result<ReadOnlyFile> opened = ReadOnlyFile::open(file.path);
  if (!opened.ok()) return opened.status();
  if (opened->size() != file.file_bytes) {
    return Status(ErrorCode::kIoError, file.path.string() + ": changed after it was cut into pieces (" +
                                           std::to_string(file.file_bytes) + " bytes then, " +
                                           std::to_string(opened->size()) + " now)");
  }
  return std::unique_ptr<ByteSource>(
      std::make_unique<PieceSource>(std::move(opened).value(), file.header, file.header_lines, file.pieces[piece]));
}

}  // namespace optout
