#include "csv_options.hpp"

#include <CLI/CLI.hpp>

namespace optout::cli {

void add_csv_options(CLI::App& cmd, CsvArgs& args, bool format_flag) {
  cmd.add_option("INPUT", args.input,
                 "The extract (CSV or JSON Lines; gzip, zstd or zip compressed too, told by content); '-' or absent: "
                 "standard input");
  cmd.add_option(format_flag ? "--format,--input-format" : "--input-format", args.format,
                 "csv, or jsonl: JSON Lines, one object per line, --column naming a key or a JSON Pointer "
                 "(/patient/nhs_number)")
      ->default_str("csv");
  // Which column, and whether the choice can be used (one of the two, a position from 1): the
  // engine's validate_filter_options() decides.
  cmd.add_option("--column", args.column,
                 "The NHS-number column by header name (exact, after unquoting); for jsonl a key or a JSON Pointer");
  cmd.add_option("--column-index", args.column_index, "The NHS-number column by 1-based position");
  cmd.add_flag("--no-header", args.no_header, "The first record is data, not a header (needs --column-index)");
  cmd.add_option("--delimiter", args.delimiter, "One-byte field delimiter, or 'tab'")->default_str(",");
  // The ranges (threads up to 1024, sizes 1 byte to 1 GiB) are the engine's to check:
  // validate_filter_options() refuses the rest, which exits 2 like any usage error.
  cmd.add_option("--threads", args.threads, "Worker threads, at most 1024 (default or 0: every core)");
  cmd.add_option("--block-size", args.block_bytes,
                 "Bytes read per block, up to 1 GiB (output is the same for every value)");
  cmd.add_option("--max-record-bytes", args.max_record_bytes,
                 "Fail on a record longer than this, up to 1 GiB (default 64 MiB)");
  cmd.add_option("--entry", args.entry, "For a zip input: the entry (file name) to read; needed when it holds several");
}

Result<FilterOptions> to_filter_options(const CsvArgs& args) {
  FilterOptions options;
  Result<InputFormat> format = parse_input_format(args.format);
  if (!format.ok()) return format.status();
  options.format = *format;
  Result<char> delimiter = parse_delimiter(args.delimiter);
  if (!delimiter.ok()) return delimiter.status();
  options.delimiter = *delimiter;
  options.column_name = args.column;
  options.column_index = args.column_index;
  options.has_header = !args.no_header;
  options.threads = args.threads;
  options.block_bytes = args.block_bytes;
  options.max_record_bytes = args.max_record_bytes;
  options.entry = args.entry;
  return options;
}

}  // namespace optout::cli
