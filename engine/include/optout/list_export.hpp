// Exporting one list of a registry for other systems: Spark and Java (RoaringBitmap), Go and
// Python Roaring libraries, or plain text and the Check for National Data Opt-outs service's
// .dat form.
//
// The Roaring export holds the list's *stems*, not whole NHS numbers: the first nine digits,
// without the check digit (nhs_number.hpp), which fit a 32-bit Roaring bitmap, as the registry
// stores them. A consumer holding a 10-digit number first checks it (modulus 11: a number with a
// wrong check digit shares its stem with a valid one) and then looks up number / 10.
#pragma once

#include <cstdint>
#include <string_view>

#include "optout/export.hpp"
#include "optout/io.hpp"
#include "optout/nhs_number.hpp"
#include "optout/registry.hpp"
#include "optout/status.hpp"

namespace optout {

struct ListExportStats {
  std::uint64_t count = 0;  // numbers (stems) in the list
  std::uint64_t bytes = 0;  // bytes written to the sink
};

// Writes the list named `list` to out in the given format. The Roaring bytes are those the
// snapshot holds for the list (roaring_bitmap_portable_deserialize, Java's
// RoaringBitmap.deserialize and Go's Bitmap.ReadFrom read them). Text and mesh hold no header;
// an empty list writes a Roaring bitmap with no containers, or nothing.
//
// Errors: kInvalidArgument (not a valid list name), kNotFound naming the list and the registry's
// lists, and out's errors (kIoError, kBrokenPipe); what was written before an error must be
// discarded by the caller (Destination does). Memory: the Roaring form is built whole in memory
// (about 0.75-2 bytes per number); text and mesh are written in 1 MB pieces.
//
// Example:
//   Result<Destination> file = Destination::open("national.roaring");
//   auto written = export_list(registry, "national", NumbersFormat::kRoaring, file->sink());
//   if (written.ok()) status = file->commit();
[[nodiscard]] OPTOUT_API Result<ListExportStats> export_list(const Registry& registry, std::string_view list,
                                                             NumbersFormat format, ByteSink& out);

}  // namespace optout
