// Stage 1 of the filter: finds record boundaries and the NHS-number field in a block of CSV,
// quote-aware, 64 bytes at a time (the structural-index idea of simdjson's stage 1).
//
// For each 64-byte chunk we build bit masks of quotes, delimiters, LFs and CRs, turn the quote
// mask into an "inside quotes" mask with a prefix XOR, and walk only the structural delimiters and
// record ends. RFC 4180's doubled quotes need no special case: "" toggles the state twice.
// The same masks check that every quote opens at a field start and every closing quote is followed
// by a delimiter, the record end or another quote ("" inside a field), so malformed quoting is an
// error instead of a silent mis-split. Records end with LF or CRLF only: a CR outside quotes that
// is not followed by LF (a classic Mac line ending, or a CR ending the input) is an error too,
// never a record end nor data, because a reader that split there would see other rows.
#pragma once

#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <type_traits>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace optout::detail {

enum class ScanError : std::uint8_t {
  kNone = 0,
  kQuoteInUnquotedField,   // a '"' that is not at the start of a field
  kTextAfterClosingQuote,  // a closing '"' followed by something other than delimiter / end of record
  kUnterminatedQuote,      // the input ended inside a quoted field
  kBareCr,                 // a CR outside quotes not followed by LF (the input's last byte included)
  // JSON Lines (jsonl_scan.hpp): the scan of that format reports its malformed lines here too.
  kNotJsonObject,  // a line that is not JSON, or JSON but not an object
  kBlankLine,      // an empty (or whitespace-only) line: no JSON value at all
  kByteOrderMark,  // a UTF-8 BOM before the first line (RFC 8259 forbids one)
};

const char* scan_error_text(ScanError error) noexcept;

struct ScanOutcome {
  ScanError error = ScanError::kNone;
  std::size_t error_record_begin = 0;  // where the bad record starts (offset in the block)
  std::size_t lf_count = 0;            // every LF in the scanned bytes (physical lines)
};

// The scanner (classify_chunk, scan_records, count_byte, last_record_end), compiled here for the
// baseline target (SSE2 on x86-64) for the code outside the hot path (the header, the pieces of a
// cut file); the filter's own copies are in the per-instruction-set kernels (filter_kernel.hpp).
#include "kernel/csv_scan_kernel.inl"

// The value of a raw field: without its surrounding quotes, "" folded to ". Allocates; for
// header names, not for the hot path.
std::string unquote_field(std::string_view raw);

}  // namespace optout::detail
