// The token probe: the filter's direct view of a TokenSet (pseudonym.hpp; pseudonym.cpp builds
// it), inline like probe.hpp so that the hot loop parses, prefetches and probes without a call per
// row. A token's text → TokenKey (64 hex digits checked, its first 16 bytes as two words) → the
// table's slot, prefetched a batch ahead → the stem of a listed number (the candidate's whole
// token compared) or kUnlistedTokenStem → the one verdict rule (probe.hpp, verdict_of).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "kernel/prefetch.hpp"
#include "optout/nhs_number.hpp"
#include "optout/pseudonym.hpp"

namespace optout::detail {

// A slot: 0 (empty), or 32 bits of the token (its bytes 8..11) above its entry's index + 1. The
// entries hold each token whole, so that a match is exact without computing an HMAC again.
inline constexpr unsigned kTokenEntryBits = 32;
inline constexpr std::uint64_t kTokenEntryMask = (std::uint64_t{1} << kTokenEntryBits) - 1;
inline constexpr std::uint64_t kTokenTagMask = (std::uint64_t{1} << (64 - kTokenEntryBits)) - 1;

inline std::uint64_t token_slot_word(std::uint64_t tag, std::uint64_t entry) noexcept {
  return ((tag & kTokenTagMask) << kTokenEntryBits) | (entry + 1);
}

// The words of a token's raw bytes [at, at + 8), byte at in the low byte, on any machine.
inline std::uint64_t token_word(const std::uint8_t* raw) noexcept {
  std::uint64_t w = 0;
  for (int i = 7; i >= 0; --i) w = (w << 8) | raw[i];
  return w;
}

struct TokenKey {
  std::uint64_t head = 0;     // token bytes 0..7 (token_word): the table's home slot
  std::uint64_t tag = 0;      // token bytes 8..15: the slot's tag
  const char* hex = nullptr;  // the 64 hex digits (in the block)
  InvalidReason reason = InvalidReason::kEmpty;
};

constexpr bool is_token_space(char c) noexcept {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

constexpr bool is_hex_digit(char c) noexcept {
  const auto lower = static_cast<char>(c | 0x20);
  return (c >= '0' && c <= '9') || (lower >= 'a' && lower <= 'f');
}

// Whether the 64 bytes at p are hex digits (either case).
inline bool hex64_valid(const char* p) noexcept {
#if defined(__SSE2__)
  const __m128i zero_m1 = _mm_set1_epi8('0' - 1), nine_p1 = _mm_set1_epi8('9' + 1);
  const __m128i a_m1 = _mm_set1_epi8('a' - 1), f_p1 = _mm_set1_epi8('f' + 1), case_bit = _mm_set1_epi8(0x20);
  __m128i all = _mm_set1_epi8(-1);
  for (int k = 0; k < 4; ++k) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 16 * k));
    const __m128i lower = _mm_or_si128(v, case_bit);
    const __m128i digit = _mm_and_si128(_mm_cmpgt_epi8(v, zero_m1), _mm_cmplt_epi8(v, nine_p1));
    const __m128i alpha = _mm_and_si128(_mm_cmpgt_epi8(lower, a_m1), _mm_cmplt_epi8(lower, f_p1));
    all = _mm_and_si128(all, _mm_or_si128(digit, alpha));
  }
  return _mm_movemask_epi8(all) == 0xFFFF;
#else
  bool ok = true;
  for (int i = 0; i < 64; ++i) ok &= is_hex_digit(p[i]);
  return ok;
#endif
}

// 8 hex digits (checked) → their 4 bytes, the first in the low byte (SWAR: a digit's nibble is
// its low 4 bits, plus 9 for a letter, whose bit 6 is set).
inline std::uint64_t hex8_bytes(const char* p) noexcept {
  std::uint64_t x = 0;
  for (int i = 7; i >= 0; --i) x = (x << 8) | static_cast<unsigned char>(p[i]);
  const std::uint64_t n = (x & 0x0F0F0F0F0F0F0F0FULL) + 9 * ((x >> 6) & 0x0101010101010101ULL);
  std::uint64_t y = ((n << 4) | (n >> 8)) & 0x00FF00FF00FF00FFULL;
  y = (y | (y >> 8)) & 0x0000FFFF0000FFFFULL;
  return (y | (y >> 16)) & 0xFFFFFFFFULL;
}

inline TokenKey token_key_of(const char* hex) noexcept {
  TokenKey key;
  key.head = hex8_bytes(hex) | (hex8_bytes(hex + 8) << 32);
  key.tag = hex8_bytes(hex + 16) | (hex8_bytes(hex + 24) << 32);
  key.hex = hex;
  key.reason = InvalidReason::kNone;
  return key;
}

