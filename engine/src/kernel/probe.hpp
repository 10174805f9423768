// The probe: the filter's direct view of an OptOutIndex's flat bits (one bit per possible stem,
// opt_out_index.cpp builds them) and the verdict rule. Inline, so the filter's hot loop prefetches
// and tests bits without a call per row. The batch lookups' parse-then-probe loop is
// OptOutIndex::classify_each (index.hpp).
#pragma once

#include <cstdint>

#include "kernel/prefetch.hpp"
#include "optout/index.hpp"
#include "optout/nhs_number.hpp"

namespace optout::detail {

struct IndexBits {
  const std::uint64_t* bits;  // one bit per stem, kStemLimit bits
  bool bits_mean_kept;        // true: a set bit means kept (an allow list applies); false: removed

  bool removes(std::uint32_t stem) const noexcept {
    return (((bits[stem >> 6] >> (stem & 63)) & 1) != 0) != bits_mean_kept;
  }
  void prefetch(std::uint32_t stem) const noexcept { prefetch_line(bits + (stem >> 6)); }
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

}  // namespace optout::detail
