// Numbers for the national opt-out check: an extract's distinct valid NHS numbers, read by the
// filter's own CSV rules (filter.hpp) and written in a NumbersFormat (nhs_number.hpp).
#pragma once

#include <cstdint>
#include <string>

#include "optout/export.hpp"
#include "optout/filter.hpp"
#include "optout/io.hpp"
#include "optout/nhs_number.hpp"
#include "optout/status.hpp"

namespace optout {

struct NumbersStats {
  std::uint64_t rows = 0;                    // data records read
  std::uint64_t valid = 0;                   // records with a valid number
  std::uint64_t distinct = 0;                // distinct numbers written
  std::uint64_t rejected = 0;                // records whose number is missing or invalid (never written)
  std::uint64_t rejected_by_reason[8] = {};  // as FilterStats
  std::uint64_t bytes_in = 0;
  std::uint64_t bytes_out = 0;
  double seconds = 0;
};

// Writes the distinct valid NHS numbers of an extract's column, ascending, LF endings: what to send
// to the Check for National Data Opt-outs service (which rejects a whole file for one invalid
// number, so invalid and missing ones are counted and left out). Reads the CSV as filter() does,
// with the same options (the digest and rejected-limit options are not used) and errors. format
// kRoaring writes the distinct stems as one portable Roaring bitmap (for Spark, Java, Go).
[[nodiscard]] OPTOUT_API Result<NumbersStats> write_numbers(ByteSource& in, ByteSink& out, const FilterOptions& options,
                                                            NumbersFormat format);

// The numbers of one extract, as `optout numbers` writes them: input "-" is standard input, output
// "-" standard output, else a file written atomically (it appears only complete). Checked first,
// before anything is read or written: options, no empty path, an output that is not the input.
struct NumbersRequest {
  std::string input = "-";
  std::string output = "-";
  FilterOptions options;
  NumbersFormat format = NumbersFormat::kText;
};

// Errors: kInvalidArgument (the request); those of open_file_source(), Destination::open(),
// write_numbers() and the output's commit.
[[nodiscard]] OPTOUT_API Result<NumbersStats> run_numbers(const NumbersRequest& request);

}  // namespace optout
