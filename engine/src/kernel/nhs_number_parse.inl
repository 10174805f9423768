// The NHS-number parser's code. Like csv_scan_kernel.inl, without include guard or namespace: it
// is compiled once per instruction set, inside that set's namespace (filter_kernel_isa.inl: the
// filter's baseline and avx2 kernels; nhs_number_parse.hpp: the baseline in optout::detail, behind
// the public parse_nhs_number()).

constexpr bool is_ascii_whitespace(char c) noexcept {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

constexpr bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }

constexpr unsigned digit(char c) noexcept { return static_cast<unsigned>(c - '0'); }

// The modulus 11 verdict for a stem, its weighted digit sum and the tenth digit. Also the one place
// of the all-zero rule: stem 0 with check digit 0 passes modulus 11, and is no patient's. Selecting
// the reason (stem is 0 either way) costs no branch on the filter's path.
inline ParsedNhsNumber check_mod11(std::uint32_t stem, unsigned sum, unsigned tenth) noexcept {
  unsigned check = 11 - sum % 11;
  if (check == 11) check = 0;
  if (check == 10) return {0, InvalidReason::kCheckDigitTen};
  if (check != tenth) return {0, InvalidReason::kWrongCheckDigit};
  return {stem, stem != 0 ? InvalidReason::kNone : InvalidReason::kAllZeros};
}

// Validates ten digits (already known to be ASCII digits) by modulus 11.
inline ParsedNhsNumber from_ten_digits(const char* d) noexcept {
  std::uint32_t stem = 0;
  unsigned sum = 0;
  for (unsigned i = 0; i < 9; ++i) {
    stem = stem * 10 + digit(d[i]);
    sum += digit(d[i]) * (10 - i);
  }
  return check_mod11(stem, sum, digit(d[9]));
}

// The filter's common case, ten ASCII bytes, eight digits at a time in one 64-bit word (SWAR): the
// loop above costs ~150 instructions a row, this ~35. Returns false when a byte is not a digit.
inline bool parse_ten_digits_swar(const char* p, ParsedNhsNumber& out) noexcept {
  std::uint64_t word;
  std::memcpy(&word, p, 8);  // d0 in the low byte (little-endian)
  const unsigned d8 = digit(p[8]);
  const unsigned d9 = digit(p[9]);
  // Every byte in '0'..'9': its high nibble is 3, and adding 6 keeps it 3.
  constexpr std::uint64_t kHigh = 0xF0F0F0F0F0F0F0F0ULL;
  constexpr std::uint64_t kThrees = 0x3030303030303030ULL;
  if ((word & kHigh) != kThrees || ((word + 0x0606060606060606ULL) & kHigh) != kThrees || d8 > 9 || d9 > 9) {
    return false;
  }
  const std::uint64_t v = word - kThrees;  // bytes d0..d7
  // Weighted sum 10*d0 + 9*d1 + ... + 3*d7 in 16-bit lanes: even digits, then odd digits; one
  // multiply sums each set into the top lane (each lane stays < 2^16, so no carries cross).
  constexpr std::uint64_t kLanes = 0x00FF00FF00FF00FFULL;
  const std::uint64_t even = v & kLanes;        // d0, d2, d4, d6
  const std::uint64_t odd = (v >> 8) & kLanes;  // d1, d3, d5, d7
  constexpr std::uint64_t kEvenWeights = (10ULL << 48) | (8ULL << 32) | (6ULL << 16) | 4ULL;
  constexpr std::uint64_t kOddWeights = (9ULL << 48) | (7ULL << 32) | (5ULL << 16) | 3ULL;
  const auto sum = static_cast<unsigned>(((even * kEvenWeights) >> 48) + ((odd * kOddWeights) >> 48)) + 2 * d8;
  // The eight-digit value: pairs, then quads, then the whole (the usual SWAR decimal parse).
  std::uint64_t x = v * 10 + (v >> 8);
  x = (((x & 0x000000FF000000FFULL) * (100 + (1000000ULL << 32))) +
       (((x >> 16) & 0x000000FF000000FFULL) * (1 + (10000ULL << 32)))) >>
      32;
  out = check_mod11(static_cast<std::uint32_t>(x) * 10 + d8, sum, d9);
  return true;
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
  ParsedNhsNumber parsed;
  if (text.size() == 10 && parse_ten_digits_swar(text.data(), parsed)) return parsed;  // no trim needed
  std::size_t begin = 0;
  std::size_t end = text.size();
  while (begin < end && is_ascii_whitespace(text[begin])) ++begin;
  while (end > begin && is_ascii_whitespace(text[end - 1])) --end;
  const std::string_view t = text.substr(begin, end - begin);
  if (t.empty()) return {0, InvalidReason::kEmpty};
  if (t.size() == 10 && parse_ten_digits_swar(t.data(), parsed)) return parsed;
  return parse_separated(t);
}
