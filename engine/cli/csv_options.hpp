// Options that filter and numbers share: where the extract comes from, how it is delimited and
// which column holds the NHS number. Declared once so both commands spell them the same way.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "diagnostics.hpp"
#include "optout/filter.hpp"
#include "optout/io.hpp"

namespace CLI {
class App;
}

namespace optout::cli {

struct CsvArgs {
  std::string input = "-";
  std::string column;
  std::size_t column_index = 0;
  bool no_header = false;
  std::string delimiter = ",";
  unsigned threads = 0;
  std::size_t block_bytes = kDefaultBlockBytes;
  std::size_t max_record_bytes = kDefaultMaxRecordBytes;
};

// Declares INPUT, --column, --column-index, --no-header, --delimiter, --threads, --block-size and
// --max-record-bytes on cmd.
void add_csv_options(CLI::App& cmd, CsvArgs& args);

// The engine's options for these arguments, or a usage error message.
Result<FilterOptions> to_filter_options(const CsvArgs& args);

// Where a command's main output goes: the named file, written atomically (renamed into place only
// by commit()), or standard output for "" or "-".
class Output {
 public:
  // Errors: kIoError naming the file (its directory is missing or not writable).
  static Result<std::unique_ptr<Output>> open(const std::string& path);
  ByteSink& sink() { return file_ ? file_->sink() : *stdout_; }
  const std::string& name() const { return name_; }
  bool is_stdout() const { return !file_; }
  // Puts a file in place; nothing to do for standard output.
  Status commit() { return file_ ? file_->commit() : Status(); }

 private:
  std::optional<AtomicFile> file_;
  std::unique_ptr<ByteSink> stdout_;
  std::string name_;
};

}  // namespace optout::cli
