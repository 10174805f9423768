// Stage 2 of the filter and the pipeline around it:
//   read (serial)  → blocks cut at record ends, recycled, carrying a partial record forward;
//   scan (parallel)→ the kernel (kernel/filter_kernel.hpp): each record's NHS field, parse, probe;
//   write (serial) → kept records as writev() spans straight from the block, in input order.
// Memory is bounded by (threads × kBlocksPerThread + 1) blocks, whatever the input's size.
#include <tbb/concurrent_queue.h>
#include <tbb/enumerable_thread_specific.h>
#include <tbb/global_control.h>
#include <tbb/parallel_pipeline.h>
#include <tbb/task_arena.h>
#include <xxhash.h>

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <atomic>
#include <chrono>
#include <thread>

#include "csv_header.hpp"
#include "filter_pipeline.hpp"
#include "kernel/csv_scan.hpp"
#include "kernel/filter_kernel.hpp"
#include "number_lines.hpp"
#include "jsonl_scan.hpp"
#include "kernel/probe.hpp"
#include "optout/filter.hpp"
#include "optout/numbers.hpp"
#include "optout/pseudonym.hpp"
#include "roaring_build.hpp"
#include "tuning.hpp"

namespace optout {
namespace {

using detail::Block;
using detail::kMissingField;
using detail::WriteSpan;

std::string record_too_long(const std::string& input, std::uint64_t line, std::size_t limit) {
  return input + ":" + std::to_string(line) + ": record longer than the limit of " + std::to_string(limit) + " bytes";
}

// Reads whole records into blocks. Blocks start at a record start; the partial record at the
// end of a read is carried into the next block.
class BlockReader {
 public:
  BlockReader(ByteSource& source, const FilterOptions& options, const detail::FilterKernel& kernel)
      : kernel_(kernel),
        source_(source),
        block_bytes_(std::max<std::size_t>(options.block_bytes, 1)),
        max_record_(options.max_record_bytes),
        json_lines_(options.format == InputFormat::kJsonLines) {}

  bool finished() const { return finished_; }
  std::uint64_t bytes_read() const { return bytes_read_; }

  // Fills b with the next records. Sets b.at_end on the last block, b.input_error on failure.
  void fill(Block& b) {
    b.reset_results();
    b.at_end = false;
    ensure_capacity(b, std::max(block_bytes_, carry_.size() + block_bytes_ / 2 + 1));
    if (!carry_.empty()) std::memcpy(b.data.get(), carry_.data(), carry_.size());
    b.size = carry_.size();
    carry_.clear();
    for (;;) {
      while (b.size < b.capacity && !eof_) {
        Result<std::size_t> n = source_.read(b.data.get() + b.size, b.capacity - b.size);
        if (!n.ok()) {
          b.input_error = n.status();
          b.size = 0;
          finished_ = true;
          return;
        }
        if (*n == 0) eof_ = true;
        b.size += *n;
        bytes_read_ += *n;
      }
      if (eof_) {
        b.at_end = true;
        finished_ = true;
        return;
      }
      // A JSON Lines record ends at every LF; a CSV one only outside quotes.
      const std::size_t cut =
          json_lines_ ? detail::last_line_end(b.data.get(), b.size) : kernel_.last_record_end(b.data.get(), b.size);
      if (cut > 0) {
        carry_.assign(b.data.get() + cut, b.size - cut);
        b.size = cut;
        return;
      }
      // Not one whole record in the block: grow it, up to the record limit. The limits are
      // validated (at most 1 GiB), but the arithmetic saturates anyway: an unchecked limit near
      // SIZE_MAX made max_record_ + 1 wrap to 0 and this loop spin without reading (issue 15.4).
      if (b.size > max_record_) {
        b.input_error = Status(ErrorCode::kLimitExceeded, "");  // the writer adds the line
        b.size = 0;
        finished_ = true;
        return;
      }
      ensure_capacity(b, grown_capacity(b.capacity));
    }
  }

 private:
  // Twice capacity, capped at max_record_ + 1 (enough to see that a record is over the limit),
  // without overflow; always more than capacity while capacity <= max_record_.
  std::size_t grown_capacity(std::size_t capacity) const {
    constexpr std::size_t kMax = std::numeric_limits<std::size_t>::max();
    const std::size_t doubled = capacity > kMax / 2 ? kMax : capacity * 2;
    const std::size_t cap = max_record_ == kMax ? kMax : max_record_ + 1;
    return std::min(doubled, cap);
  }

  static void ensure_capacity(Block& b, std::size_t capacity) {
    if (b.capacity >= capacity) return;
    auto data = std::make_unique_for_overwrite<char[]>(capacity);
    if (b.size > 0) std::memcpy(data.get(), b.data.get(), b.size);
    b.data = std::move(data);
    b.capacity = capacity;
  }

