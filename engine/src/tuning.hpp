// Tuning constants of the engine, each with the reason or measurement behind it.
// Measurements: 2-core AMD EPYC VM, GCC 12 -O2 (Release), oneTBB 2021.8, CRoaring 0.2.66.
#pragma once

#include <cstddef>
#include <cstdint>

#include "optout/nhs_number.hpp"

namespace optout::detail {

// Source files are read and parsed one block at a time, so memory stays bounded whatever the file
// size (a 50 M-number file is 550 MB). 16 MiB is ~1.5 M lines: enough work per block to keep every
// core busy (the parallel_for overhead per block is ~50 µs), small enough to stay in L3 on typical
// servers. 4 MiB blocks measured ~8% slower at 50 M numbers, 64 MiB no faster.
inline constexpr std::size_t kSourceBlockBytes = std::size_t{16} << 20;

// A line longer than a whole block cannot be a number in any accepted shape; it is rejected as
// "line too long" rather than buffered without bound.
inline constexpr std::size_t kMaxSourceLineBytes = kSourceBlockBytes;

// Each block is cut at newlines into chunks parsed in parallel. 1 MiB (~95 k lines, ~2 ms of work)
// gives 16 chunks per block: enough to balance 2–16 threads, few enough that the per-chunk key
// histograms (15 259 counters each, see kStemKeyCount) stay cheap to clear and prefix-sum.
inline constexpr std::size_t kParseChunkBytes = std::size_t{1} << 20;

// add_stems() hands stems to the bitmap builder in batches of this many, so the builder's scratch
// (2 bytes per stem) stays bounded for very large spans; 16 M stems is 32 MB of scratch.
inline constexpr std::size_t kStemBatch = std::size_t{16} << 20;

// add_stems() splits each batch into parts of this many stems for the parallel counting sort.
inline constexpr std::size_t kStemPart = std::size_t{1} << 20;

// Below this many stems a batch is added sequentially: the parallel counting sort's fixed cost
// (one 61 KB histogram per part) is larger than the work itself.
inline constexpr std::size_t kSequentialAddStems = 1 << 16;

// Roaring splits a 32-bit value into a 16-bit key (container) and a 16-bit low part. Stems are
// < 10^9, so keys are < 15 259: a dense table of that many entries covers every possible key.
inline constexpr std::uint32_t kStemKeyCount = ((kStemLimit - 1) >> 16) + 1;

// Buffers of at least this size (source blocks, snapshot bytes, loaded bitmaps) are 2 MiB aligned
// and madvise(MADV_HUGEPAGE)d. On this VM a 4 KiB page fault costs ~25 µs: touching 37.5 MB of
// fresh 4 KiB pages took 200–285 ms, with transparent huge pages 10–66 ms. Below 4 MiB the
// rounding waste is not worth it.
inline constexpr std::size_t kHugePageBytes = std::size_t{2} << 20;
inline constexpr std::size_t kHugeBufferMinBytes = std::size_t{4} << 20;

// Snapshot validation walks containers in parallel in ranges of this many: a bitset container
// costs ~0.3 µs to popcount, so 256 of them (~80 µs) amortize a task's overhead; a 50 M-number
// list has ~4 600 containers, which gives ~18 tasks for 2 cores.
inline constexpr std::size_t kValidateGrain = 256;

// ---- Filter (filter_pipeline.cpp, io.cpp, kernel/) ---------------------------------------------

// Records parsed ahead of probing: each parsed stem's word of the flat index is prefetched, and the
// batch is probed once its misses have had time to arrive. A prototype on this 2-core machine took
// one thread from 4.7x to 2.0x the copy time by parsing ~32 rows ahead.
inline constexpr std::size_t kProbeBatch = 32;

// The filter's default block (FilterOptions::block_bytes, kDefaultBlockBytes in filter.hpp) is
// 1 MiB: the blocks in flight then stay in cache between read() copying in and writev() copying
// out. 5 M narrow rows (374 MB) file to file on 2 cores: 0.43-0.46 s at 1 MiB and 0.44 s at 2 MiB,
// 0.49-0.61 s at 128 KiB (more per-block overhead), 0.54 s at 4 MiB, 0.66 s at 8 MiB, 1.19 s at
// 16 MiB (buffers out of cache: the kernel's copies slow down).

// Blocks in flight per thread in the pipeline: one being read, one being scanned, one being
// written; more only adds memory (each is block_bytes).
inline constexpr std::size_t kBlocksPerThread = 2;

// writev() takes at most IOV_MAX (1024 on Linux) spans per call.
inline constexpr std::size_t kMaxIovecs = 1024;

// Pipe buffer asked for with F_SETPIPE_SZ (the unprivileged maximum is /proc/sys/fs/pipe-max-size,
// 1 MiB by default): fewer wake-ups per MB took the prototype's pipe stage from 1.60x to 1.34x.
inline constexpr int kPipeBufferBytes = 1 << 20;

// A regular output file has each 16 MiB handed to the disk (sync_file_range, not waited for) as
// soon as it is written. ext4 flushes a whole file when it replaces another by rename (as the
// output's commit does) or was truncated and rewritten (a shell's > over an old file), and that
// flush waits for the disk: 5 M narrow rows (356 MB out) over an existing output took 0.43 s, 0.15 s
// of it in rename(); writing back as it goes, 0.29 s. Into a new file (no flush at the end) it
// cost 0.20 s against 0.19 s. 4 MiB measured the same as 16 MiB; 64 MiB 12% slower (Intel Xeon VM).
inline constexpr std::uint64_t kWritebackBytes = std::uint64_t{16} << 20;

// Temporary output files that remove_uncommitted_files() (io.hpp) can find from a signal handler.
// A run has at most a few open at once (output, rejects, stats); a fixed table because a handler may
// not allocate. A file beyond these is still removed by its AtomicFile, only not on a signal.
inline constexpr std::size_t kTrackedTemporaryFiles = 64;

// optout numbers writes its sorted output in writes of about this size: large enough that the
// write calls cost nothing next to formatting, small enough to stay in cache.
inline constexpr std::size_t kNumbersWriteBytes = std::size_t{1} << 20;

// The batch lookups' chunk, kClassifyChunk, is public: optout/index.hpp says why it is 1024.

// Containers expanded per task when building the flat lookup index: each is at most 8 KiB of
// work, so 64 per task keeps scheduling overhead small while spreading ~15k containers over cores.
inline constexpr std::int32_t kContainersPerExpandTask = 64;

// Compressed input (decompress.cpp) is read from its source in chunks of 256 KiB: libzstd asks for
// 128 KiB (ZSTD_DStreamInSize) and ISA-L decodes larger chunks no faster; one read() per 256 KiB
// is a few thousand calls for a 500 MB extract. A sniffed first read larger than this is kept
// whole, so the buffer is at most one block.
inline constexpr std::size_t kDecompressInputBytes = std::size_t{1} << 18;

}  // namespace optout::detail
