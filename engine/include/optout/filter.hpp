// The filter: strips the rows of opted-out patients from a CSV extract, in parallel, keeping every
// other row byte-for-byte and in order.
//
// Each data record is exactly one of
//   rejected: the NHS-number field is missing (too few fields), empty or invalid (nhs_number.hpp);
//   removed:  valid, and in an applied deny list or missing from an applied allow list;
//   kept:     otherwise.
// and rows == kept + removed + rejected always. The header (by default the first record) is always
// copied. Removed records are never written anywhere; rejected ones only to the rejects sink.
//
// CSV is RFC 4180, strictly: one-byte delimiter, quote '"', records end with LF or CRLF (mixed is
// fine), the last record may lack a terminator, quoted fields may hold the delimiter, "" , CR and LF.
// A quote that opens anywhere but at the start of a field, a closing quote followed by anything
// but a delimiter or the end of the record, or a CR outside quotes that no LF follows (a "bare
// CR": old Mac line ends, or a CR as the input's last byte) makes the input malformed: the run
// fails naming the line, because a lenient reading could hide one patient's row inside another's
// field. An empty line is a record with one empty field (so it is rejected).
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "optout/export.hpp"
#include "optout/impact.hpp"
#include "optout/index.hpp"
#include "optout/io.hpp"
#include "optout/nhs_number.hpp"
#include "optout/status.hpp"

namespace optout {

class TokenSet;  // pseudonym.hpp

// ---- Filtering ----------------------------------------------------------------------------------

// Tuning defaults, with the reasons in engine/src/tuning.hpp.
inline constexpr std::size_t kDefaultBlockBytes = std::size_t{1} << 20;
inline constexpr std::size_t kDefaultMaxRecordBytes = std::size_t{64} << 20;

// The largest values validate_filter_options() accepts (the smallest are 1, or 0 threads).
// A block or record limit over 1 GiB would only let one malformed record (an unterminated quote
// swallowing the rest of the file) hold that much memory per block in flight; 1 GiB is 16 times
// the default record limit. 1024 threads: far more cores than any machine this runs on, and a
// bound on the blocks in flight (2 per thread, each block_bytes).
// A column past 2^20 (Excel stops at 16 384) is a mistake, not an extract.
inline constexpr std::size_t kBlockBytesLimit = std::size_t{1} << 30;
inline constexpr std::size_t kRecordBytesLimit = std::size_t{1} << 30;
inline constexpr unsigned kThreadsLimit = 1024;
inline constexpr std::size_t kColumnIndexLimit = std::size_t{1} << 20;

// How an output is compressed: one gzip member or one zstd frame per block, compressed in the
// parallel stage (so `gzip -dc` / `zstd -dc` of the output gives, byte for byte, what the run
// writes uncompressed). Values are fixed (the C API and the piece-task format use them).
enum class Compression : std::uint8_t { kNone = 0, kGzip = 1, kZstd = 2 };

// The levels validate_filter_options() accepts, and the default of each codec. gzip is ISA-L's
// igzip: levels 0 (fastest) to 3; its level 3 writes about 17 % more than gzip -6 on an extract.
// zstd: 1 to 19, as the zstd program takes without --ultra (20-22 need far more memory).
inline constexpr int kGzipMinLevel = 0, kGzipMaxLevel = 3, kGzipDefaultLevel = 3;
inline constexpr int kZstdMinLevel = 1, kZstdMaxLevel = 19, kZstdDefaultLevel = 3;

// "gzip" (or "gz"), "zstd" (or "zst"), "none": as optout filter --compress takes it.
// kInvalidArgument "the compression is gzip, zstd or none" otherwise.
[[nodiscard]] OPTOUT_API Result<Compression> parse_compression(std::string_view text);
// The suffix rule, the one place it is decided: a path ending in ".gz" is gzip, ".zst" zstd,
// anything else (and "-", standard output) none.
OPTOUT_API Compression compression_by_suffix(std::string_view path) noexcept;
// "gzip", "zstd" or "none".
OPTOUT_API const char* compression_name(Compression codec) noexcept;

struct FilterProgress {
  std::uint64_t bytes_in = 0;
  std::uint64_t rows = 0;
  double seconds = 0;
};

// What the extract is. kCsv: RFC 4180 CSV, above. kJsonLines: one JSON object per line (JSON
// Lines), its NHS number found by column_name as a top-level key ("nhs_number") or, when it starts
// with '/', a JSON Pointer (RFC 6901: "/patient/nhs_number", ~0 for '~' and ~1 for '/'); read by
// simdjson's On-Demand parser. A record is a line, LF or CRLF included (the last may lack one);
// there is no header (has_header must stay true, column_index unset, the delimiter is unused).
// The value may be a string, read as a CSV field is (trimmed, parse_nhs_number()), or an integer
// with an implied leading zero: a non-negative integer below 10^10 is written as 10 digits
// (943476591 reads "0943476591", 0 "0000000000": kAllZeros). A missing key or null is a missing
// field (rejected_by_reason[0]); an integer of 10^10 or more is kWrongLength; a negative or
// fractional number, true, false, an object or an array is kBadCharacter. A line that is not a
// JSON object (not JSON, an array, a blank line) fails the run ("INPUT:LINE: not a JSON object",
// never quoting the line), as does a UTF-8 byte-order mark at the start (RFC 8259 forbids it).
// On-Demand parses the line's structure and the path to the value; a malformed scalar elsewhere
// in the line (`tru` in another field) is not noticed. A key that stands twice in an object: the
// first is read.
enum class InputFormat : std::uint8_t { kCsv = 0, kJsonLines = 1 };

// The text form of a format, as optout --format and the bindings' format= take it: "csv" or
// "jsonl" (also "ndjson"). kInvalidArgument "the format is csv or jsonl" otherwise.
[[nodiscard]] OPTOUT_API Result<InputFormat> parse_input_format(std::string_view text);

struct FilterOptions {
  // csv (default) or JSON Lines (InputFormat above).
  InputFormat format = InputFormat::kCsv;

