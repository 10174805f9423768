// The only NHS-number parser in optout: the filter, the registry builder, the CLI and the bindings
// all call parse_nhs_number().
#include "optout/nhs_number.hpp"

#include "kernel/nhs_number_parse.hpp"

namespace optout {

const char* invalid_reason_text(InvalidReason reason) noexcept {
  switch (reason) {
    case InvalidReason::kNone: return "valid";
    case InvalidReason::kEmpty: return "empty";
    case InvalidReason::kBadCharacter: return "bad character";
    case InvalidReason::kWrongLength: return "wrong length";
    case InvalidReason::kBadShape: return "bad shape";
    case InvalidReason::kCheckDigitTen: return "check digit 10";
    case InvalidReason::kWrongCheckDigit: return "wrong check digit";
    case InvalidReason::kAllZeros: return "all zeros";
  }
  return "unknown";
}

ParsedNhsNumber parse_nhs_number(std::string_view text) noexcept { return detail::parse_nhs_number_inline(text); }

ParsedNhsNumber nhs_number_from_integer(std::uint64_t value) noexcept {
  // 10 digits, or 9 with the one implied leading zero; 0 is the all-zero number, as text.
  constexpr std::uint64_t kSmallest = 100'000'000;  // 0100000000: one leading zero
  constexpr std::uint64_t kLimit = 10'000'000'000;  // 11 digits
  if (value == 0) return {0, InvalidReason::kAllZeros};
  if (value < kSmallest || value >= kLimit) return {0, InvalidReason::kWrongLength};
  char d[10];
  for (int i = 9; i >= 0; --i) {
    d[i] = static_cast<char>('0' + value % 10);
    value /= 10;
  }
  return detail::from_ten_digits(d);
}

std::size_t format_nhs_number(std::uint32_t stem, char* out, NhsFormat format) noexcept {
  char d[10];
  std::uint64_t value = nhs_number_value(stem);
  for (int i = 9; i >= 0; --i) {
    d[i] = static_cast<char>('0' + value % 10);
    value /= 10;
  }
  if (format == NhsFormat::kPlain) {
    for (int i = 0; i < 10; ++i) out[i] = d[i];
    return 10;
  }
  const char sep = format == NhsFormat::kSpaced ? ' ' : '-';
  std::size_t n = 0;
  for (int i = 0; i < 10; ++i) {
    if (i == 3 || i == 6) out[n++] = sep;
    out[n++] = d[i];
  }
  return n;
}

std::string format_nhs_number(std::uint32_t stem, NhsFormat format) {
  char buffer[kMaxFormattedBytes];
  return std::string(buffer, format_nhs_number(stem, buffer, format));
}

}  // namespace optout
