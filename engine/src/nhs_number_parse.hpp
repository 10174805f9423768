// The NHS-number parser's implementation, private to the engine. parse_nhs_number() in
// nhs_number.cpp is the public entry point; the filter includes this header so that its per-row
// call inlines (one parser, two ways to call it).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "optout/nhs_number.hpp"

namespace optout::detail {

constexpr bool is_ascii_whitespace(char c) noexcept {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

constexpr bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }

constexpr unsigned digit(char c) noexcept { return static_cast<unsigned>(c - '0'); }

// Validates ten digits (already known to be ASCII digits) by modulus 11.
inline ParsedNhsNumber from_ten_digits(const char* d) noexcept {
  std::uint32_t stem = 0;
  unsigned sum = 0;
  for (unsigned i = 0; i < 9; ++i) {
    stem = stem * 10 + digit(d[i]);
    sum += digit(d[i]) * (10 - i);
  }
  unsigned check = 11 - sum % 11;
  if (check == 11) check = 0;
  if (check == 10) return {0, InvalidReason::kCheckDigitTen};
  if (check != digit(d[9])) return {0, InvalidReason::kWrongCheckDigit};
  return {stem, InvalidReason::kNone};
}

// The slow path: classifies anything that is not exactly ten digits.
inline ParsedNhsNumber parse_separated(std::string_view t) noexcept {
  std::size_t digits = 0;
  for (char c : t) {
    if (is_digit(c)) {
      ++digits;
    } else if (c != ' ' && c != '-') {
      return {0, InvalidReason::kBadCharacter};
    }
  }
  if (digits != 10) return {0, InvalidReason::kWrongLength};
  // Ten digits and at least one separator: only "ddd?ddd?dddd" with one kind of separator.
  if (t.size() != 12 || t[3] != t[7] || is_digit(t[3])) return {0, InvalidReason::kBadShape};
  for (std::size_t i = 0; i < t.size(); ++i) {
    if (i != 3 && i != 7 && !is_digit(t[i])) return {0, InvalidReason::kBadShape};
  }
  const char d[10] = {t[0], t[1], t[2], t[4], t[5], t[6], t[8], t[9], t[10], t[11]};
  return from_ten_digits(d);
}

// The parser itself, inline so the filter's hot loop can inline it; parse_nhs_number() calls it.
inline ParsedNhsNumber parse_nhs_number_inline(std::string_view text) noexcept {
  std::size_t begin = 0;
  std::size_t end = text.size();
  while (begin < end && is_ascii_whitespace(text[begin])) ++begin;
  while (end > begin && is_ascii_whitespace(text[end - 1])) --end;
  const std::string_view t = text.substr(begin, end - begin);
  if (t.empty()) return {0, InvalidReason::kEmpty};
  if (t.size() == 10) {
    bool all_digits = true;
    for (char c : t) all_digits &= is_digit(c);
    if (all_digits) return from_ten_digits(t.data());
  }
  return parse_separated(t);
}

}  // namespace optout::detail
