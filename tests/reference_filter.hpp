// A small, obviously-correct sequential filter: the specification the parallel filter is checked
// against. Only for tests. It shares no code with the engine: its own CSV reader (one byte at a
// time, one state per byte, no lookahead tricks) and its own NHS-number check, each read straight
// from the rules in engine/include/optout/filter.hpp and nhs_number.hpp. A reference that shared
// the engine's reading of a rule could never see that rule broken (issue 10: a bare CR).
//
// The CSV rules, strictly (RFC 4180 with a one-byte delimiter):
//   - a record ends with LF or CRLF; the last record may lack a terminator; an empty line is a
//     record with one empty field;
//   - a CR outside quotes must be followed by LF: otherwise, the input's last byte included, the
//     input is malformed ("bare CR");
//   - a quote may open a field only at its start; inside a quoted field "" is one quote, and the
//     delimiter, CR and LF are data; the closing quote is followed by the delimiter, CR LF, LF or
//     the end of input, nothing else;
//   - a quote anywhere else, text after a closing quote, or the input ending inside quotes makes
//     the input malformed: the result is an error naming the line where the bad record starts;
//   - a UTF-8 BOM at the very start is copied to both outputs and is part of no field;
//   - before any record is read, input that starts like a compressed file, or holds a NUL byte
//     before its first LF, is refused as not CSV;
//   - a header that names the wanted column more than once is an error (which one is ambiguous).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <array>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace optout::testing {

struct ReferenceOptions {
  char delimiter = ',';
  bool has_header = true;
  std::string column_name;                // or
  std::size_t column_index = 0;           // 1-based
  std::vector<std::size_t> group_fields;  // the impact report's: 0-based field positions
};

// The impact report's groups: each record's values of ReferenceOptions::group_fields (nullopt for
// a field the record lacks) → rows, kept, removed, rejected.
using ReferenceGroups = std::map<std::vector<std::optional<std::string>>, std::array<std::uint64_t, 4>>;

struct ReferenceResult {
  std::string output;
  std::string rejects;
  std::uint64_t rows = 0, kept = 0, removed = 0, rejected = 0;
  ReferenceGroups groups;  // with group_fields
  // Empty when the input was accepted; otherwise "<input>:<line>: <what>" for a malformed record,
  // "<input>: empty input: expected a header record" with a header and no bytes, the engine's
  // words for binary input, "no column" when the header lacks the column, or "ambiguous column"
  // when it names it more than once (the engine words those two itself).
  std::string error;
};

// The reference's own reading of an NHS number: surrounding ASCII whitespace trimmed, then
// "9434765919", "943 476 5919" or "943-476-5919", modulus 11, not all zeros. Sets stem when valid.
inline bool reference_nhs_number(std::string_view text, std::uint32_t& stem) {
  const std::string_view space = " \t\r\n\v\f";
  const std::size_t first = text.find_first_not_of(space);
  if (first == std::string_view::npos) return false;
  text = text.substr(first, text.find_last_not_of(space) - first + 1);
  std::string digits;
  if (text.size() == 10) {
    digits = std::string(text);
  } else if (text.size() == 12 && text[3] == text[7] && (text[3] == ' ' || text[3] == '-')) {
    digits = std::string(text.substr(0, 3)) + std::string(text.substr(4, 3)) + std::string(text.substr(8, 4));
  } else {
    return false;
  }
  for (char c : digits) {
    if (c < '0' || c > '9') return false;
  }
  if (digits == "0000000000") return false;
  int sum = 0;
  for (int i = 0; i < 9; ++i) sum += (digits[i] - '0') * (10 - i);
  int check = 11 - sum % 11;
  if (check == 11) check = 0;
  if (check == 10 || check != digits[9] - '0') return false;
  stem = static_cast<std::uint32_t>(std::stoul(digits.substr(0, 9)));
  return true;
}

struct ReferenceRecord {
  std::size_t begin = 0, end = 0;   // bytes of the whole record, terminator included
  std::vector<std::string> fields;  // unquoted values
};

