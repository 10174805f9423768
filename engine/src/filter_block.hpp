// The filter's unit of work, a block of whole records, and the scan kernel that classifies one.
// The kernel is compiled per instruction set (filter_kernel.cpp: the baseline; filter_kernel_avx2.cpp:
// AVX2 + BMI2) and chosen once per run by the CPU it runs on.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "csv_scan.hpp"
#include "opt_out_index_access.hpp"
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

struct Piece {
  std::size_t begin;
  std::size_t end;
};

// Appends [begin, end) to pieces, merging it with the last piece when they touch.
inline void append_piece(std::vector<Piece>& pieces, std::size_t begin, std::size_t end) {
  if (!pieces.empty() && pieces.back().end == begin) {
    pieces.back().end = end;
  } else {
    pieces.push_back({begin, end});
  }
}

struct Block {
  std::unique_ptr<char[]> data;
  std::size_t capacity = 0;
  std::size_t size = 0;       // bytes of whole records in data
  std::size_t skip = 0;       // leading bytes that are the header (first block only)
  bool at_end = false;        // the last block of the input
  Status input_error;         // a read error or an over-long record, reported in order

  // Scan results.
  std::vector<Piece> kept;
  std::vector<std::uint32_t> stems;  // collect mode: the valid stems, in record order
  std::vector<Piece> rejected;
  std::uint64_t rows = 0, kept_rows = 0, removed = 0;
  std::uint64_t rejected_by_reason[8] = {};
  ScanOutcome outcome;
  std::size_t long_record_begin = SIZE_MAX;  // first record over max_record_bytes

  void reset_results() {
    kept.clear();
    stems.clear();
    rejected.clear();
    rows = kept_rows = removed = 0;
    std::fill(std::begin(rejected_by_reason), std::end(rejected_by_reason), 0);
    outcome = {};
    long_record_begin = SIZE_MAX;
    input_error = Status();
    skip = 0;
  }
};

namespace baseline {
void scan_block(Block& b, const IndexBits* index, const FilterOptions& options, std::size_t column,
                bool keep_rejected);
}
namespace avx2 {
void scan_block(Block& b, const IndexBits* index, const FilterOptions& options, std::size_t column,
                bool keep_rejected);
std::size_t cut_at_record_end(const char* data, std::size_t size) noexcept;
}

// The kernel functions of one instruction set.
struct FilterKernel {
  // Classifies every record of a block into b's results: kept pieces (or, without an index, the
  // valid stems), removed, rejected (kept as pieces when keep_rejected). column is 0-based.
  void (*scan_block)(Block& b, const IndexBits* index, const FilterOptions& options, std::size_t column,
                     bool keep_rejected);
  // last_record_end() of csv_scan.hpp.
  std::size_t (*last_record_end)(const char* data, std::size_t size) noexcept;
  const char* name;  // "avx2" or "baseline"
};

// The fastest kernel this CPU runs (AVX2 + BMI2 when it has them). OPTOUT_KERNEL=baseline in the
// environment forces the baseline, so that tests can run both on one machine.
const FilterKernel& select_filter_kernel() noexcept;

}  // namespace optout::detail
