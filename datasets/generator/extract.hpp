// Synthetic HES-like CSV extracts, clean or realistically messy.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "optout/status.hpp"
#include "output.hpp"
#include "population.hpp"

namespace optout::gen {

enum class Width {
  kNarrow,  // 9 columns, ~75 bytes a row at 20 M rows
  kWide,    // 191 HES APC-like columns, ~1 KB a row; nhs_number is column 91
};

struct ExtractOptions {
  std::uint64_t rows = 0;  // data records, the header not counted
  Width width = Width::kNarrow;
  // The expected share of rows whose patient has a national opt-out; default: the population's
  // national rate. Each row picks "opted out" with this probability, then a uniformly random
  // patient of that kind among the first `patients`.
  std::optional<double> optout_share;
  std::optional<std::uint64_t> patients;  // default: the whole population
  bool dirty = false;                     // see README.md, "Dirty mode"
  char delimiter = ',';
  bool crlf = false;  // CRLF record endings (in dirty mode: the majority ending)
};

// The header's column names.
std::vector<std::string> extract_columns(Width width);

// Writes the extract: a header, then options.rows records. Deterministic: the bytes depend only on
// the population's options and these options, not on threads.
// Errors: kInvalidArgument (bad share, no patient of a needed kind), kIoError, kBrokenPipe.
[[nodiscard]] Status write_extract(const Population& population, const ExtractOptions& options, ByteSink& out,
                                   std::size_t max_in_flight);

}  // namespace optout::gen
