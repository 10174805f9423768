// A set of stems written in a NumbersFormat: the one place that knows the Roaring, text and the
// Check for National Data Opt-outs service's .dat forms. Private to the engine (CRoaring in the
// signature); export_list() and write_numbers() use it.
#pragma once

#include <roaring/roaring.h>

#include <cstdint>

#include "optout/io.hpp"
#include "optout/nhs_number.hpp"
#include "optout/status.hpp"

namespace optout::detail {

// Writes stems (each a valid stem) to out: kRoaring as CRoaring's portable serialization (the
// call that writes a snapshot's list sections, so a list's bytes are the snapshot's), in one
// write; kText as "9434765919\n" and kMesh as "9434765919,\n" per stem, ascending, in writes of
// about kNumbersWriteBytes. Returns the bytes written, or out's error (what was written before it
// is partial).
Result<std::uint64_t> write_stems(const roaring_bitmap_t* stems, NumbersFormat format, ByteSink& out);

}  // namespace optout::detail
