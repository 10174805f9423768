#include "csv_header.hpp"

#include <algorithm>
#include <array>

#include "optout/filter.hpp"

namespace optout::detail {

HeaderRecord find_header(const char* data, std::size_t size, bool at_end, char delimiter) {
  HeaderRecord header;
  header.bom = std::string_view(data, size).starts_with(kUtf8Bom) ? kUtf8Bom.size() : 0;
  std::size_t end = 0;
  header.error = scan_records(data + header.bom, size - header.bom, at_end, delimiter, 0,
                              [&](std::size_t, std::size_t record_end, std::size_t, std::size_t, bool) {
                                end = record_end;
                                return false;
                              })
                     .error;
  if (end == 0) return header;
  header.end = header.bom + end;
  header.error = ScanError::kNone;  // only the header's own bytes matter
  return header;
}

std::vector<std::string> header_names(std::string_view record, char delimiter) {
  std::vector<std::string> names;
  // One scan per field keeps a single CSV reader in the engine; headers are small.
  for (std::size_t k = 0;; ++k) {
    bool found = false;
    (void)scan_records(record.data(), record.size(), true, delimiter, k,
                       [&](std::size_t, std::size_t, std::size_t field_begin, std::size_t field_end, bool has) {
                         if (has) {
                           names.push_back(unquote_field(record.substr(field_begin, field_end - field_begin)));
                           found = true;
                         }
                         return false;
                       });
    if (!found) break;
  }
  return names;
}

Status check_text_input(std::string_view first_bytes, const std::string& input) {
  struct Magic {
    std::string_view bytes;
    const char* kind;
  };
  // gzip, zstd and zip are decompressed by make_decompressing_source() (open_file_source): here
  // only when compressed twice, or read through a source that does not decompress.
  static constexpr std::array<Magic, 6> kMagics{{
      {std::string_view("\x1f\x8b", 2), "gzip"},
      {std::string_view("\x28\xb5\x2f\xfd", 4), "zstd"},
      {std::string_view("PK\x03\x04", 4), "zip"},
      {std::string_view("BZh", 3), "bzip2"},
      {std::string_view("\xfd"
                        "7zXZ\x00",
                        6),
       "xz"},
      {std::string_view("\x04\x22\x4d\x18", 4), "lz4"},
  }};
  for (const Magic& magic : kMagics) {
    if (first_bytes.starts_with(magic.bytes)) {
      return Status(ErrorCode::kInvalidInput,
                    input + ": unsupported compressed input (" + magic.kind + "): decompress it first");
    }
  }
  const std::size_t line_end = std::min(first_bytes.find('\n'), first_bytes.size());
  if (first_bytes.substr(0, line_end).find('\0') != std::string_view::npos) {
    return Status(ErrorCode::kInvalidInput, input + ":1: a NUL byte: the input looks binary, not CSV");
  }
  return Status();
}

namespace {

// Longest run of digits a name may hold: longer runs look like numbers, dates or identifiers.
constexpr std::size_t kNameMaxDigitRun = 4;
constexpr std::size_t kNameMaxBytes = 64;

// Whether a header field looks like a column's name ("nhs_number", "Date of birth", "addr_2"):
// 1 to 64 bytes, starting with a letter, '_' or a non-ASCII byte, then letters, digits (no run of
// more than 4), spaces and _ - . ( ) / # only. A field of digits, a date, a value with a newline
// or quote, or anything long does not, and a header holding one may be a data row.
bool looks_like_column_name(std::string_view name) {
  if (name.empty() || name.size() > kNameMaxBytes) return false;
  auto is_letter = [](unsigned char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c >= 0x80; };
  if (!is_letter(static_cast<unsigned char>(name[0])) && name[0] != '_') return false;
  std::size_t digit_run = 0;
  for (const char ch : name) {
    const auto c = static_cast<unsigned char>(ch);
    if (c >= '0' && c <= '9') {
      if (++digit_run > kNameMaxDigitRun) return false;
      continue;
    }
    digit_run = 0;
    if (!is_letter(c) && std::string_view(" _-.()/#").find(static_cast<char>(c)) == std::string_view::npos) {
      return false;
    }
  }
  return true;
}

}  // namespace
}  // namespace optout::detail

namespace optout {

Result<std::size_t> resolve_column(std::span<const std::string> names, const FilterOptions& options,
                                   std::string_view input) {
  const std::string where(input);
  if (options.column_index) {  // validate_filter_options: from 1 to kColumnIndexLimit
    const std::size_t position = *options.column_index;
    if (options.has_header && position > names.size()) {
      return Status(ErrorCode::kNotFound, where + ": the header has " + std::to_string(names.size()) +
                                              " columns, fewer than column " + std::to_string(position));
    }
    return position - 1;  // the one place a position becomes an index
  }
  const std::string wanted = "'" + redact_numbers(options.column_name) + "'";
  std::vector<std::size_t> found;
  for (std::size_t k = 0; k < names.size(); ++k) {
    if (names[k] == options.column_name) found.push_back(k + 1);
  }
  if (found.size() == 1) return found[0] - 1;
  if (found.size() > 1) {
    std::string positions;
    for (const std::size_t k : found) positions += (positions.empty() ? "" : ", ") + std::to_string(k);
    return Status(ErrorCode::kInvalidInput, where + ": the header names column " + wanted + " " +
                                                std::to_string(found.size()) + " times (columns " + positions +
                                                "): which one holds the NHS number is ambiguous");
  }
  // Names are listed only when every one looks like a name: otherwise the first line may be a
  // data row, and a message never carries a row's content.
  if (!names.empty() &&
      std::all_of(names.begin(), names.end(), [](const std::string& n) { return detail::looks_like_column_name(n); })) {
    std::string listed;
    for (const std::string& name : names) listed += (listed.empty() ? "" : ", ") + name;
    return Status(ErrorCode::kNotFound,
                  where + ": no column named " + wanted + " in the header (it has: " + listed + ")");
  }
  return Status(ErrorCode::kNotFound,
                where + ": no column named " + wanted +
                    ", and the first line looks like data, not a header, so it is not shown (without a "
                    "header, name the column by position: --no-header --column-index K)");
}

}  // namespace optout
