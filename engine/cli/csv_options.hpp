// Options that filter and numbers share: where the extract comes from, how it is delimited and
// which column holds the NHS number. Declared once so both commands spell them the same way.
#pragma once

#include <string>

#include "optout/filter.hpp"

namespace CLI {
class App;
}

namespace optout::cli {

struct CsvArgs {
  std::string input = "-";
  std::string format = "csv";
  std::string column;
  std::optional<std::size_t> column_index;
  bool no_header = false;
  std::string delimiter = ",";
  unsigned threads = 0;
  std::size_t block_bytes = kDefaultBlockBytes;
  std::size_t max_record_bytes = kDefaultMaxRecordBytes;
  std::optional<std::string> entry;
};

// Declares INPUT, --input-format (also spelled --format when format_flag: numbers' --format is its
// output's), --column, --column-index, --no-header, --delimiter, --threads, --block-size and
// --max-record-bytes and --entry on cmd.
void add_csv_options(CLI::App& cmd, CsvArgs& args, bool format_flag = true);

// The engine's options for these arguments, or a usage error message.
Result<FilterOptions> to_filter_options(const CsvArgs& args);

}  // namespace optout::cli
