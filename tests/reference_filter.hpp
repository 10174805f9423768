// A small, obviously-correct sequential filter: the specification the parallel filter is checked
// against. Byte by byte, one record at a time, no cleverness. Only for tests.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "optout/nhs_number.hpp"

namespace optout::testing {

struct ReferenceOptions {
  char delimiter = ',';
  bool has_header = true;
  std::string column_name;      // or
  std::size_t column_index = 0;  // 1-based
};

struct ReferenceResult {
  std::string output;
  std::string rejects;
  std::uint64_t rows = 0, kept = 0, removed = 0, rejected = 0;
  // Empty when the input was accepted; otherwise the filter's message for a malformed record,
  // "<input>:<line>: <what>", or "no column" when the header lacks the column.
  std::string error;
};

struct ReferenceRecord {
  std::size_t begin = 0, end = 0;   // bytes of the whole record, terminator included
  std::vector<std::string> fields;  // unquoted values
  std::string error;                // set when the record is malformed
};

// Reads one record starting at pos, by RFC 4180 read strictly.
inline ReferenceRecord reference_read_record(std::string_view in, std::size_t pos, char delim) {
  ReferenceRecord r;
  r.begin = pos;
  std::string field;
  for (;;) {
    if (pos < in.size() && in[pos] == '"') {  // a quoted field
      ++pos;
      for (;;) {
        if (pos >= in.size()) {
          r.error = "unterminated quoted field";
          return r;
        }
        if (in[pos] == '"') {
          if (pos + 1 < in.size() && in[pos + 1] == '"') {
            field += '"';
            pos += 2;
            continue;
          }
          ++pos;
          break;
        }
        field += in[pos++];
      }
      // After the closing quote: a delimiter, LF, CRLF, CR at the end, or the end.
      const bool ok = pos >= in.size() || in[pos] == delim || in[pos] == '\n' ||
                      (in[pos] == '\r' && (pos + 1 >= in.size() || in[pos + 1] == '\n'));
      if (!ok) {
        r.error = "text after the closing quote of a field";
        return r;
      }
    } else {  // an unquoted field
      while (pos < in.size() && in[pos] != delim && in[pos] != '\n') {
        if (in[pos] == '"') {
          r.error = "quote inside an unquoted field";
          return r;
        }
        field += in[pos++];
      }
    }
    // pos is at a delimiter, an LF, a CR before LF or the end, or the end.
    if (pos < in.size() && in[pos] == delim) {
      r.fields.push_back(field);
      field.clear();
      ++pos;
      continue;
    }
    if (!field.empty() && field.back() == '\r' && (pos >= in.size() || in[pos] == '\n')) field.pop_back();
    if (pos < in.size() && in[pos] == '\r') ++pos;  // only after a closing quote: CR then LF or end
    r.fields.push_back(field);
    if (pos < in.size() && in[pos] == '\n') ++pos;
    r.end = pos;
    return r;
  }
}

// removes(stem): whether the registry removes a valid stem.
inline ReferenceResult reference_filter(std::string_view in, const ReferenceOptions& opt,
                                        const std::function<bool(std::uint32_t)>& removes,
                                        const std::string& input_name = "extract.csv") {
  ReferenceResult result;
  std::size_t pos = 0;
  std::size_t line = 1;
  std::size_t column = opt.column_index > 0 ? opt.column_index - 1 : 0;
  auto count_lines = [&](const ReferenceRecord& r) {
    for (std::size_t i = r.begin; i < r.end; ++i) line += in[i] == '\n';
  };
  // A leading UTF-8 BOM is copied to the outputs and is not part of any field.
  if (in.starts_with("\xEF\xBB\xBF")) {
    result.output = result.rejects = "\xEF\xBB\xBF";
    pos = 3;
  }
  if (opt.has_header) {
    if (pos == in.size()) {
      result.error = "empty input";
      return result;
    }
    ReferenceRecord header = reference_read_record(in, pos, opt.delimiter);
    if (!header.error.empty()) {
      result.error = input_name + ":1: " + header.error;
      return result;
    }
    if (opt.column_index > header.fields.size()) {  // a position past the header's columns
      result.error = "no column";
      return result;
    }
    if (opt.column_index == 0) {
      bool found = false;
      for (std::size_t k = 0; k < header.fields.size() && !found; ++k) {
        if (header.fields[k] == opt.column_name) {
          column = k;
          found = true;
        }
      }
      if (!found) {
        result.error = "no column";
        return result;
      }
    }
    result.output.append(in.substr(pos, header.end - pos));
    result.rejects.append(in.substr(pos, header.end - pos));
    count_lines(header);
    pos = header.end;
  }
  while (pos < in.size()) {
    const ReferenceRecord r = reference_read_record(in, pos, opt.delimiter);
    if (!r.error.empty()) {
      result.error = input_name + ":" + std::to_string(line) + ": " + r.error;
      return result;
    }
    ++result.rows;
    const std::string_view bytes = in.substr(r.begin, r.end - r.begin);
    const ParsedNhsNumber parsed =
        column < r.fields.size() ? parse_nhs_number(r.fields[column]) : ParsedNhsNumber{};
    if (!parsed.valid()) {
      ++result.rejected;
      result.rejects.append(bytes);
    } else if (removes(parsed.stem)) {
      ++result.removed;
    } else {
      ++result.kept;
      result.output.append(bytes);
    }
    count_lines(r);
    pos = r.end;
  }
  return result;
}

}  // namespace optout::testing
