// The filter's direct view of an OptOutIndex's bits, so the hot loop can prefetch and test them
// inline instead of calling through the public API per row.
#pragma once

#include <cstdint>

#include "optout/filter.hpp"

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

}  // namespace optout::detail