// Splits in (from pos) into records. On malformed input stops and sets error to "<line>: <what>",
// line being the 1-based line where the bad record starts.
inline std::vector<ReferenceRecord> reference_read_records(std::string_view in, std::size_t pos, char delim,
                                                           std::string& error) {
  enum State { kFieldStart, kUnquoted, kQuoted, kQuoteInQuoted, kCr };
  std::vector<ReferenceRecord> records;
  ReferenceRecord record;
  record.begin = pos;
  std::string field;
  State state = kFieldStart;
  std::size_t line = 1;         // the line pos is on
  std::size_t record_line = 1;  // the line the record starts on
  for (std::size_t i = 0; i < pos; ++i) line += in[i] == '\n';
  record_line = line;
  auto fail = [&](const char* what) {
    error = std::to_string(record_line) + ": " + what;
    return records;
  };
  auto end_record = [&](std::size_t end) {
    record.fields.push_back(field);
    field.clear();
    record.end = end;
    records.push_back(record);
    record = ReferenceRecord();
    record.begin = end;
    record_line = line;
    state = kFieldStart;
  };
  // Where a field may end (unquoted, or after its closing quote): a delimiter starts the next field,
  // LF ends the record, CR must be followed by LF. false for any other byte.
  auto end_field = [&](char c) {
    if (c == delim) {
      record.fields.push_back(field);
      field.clear();
      state = kFieldStart;
    } else if (c == '\n') {
      end_record(pos + 1);
    } else if (c == '\r') {
      state = kCr;
    } else {
      return false;
    }
    return true;
  };
  for (; pos < in.size(); ++pos) {
    const char c = in[pos];
    if (c == '\n') ++line;  // for the next record; record_line is taken in end_record
    switch (state) {
      case kFieldStart:
      case kUnquoted:
        if (c == '"' && state == kFieldStart) {
          state = kQuoted;
        } else if (c == '"') {
          return fail("quote inside an unquoted field");
        } else if (!end_field(c)) {
          field += c;
          state = kUnquoted;
        }
        break;
      case kQuoted:
        if (c == '"') {
          state = kQuoteInQuoted;
        } else {
          field += c;
        }
        break;
      case kQuoteInQuoted:  // the quote just seen closes the field, or starts a "" pair
        if (c == '"') {
          field += '"';
          state = kQuoted;
        } else if (!end_field(c)) {
          return fail("text after the closing quote of a field");
        }
        break;
      case kCr:
        if (c != '\n') return fail("bare CR outside quotes (lines must end with LF or CRLF)");
        end_record(pos + 1);
        break;
    }
  }
  switch (state) {
    case kQuoted: return fail("unterminated quoted field");
    case kCr: return fail("bare CR outside quotes (lines must end with LF or CRLF)");
    default: break;
  }
  if (record.begin < in.size()) end_record(in.size());  // the last record, without terminator
  return records;
}

// removes(stem): whether the registry removes a valid stem.
inline ReferenceResult reference_filter(std::string_view in, const ReferenceOptions& opt,
                                        const std::function<bool(std::uint32_t)>& removes,
                                        const std::string& input_name = "extract.csv") {
  ReferenceResult result;
  const std::pair<std::string_view, const char*> magics[] = {
      {std::string_view("\x1f\x8b", 2), "gzip"},
      {std::string_view("\x28\xb5\x2f\xfd", 4), "zstd"},
      {std::string_view("PK\x03\x04", 4), "zip"},
      {std::string_view("BZh", 3), "bzip2"},
      {std::string_view("\xfd"
                        "7zXZ\x00",
                        6),
       "xz"},
      {std::string_view("\x04\x22\x4d\x18", 4), "lz4"},
  };
  for (const auto& [magic, kind] : magics) {
    if (in.starts_with(magic)) {
      result.error = input_name + ": unsupported compressed input (" + kind + "): decompress it first";
      return result;
    }
  }
  if (in.substr(0, in.find('\n')).find('\0') != std::string_view::npos) {
    result.error = input_name + ":1: a NUL byte: the input looks binary, not CSV";
    return result;
  }
  std::size_t pos = 0;
  if (in.starts_with("\xEF\xBB\xBF")) {
    result.output = result.rejects = "\xEF\xBB\xBF";
    pos = 3;
  }
  if (opt.has_header && pos == in.size()) {
    result.error = input_name + ": empty input: expected a header record";
    return result;
  }
  std::string error;
  const std::vector<ReferenceRecord> records = reference_read_records(in, pos, opt.delimiter, error);
  std::size_t first = 0;
  std::size_t column = opt.column_index > 0 ? opt.column_index - 1 : 0;
  if (opt.has_header) {
    // Only the header's own bytes decide whether it can be read.
    if (records.empty()) {
      result.error = input_name + ":" + error;
      return result;
    }
    const ReferenceRecord& header = records[0];
    if (opt.column_index > header.fields.size()) {
      result.error = "no column";
      return result;
    }
    if (opt.column_index == 0) {
      std::size_t matches = 0;
      for (std::size_t k = 0; k < header.fields.size(); ++k) {
        if (header.fields[k] == opt.column_name) {
          column = k;
          ++matches;
        }
      }
      if (matches != 1) {
        result.error = matches == 0 ? "no column" : "ambiguous column";
        return result;
      }
    }
    result.output.append(in.substr(header.begin, header.end - header.begin));
    result.rejects.append(in.substr(header.begin, header.end - header.begin));
    first = 1;
  }
  if (!error.empty()) {
    result.error = input_name + ":" + error;
    return result;
  }
  for (std::size_t i = first; i < records.size(); ++i) {
    const ReferenceRecord& r = records[i];
    ++result.rows;
    const std::string_view bytes = in.substr(r.begin, r.end - r.begin);
    std::uint32_t stem = 0;
    std::size_t verdict = 1;  // kept 1, removed 2, rejected 3: the place in a group's counts
    if (column >= r.fields.size() || !reference_nhs_number(r.fields[column], stem)) {
      ++result.rejected;
      result.rejects.append(bytes);
      verdict = 3;
    } else if (removes(stem)) {
      ++result.removed;
      verdict = 2;
    } else {
      ++result.kept;
      result.output.append(bytes);
    }
    if (!opt.group_fields.empty()) {
      std::vector<std::optional<std::string>> key;
      for (std::size_t p : opt.group_fields) {
        key.push_back(p < r.fields.size() ? std::optional<std::string>(r.fields[p]) : std::nullopt);
      }
      std::array<std::uint64_t, 4>& counts = result.groups[key];
      ++counts[0];
      ++counts[verdict];
    }
  }
  return result;
}

}  // namespace optout::testing
