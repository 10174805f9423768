#include "csv_options.hpp"

#include <CLI/CLI.hpp>

namespace optout::cli {

void add_csv_options(CLI::App& cmd, CsvArgs& args) {
  cmd.add_option("INPUT", args.input, "The extract (CSV); '-' or absent: standard input");
  auto* column = cmd.add_option("--column", args.column,
                                "The NHS-number column by header name (exact, after unquoting)");
  auto* index = cmd.add_option("--column-index", args.column_index,
                               "The NHS-number column by 1-based position")
                    ->check(CLI::PositiveNumber);
  column->excludes(index);
  index->excludes(column);
  cmd.add_flag("--no-header", args.no_header, "The first record is data, not a header (needs --column-index)");
  cmd.add_option("--delimiter", args.delimiter, "One-byte field delimiter, or 'tab'")
      ->default_str(",");
  cmd.add_option("--threads", args.threads, "Worker threads (default: every core)")
      ->check(CLI::Range(1u, 1024u));
  cmd.add_option("--block-size", args.block_bytes,
                 "Bytes read per block (output is the same for every value)")
      ->check(CLI::Range(std::size_t{1}, std::size_t{1} << 30));
  cmd.add_option("--max-record-bytes", args.max_record_bytes,
                 "Fail on a record longer than this (default 64 MiB)")
      ->check(CLI::Range(std::size_t{1}, std::size_t{1} << 30));
}

Result<FilterOptions> to_filter_options(const CsvArgs& args) {
  FilterOptions options;
  if (args.column.empty() && args.column_index == 0) {
    return Status(ErrorCode::kInvalidArgument, "choose the NHS-number column with --column or --column-index");
  }
  if (args.no_header && !args.column.empty()) {
    return Status(ErrorCode::kInvalidArgument, "--no-header needs --column-index: without a header there are no names");
  }
  if (args.delimiter == "tab" || args.delimiter == "\\t") {
    options.delimiter = '\t';
  } else if (args.delimiter.size() == 1) {
    options.delimiter = args.delimiter[0];
  } else {
    return Status(ErrorCode::kInvalidArgument, "--delimiter takes one byte, or 'tab'");
  }
  options.column_name = args.column;
  options.column_index = args.column_index;
  options.has_header = !args.no_header;
  options.threads = args.threads;
  options.block_bytes = args.block_bytes;
  options.max_record_bytes = args.max_record_bytes;
  return options;
}

}  // namespace optout::cli
