// The start of a CSV input: a UTF-8 byte-order mark, the header record and its names, and the
// check that the input is text at all. The filter, numbers and pieces all find the header here, so
// the three agree on where the data starts; filter.hpp's resolve_column() then picks the column.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "kernel/csv_scan.hpp"
#include "optout/status.hpp"

namespace optout::detail {

// A UTF-8 byte-order mark is an encoding marker, not data: it is copied to the output ahead of
// the records and never read as part of a field (Excel writes BOM + "quoted,header").
inline constexpr std::string_view kUtf8Bom = "\xEF\xBB\xBF";

// The first record of data[0, size), which starts the input.
struct HeaderRecord {
  std::size_t bom = 0;                 // bytes of a UTF-8 BOM before it (0 or 3)
  std::size_t end = 0;                 // offset just past its terminator, BOM included; 0 when it is not whole
  ScanError error = ScanError::kNone;  // why it is not whole, when the scan says so
};

// Scans the first record as the filter scans every record. at_end: data holds the whole input.
HeaderRecord find_header(const char* data, std::size_t size, bool at_end, char delimiter);

// The unquoted names of a whole record's fields (record: BOM excluded, terminator included).
std::vector<std::string> header_names(std::string_view record, char delimiter);

// kInvalidInput "<input>: unsupported compressed input (bzip2): decompress it first" when the
// first bytes of an input (decompressed, when open_file_source decompressed it) show a compressed
// file (bzip2, xz, lz4; gzip, zstd or zip only when compressed twice or read through a source that
// does not decompress), or "<input>:1: a NUL byte ..." for a NUL byte in the first record, so that
// such a file is refused by its kind rather than read as one long, unprintable "header". The one
// place compressed input is refused.
Status check_text_input(std::string_view first_bytes, const std::string& input);

}  // namespace optout::detail
