// The filter and numbers passes for options already checked: a public entry point (filter(),
// write_numbers(), run_filter(), run_numbers()) checks its options once with
// validate_filter_options() and then calls these, so no request is checked twice.
#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <string_view>

#include "optout/filter.hpp"
#include "optout/numbers.hpp"

namespace optout::detail {

struct Block;

// What a reader that writes nothing (optout verify) sees of the pipeline, beyond the counts. The
// pipeline holds `slots` block buffers, recycled: a slot holds one block at a time, from its
// scan to its delivery, so per-slot state needs no lock.
class BlockObserver {
 public:
  virtual ~BlockObserver() = default;
  // Once, before any block is scanned: the header's names (none without a header) and the NHS
  // column (0-based), as resolve_column() chose it. An error stops the run.
  virtual Status start(std::span<const std::string> names, std::size_t column, std::size_t slots) = 0;
  // In the parallel stage, on any thread: block b in slot `slot`, scanned without error
  // (b.kept and b.rejected hold every kept and rejected record; the others are removed).
  virtual void scanned(const Block& b, std::size_t slot) = 0;
  // In input order, on one thread, for every well-formed block after scanned(): the block's bytes
  // b.data[0, b.size) are the input's next bytes (the first block's start with the header, BOM
  // included, b.skip bytes long). An error stops the run.
  virtual Status delivered(const Block& b, std::size_t slot) = 0;
};

// filter() without its validate_filter_options(). Precondition: validate_filter_options(options).ok().
Result<FilterStats> filter_checked(ByteSource& in, ByteSink& out, ByteSink* rejects, const OptOutIndex& index,
                                   const FilterOptions& options);
// write_numbers() without its validate_filter_options(). Same precondition.
Result<NumbersStats> write_numbers_checked(ByteSource& in, ByteSink& out, const FilterOptions& options,
                                           NumbersFormat format);
// Reads in by the filter's rules against index, writing nothing: every block goes to observer
// (rejected records kept as spans). The counts are filter()'s; bytes_out stays 0. Same
// precondition; the data-quality gate of options applies as in filter().
Result<FilterStats> observe_checked(ByteSource& in, const OptOutIndex& index, const FilterOptions& options,
                                    BlockObserver& observer);

}  // namespace optout::detail
