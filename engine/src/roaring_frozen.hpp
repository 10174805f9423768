// The one unit that knows CRoaring's container internals (CRoaring 0.2.66, Debian's build): the
// portable serialization's layout, the frozen bitmap built from it in one block, the three
// container kinds (array, bitset, run) and their structural checks, and the expansion of a bitmap
// into the filter's flat bits, the heap size of a bitmap. Everything else uses roaring.h's public
// functions only, except StemSetBuilder (roaring_build.cpp), which assembles array and bitset
// containers itself for speed; a newer CRoaring changes those two files, nothing else.
#pragma once

#include <roaring/roaring.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "registry_data.hpp"

namespace optout::detail {

// Reads one list's bitmap from its portable Roaring bytes (the Roaring format shared by the Java,
// Go and Python libraries) and checks it fully: our check of the portable header (cookie,
// container count), CRoaring's size scan (roaring_bitmap_portable_deserialize_size) must account
// for exactly bytes.size(), the bytes are copied into one frozen block, then validate_bitmap(),
// the stored cardinality, and every stem < 10^9. Returns the problem ("bitmap: truncated"), or an
// empty string with out set. The frozen bitmap must never be modified: roaring_bitmap_free()
// frees its one block. Throws std::bad_alloc when memory runs out.
std::string read_bitmap(std::string_view bytes, std::uint64_t cardinality, RoaringPtr& out);

// Checks a deserialized bitmap against the portable bytes it came from (snapshot_format.hpp lists
// the checks). Returns an empty string when valid, else the problem ("bitmap container 3: keys not
// increasing"). Precondition: roaring_bitmap_portable_deserialize_size(bytes) == bytes.size() and
// bitmap was deserialized from bytes.
std::string validate_bitmap(const roaring_bitmap_t* bitmap, std::string_view bytes);

// Sets the bit of every value of bitmap in bits (one bit per value; all zero beforehand, at least
// as many words as the bitmap's largest key needs), in parallel over containers: each container
// owns its own 8 KiB of the bits, so no two tasks share a word.
void expand_into(const roaring_bitmap_t* bitmap, std::uint64_t* bits);

// Bytes the bitmap occupies on the heap: the key/container/typecode arrays at their allocated
// size plus each container's struct and payload at its capacity (malloc's own overhead excluded).
std::uint64_t bitmap_memory_bytes(const roaring_bitmap_t* bitmap) noexcept;

}  // namespace optout::detail
