// OptOutIndex's lookups: the public face of the probe (probe.hpp).
#include "kernel/probe.hpp"

#include "optout/index.hpp"

namespace optout {

bool OptOutIndex::removes(std::uint32_t stem) const noexcept { return detail::IndexAccess::bits(*this).removes(stem); }

Verdict OptOutIndex::verdict(const ParsedNhsNumber& parsed) const noexcept {
  const detail::IndexBits bits = detail::IndexAccess::bits(*this);
  return detail::verdict_of(parsed, &bits);
}

void OptOutIndex::classify_parsed(std::span<const ParsedNhsNumber> parsed, std::span<Verdict> out) const noexcept {
  const detail::IndexBits bits = detail::IndexAccess::bits(*this);
  for (std::size_t i = 0; i < parsed.size(); ++i) out[i] = detail::verdict_of(parsed[i], &bits);
}

void OptOutIndex::classify_stems(std::span<const std::uint32_t> stems, std::span<Verdict> out) const noexcept {
  classify_each(out, [&](std::size_t i) {
    return is_valid_stem(stems[i]) ? ParsedNhsNumber{stems[i], InvalidReason::kNone}
           : stems[i] == 0         ? ParsedNhsNumber{0, InvalidReason::kAllZeros}
                                   : ParsedNhsNumber{0, InvalidReason::kCheckDigitTen};
  });
}

void OptOutIndex::classify_numbers(std::span<const std::uint64_t> numbers, std::span<Verdict> out) const noexcept {
  classify_each(out, [&](std::size_t i) { return nhs_number_from_integer(numbers[i]); });
}

void OptOutIndex::classify_text(std::span<const std::string_view> texts, std::span<Verdict> out) const noexcept {
  classify_each(out, [&](std::size_t i) { return parse_nhs_number(texts[i]); });
}

}  // namespace optout
