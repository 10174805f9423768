// NHS numbers: parsing, the modulus 11 check, and formatting.
//
// An NHS number is 10 digits; the tenth is a check digit computed from the first nine, so a valid
// number is fully determined by its first nine digits, the *stem* (0 ≤ stem < 10^9, fits in
// uint32_t). The registry stores stems; the filter parses text into stems.
//
// Accepted text, after trimming surrounding ASCII whitespace (space, tab, CR, LF, VT, FF):
//   "9434765919"  "943 476 5919"  "943-476-5919"
// Anything else is invalid and the reason says why; nothing is guessed, padded or stripped.
// England/Wales, Northern Ireland and Scottish CHI numbers share the rule, so every number that
// passes modulus 11 is accepted whatever its range, except 0000000000: it passes modulus 11 but is
// no patient's (a zero-filled field, a fillna(0)), so it is invalid (kAllZeros) everywhere.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "optout/export.hpp"

namespace optout {

// Why a text is not a valid NHS number. Values are fixed (bindings expose them). Append only.
enum class InvalidReason : std::uint8_t {
  kNone = 0,             // valid
  kEmpty = 1,            // nothing but whitespace
  kBadCharacter = 2,     // a byte other than an ASCII digit, space or '-' (letters, signs, '.', UTF-8)
  kWrongLength = 3,      // not exactly 10 digits (9 or 11 digits: a lost or extra digit is never guessed)
  kBadShape = 4,         // 10 digits, but separators not in the 3-3-4 shape ("943 4765919", "943-476 5919")
  kCheckDigitTen = 5,    // modulus 11 gives 10: no valid NHS number has this stem
  kWrongCheckDigit = 6,  // the tenth digit is not the check digit of the first nine
  kAllZeros = 7,         // 0000000000 (or the integer 0): passes modulus 11, but is no patient's
};

// The largest InvalidReason value: arrays indexed by reason (FilterStats::rejected_by_reason, the
// bindings' name tables) cover 0..kLastInvalidReason.
inline constexpr InvalidReason kLastInvalidReason = InvalidReason::kAllZeros;

// A short lower-case description, e.g. "wrong check digit". Never null.
OPTOUT_API const char* invalid_reason_text(InvalidReason reason) noexcept;

// The result of parsing: a stem when valid, otherwise the reason (stem is then 0).
struct ParsedNhsNumber {
  std::uint32_t stem = 0;
  InvalidReason reason = InvalidReason::kEmpty;

  constexpr bool valid() const noexcept { return reason == InvalidReason::kNone; }
  friend constexpr bool operator==(const ParsedNhsNumber&, const ParsedNhsNumber&) = default;
};

inline constexpr std::uint32_t kStemLimit = 1'000'000'000;  // stems are < 10^9
inline constexpr std::uint8_t kNoCheckDigit = 10;           // check_digit() for a stem with no valid number

// The modulus 11 check digit (0..9) of a stem, or kNoCheckDigit when the stem has no valid number.
// Precondition: stem < kStemLimit.
constexpr std::uint8_t check_digit(std::uint32_t stem) noexcept {
  unsigned sum = 0;
  for (unsigned weight = 2; weight <= 10; ++weight) {  // the last of the nine digits has weight 2
    sum += (stem % 10) * weight;
    stem /= 10;
  }
  const unsigned check = 11 - sum % 11;
  return static_cast<std::uint8_t>(check == 11 ? 0 : check);
}

// True when the stem has a valid NHS number: its check digit is not 10, and it is not stem 0
// (0000000000, kAllZeros).
constexpr bool is_valid_stem(std::uint32_t stem) noexcept {
  return stem != 0 && stem < kStemLimit && check_digit(stem) != kNoCheckDigit;
}

// Parses one NHS number. Never allocates; a few ns for the plain 10-digit form.
// Example: parse_nhs_number(" 943 476 5919 ") → {stem 943476591, kNone}.
OPTOUT_API ParsedNhsNumber parse_nhs_number(std::string_view text) noexcept;

// Accepts a 10-digit integer (e.g. from a numpy uint64 array). One leading zero is implied (CHI
// numbers start with 0, and an integer cannot keep it), no more: a value below 10^8 (19, a count,
// a fill value) or of 10^10 or more is kWrongLength, and 0 is kAllZeros, as "0000000000" is.
// Example: nhs_number_from_integer(101011113) → {stem 10101111, kNone} ("0101011113").
OPTOUT_API ParsedNhsNumber nhs_number_from_integer(std::uint64_t value) noexcept;

// The 10-digit number of a valid stem as an integer, e.g. 943476591 → 9434765919.
// Precondition: is_valid_stem(stem).
constexpr std::uint64_t nhs_number_value(std::uint32_t stem) noexcept {
  return std::uint64_t{stem} * 10 + check_digit(stem);
}

enum class NhsFormat : std::uint8_t {
  kPlain,   // 9434765919
  kSpaced,  // 943 476 5919
  kDashed,  // 943-476-5919
};

inline constexpr std::size_t kMaxFormattedBytes = 12;  // "943 476 5919"

// Writes the number of a valid stem into out (at least kMaxFormattedBytes bytes, not terminated)
// and returns the byte count (10 or 12). Precondition: is_valid_stem(stem).
OPTOUT_API std::size_t format_nhs_number(std::uint32_t stem, char* out, NhsFormat format = NhsFormat::kPlain) noexcept;

// The same as a string. Precondition: is_valid_stem(stem).
OPTOUT_API std::string format_nhs_number(std::uint32_t stem, NhsFormat format = NhsFormat::kPlain);

// How a set of NHS numbers is written, by `optout numbers` (an extract's) and `optout export` (a
// list's): the one list of formats, with stable values (the C API's OPTOUT_EXPORT_* mirror them).
enum class NumbersFormat : std::uint8_t {
  kRoaring = 0,  // CRoaring's portable serialization of the stems (Java, Go, Python read it as-is)
  kText = 1,     // 10-digit NHS numbers, ascending, one per line, LF
  kMesh = 2,     // the Check for National Data Opt-outs service's .dat form: "9434765919," per line
};

// "roaring", "text" or "mesh" ("unknown" for another value). Never null.
OPTOUT_API const char* numbers_format_name(NumbersFormat format) noexcept;
// The format with that name, or nullopt.
OPTOUT_API std::optional<NumbersFormat> numbers_format_from_name(std::string_view name) noexcept;

}  // namespace optout
