// Output codecs for the filter's parallel stage: one gzip member (ISA-L) or one zstd frame
// (libzstd) per block, so that blocks compress apart on any thread and the ordered writer only
// writes. A stream of members or frames is itself a valid .gz or .zst file: `gzip -dc` and
// `zstd -dc` give the concatenation of the blocks' bytes.
#pragma once

#include <cstddef>
#include <cstring>
#include <memory>
#include <string_view>

#include "optout/filter.hpp"
#include "optout/status.hpp"

namespace optout::detail {

// A growable byte buffer that never zero-fills (std::vector<char> would, on every resize).
struct ByteBuffer {
  std::unique_ptr<char[]> data;
  std::size_t size = 0;
  std::size_t capacity = 0;

  // Makes room for at least n bytes; keeps the first `size` bytes.
  void reserve(std::size_t n);
  void append(const char* bytes, std::size_t n) {
    std::memcpy(data.get() + size, bytes, n);  // precondition: reserve(size + n) done
    size += n;
  }
  std::string_view view() const { return {data.get(), size}; }
};

// One compressor per block slot: its state is reused block after block, and a slot holds one
// block at a time, so it needs no lock. Not thread-safe.
class BlockCompressor {
 public:
  // level: as validate_filter_options() accepts it for codec (kGzip 0..3, kZstd 1..19).
  static std::unique_ptr<BlockCompressor> create(Compression codec, int level);
  virtual ~BlockCompressor() = default;
  // Replaces out's bytes with in's, compressed as one whole member or frame (an empty `in` too).
  // Errors: kIoError on a codec failure (out of memory in the library).
  [[nodiscard]] virtual Status compress(std::string_view in, ByteBuffer& out) = 0;
};

}  // namespace optout::detail
