// Fast construction of Roaring bitmaps from unsorted stems, and small helpers over CRoaring 0.2.66.
//
// CRoaring 0.2.66's roaring_bitmap_add_many costs ~4 ns a value on sorted input but 150–320 ns on
// unsorted input, and real opt-out lists are unsorted. StemSetBuilder instead counting-sorts each
// batch by the high 16 bits (the container key) in parallel, then sets the low 16 bits in one
// 8 KiB page per key (a page stays in L1 while its values are written), and at the end turns each
// page into an array container (≤ 4096 values) or hands it over as a bitset container.
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
// Memory: 8 KiB per distinct key touched (at most 15 259 keys, 125 MB), plus 2 bytes a stem of
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
  std::uint64_t* page(std::uint32_t key);
  void clear() noexcept;

  std::vector<bitset_container_t*> pages_;  // kStemKeyCount entries, allocated on first use
  std::vector<std::uint32_t> cursors_;      // scratch: per part × key counts, then write cursors
  std::vector<std::uint16_t> sorted_;       // scratch: low halves grouped by key
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

// Bytes the bitmap occupies on the heap: the key/container/typecode arrays at their allocated
// size plus each container's struct and payload at its capacity (malloc's own overhead excluded).
std::uint64_t bitmap_memory_bytes(const roaring_bitmap_t* bitmap) noexcept;

}  // namespace optout::detail
