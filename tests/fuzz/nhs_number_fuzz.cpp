// libFuzzer target: arbitrary bytes through the NHS-number text parser, checked against a tiny
// independent oracle written from the contract in optout/nhs_number.hpp (not from the parser's
// code): trim ASCII whitespace; nothing left is kEmpty; a byte other than a digit, ' ' or '-' is
// kBadCharacter; not exactly 10 digits is kWrongLength; 10 digits with separators must be
// "ddd?ddd?dddd" with one kind of separator, else kBadShape; then modulus 11 (kCheckDigitTen,
// kWrongCheckDigit). The all-zero number 0000000000 is not an NHS number: the oracle calls it
// invalid whatever the reason the engine gives.
//
// Every way the engine reads the same text must agree with the oracle and with each other, valid
// or invalid, stem and reason:
//   parse_nhs_number()                       the public entry point (nhs_number.cpp)
//   detail::parse_nhs_number_inline()        the inline parser the baseline filter kernel calls
//   avx2::parse_nhs_number_inline()          the same code compiled for AVX2, as
//                                            filter_kernel_avx2.cpp compiles it (AVX2 CPUs only)
//   nhs_number_from_integer()                for plain 10-digit text, the integer reading; and
//                                            any 8-byte input as an integer (mod 10^11)
// and a valid stem formats (plain, spaced, dashed) back to text that parses to the same stem.
// Any disagreement prints the input (synthetic, so printing it is fine here) and traps.
//
//   build: CC=clang-14 CXX=clang++-14 cmake -B build-fuzz -DOPTOUT_BUILD_FUZZERS=ON ...
//   run:   build-fuzz/tests/nhs_number_fuzz -dict=tests/fuzz/nhs_number.dict WORK tests/fuzz/corpus_nhs_number
//   (ctest -L fuzz runs it as fuzz_nhs_number on a copy of the corpus.)
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

#include "kernel/nhs_number_parse.hpp"
#include "optout/nhs_number.hpp"

#if defined(__x86_64__) && defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,bmi,bmi2,popcnt,lzcnt"))), apply_to = function)
#define OPTOUT_FUZZ_AVX2 1
namespace optout::detail::avx2 {
#include "kernel/nhs_number_parse.inl"
}  // namespace optout::detail::avx2
#pragma clang attribute pop
#endif

namespace {

using optout::InvalidReason;
using optout::ParsedNhsNumber;

// The oracle: the contract, one rule at a time, with no shortcuts.
ParsedNhsNumber oracle(std::string_view text) {
  const std::string_view space = " \t\r\n\v\f";
  const std::size_t first = text.find_first_not_of(space);
  if (first == std::string_view::npos) return {0, InvalidReason::kEmpty};
  const std::string_view t = text.substr(first, text.find_last_not_of(space) - first + 1);

  std::string digits;
  for (char c : t) {
    if (c >= '0' && c <= '9') {
      digits += c;
    } else if (c != ' ' && c != '-') {
      return {0, InvalidReason::kBadCharacter};
    }
  }
  if (digits.size() != 10) return {0, InvalidReason::kWrongLength};
  if (t.size() != 10) {  // separated: exactly 3-3-4 with one kind of separator
    const bool shape = t.size() == 12 && (t[3] == ' ' || t[3] == '-') && t[7] == t[3] &&
                       t.substr(0, 3).find_first_of(" -") == std::string_view::npos &&
                       t.substr(4, 3).find_first_of(" -") == std::string_view::npos &&
                       t.substr(8).find_first_of(" -") == std::string_view::npos;
    if (!shape) return {0, InvalidReason::kBadShape};
  }

  int sum = 0;
  for (int i = 0; i < 9; ++i) sum += (digits[i] - '0') * (10 - i);
  int check = 11 - sum % 11;
  if (check == 11) check = 0;
  if (check == 10) return {0, InvalidReason::kCheckDigitTen};
  if (check != digits[9] - '0') return {0, InvalidReason::kWrongCheckDigit};
  return {static_cast<std::uint32_t>(std::stoul(digits.substr(0, 9))), InvalidReason::kNone};
}

bool all_zero(std::string_view text) {
  const ParsedNhsNumber plain = oracle(text);
  if (plain.valid()) return plain.stem == 0;  // only 000000000 has stem 0 and check digit 0
  return false;
}

std::string escape(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size() && i < 200; ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c < 0x7f && c != '\\') {
      out += static_cast<char>(c);
    } else {
      char hex[8];
      std::snprintf(hex, sizeof hex, "\\x%02x", c);
      out += hex;
    }
  }
  return out;
}

