// Stage 2 of the filter and the pipeline around it:
//   read (serial)  → blocks cut at record ends, recycled, carrying a partial record forward;
//   scan (parallel)→ the kernel (kernel/filter_kernel.hpp): each record's NHS field, parse, probe;
//   write (serial) → kept records as writev() spans straight from the block, in input order.
// Memory is bounded by (threads × kBlocksPerThread + 1) blocks, whatever the input's size.
#include <tbb/concurrent_queue.h>
#include <tbb/global_control.h>
#include <tbb/parallel_pipeline.h>
#include <tbb/task_arena.h>
#include <xxhash.h>

#include <algorithm>
#include <charconv>
#include <cstdio>
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
#include "kernel/probe.hpp"
#include "optout/filter.hpp"
#include "optout/numbers.hpp"
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
        max_record_(options.max_record_bytes) {}

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
      const std::size_t cut = kernel_.last_record_end(b.data.get(), b.size);
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
  std::string carry_;
  bool eof_ = false;
  bool finished_ = false;
  std::uint64_t bytes_read_ = 0;
};

// Writes [header] + spans of data to sink, counting (and optionally hashing) the bytes.
class SpanWriter {
 public:
  explicit SpanWriter(ByteSink& sink, XXH3_state_t* digest = nullptr) : sink_(sink), digest_(digest) {}

  Status write(std::string_view header, const char* data, const std::vector<WriteSpan>& body) {
    spans_.clear();
    if (!header.empty()) spans_.push_back(header);
    for (const WriteSpan& s : body) spans_.emplace_back(data + s.begin, s.end - s.begin);
    for (std::string_view span : spans_) {
      bytes_ += span.size();
      if (digest_ != nullptr) XXH3_128bits_update(digest_, span.data(), span.size());
    }
    return sink_.write(spans_);
  }
  std::uint64_t bytes() const { return bytes_; }

 private:
  ByteSink& sink_;
  XXH3_state_t* digest_;
  std::vector<std::string_view> spans_;
  std::uint64_t bytes_ = 0;
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

Status validate_filter_options(const FilterOptions& options) {
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
  return Status();
}

// Slot 0 (missing field), then one per InvalidReason: a reason appended must fit.
static_assert(std::size(FilterStats{}.rejected_by_reason) == static_cast<std::size_t>(kLastInvalidReason) + 1);

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
// (detail::BlockObserver).
template <typename Deliver>
Result<FilterStats> run_pipeline(ByteSource& in, const FilterOptions& options, const detail::IndexBits* bits,
                                 bool keep_rejected, Deliver&& deliver, detail::BlockObserver* observer = nullptr) {
  const auto started = std::chrono::steady_clock::now();
  const std::string& input = in.name();
  const unsigned threads = options.threads > 0 ? options.threads : std::max(1u, std::thread::hardware_concurrency());
  const std::size_t tokens = threads * detail::kBlocksPerThread + 1;

  const detail::FilterKernel& kernel = detail::select_filter_kernel();
  BlockReader reader(in, options, kernel);
  std::vector<Block> blocks(tokens);
  tbb::concurrent_queue<Block*> free_blocks;
  for (Block& b : blocks) free_blocks.push(&b);

  // The first block is read before the pipeline starts: the header decides the column.
  Block* first = nullptr;
  free_blocks.try_pop(first);
  reader.fill(*first);
  if (!first->input_error.ok()) {
    if (first->input_error.code() == ErrorCode::kLimitExceeded) {
      return Status(ErrorCode::kLimitExceeded, record_too_long(input, in.line_in_file(1), options.max_record_bytes));
    }
    return first->input_error;
  }
  const std::string_view first_bytes(first->data.get(), first->size);
  if (Status s = detail::check_text_input(first_bytes, input); !s.ok()) return s;
  const detail::HeaderRecord header =
      detail::find_header(first->data.get(), first->size, first->at_end, options.delimiter);
  first->skip = header.bom;
  std::vector<std::string> names;  // none without a header: then only a position can be chosen
  if (options.has_header) {
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
  Result<std::size_t> resolved = resolve_column(names, options, input);
  if (!resolved.ok()) return resolved.status();
  const std::size_t column = *resolved;
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
            kernel.scan_block(*b, bits, options, column, keep_rejected);
            if (observer != nullptr && b->outcome.error == detail::ScanError::kNone &&
                b->long_record_begin == SIZE_MAX) {
              observer->scanned(*b, static_cast<std::size_t>(b - blocks.data()));
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

Result<FilterStats> detail::filter_checked(ByteSource& in, ByteSink& out, ByteSink* rejects, const OptOutIndex& index,
                                           const FilterOptions& options) {
  std::unique_ptr<XXH3_state_t, decltype(&XXH3_freeState)> digest(options.digest_output ? XXH3_createState() : nullptr,
                                                                  &XXH3_freeState);
  if (digest) XXH3_128bits_reset(digest.get());
  std::unique_ptr<XXH3_state_t, decltype(&XXH3_freeState)> input_digest(
      options.digest_output ? XXH3_createState() : nullptr, &XXH3_freeState);
  if (input_digest) XXH3_128bits_reset(input_digest.get());
  SpanWriter kept(out, digest.get());
  std::optional<SpanWriter> rejected;
  if (rejects != nullptr) rejected.emplace(*rejects);
  const detail::IndexBits bits = detail::IndexAccess::bits(index);

  Result<FilterStats> result =
      run_pipeline(in, options, &bits, rejects != nullptr, [&](const Block& b, std::string_view header) {
        // The blocks' bytes are the input's, in order (the first block's begin with the header).
        if (input_digest) XXH3_128bits_update(input_digest.get(), b.data.get(), b.size);
        Status s = kept.write(header, b.data.get(), b.kept);
        if (s.ok() && rejected && (!header.empty() || !b.rejected.empty())) {
          s = rejected->write(header, b.data.get(), b.rejected);
        }
        return s;
      });
  if (!result.ok()) return result;
  result->bytes_out = kept.bytes();
  result->bytes_rejected = rejected ? rejected->bytes() : 0;
  if (digest) {
    const XXH128_hash_t h = XXH3_128bits_digest(digest.get());
    result->output_digest = Digest128{h.high64, h.low64};
  }
  if (input_digest) {
    const XXH128_hash_t h = XXH3_128bits_digest(input_digest.get());
    result->input_digest = Digest128{h.high64, h.low64};
  }
  return result;
}

Result<FilterStats> detail::observe_checked(ByteSource& in, const OptOutIndex& index, const FilterOptions& options,
                                            BlockObserver& observer) {
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