  const detail::FilterKernel& kernel_;
  ByteSource& source_;
  std::size_t block_bytes_;
  std::size_t max_record_;
  bool json_lines_;
  std::string carry_;
  bool eof_ = false;
  bool finished_ = false;
  std::uint64_t bytes_read_ = 0;
};

// Copies [header] + spans of a block's data into out, one contiguous run of bytes: the parallel
// stage packs each block so that the ordered writer issues one write() per block, not one
// iovec per run of kept records (~250 k of them for 5 M rows, 8 % removed).
void pack_spans(std::string_view header, const char* data, const std::vector<WriteSpan>& spans,
                detail::ByteBuffer& out) {
  std::size_t total = header.size();
  for (const WriteSpan& s : spans) total += s.end - s.begin;
  out.size = 0;
  out.reserve(total);
  if (!header.empty()) out.append(header.data(), header.size());
  for (const WriteSpan& s : spans) out.append(data + s.begin, s.end - s.begin);
}

// Writes a block's packed bytes (compressed, when the output is) to sink, in order, counting the
// uncompressed bytes and hashing them when asked, and the compressed ones as written.
class PackedWriter {
 public:
  PackedWriter(ByteSink& sink, XXH3_state_t* digest, XXH3_state_t* written_digest)
      : sink_(sink), digest_(digest), written_digest_(written_digest) {}

  Status write(std::string_view plain, std::string_view written) {
    bytes_ += plain.size();
    written_ += written.size();
    if (digest_ != nullptr) XXH3_128bits_update(digest_, plain.data(), plain.size());
    if (written_digest_ != nullptr) XXH3_128bits_update(written_digest_, written.data(), written.size());
    if (written.empty()) return Status();
    return sink_.write(std::span<const std::string_view>(&written, 1));
  }
  std::uint64_t bytes() const { return bytes_; }
  std::uint64_t written() const { return written_; }

 private:
  ByteSink& sink_;
  XXH3_state_t* digest_;
  XXH3_state_t* written_digest_;
  std::uint64_t bytes_ = 0;
  std::uint64_t written_ = 0;
};

// oneTBB 2021.8 keeps ~7 KB for every task_arena with workers that is created and destroyed
// (measured: 20 000 arenas of 2 threads, RSS 3 -> 143 MB; one reused arena stays at 3 MB), so a
// process calling filter() many times (Python, the C API, Dask workers) would grow without bound.
// Runs borrow an arena of their thread count from this pool and give it back: at most as many
// arenas per thread count as runs of it were ever in flight at once, and no two runs share one.
class ArenaPool {
 public:
  class Lease {
   public:
    Lease(ArenaPool& pool, std::unique_ptr<tbb::task_arena> arena, int threads)
        : pool_(pool), arena_(std::move(arena)), threads_(threads) {}
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    ~Lease() { pool_.give_back(threads_, std::move(arena_)); }
    tbb::task_arena& arena() { return *arena_; }

   private:
    ArenaPool& pool_;
    std::unique_ptr<tbb::task_arena> arena_;
    int threads_;
  };

  static ArenaPool& instance() {
    static ArenaPool* pool = new ArenaPool();  // never destroyed: arenas may outlive static teardown
    return *pool;
  }

  Lease borrow(int threads) {
    {
      std::lock_guard lock(mutex_);
      std::vector<std::unique_ptr<tbb::task_arena>>& idle = idle_[threads];
      if (!idle.empty()) {
        std::unique_ptr<tbb::task_arena> arena = std::move(idle.back());
        idle.pop_back();
        return Lease(*this, std::move(arena), threads);
      }
    }
    auto arena = std::make_unique<tbb::task_arena>(threads);
    {
      std::lock_guard lock(mutex_);
      ++made_[threads];
    }
    return Lease(*this, std::move(arena), threads);
  }

  std::size_t made(int threads) {
    std::lock_guard lock(mutex_);
    const auto it = made_.find(threads);
    return it == made_.end() ? 0 : it->second;
  }

 private:
  void give_back(int threads, std::unique_ptr<tbb::task_arena> arena) noexcept {
    try {
      std::lock_guard lock(mutex_);
      idle_[threads].push_back(std::move(arena));
    } catch (...) {  // out of memory for the list: let this arena go (it is only a cache)
    }
  }

