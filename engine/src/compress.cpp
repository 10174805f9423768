// One gzip member (ISA-L's isal_deflate, with its gzip header and trailer) or one zstd frame
// (ZSTD_compress2, with a content checksum as the zstd program writes) per block.
#include "compress.hpp"

#include <isa-l/igzip_lib.h>
#include <zstd.h>

#include <algorithm>
#include <string>

namespace optout::detail {

void ByteBuffer::reserve(std::size_t n) {
  if (capacity >= n) return;
  const std::size_t grown = std::max(n, capacity + capacity / 2);
  auto bigger = std::make_unique_for_overwrite<char[]>(grown);
  if (size > 0) std::memcpy(bigger.get(), data.get(), size);
  data = std::move(bigger);
  capacity = grown;
}

namespace {

// ISA-L's hash and token buffer for each level: the "default" (large) sizes its igzip program uses.
std::size_t isal_level_bytes(int level) {
  switch (level) {
    case 1: return ISAL_DEF_LVL1_DEFAULT;
    case 2: return ISAL_DEF_LVL2_DEFAULT;
    case 3: return ISAL_DEF_LVL3_DEFAULT;
    default: return 0;
  }
}

class GzipCompressor final : public BlockCompressor {
 public:
  explicit GzipCompressor(int level)
      : level_(level),
        level_bytes_(isal_level_bytes(level)),
        level_buffer_(level_bytes_ > 0 ? std::make_unique_for_overwrite<std::uint8_t[]>(level_bytes_) : nullptr),
        stream_(std::make_unique<isal_zstream>()) {}

  Status compress(std::string_view in, ByteBuffer& out) override {
    isal_zstream& s = *stream_;
    isal_deflate_init(&s);
    s.level = static_cast<std::uint32_t>(level_);
    s.level_buf = level_buffer_.get();
    s.level_buf_size = static_cast<std::uint32_t>(level_bytes_);
    s.gzip_flag = IGZIP_GZIP;
    s.flush = NO_FLUSH;
    s.end_of_stream = 1;
    // Blocks are at most 1 GiB (kBlockBytesLimit) plus a carried record, so avail_in fits 32 bits.
    s.next_in = reinterpret_cast<std::uint8_t*>(const_cast<char*>(in.data()));
    s.avail_in = static_cast<std::uint32_t>(in.size());
    out.size = 0;
    out.reserve(in.size() + in.size() / 16 + 1024);
    for (;;) {
      s.next_out = reinterpret_cast<std::uint8_t*>(out.data.get() + out.size);
      s.avail_out = static_cast<std::uint32_t>(std::min<std::size_t>(out.capacity - out.size, UINT32_MAX));
      const std::uint32_t offered = s.avail_out;
      if (isal_deflate(&s) != COMP_OK) return Status(ErrorCode::kIoError, "gzip compression failed");
      out.size += offered - s.avail_out;
      if (s.internal_state.state == ZSTATE_END) return Status();
      if (s.avail_out == 0) out.reserve(out.capacity + out.capacity / 2 + 1024);
    }
  }

 private:
  int level_;
  std::size_t level_bytes_;
  std::unique_ptr<std::uint8_t[]> level_buffer_;
  std::unique_ptr<isal_zstream> stream_;  // ~ 100 KB of state: on the heap, not in the Block
};

class ZstdCompressor final : public BlockCompressor {
 public:
  explicit ZstdCompressor(int level) : context_(ZSTD_createCCtx(), &ZSTD_freeCCtx) {
    if (context_) {
      (void)ZSTD_CCtx_setParameter(context_.get(), ZSTD_c_compressionLevel, level);
      (void)ZSTD_CCtx_setParameter(context_.get(), ZSTD_c_checksumFlag, 1);
    }
  }

  Status compress(std::string_view in, ByteBuffer& out) override {
    if (!context_) return Status(ErrorCode::kIoError, "zstd compression failed: out of memory");
    out.size = 0;
    out.reserve(ZSTD_compressBound(in.size()));
    const std::size_t n = ZSTD_compress2(context_.get(), out.data.get(), out.capacity, in.data(), in.size());
    if (ZSTD_isError(n))
      return Status(ErrorCode::kIoError, std::string("zstd compression failed: ") + ZSTD_getErrorName(n));
    out.size = n;
    return Status();
  }

 private:
  std::unique_ptr<ZSTD_CCtx, decltype(&ZSTD_freeCCtx)> context_;
};

}  // namespace

std::unique_ptr<BlockCompressor> BlockCompressor::create(Compression codec, int level) {
  switch (codec) {
    case Compression::kGzip: return std::make_unique<GzipCompressor>(level);
    case Compression::kZstd: return std::make_unique<ZstdCompressor>(level);
    case Compression::kNone: break;
  }
  return nullptr;
}

}  // namespace optout::detail
