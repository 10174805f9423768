#include "kernel/csv_scan.hpp"

#include <algorithm>

namespace optout::detail {

const char* scan_error_text(ScanError error) noexcept {
  switch (error) {
    case ScanError::kNone: return "ok";
    case ScanError::kQuoteInUnquotedField: return "quote inside an unquoted field";
    case ScanError::kTextAfterClosingQuote: return "text after the closing quote of a field";
    case ScanError::kUnterminatedQuote: return "unterminated quoted field";
    case ScanError::kBareCr: return "bare CR outside quotes (lines must end with LF or CRLF)";
    case ScanError::kNotJsonObject: return "not a JSON object";
    case ScanError::kBlankLine: return "a blank line (JSON Lines holds one JSON object per line)";
    case ScanError::kByteOrderMark: return "a UTF-8 byte-order mark (JSON Lines must not start with one)";
  }
  return "malformed record";
}

std::string unquote_field(std::string_view raw) {
  if (raw.size() < 2 || raw.front() != '"' || raw.back() != '"') return std::string(raw);
  std::string out;
  out.reserve(raw.size() - 2);
  for (std::size_t i = 1; i + 1 < raw.size(); ++i) {
    out.push_back(raw[i]);
    if (raw[i] == '"') ++i;  // "" stands for one quote
  }
  return out;
}

}  // namespace optout::detail
