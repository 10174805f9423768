#include "csv_scan.hpp"

#include <algorithm>

namespace optout::detail {

const char* scan_error_text(ScanError error) noexcept {
  switch (error) {
    case ScanError::kNone: return "ok";
    case ScanError::kQuoteInUnquotedField: return "quote inside an unquoted field";
    case ScanError::kTextAfterClosingQuote: return "text after the closing quote of a field";
    case ScanError::kUnterminatedQuote: return "unterminated quoted field";
  }
  return "malformed record";
}

std::size_t count_byte(const char* data, std::size_t size, char c) noexcept {
  std::size_t count = 0;
  std::size_t i = 0;
#if defined(__SSE2__)
  const __m128i needle = _mm_set1_epi8(c);
  const __m128i zero = _mm_setzero_si128();
  while (size - i >= 16) {
    // Byte counters overflow after 255 rounds: fold them into 64-bit sums before that.
    const std::size_t rounds = std::min<std::size_t>((size - i) / 16, 255);
    __m128i acc = _mm_setzero_si128();
    for (std::size_t r = 0; r < rounds; ++r, i += 16) {
      const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(data + i));
      acc = _mm_sub_epi8(acc, _mm_cmpeq_epi8(v, needle));
    }
    const __m128i sums = _mm_sad_epu8(acc, zero);
    count += static_cast<std::size_t>(_mm_cvtsi128_si64(sums)) +
             static_cast<std::size_t>(_mm_cvtsi128_si64(_mm_unpackhi_epi64(sums, sums)));
  }
#endif
  for (; i < size; ++i) count += data[i] == c;
  return count;
}

std::size_t last_record_end(const char* data, std::size_t size) noexcept {
  // Quotes before a position tell whether it is inside a quoted field: an LF after an even number
  // of quotes ends a record. Count them all, then walk back from the end to the last such LF.
  std::size_t quotes = count_byte(data, size, '"');
  for (std::size_t i = size; i > 0; --i) {
    const char c = data[i - 1];
    if (c == '"') {
      --quotes;
    } else if (c == '\n' && (quotes & 1) == 0) {
      return i;
    }
  }
  return 0;
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
