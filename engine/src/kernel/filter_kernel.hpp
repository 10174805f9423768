// The filter's kernel: the hot path of a filter run, and nothing else.
//
// A block of whole records goes through four stages, all inside one call of scan_block():
//   scan   csv_scan_kernel.inl   64 bytes at a time: quote, delimiter, LF and CR masks; record ends
//                                and the NHS field of each record (stage 1, simdjson-style)
//   parse  nhs_number_parse.inl  the field's text to a stem and a reason (ten digits: SWAR)
//   probe  probe.hpp             one bit of the flat index per stem, prefetched kProbeBatch rows
//                                ahead; the verdict rule (verdict_of) decides kept/removed/rejected
//   copy   (the pipeline)        the read() into the block and the writev() of the kept spans;
//                                filter_pipeline.cpp, outside the kernel
//
// Where the time goes (share of the filter's own cycles, setup excluded; the AVX2 kernel, one
// thread, one 8 MB in-memory block per run against a registry of n numbers, 8 % of rows listed):
//                              probe   scan   parse   copy   block bookkeeping
//   narrow rows (~75 B), n 5 M  38 %    22 %   15 %    16 %   10 %     (~36 ns a row)
//   narrow rows, n 100 k        43 %    23 %   14 %    18 %   10 %
//   wide rows (~1 KB), n 5 M    20 %    35 %    9 %    31 %    4 %     (~190 ns a row)
// So the probe's cache misses lead for narrow rows, even with the prefetch kProbeBatch rows ahead,
// and the 64-byte scan and the copies for wide ones. "copy" here is only the in-memory source's
// memcpy into the block (the benchmark's sink copies nothing); in a file-to-file run read() and
// writev() copy every byte again (bench/e2e measures those). Measured at a91e583 on the 2-core AMD
// EPYC VM, GCC 12 -O3 -g, with `perf record -e cycles:u build/bench/bench_filter
// --benchmark_filter='n:5000000/wide:0/threads:1' --benchmark_min_time=2` (and the other two
// cases), then `perf report --sort srcfile`: probe = probe.hpp, scan = csv_scan_kernel.inl with
// its intrinsics (last_record_end included, ~3 %), parse = nhs_number_parse.inl and
// nhs_number.hpp, copy = memmove, bookkeeping = scan_block_kernel.inl (batches, spans, counts).
//
// Each instruction set has its own copy of the kernel: filter_kernel_isa.inl is included inside
// optout::detail::baseline by filter_kernel.cpp and inside optout::detail::avx2 by
// filter_kernel_avx2.cpp (the same three lines in both), and select_filter_kernel() picks one per
// CPU. The copies in optout::detail itself (csv_scan.hpp, nhs_number_parse.hpp) serve the code
// outside the hot path: the header, the pieces of a cut file, the public parse_nhs_number().
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "compress.hpp"
#include "impact_table.hpp"
#include "kernel/csv_scan.hpp"
#include "kernel/probe.hpp"
#include "kernel/token_probe.hpp"
#include "optout/filter.hpp"
#include "optout/status.hpp"

// For the kernel's per-row lambdas, which GCC would otherwise call out of line.
#if defined(__GNUC__)
#define OPTOUT_ALWAYS_INLINE __attribute__((always_inline))
#else
#define OPTOUT_ALWAYS_INLINE
#endif

namespace optout::detail {

// How many oneTBB arenas of `threads` threads the filter's pool has made so far (runs borrow one
// and give it back: filter_pipeline.cpp, ArenaPool). For tests.
std::size_t filter_arenas_made(int threads);

constexpr std::size_t kMissingField = 0;  // rejected_by_reason index; 1.. are InvalidReason values

// A byte range [begin, end) of a block to hand to writev(): one or more whole, touching records.
// (Not a "piece": a piece is a byte range of a file cut for parallel runs, pieces.cpp.)
struct WriteSpan {
  std::size_t begin;
  std::size_t end;
};

// Appends [begin, end) to spans, merging it with the last span when they touch.
inline void append_span(std::vector<WriteSpan>& spans, std::size_t begin, std::size_t end) {
  if (!spans.empty() && spans.back().end == begin) {
    spans.back().end = end;
  } else {
    spans.push_back({begin, end});
  }
}

struct Block {
  std::unique_ptr<char[]> data;
  std::size_t capacity = 0;
  std::size_t size = 0;  // bytes of whole records in data
  std::size_t skip = 0;  // leading bytes that are the header (first block only)
  bool first = false;    // the input's first block (its [0, skip) is the header, maybe empty)
  bool at_end = false;   // the last block of the input
  Status input_error;    // a read error or an over-long record, reported in order