  std::mutex mutex_;
  std::map<int, std::vector<std::unique_ptr<tbb::task_arena>>> idle_;
  std::map<int, std::size_t> made_;
};

}  // namespace

std::size_t detail::filter_arenas_made(int threads) { return ArenaPool::instance().made(threads); }

Result<char> parse_delimiter(std::string_view text) {
  if (text == "tab" || text == "\\t" || text == "\t") return '\t';
  if (text.size() == 1) return text[0];
  return Status(ErrorCode::kInvalidArgument, "the delimiter takes one byte, or 'tab'");
}

Result<Compression> parse_compression(std::string_view text) {
  if (text == "gzip" || text == "gz") return Compression::kGzip;
  if (text == "zstd" || text == "zst") return Compression::kZstd;
  if (text == "none") return Compression::kNone;
  return Status(ErrorCode::kInvalidArgument, "the compression is gzip, zstd or none");
}

Compression compression_by_suffix(std::string_view path) noexcept {
  if (path.ends_with(".gz")) return Compression::kGzip;
  if (path.ends_with(".zst")) return Compression::kZstd;
  return Compression::kNone;
}

const char* compression_name(Compression codec) noexcept {
  switch (codec) {
    case Compression::kGzip: return "gzip";
    case Compression::kZstd: return "zstd";
    case Compression::kNone: break;
  }
  return "none";
}

namespace {

// The level a codec runs at: options.compression_level, else the codec's default.
int compression_level(Compression codec, const FilterOptions& options) {
  if (options.compression_level) return *options.compression_level;
  return codec == Compression::kZstd ? kZstdDefaultLevel : kGzipDefaultLevel;
}

bool known_compression(Compression codec) {
  return codec == Compression::kNone || codec == Compression::kGzip || codec == Compression::kZstd;
}

Status check_compression(const FilterOptions& options) {
  if (!known_compression(options.output_compression) || !known_compression(options.rejects_compression)) {
    return Status(ErrorCode::kInvalidArgument, "the compression is gzip, zstd or none");
  }
  if (!options.compression_level) return Status();
  const int level = *options.compression_level;
  bool used = false;
  for (const Compression codec : {options.output_compression, options.rejects_compression}) {
    if (codec == Compression::kGzip) {
      used = true;
      if (level < kGzipMinLevel || level > kGzipMaxLevel) {
        return Status(ErrorCode::kInvalidArgument, "the gzip level must be from " + std::to_string(kGzipMinLevel) +
                                                       " to " + std::to_string(kGzipMaxLevel));
      }
    } else if (codec == Compression::kZstd) {
      used = true;
      if (level < kZstdMinLevel || level > kZstdMaxLevel) {
        return Status(ErrorCode::kInvalidArgument, "the zstd level must be from " + std::to_string(kZstdMinLevel) +
                                                       " to " + std::to_string(kZstdMaxLevel));
      }
    }
  }
  if (!used) {
    return Status(ErrorCode::kInvalidArgument,
                  "a compression level needs a compressed output (a .gz or .zst name, or a compression)");
  }
  return Status();
}

}  // namespace

Status parse_max_rejected(std::string_view text, FilterOptions& options) {
  const Status refused(ErrorCode::kInvalidArgument,
                       "the rejected-row limit takes a row count (250) or a percentage of rows (0.5%)");
  const bool percent = text.ends_with('%');
  const std::string_view number = percent ? text.substr(0, text.size() - 1) : text;
  if (number.empty() || number.size() > 18 ||
      number.find_first_not_of(percent ? "0123456789." : "0123456789") != std::string_view::npos) {
    return refused;
  }
  if (!percent) {
    std::uint64_t rows = 0;
    (void)std::from_chars(number.data(), number.data() + number.size(), rows);  // 18 digits fit
    options.max_rejected_rows = rows;
    return Status();
  }
  double value = 0;
  const auto [end, error] = std::from_chars(number.data(), number.data() + number.size(), value);
  if (error != std::errc() || end != number.data() + number.size() || !(value >= 0 && value <= 100)) return refused;
  options.max_rejected_fraction = value / 100;
  return Status();
}

Status check_rejected(std::uint64_t rows, std::uint64_t rejected, const FilterOptions& options, std::string_view input,
                      bool complete) {
  const bool over_rows = options.max_rejected_rows && rejected > *options.max_rejected_rows;
  const bool over_fraction = options.max_rejected_fraction && rows > 0 &&
                             static_cast<double>(rejected) > *options.max_rejected_fraction * static_cast<double>(rows);
  if (!over_rows && !over_fraction) return Status();
  char share[32];
  std::snprintf(share, sizeof share, "%.2f%%",
                rows ? 100.0 * static_cast<double>(rejected) / static_cast<double>(rows) : 0.0);
  char percent[32];
  std::snprintf(percent, sizeof percent, "%.2f%% of rows", options.max_rejected_fraction.value_or(0) * 100);
  const std::string limit = over_rows ? std::to_string(*options.max_rejected_rows) + " rows" : percent;
  // A count limit stops the run as soon as it is passed: the rows read so far are a prefix.
  const std::string counted = complete ? " of " + std::to_string(rows) + " rows rejected ("
                                       : " rows rejected in the first " + std::to_string(rows) + " rows (";
  return Status(ErrorCode::kDataQuality, std::string(input) + ": " + std::to_string(rejected) + counted + share +
                                             "), more than the limit of " + limit);
}

Result<InputFormat> parse_input_format(std::string_view text) {
  if (text == "csv") return InputFormat::kCsv;
  if (text == "jsonl" || text == "ndjson") return InputFormat::kJsonLines;
  return Status(ErrorCode::kInvalidArgument, "the format is csv or jsonl");
}

namespace {

// JSON Lines: which key, and nothing that only CSV has.
Status validate_json_lines_options(const FilterOptions& options) {
  if (options.column_index) {
    return Status(ErrorCode::kInvalidArgument,
                  "JSON Lines has no column positions: name the key, or a JSON Pointer such as /patient/nhs_number");
  }
  if (!options.has_header) {
    return Status(ErrorCode::kInvalidArgument, "JSON Lines has no header: every line is a record (drop --no-header)");
  }
  if (options.column_name.empty()) {
    return Status(ErrorCode::kInvalidArgument,
                  "name the NHS-number key, or a JSON Pointer such as /patient/nhs_number");
  }
  if (detail::is_json_pointer(options.column_name) && !detail::valid_json_pointer(options.column_name)) {
    return Status(ErrorCode::kInvalidArgument, "a JSON Pointer escapes '~' only as ~0 or ~1 (RFC 6901)");
  }
  if (redact_numbers(options.column_name) != options.column_name) {
    return Status(ErrorCode::kInvalidArgument, "the key looks like a number (6 or more digits), not a key's name");
  }
  return Status();
}

}  // namespace

Status validate_filter_options(const FilterOptions& options) {
  if (options.format != InputFormat::kCsv && options.format != InputFormat::kJsonLines) {
    return Status(ErrorCode::kInvalidArgument, "the format is csv or jsonl");
  }
  if (options.format == InputFormat::kJsonLines) {
    if (Status s = validate_json_lines_options(options); !s.ok()) return s;
  }
  const bool by_name = !options.column_name.empty();
  const bool by_index = options.column_index.has_value();
  if (by_name == by_index) {
    return Status(ErrorCode::kInvalidArgument,
                  "choose the NHS-number column by name or by position, not both or neither");
  }
  if (by_name && !options.has_header) {
    return Status(ErrorCode::kInvalidArgument, "a column name needs a header; use a column position");
  }
  // A "name" that could be an NHS number would match the first line of a headerless extract,
  // whose data row would then be copied out unchecked as the header.
  if (by_name && redact_numbers(options.column_name) != options.column_name) {
    return Status(ErrorCode::kInvalidArgument,
                  "the column name looks like a number (6 or more digits), not a column's name");
  }
  if (by_index && *options.column_index == 0) {
    return Status(ErrorCode::kInvalidArgument, "column positions start at 1");
  }
  if (by_index && *options.column_index > kColumnIndexLimit) {
    return Status(ErrorCode::kInvalidArgument,
                  "the column position must be at most " + std::to_string(kColumnIndexLimit));
  }
  if (options.delimiter == '"' || options.delimiter == '\n' || options.delimiter == '\r') {
    return Status(ErrorCode::kInvalidArgument, "the delimiter cannot be a quote, CR or LF");
  }
  // Spelled "1 GiB": 1073741824 has 10 digits, and no message shows a run that could be an NHS number.
  static_assert(kBlockBytesLimit == std::size_t{1} << 30 && kRecordBytesLimit == std::size_t{1} << 30);
  if (options.block_bytes == 0 || options.block_bytes > kBlockBytesLimit) {
    return Status(ErrorCode::kInvalidArgument, "the block size must be from 1 byte to 1 GiB");
  }
  if (options.max_record_bytes == 0 || options.max_record_bytes > kRecordBytesLimit) {
    return Status(ErrorCode::kInvalidArgument, "the record limit must be from 1 byte to 1 GiB");
  }
  if (options.threads > kThreadsLimit) {
    return Status(ErrorCode::kInvalidArgument,
                  "the thread count must be at most " + std::to_string(kThreadsLimit) + " (0: every core)");
  }
  if (options.max_rejected_fraction && !(*options.max_rejected_fraction >= 0 && *options.max_rejected_fraction <= 1)) {
    return Status(ErrorCode::kInvalidArgument, "the rejected fraction must be between 0 and 1");
  }
  if (Status s = detail::validate_impact_by(options); !s.ok()) return s;
  if (!options.impact_by.empty() && options.tokens) return impact_with_tokens();
  return check_compression(options);
}

// Slot 0 (missing field), then one per InvalidReason: a reason appended must fit.
static_assert(std::extent_v<decltype(FilterStats::rejected_by_reason)> ==
              static_cast<std::size_t>(kLastInvalidReason) + 1);

const char* rejected_reason_name(std::size_t index) noexcept {
  if (index == kMissingField) return "missing field";
  if (index <= static_cast<std::size_t>(kLastInvalidReason)) {
    return invalid_reason_text(static_cast<InvalidReason>(index));
  }
  return "unknown";
}

// Reads, scans and accounts; deliver(block, header) is called in input order from one thread for
// every well-formed block (header: the header record's bytes, with the first block only) and
// writes or keeps what it needs before the block is reused. observer, when given, sees the
// header's names, each scanned block in the parallel stage, and each delivered one
// (detail::BlockObserver). pack, when given, is called in the parallel stage on each block that
// scanned without error, before it is delivered (the filter's compaction and compression).
template <typename Deliver>
Result<FilterStats> run_pipeline(ByteSource& in, const FilterOptions& options, const detail::IndexBits* bits,
                                 bool keep_rejected, Deliver&& deliver, detail::BlockObserver* observer = nullptr,
                                 const std::function<void(Block&)>& pack = {}) {
  const auto started = std::chrono::steady_clock::now();
  const std::string& input = in.name();
  const unsigned threads = options.threads > 0 ? options.threads : std::max(1u, std::thread::hardware_concurrency());
  const std::size_t tokens = threads * detail::kBlocksPerThread + 1;

  const detail::FilterKernel& kernel = detail::select_filter_kernel();
  // A pseudonymised extract: its column's tokens are looked up in the run's token set.
  std::optional<detail::TokenTable> token_table;
  if (options.tokens) token_table = detail::TokenAccess::table(*options.tokens);
  BlockReader reader(in, options, kernel);
  std::vector<Block> blocks(tokens);
  tbb::concurrent_queue<Block*> free_blocks;
  for (Block& b : blocks) free_blocks.push(&b);

  // The first block is read before the pipeline starts: the header decides the column.
  Block* first = nullptr;
  free_blocks.try_pop(first);
  reader.fill(*first);
  first->first = true;
  if (!first->input_error.ok()) {
    if (first->input_error.code() == ErrorCode::kLimitExceeded) {
      return Status(ErrorCode::kLimitExceeded, record_too_long(input, in.line_in_file(1), options.max_record_bytes));
    }
    return first->input_error;
  }
  const std::string_view first_bytes(first->data.get(), first->size);
  if (Status s = detail::check_text_input(first_bytes, input); !s.ok()) return s;
  const bool json_lines = options.format == InputFormat::kJsonLines;
  if (json_lines && first_bytes.starts_with(detail::kUtf8Bom)) {
    return Status(ErrorCode::kInvalidInput, input + ":" + std::to_string(in.line_in_file(1)) + ": " +
                                                detail::scan_error_text(detail::ScanError::kByteOrderMark));
  }
  // JSON Lines has no header (and no BOM): every line is a record.
  const detail::HeaderRecord header =
      json_lines ? detail::HeaderRecord{}
                 : detail::find_header(first->data.get(), first->size, first->at_end, options.delimiter);
  first->skip = header.bom;
  std::vector<std::string> names;  // none without a header: then only a position can be chosen
  if (options.has_header && !json_lines) {
    if (first->size == header.bom) {
      return Status(ErrorCode::kInvalidInput, input + ": empty input: expected a header record");
    }
    if (header.end == 0) {
      return Status(ErrorCode::kInvalidInput,
                    input + ":" + std::to_string(in.line_in_file(1)) + ": " + detail::scan_error_text(header.error));
    }
    // The header obeys the record limit like any record, whatever the block size.
    if (header.end - header.bom > options.max_record_bytes) {
      return Status(ErrorCode::kLimitExceeded, record_too_long(input, in.line_in_file(1), options.max_record_bytes));
    }
    names = detail::header_names(first_bytes.substr(header.bom, header.end - header.bom), options.delimiter);
    first->skip = header.end;
  }
  std::size_t column = 0;  // JSON Lines: options.column_name, read by the JSONL scan
  if (!json_lines) {
    Result<std::size_t> resolved = resolve_column(names, options, input);
    if (!resolved.ok()) return resolved.status();
    column = *resolved;
  }
  // The impact report's grouping columns: each must be in the header, once, and not the NHS column.
  const bool impact = !options.impact_by.empty();
  detail::ImpactColumns impact_columns;
  if (impact) {
    Result<detail::ImpactColumns> resolved = detail::resolve_impact_columns(names, options, column, input);
    if (!resolved.ok()) return resolved.status();
    impact_columns = std::move(resolved).value();
  }
  // One group table per thread (impact_table.hpp), merged once the input is read.
  tbb::enumerable_thread_specific<detail::ImpactTable> impact_tables;
  if (observer != nullptr) {
    if (Status s = observer->start(names, column, blocks.size()); !s.ok()) return s;
  }
  const std::string_view header_bytes(first->data.get(), first->skip);
  const std::uint64_t header_lines = detail::count_byte(header_bytes.data(), header_bytes.size(), '\n');

  FilterStats stats;
  stats.threads = threads;
  Status failure;
  std::atomic<bool> stop{false};
  std::uint64_t lines_before = header_lines;  // LFs before the block being written
  auto fail = [&](Status s) {
    if (failure.ok()) failure = std::move(s);
    stop.store(true, std::memory_order_relaxed);
  };

  // Reports where a bad record starts: lines before the block plus LFs up to the record, as the
  // line of the file the source reads (a piece's lines are its file's).
  auto line_of = [&](const Block& b, std::size_t offset_in_data) {
    return in.line_in_file(lines_before + 1 + detail::count_byte(b.data.get() + b.skip, offset_in_data, '\n'));
  };

  bool first_handed_out = false;
  bool header_delivered = false;
  // More threads than cores is allowed (tests use it to vary the interleaving); oneTBB caps its
  // workers at the core count unless told otherwise, and warns on stderr when asked for more.
  std::optional<tbb::global_control> allow_threads;
  if (static_cast<int>(threads) > tbb::this_task_arena::max_concurrency()) {
    allow_threads.emplace(tbb::global_control::max_allowed_parallelism, threads);
  }
  ArenaPool::Lease lease = ArenaPool::instance().borrow(static_cast<int>(threads));
  lease.arena().execute([&] {
    tbb::parallel_pipeline(
        tokens,
        tbb::make_filter<void, Block*>(tbb::filter_mode::serial_in_order, [&](tbb::flow_control& fc) -> Block* {
          if (!first_handed_out) {
            first_handed_out = true;
            return first;
          }
          if (reader.finished() || stop.load(std::memory_order_relaxed)) {
            fc.stop();
            return nullptr;
          }
          Block* b = nullptr;
          free_blocks.try_pop(b);  // a token is free, so a block is too
          reader.fill(*b);
          return b;
        }) & tbb::make_filter<Block*, Block*>(tbb::filter_mode::parallel, [&](Block* b) {
          if (b->input_error.ok() && !stop.load(std::memory_order_relaxed)) {
            if (impact) b->impact = &impact_tables.local();
            if (json_lines) {
              detail::scan_jsonl_block(*b, bits, options, keep_rejected, impact ? &impact_columns : nullptr);
            } else if (impact) {
              kernel.scan_block_impact(*b, bits, options, column, keep_rejected, impact_columns);
            } else if (token_table) {
              kernel.scan_token_block(*b, bits, *token_table, options, column, keep_rejected);
            } else {
              kernel.scan_block(*b, bits, options, column, keep_rejected);
            }
            if (b->outcome.error == detail::ScanError::kNone && b->long_record_begin == SIZE_MAX &&
                !b->impact_overflow) {
              if (observer != nullptr) observer->scanned(*b, static_cast<std::size_t>(b - blocks.data()));
              if (pack) pack(*b);
            }
          }
          return b;
        }) & tbb::make_filter<Block*, void>(tbb::filter_mode::serial_in_order, [&](Block* b) {
          if (failure.ok()) {
            const bool is_first = !header_delivered;  // blocks are recycled: not b == first
            header_delivered = true;
            if (!b->input_error.ok()) {
              fail(b->input_error.code() == ErrorCode::kLimitExceeded
                       ? Status(ErrorCode::kLimitExceeded,
                                record_too_long(input, in.line_in_file(lines_before + 1), options.max_record_bytes))
                       : b->input_error);
            } else if (b->impact_overflow) {
              fail(impact_limit_error(input, options.impact_by));
            } else if (b->long_record_begin != SIZE_MAX && (b->outcome.error == detail::ScanError::kNone ||
                                                            b->long_record_begin <= b->outcome.error_record_begin)) {
              fail(Status(ErrorCode::kLimitExceeded,
                          record_too_long(input, line_of(*b, b->long_record_begin), options.max_record_bytes)));
            } else if (b->outcome.error != detail::ScanError::kNone) {
              fail(Status(ErrorCode::kInvalidInput, input + ":" +
                                                        std::to_string(line_of(*b, b->outcome.error_record_begin)) +
                                                        ": " + detail::scan_error_text(b->outcome.error)));
            } else {
              Status s = deliver(*b, is_first ? header_bytes : std::string_view());
              if (s.ok() && observer != nullptr)
                s = observer->delivered(*b, static_cast<std::size_t>(b - blocks.data()));
              if (!s.ok()) fail(std::move(s));
              stats.rows += b->rows;
              stats.kept += b->kept_rows;
              stats.removed += b->removed;
              for (std::size_t i = 0; i < 8; ++i) {
                stats.rejected_by_reason[i] += b->rejected_by_reason[i];
                stats.rejected += b->rejected_by_reason[i];
              }
              lines_before += b->outcome.lf_count;
              if (options.max_rejected_rows && stats.rejected > *options.max_rejected_rows) {
                fail(Status(ErrorCode::kDataQuality, ""));  // the message is made below
              }
              if (options.progress) {
                const std::chrono::duration<double> elapsed = std::chrono::steady_clock::now() - started;
                options.progress({reader.bytes_read(), stats.rows, elapsed.count()});
              }
            }
          }
          free_blocks.push(b);
        }));
  });

  stats.bytes_in = reader.bytes_read();
  // The threads' group tables, merged (the order does not matter: the groups are sorted, the
  // counts summed); only for a run that read everything.
  if (impact && failure.ok()) {
    std::vector<const detail::ImpactTable*> tables;
    for (const detail::ImpactTable& table : impact_tables) tables.push_back(&table);
    if (Status s = detail::merge_impact_tables(tables, json_lines ? nullptr : &impact_columns, options.delimiter,
                                               stats.impact, input, options.impact_by);
        !s.ok()) {
      fail(std::move(s));
    }
  }
  const std::chrono::duration<double> elapsed = std::chrono::steady_clock::now() - started;
  stats.seconds = elapsed.count();

  // The data-quality gate, once the counts are final (or when the count alone already fails).
  if (failure.ok() || failure.code() == ErrorCode::kDataQuality) {
    if (Status s = check_rejected(stats.rows, stats.rejected, options, input, failure.ok()); !s.ok()) return s;
  }
  if (!failure.ok()) return failure;
  return stats;
}

Result<FilterStats> filter(ByteSource& in, ByteSink& out, ByteSink* rejects, const OptOutIndex& index,
                           const FilterOptions& options) {
  if (Status s = validate_filter_options(options); !s.ok()) return s;
  return detail::filter_checked(in, out, rejects, index, options);
}

namespace {

// A token set is matched only with the index it was made from (TokenSet::built_for).
Status check_tokens(const OptOutIndex& index, const FilterOptions& options) {
  if (options.tokens && !options.tokens->built_for(index)) {
    return Status(ErrorCode::kInvalidArgument, "the token set was made from other lists than the run's");
  }
  return Status();
}

}  // namespace

Result<FilterStats> detail::filter_checked(ByteSource& in, ByteSink& out, ByteSink* rejects, const OptOutIndex& index,
                                           const FilterOptions& options) {
  if (Status s = check_tokens(index, options); !s.ok()) return s;
  using StatePtr = std::unique_ptr<XXH3_state_t, decltype(&XXH3_freeState)>;
  auto new_digest = [&](bool wanted) {
    StatePtr state(wanted ? XXH3_createState() : nullptr, &XXH3_freeState);
    if (state) XXH3_128bits_reset(state.get());
    return state;
  };
  const Compression out_codec = options.output_compression;
  const Compression rejects_codec = rejects != nullptr ? options.rejects_compression : Compression::kNone;
  StatePtr digest = new_digest(options.digest_output);
  StatePtr input_digest = new_digest(options.digest_output);
  StatePtr compressed_digest = new_digest(options.digest_output && out_codec != Compression::kNone);
  PackedWriter kept(out, digest.get(), compressed_digest.get());
  std::optional<PackedWriter> rejected;
  if (rejects != nullptr) rejected.emplace(*rejects, nullptr, nullptr);
  const detail::IndexBits bits = detail::IndexAccess::bits(index);

  // In the parallel stage: each block's header (first block) and records packed into one run of
  // bytes per output, then compressed as one gzip member / zstd frame. Only the first block makes
  // a member or frame when it has nothing to write, so that an output with no rows still
  // decompresses (to nothing, or to the header).
  auto pack_one = [](Block& b, const std::vector<WriteSpan>& spans, detail::ByteBuffer& plain,
                     detail::ByteBuffer& compressed, std::unique_ptr<detail::BlockCompressor>& codec, Compression kind,
                     int level) {
    pack_spans(std::string_view(b.data.get(), b.first ? b.skip : 0), b.data.get(), spans, plain);
    if (kind == Compression::kNone || (plain.size == 0 && !b.first)) return;
    if (!codec) codec = detail::BlockCompressor::create(kind, level);
    if (Status s = codec->compress(plain.view(), compressed); !s.ok() && b.pack_error.ok()) b.pack_error = s;
  };
  const int out_level = compression_level(out_codec, options);
  const int rejects_level = compression_level(rejects_codec, options);
  const std::function<void(Block&)> pack = [&](Block& b) {
    pack_one(b, b.kept, b.kept_bytes, b.kept_compressed, b.kept_codec, out_codec, out_level);
    if (rejects != nullptr) {
      pack_one(b, b.rejected, b.rejected_bytes, b.rejected_compressed, b.rejected_codec, rejects_codec, rejects_level);
    }
  };
  auto written = [](Compression kind, const detail::ByteBuffer& plain, const detail::ByteBuffer& compressed) {
    return kind == Compression::kNone ? plain.view() : compressed.view();
  };

  Result<FilterStats> result = run_pipeline(
      in, options, &bits, rejects != nullptr,
      [&](const Block& b, std::string_view) {
        if (!b.pack_error.ok()) return Status(b.pack_error.code(), out.name() + ": " + b.pack_error.message());
        // The blocks' bytes are the input's, in order (the first block's begin with the header).
        if (input_digest) XXH3_128bits_update(input_digest.get(), b.data.get(), b.size);
        Status s = kept.write(b.kept_bytes.view(), written(out_codec, b.kept_bytes, b.kept_compressed));
        if (s.ok() && rejected) {
          s = rejected->write(b.rejected_bytes.view(), written(rejects_codec, b.rejected_bytes, b.rejected_compressed));
        }
        return s;
      },
      nullptr, pack);
  if (!result.ok()) return result;
  result->bytes_out = kept.bytes();
  result->bytes_rejected = rejected ? rejected->bytes() : 0;
  auto finish = [](XXH3_state_t* state) {
    const XXH128_hash_t h = XXH3_128bits_digest(state);
    return Digest128{h.high64, h.low64};
  };
  if (digest) result->output_digest = finish(digest.get());
  if (input_digest) result->input_digest = finish(input_digest.get());
  if (out_codec != Compression::kNone) result->bytes_out_compressed = kept.written();
  if (compressed_digest) result->output_compressed_digest = finish(compressed_digest.get());
  return result;
}

Result<FilterStats> detail::observe_checked(ByteSource& in, const OptOutIndex& index, const FilterOptions& options,
                                            BlockObserver& observer) {
  if (Status s = check_tokens(index, options); !s.ok()) return s;
  const detail::IndexBits bits = detail::IndexAccess::bits(index);
  return run_pipeline(
      in, options, &bits, true, [](const Block&, std::string_view) { return Status(); }, &observer);
}

Result<FilterStats> count_verdicts(std::span<const std::uint8_t> verdicts, std::span<const std::uint8_t> reasons) {
  if (verdicts.size() != reasons.size()) {
    return Status(ErrorCode::kInvalidArgument, "verdicts and reasons differ in length");
  }
  FilterStats stats;
  stats.rows = verdicts.size();
  for (std::size_t i = 0; i < verdicts.size(); ++i) {
    switch (static_cast<Verdict>(verdicts[i])) {
      case Verdict::kKept: ++stats.kept; break;
      case Verdict::kRemoved: ++stats.removed; break;
      case Verdict::kRejected:
        if (reasons[i] == static_cast<std::uint8_t>(InvalidReason::kNone) ||
            reasons[i] > static_cast<std::uint8_t>(kLastInvalidReason)) {
          return Status(ErrorCode::kInvalidArgument,
                        "reasons[" + std::to_string(i) + "] is not the InvalidReason of a rejected number");
        }
        ++stats.rejected;
        ++stats.rejected_by_reason[reasons[i]];  // slot k: InvalidReason k (slot 0: a missing field)
        break;
      default: return Status(ErrorCode::kInvalidArgument, "verdicts[" + std::to_string(i) + "] is not a Verdict value");
    }
  }
  return stats;
}

double mb_per_second(std::uint64_t bytes, double seconds) noexcept {
  return seconds > 0 ? static_cast<double>(bytes) / 1e6 / seconds : 0.0;
}

Result<NumbersStats> write_numbers(ByteSource& in, ByteSink& out, const FilterOptions& options, NumbersFormat format) {
  if (Status s = validate_filter_options(options); !s.ok()) return s;
  return detail::write_numbers_checked(in, out, options, format);
}

Result<NumbersStats> detail::write_numbers_checked(ByteSource& in, ByteSink& out, const FilterOptions& options,
                                                   NumbersFormat format) {
  if (options.tokens) {
    return Status(ErrorCode::kInvalidArgument,
                  "numbers lists NHS numbers: a pseudonymised extract (tokens) holds none to list");
  }
  detail::StemSetBuilder distinct;
  Result<FilterStats> scanned = run_pipeline(in, options, nullptr, false, [&](const Block& b, std::string_view) {
    const std::span<const std::uint32_t> part(b.stems);
    distinct.add(std::span<const std::span<const std::uint32_t>>(&part, 1));
    return Status();
  });
  if (!scanned.ok()) return scanned.status();

  NumbersStats stats;
  stats.rows = scanned->rows;
  stats.valid = scanned->kept;
  stats.rejected = scanned->rejected;
  std::copy(std::begin(scanned->rejected_by_reason), std::end(scanned->rejected_by_reason),
            std::begin(stats.rejected_by_reason));
  stats.bytes_in = scanned->bytes_in;

  const detail::RoaringPtr set = distinct.finish();
  stats.distinct = roaring_bitmap_get_cardinality(set.get());
  Result<std::uint64_t> written = detail::write_stems(set.get(), format, out);
  if (!written.ok()) return written.status();
  stats.bytes_out = *written;
  stats.seconds = scanned->seconds;
  return stats;
}

Result<NumbersStats> run_numbers(const NumbersRequest& request) {
  if (Status s = validate_filter_options(request.options); !s.ok()) return s;
  if (request.input.empty()) {
    return Status(ErrorCode::kInvalidArgument, "an empty input path: give a file name, or \"-\" for standard input");
  }
  const std::string inputs[] = {request.input};
  const std::string outputs[] = {request.output};
  if (Status s = check_distinct_files(inputs, outputs); !s.ok()) return s;
  Result<std::unique_ptr<ByteSource>> input = open_file_source(request.input, request.options.entry);
  if (!input.ok()) return input.status();
  Result<Destination> output = Destination::open(request.output);
  if (!output.ok()) return output.status();
  Result<NumbersStats> stats = detail::write_numbers_checked(**input, output->sink(), request.options, request.format);
  if (!stats.ok()) return stats.status();
  if (Status s = output->commit(); !s.ok()) return s;
  return stats;
}

}  // namespace optout
