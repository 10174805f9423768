// NHS numbers written one per line from a set of stems: the one place that knows the text and the
// Check for National Data Opt-outs service's .dat line forms. Private to the engine (CRoaring in the
// signature); list_export.cpp and write_numbers() use it.
#pragma once

#include <roaring/roaring.h>

#include <cstdint>

#include "optout/filter.hpp"
#include "optout/status.hpp"

namespace optout::detail {

// Writes the number of every stem in stems (each a valid stem), ascending: "9434765919\n" for
// kText, "9434765919,\n" for kMesh, in pieces of about kNumbersWriteBytes. Returns the bytes
// written, or out's error (what was written before it is partial).
Result<std::uint64_t> write_number_lines(const roaring_bitmap_t* stems, NumbersFormat format, ByteSink& out);

}  // namespace optout::detail
