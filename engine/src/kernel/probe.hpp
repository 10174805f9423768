// The probe: the filter's direct view of an OptOutIndex's flat bits (one bit per possible stem,
// opt_out_index.cpp builds them), the verdict rule, and the parse-a-chunk-then-probe loop of the
// batch lookups. Inline, so the filter's hot loop prefetches and tests bits without a call per row.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>

#include "optout/index.hpp"
#include "optout/nhs_number.hpp"
#include "tuning.hpp"

namespace optout::detail {

struct IndexBits {
  const std::uint64_t* bits;  // one bit per stem, kStemLimit bits
  bool bits_mean_kept;        // true: a set bit means kept (an allow list applies); false: removed

  bool removes(std::uint32_t stem) const noexcept {
    return (((bits[stem >> 6] >> (stem & 63)) & 1) != 0) != bits_mean_kept;
  }
  void prefetch(std::uint32_t stem) const noexcept { __builtin_prefetch(bits + (stem >> 6)); }
};

struct IndexAccess {
  static IndexBits bits(const OptOutIndex& index) noexcept;
};

// The verdict rule, the one place it is written: rejected if the number is invalid, removed if
// the index removes its stem, else kept. Without an index (the filter's collect mode, index null)
// every valid number is kept.
inline Verdict verdict_of(const ParsedNhsNumber& parsed, const IndexBits* index) noexcept {
  if (!parsed.valid()) return Verdict::kRejected;
  return index != nullptr && index->removes(parsed.stem) ? Verdict::kRemoved : Verdict::kKept;
}

// out[i] = the verdict for input i < count, where parse(i) gives input i as a ParsedNhsNumber:
// kClassifyChunk inputs are parsed, then probed together (tuning.hpp says why).
template <typename Parse>
void classify_in_chunks(const IndexBits& index, std::size_t count, Verdict* out, Parse&& parse) {
  std::array<ParsedNhsNumber, kClassifyChunk> chunk;
  for (std::size_t base = 0; base < count; base += chunk.size()) {
    const std::size_t n = std::min(chunk.size(), count - base);
    for (std::size_t k = 0; k < n; ++k) chunk[k] = parse(base + k);
    for (std::size_t k = 0; k < n; ++k) out[base + k] = verdict_of(chunk[k], &index);
  }
}

}  // namespace optout::detail