// The column's text (quotes already removed) as a token: see TokenSet::parse for the rule.
[[gnu::always_inline]] inline TokenKey parse_token_key(std::string_view text) noexcept {
  if (text.size() == kTokenHexDigits && hex64_valid(text.data())) return token_key_of(text.data());
  while (!text.empty() && is_token_space(text.front())) text.remove_prefix(1);
  while (!text.empty() && is_token_space(text.back())) text.remove_suffix(1);
  TokenKey key;
  if (text.empty()) return key;  // kEmpty
  if (text.size() == kTokenHexDigits && hex64_valid(text.data())) return token_key_of(text.data());
  key.reason = InvalidReason::kWrongLength;
  for (const char c : text) {
    if (!is_hex_digit(c)) key.reason = InvalidReason::kBadCharacter;
  }
  return key;
}

struct TokenTable {
  const std::uint64_t* slots;   // 0: empty; else the tag (token bytes 8..11) above the entry + 1
  std::uint64_t capacity;       // more than the tokens held: a probe always reaches an empty slot
  const std::uint64_t* tokens;  // entry e's token: words 4e..4e+3 (token_word of bytes 0, 8, 16, 24)
  const std::uint32_t* stems;   // entry e's stem
  // A listed number's stem (kUnlistedTokenStem when none is listed): the kernel's stem for every
  // matched token. The set holds exactly the numbers whose index bit is set (TokenSet::built_for
  // is checked before a run), so a matched token's verdict is this stem's, whose index word stays
  // in cache, instead of its own stem's: a load and a random miss a listed row fewer.
  std::uint32_t listed_stem;

  // head scaled to [0, capacity) (Lemire's multiply-shift: the head's bits are uniform).
  std::size_t home(std::uint64_t head) const noexcept {
    __extension__ using Wide = unsigned __int128;
    return static_cast<std::size_t>((static_cast<Wide>(head) * capacity) >> 64);
  }
  // The home slot's cache line (a second one, for the probes that run past its end, measured no
  // faster).
  void prefetch(std::uint64_t head) const noexcept { prefetch_line(slots + home(head)); }

  // Whether entry e holds key's token: all 32 bytes compared (the last 16 decoded only here).
  bool same_token(std::uint64_t e, const TokenKey& key) const noexcept {
    const std::uint64_t* t = tokens + 4 * e;
    return t[0] == key.head && t[1] == key.tag &&
           t[2] == (hex8_bytes(key.hex + 32) | (hex8_bytes(key.hex + 40) << 32)) &&
           t[3] == (hex8_bytes(key.hex + 48) | (hex8_bytes(key.hex + 56) << 32));
  }

  // The first entry whose slot's tag is key's (kNoEntry: none), reading only the slots: the
  // kernel then prefetches it, and resolve() compares it.
  static constexpr std::uint64_t kNoEntry = ~std::uint64_t{0};
  std::uint64_t candidate(const TokenKey& key) const noexcept {
    const std::uint64_t tag = key.tag & kTokenTagMask;
    for (std::size_t i = home(key.head);;) {
      const std::uint64_t word = slots[i];
      if (word == 0) return kNoEntry;
      if ((word >> kTokenEntryBits) == tag) return (word & kTokenEntryMask) - 1;
      if (++i == capacity) i = 0;
    }
  }
  void prefetch_entry(std::uint64_t e) const noexcept { prefetch_line(tokens + 4 * e); }
  // The kernel's stem of key given candidate(key): listed_stem when the candidate's token is key's
  // (another entry with the same tag, one slot in 2^32, is looked for by find()), else
  // kUnlistedTokenStem.
  std::uint32_t resolve(const TokenKey& key, std::uint64_t e) const noexcept {
    if (e == kNoEntry) return kUnlistedTokenStem;
    if (same_token(e, key) || find(key) != kUnlistedTokenStem) return listed_stem;
    return kUnlistedTokenStem;
  }

  // The stem of the listed number whose token key is (exactly), else kUnlistedTokenStem.
  std::uint32_t find(const TokenKey& key) const noexcept {
    const std::uint64_t tag = key.tag & kTokenTagMask;
    std::size_t i = home(key.head);
    for (;;) {
      const std::uint64_t word = slots[i];
      if (word == 0) return kUnlistedTokenStem;
      if ((word >> kTokenEntryBits) == tag) {
        const std::uint64_t e = (word & kTokenEntryMask) - 1;
        if (same_token(e, key)) return stems[e];
      }
      if (++i == capacity) i = 0;
    }
  }
};

struct TokenAccess {
  static TokenTable table(const TokenSet& set) noexcept;
};

}  // namespace optout::detail
