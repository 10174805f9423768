// One large CSV file cut into pieces at record boundaries, so that the pieces can be filtered
// apart (on other threads, processes or machines) and their outputs put back together: each
// piece is filtered as the header followed by its own records, so every output is a valid CSV
// with the header, and the outputs without their repeated headers, concatenated in order, are
// byte for byte the output of filtering the whole file.
//
// Whether an LF ends a record depends on every quote before it (a quoted field may hold LFs), so
// cutting reads the whole file once, from the start, with the filter's own scanner.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "optout/export.hpp"
#include "optout/filter.hpp"
#include "optout/io.hpp"
#include "optout/status.hpp"

namespace optout {

// A run of whole records of a file.
struct FilePiece {
  std::uint64_t offset = 0;      // the first byte, a record start
  std::uint64_t length = 0;      // bytes
  std::uint64_t first_line = 1;  // the file's 1-based line number at offset (LFs before it + 1)
  friend bool operator==(const FilePiece&, const FilePiece&) = default;
};

// A file and its pieces.
struct FilePieces {
  std::filesystem::path path;
  std::string header;              // the header record's bytes, a UTF-8 BOM and the terminator
                                   // included; empty without a header
  std::uint64_t header_lines = 0;  // LFs in header
  std::uint64_t file_bytes = 0;    // the file's size when it was cut
  // In file order, one after the other, from header.size() to file_bytes; never empty.
  std::vector<FilePiece> pieces;
};

// Cuts the CSV file at path into pieces of about target_bytes, each ending at a record end: at
// least target_bytes (the last piece excepted) and less than target_bytes + min(target_bytes,
// 1 MiB), unless a record is longer than that. Reads the file once, in blocks of at most 1 MiB;
// uses options.has_header, delimiter and max_record_bytes.
//
// The cutting does not check the CSV: the filter of each piece does, and a malformed record fails
// the piece that holds it with the line the whole file's filter names (see open_piece_source). When
// the header cannot be read (an empty file, malformed quoting, a header over the record limit),
// or a record is over the limit, the rest of the file becomes one piece, so that its filter
// reports the problem as the whole file's filter would.
//
// A compressed file (gzip, zstd, zip: see make_decompressing_source) cannot be cut at byte offsets:
// cut_file refuses it (kInvalidInput "NAME: gzip-compressed input cannot be cut at byte offsets:
// filter it whole ..."), and a run in parts (run_filter) makes it one whole part, never cut.
//
// Errors: kInvalidArgument (target_bytes 0, or options validate_filter_options refuses),
// kInvalidInput (compressed input), kIoError.
[[nodiscard]] OPTOUT_API Result<FilePieces> cut_file(const std::filesystem::path& path, const FilterOptions& options,
                                                     std::uint64_t target_bytes);

// A source that reads file.header, then the piece's bytes of the file; named file.path, its lines
// mapped to the file's (ByteSource::line_in_file), so a malformed record in the piece fails naming
// the line `optout filter` on the whole file names.
// Errors: kInvalidArgument (no such piece), kIoError (cannot open; the file's size is no longer
// file.file_bytes, which means it changed after it was cut).
[[nodiscard]] OPTOUT_API Result<std::unique_ptr<ByteSource>> open_piece_source(const FilePieces& file,
                                                                               std::size_t piece);

}  // namespace optout