[[noreturn]] void fail(std::string_view what, std::string_view text, ParsedNhsNumber got, ParsedNhsNumber want) {
  std::fprintf(stderr, "nhs_number_fuzz: %.*s on \"%s\": got stem %u reason %d (%s), expected stem %u reason %d (%s)\n",
               static_cast<int>(what.size()), what.data(), escape(text).c_str(), got.stem, static_cast<int>(got.reason),
               optout::invalid_reason_text(got.reason), want.stem, static_cast<int>(want.reason),
               optout::invalid_reason_text(want.reason));
  __builtin_trap();
}

// got must match the oracle: exactly, except that the all-zero number is invalid for any reason
// (stem 0).
void expect(std::string_view what, std::string_view text, ParsedNhsNumber got, ParsedNhsNumber want, bool zero) {
  if (zero) {
    if (got.valid() || got.stem != 0) fail(what, text, got, {0, InvalidReason::kWrongCheckDigit});
    return;
  }
  if (!(got == want)) fail(what, text, got, want);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const ParsedNhsNumber want = oracle(text);
  const bool zero = all_zero(text);

  const ParsedNhsNumber got = optout::parse_nhs_number(text);
  expect("parse_nhs_number", text, got, want, zero);
  expect("detail::parse_nhs_number_inline", text, optout::detail::parse_nhs_number_inline(text), want, zero);
#if defined(OPTOUT_FUZZ_AVX2)
  static const bool has_avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("bmi2");
  if (has_avx2) {
    expect("avx2::parse_nhs_number_inline", text, optout::detail::avx2::parse_nhs_number_inline(text), want, zero);
  }
#endif

  // Plain ten digits (after trimming): the integer reading agrees, except that an integer implies
  // one leading zero, no more: a value below 10^8 ("00........") is kWrongLength.
  const std::size_t first = text.find_first_not_of(" \t\r\n\v\f");
  if (first != std::string_view::npos) {
    const std::string_view t = text.substr(first, text.find_last_not_of(" \t\r\n\v\f") - first + 1);
    if (t.size() == 10 && t.find_first_not_of("0123456789") == std::string_view::npos) {
      const std::uint64_t value = std::stoull(std::string(t));
      const ParsedNhsNumber as_integer = value < 100'000'000 ? ParsedNhsNumber{0, InvalidReason::kWrongLength} : want;
      expect("nhs_number_from_integer", text, optout::nhs_number_from_integer(value), as_integer, zero);
    }
  }
  // Any integer: the reading of its 10-digit text (with leading zeros) when it has at most one.
  if (size == 8) {
    std::uint64_t value;
    std::memcpy(&value, data, 8);
    value %= 100'000'000'000ULL;  // up to 11 digits: 10^10 and over is kWrongLength too
    char digits[16];
    std::snprintf(digits, sizeof digits, "%010llu", static_cast<unsigned long long>(value));
    const ParsedNhsNumber as_integer = value >= 10'000'000'000ULL ? ParsedNhsNumber{0, InvalidReason::kWrongLength}
                                       : value < 100'000'000      ? ParsedNhsNumber{0, InvalidReason::kWrongLength}
                                                                  : oracle(digits);
    expect("nhs_number_from_integer (binary)", digits, optout::nhs_number_from_integer(value), as_integer, value == 0);
  }

  // A valid stem formats back to text that parses to it, in every format.
  if (got.valid()) {
    for (auto format : {optout::NhsFormat::kPlain, optout::NhsFormat::kSpaced, optout::NhsFormat::kDashed}) {
      const std::string formatted = optout::format_nhs_number(got.stem, format);
      expect("format_nhs_number round trip", formatted, optout::parse_nhs_number(formatted), got, false);
      expect("format_nhs_number vs oracle", formatted, got, oracle(formatted), false);
    }
    if (optout::nhs_number_value(got.stem) / 10 != got.stem) fail("nhs_number_value", text, got, want);
  }
  return 0;
}