  // Scan results.
  std::vector<WriteSpan> kept;
  std::vector<std::uint32_t> stems;  // collect mode: the valid stems, in record order
  std::vector<WriteSpan> rejected;
  std::uint64_t rows = 0, kept_rows = 0, removed = 0;
  std::uint64_t rejected_by_reason[8] = {};
  ScanOutcome outcome;
  std::size_t long_record_begin = SIZE_MAX;  // first record over max_record_bytes

  // The writer's side, made in the parallel stage by the filter (filter_pipeline.cpp), so that
  // the ordered writer issues one write per block: the header (first block) and kept records
  // packed together, the same for rejected ones, and each compressed when its output is. The
  // compressors keep their state from block to block in this slot.
  ByteBuffer kept_bytes, rejected_bytes;
  ByteBuffer kept_compressed, rejected_compressed;
  std::unique_ptr<BlockCompressor> kept_codec, rejected_codec;
  Status pack_error;

  // The impact report's groups: the table of the thread scanning the block (the pipeline sets it;
  // one table per thread keeps each small enough for the cache). impact_overflow: this block's
  // scan stopped at a group past kImpactGroupsLimit.
  ImpactTable* impact = nullptr;
  bool impact_overflow = false;

  void reset_results() {
    impact_overflow = false;
    kept.clear();
    stems.clear();
    rejected.clear();
    rows = kept_rows = removed = 0;
    std::fill(std::begin(rejected_by_reason), std::end(rejected_by_reason), 0);
    outcome = {};
    long_record_begin = SIZE_MAX;
    input_error = Status();
    pack_error = Status();
    kept_bytes.size = rejected_bytes.size = kept_compressed.size = rejected_compressed.size = 0;
    skip = 0;
    first = false;
  }
};

// The kernel functions of one instruction set.
struct FilterKernel {
  // Classifies every record of a block into b's results: kept spans (or, without an index, the
  // valid stems), removed, rejected (kept as spans when keep_rejected). column is 0-based.
  void (*scan_block)(Block& b, const IndexBits* index, const FilterOptions& options, std::size_t column,
                     bool keep_rejected);
  // last_record_end() of csv_scan_kernel.inl, this instruction set's copy.
  std::size_t (*last_record_end)(const char* data, std::size_t size) noexcept;
  const char* name;  // "avx2" or "baseline"
  // scan_block, counting each record's group of the impact report into b.impact.
  void (*scan_block_impact)(Block& b, const IndexBits* index, const FilterOptions& options, std::size_t column,
                            bool keep_rejected, const ImpactColumns& impact);
  // scan_block for a pseudonymised extract: the column's tokens looked up in tokens, then the
  // index's verdict (scan_token_kernel.inl). index is never null here.
  void (*scan_token_block)(Block& b, const IndexBits* index, const TokenTable& tokens, const FilterOptions& options,
                           std::size_t column, bool keep_rejected);
};

// Each instruction set's kernel, defined by its translation unit.
namespace baseline {
extern const FilterKernel kernel;
}
#if defined(__x86_64__)
namespace avx2 {
extern const FilterKernel kernel;
}
#endif

// The fastest kernel this CPU runs (AVX2 + BMI2 when it has them). OPTOUT_KERNEL=baseline in the
// environment forces the baseline, so that tests can run both on one machine.
const FilterKernel& select_filter_kernel() noexcept;

}  // namespace optout::detail