  // The NHS-number column: by header name (exact match after unquoting; a UTF-8 BOM before the
  // first name is ignored), or by 1-based position. Exactly one must be set; without a header
  // only column_index can be.
  std::string column_name;
  std::optional<std::size_t> column_index;
  bool has_header = true;
  char delimiter = ',';

  unsigned threads = 0;                                   // 0: every core; at most kThreadsLimit
  std::size_t block_bytes = kDefaultBlockBytes;           // 1..kBlockBytesLimit; the output is the same for every value
  std::size_t max_record_bytes = kDefaultMaxRecordBytes;  // 1..kRecordBytesLimit

  // For an input that is a zip (open_file_source decompresses gzip, zstd and zip), the entry to
  // read; needed when the zip holds more than one file. Unset for any other input.
  std::optional<std::string> entry;

  // The data-quality gate: fail (kDataQuality) when more rows than this are rejected.
  std::optional<std::uint64_t> max_rejected_rows;
  std::optional<double> max_rejected_fraction;  // of all data rows, 0..1

  // Compute the XXH3-128 digest of the output (for audit records): one more pass over it. It is
  // over the uncompressed bytes; a compressed output's own digest goes to output_compressed_digest.
  bool digest_output = false;

  // How the output and the rejects are compressed (a run_filter() request sets these from its
  // paths' suffixes or its `compress`), and at which level (unset: the codec's default; set, it
  // must be in range for every codec in use, and some output must be compressed).
  Compression output_compression = Compression::kNone;
  Compression rejects_compression = Compression::kNone;
  std::optional<int> compression_level;

  // Called from one thread, in order, about every block; may be empty.
  std::function<void(const FilterProgress&)> progress;

