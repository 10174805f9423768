// Fast construction of Roaring bitmaps from unsorted stems, and small helpers over CRoaring 0.2.66.
//
// CRoaring 0.2.66's roaring_bitmap_add_many costs ~4 ns a value on sorted input but 150–320 ns on
// unsorted input, and real opt-out lists are unsorted. StemSetBuilder instead counting-sorts each
// batch by the high 16 bits (the container key) in parallel, then, in parallel over keys, appends
// the low 16 bits to the key's pending array; past 4096 values a key switches to an 8 KiB page
// (a bitset, which stays in L1 while its values are written). At the end a pending array is sorted
// and deduplicated into an array container, and a page becomes an array or bitset container.
#pragma once

#include <roaring/roaring.h>

#include <cstdint>
#include <cstdlib>
#include <memory>
#include <span>
#include <vector>

#include "registry_data.hpp"

namespace optout::detail {

// Accumulates a set of stems. Not thread-safe; add() and finish() are parallel inside (oneTBB).
// Memory: per key touched, 2 bytes a value added (duplicates included) up to 4096 values, then
// 8 KiB; so at most 125 MB, and never more than ~2x the finished bitmap. Plus 2 bytes a stem of
// the current batch.
class StemSetBuilder {
 public:
  StemSetBuilder();
  ~StemSetBuilder();
  StemSetBuilder(const StemSetBuilder&) = delete;
  StemSetBuilder& operator=(const StemSetBuilder&) = delete;

  // Adds every stem of every part (duplicates are fine). Precondition: each stem < kStemLimit.
  // Throws std::bad_alloc when memory runs out (the builder then holds a subset of the stems).
  void add(std::span<const std::span<const std::uint32_t>> parts);

  // The set as a bitmap of array and bitset containers; leaves the builder empty. Never null;
  // throws std::bad_alloc when memory runs out.
  RoaringPtr finish();

 private:
  void add_sequential(std::span<const std::span<const std::uint32_t>> parts);
  void add_to_key(std::uint32_t key, const std::uint16_t* lows, std::size_t n);
  void clear() noexcept;

  std::vector<bitset_container_t*> pages_;           // per key: null, or the key's bits
  std::vector<std::vector<std::uint16_t>> pending_;  // per key without a page: values, unsorted
  std::vector<std::uint32_t> cursors_;               // scratch: per part × key counts, then write cursors
  std::vector<std::uint16_t> sorted_;                // scratch: low halves grouped by key
};

// ---- Memory -----------------------------------------------------------------------------------

struct FreeDeleter {
  void operator()(void* p) const noexcept { std::free(p); }
};
using LargeBuffer = std::unique_ptr<char[], FreeDeleter>;

// bytes of memory that free() releases, asking for transparent huge pages when it is large
// (see kHugePageBytes). nullptr when memory runs out.
char* allocate_large(std::size_t bytes) noexcept;

// The number of set bits in a bitset container's 1024 words; uses the popcnt instruction when the
// CPU has it (the distribution's CRoaring is built without it, as is our x86-64 baseline).
std::uint32_t popcount_page(const std::uint64_t* words) noexcept;

// ---- Bitmaps ----------------------------------------------------------------------------------

// Converts containers to run containers where that is smaller, and frees spare capacity.
void optimize_bitmap(roaring_bitmap_t* bitmap) noexcept;

}  // namespace optout::detail