  // The impact report's grouping columns (impact.hpp): header names (CSV, which then needs a
  // header), or keys / JSON Pointers (JSON Lines, as column_name); at most kImpactColumnsLimit,
  // none twice, never the NHS-number column. Empty: no groups are counted. run_filter() sets it
  // from FilterRequest::impact_by when the request writes a report.
  std::vector<std::string> impact_by;
  // A pseudonymised extract (pseudonym.hpp): the column holds tokens, matched against this set,
  // which must have been made from the index the extract is filtered with (else
  // kInvalidArgument). run_filter() and run_verify() set it from their request's pseudonym_key;
  // write_numbers() refuses it (a pseudonymised extract holds no NHS numbers to list).
  std::shared_ptr<const TokenSet> tokens;
};

struct FilterStats {
  std::uint64_t rows = 0;  // data records (the header excluded)
  std::uint64_t kept = 0;
  std::uint64_t removed = 0;
  std::uint64_t rejected = 0;
  // rejected split by why: index 0 is "field missing" (too few fields); the others are indexed by
  // InvalidReason (kEmpty, kBadCharacter, ...).
  std::uint64_t rejected_by_reason[8] = {};
  std::uint64_t bytes_in = 0;
  std::uint64_t bytes_out = 0;       // header + kept records
  std::uint64_t bytes_rejected = 0;  // written to the rejects sink (header included)
  // Over the uncompressed output (header + kept records), whether or not it is compressed.
  std::optional<Digest128> output_digest;
  // A compressed output: the bytes written (the .gz or .zst file's size) and, with output_digest,
  // their XXH3-128 (the file's). 0 and unset for an uncompressed output.
  std::uint64_t bytes_out_compressed = 0;
  std::optional<Digest128> output_compressed_digest;
  // XXH3-128 of every byte read (header and BOM included), with output_digest. For compressed
  // input these are the decompressed bytes, and the next two the compressed file's.
  std::optional<Digest128> input_digest;
  // XXH3-128 and size of a compressed input as read (run_filter; audit input_compressed_xxh3_128).
  std::optional<Digest128> input_compressed_digest;
  std::uint64_t input_compressed_bytes = 0;
  double seconds = 0;
  unsigned threads = 0;
  // With options.impact_by: the counts of each group (impact.hpp); their sums are the counts above.
  ImpactGroups impact;
};

// The one rate every report gives: bytes read per second, in MB (10^6 bytes); 0 for no time.
OPTOUT_API double mb_per_second(std::uint64_t bytes, double seconds) noexcept;

// The text form of a delimiter, as optout filter --delimiter and optout.filter_file take it: one
// byte, or "tab" (also "\\t", and a tab itself). kInvalidArgument "the delimiter takes one byte,
// or 'tab'" for anything else; validate_filter_options() then refuses quote, CR and LF.
[[nodiscard]] OPTOUT_API Result<char> parse_delimiter(std::string_view text);

// The text form of the data-quality gate, as optout filter --max-rejected takes it: a row count
// ("250"; at most 18 digits) sets options.max_rejected_rows, a percentage of rows ("0.5%"; 0 to
// 100) options.max_rejected_fraction. kInvalidArgument "the rejected-row limit takes a row count (250) or a percentage
// of rows (0.5%)", options untouched, for anything else, "" included.
[[nodiscard]] OPTOUT_API Status parse_max_rejected(std::string_view text, FilterOptions& options);

// kInvalidArgument naming the problem when options cannot be used: no column or both ways of
// naming it (for JSON Lines: a column_index, has_header false, no key, a malformed JSON Pointer),
// a name without a header, a column_index over kColumnIndexLimit, a quote/CR/LF
// delimiter, block_bytes or max_record_bytes outside 1..1 GiB (kBlockBytesLimit,
// kRecordBytesLimit), threads over kThreadsLimit, a rejected fraction outside 0..1, a
// compression_level out of its codec's range (kGzipMinLevel.., kZstdMinLevel..) or given with
// nothing compressed. The engine's
// every entry point (filter(), write_numbers(), run_filter(), cut_file()) checks this first;
// callers (the CLI, the bindings) rely on it rather than checking ranges themselves.
[[nodiscard]] OPTOUT_API Status validate_filter_options(const FilterOptions& options);

// The data-quality gate: kDataQuality "INPUT: R of N rows rejected (P%), more than the limit of
// L" when `rejected` of `rows` passes options.max_rejected_rows or max_rejected_fraction, else OK.
// complete: the counts are a run's final ones; false when a run stopped early at the row limit
// (the message then says "in the first N rows"). filter() applies it to one input; a run in parts
// (run_filter) applies it once to the parts' summed counts.
[[nodiscard]] OPTOUT_API Status check_rejected(std::uint64_t rows, std::uint64_t rejected, const FilterOptions& options,
                                               std::string_view input, bool complete = true);

// The 0-based position of the NHS-number column among a header's names (unquoted, BOM removed),
// as options choose it: by 1-based column_index, or by column_name, which must name exactly one
// column. The filter, numbers, pieces and the pandas helpers all decide here. Messages start with
// input; they list the header's names only when every one looks like a column name (letters first,
// no long digit runs, at most 64 bytes), since otherwise the first line may be a data row.
// Errors: kNotFound (no such name, or fewer columns than column_index), kInvalidInput (the name
// stands more than once: ambiguous).
[[nodiscard]] OPTOUT_API Result<std::size_t> resolve_column(std::span<const std::string> names,
                                                            const FilterOptions& options, std::string_view input);

// The counts of rows decided elsewhere (a data frame's verdicts, with the InvalidReason of each
// number as parse gives it): rows, kept, removed, rejected and rejected_by_reason, as filter()
// counts them. Errors: kInvalidArgument for spans of different lengths, a value that is not a
// Verdict, or a rejected row whose reason is not the InvalidReason of an invalid number (naming
// its position).
[[nodiscard]] OPTOUT_API Result<FilterStats> count_verdicts(std::span<const std::uint8_t> verdicts,
                                                            std::span<const std::uint8_t> reasons);

// A short name for a rejected_by_reason index: "missing field", "empty", "bad character", ...
OPTOUT_API const char* rejected_reason_name(std::size_t index) noexcept;

// Filters in into out (and rejected records into rejects, when not null), applying index.
// Errors (the run stops at the first; what was written so far must be discarded by the caller):
//   kInvalidArgument (options), kNotFound (the column name is not in the header; the message lists
//   the header's names), kInvalidInput ("extract.csv:1207: unterminated quoted field" and the other
//   malformed-CSV cases, an empty input when a header is expected), kLimitExceeded (a record longer
//   than max_record_bytes), kIoError, kBrokenPipe (out's reader went away), kDataQuality.
// Messages name the input and the line where the bad record starts, never its content.
[[nodiscard]] OPTOUT_API Result<FilterStats> filter(ByteSource& in, ByteSink& out, ByteSink* rejects,
                                                    const OptOutIndex& index, const FilterOptions& options);

}  // namespace optout
