// RegistryBuilder: source parsing (parallel, in bounded blocks) and list set operations.
//
// A source is read in blocks of kSourceBlockBytes cut at the last newline; each block is cut at
// newlines into chunks of about kParseChunkBytes, parsed in parallel (each chunk counts its lines,
// so the first invalid line is known by number whatever the scheduling), and its stems go to a
// StemSetBuilder. The source's set is applied to the list only when the whole source is good, so
// a failed call leaves the builder unchanged.
#include <nlohmann/json.hpp>
#include <tbb/blocked_range.h>
#include <tbb/parallel_for.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <limits>
#include <map>
#include <new>
#include <xxhash.h>

#include "csv_header.hpp"
#include "objections.hpp"
#include "optout/io.hpp"
#include "optout/nhs_number.hpp"
#include "optout/registry.hpp"
#include "registry_data.hpp"
#include "roaring_build.hpp"
#include "snapshot_format.hpp"
#include "tuning.hpp"

namespace optout {
namespace {

using detail::RoaringPtr;
using detail::StemSetBuilder;

constexpr std::uint64_t kNoLine = std::numeric_limits<std::uint64_t>::max();

// The same whitespace parse_nhs_number() trims.
constexpr bool is_space(char c) noexcept {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

// A number, optionally with the .dat form's one trailing comma; a blank line; or an invalid line.
// Here for the parse loop to inline; parse_source_line() is the public name for it.
[[gnu::always_inline]] inline SourceLine read_source_line(std::string_view line) noexcept {
  std::size_t n = line.size();
  while (n > 0 && is_space(line[n - 1])) --n;
  const bool comma = n > 0 && line[n - 1] == ',';
  if (comma) --n;
  SourceLine source;
  source.number = parse_nhs_number(line.substr(0, n));
  source.blank = source.number.reason == InvalidReason::kEmpty && !comma;
  return source;
}

Status out_of_memory(std::string_view what) {
  return Status(ErrorCode::kInternal, std::string(what) + ": out of memory");
}

// What one chunk of a block held.
struct ChunkResult {
  std::vector<std::uint32_t> stems;
  std::uint64_t lines = 0;
  std::uint64_t blank = 0;
  std::uint64_t invalid = 0;
  std::uint64_t first_invalid = kNoLine;  // 0-based line within the chunk
  InvalidReason reason = InvalidReason::kNone;
  std::uint64_t first_bare_cr = kNoLine;  // 0-based line within the chunk
};

// Lines end with LF or CRLF (issue 10): a CR that no LF follows is never a line end nor
// whitespace to trim, even with skip_invalid, or a file with CR line ends would lose every number
// but as one "invalid line". Whatever the reason for an invalid line, this one fails the source.
constexpr const char* kBareCrText = "bare CR (lines must end with LF or CRLF)";

// The 0-based line of the first CR in text that no LF follows (text ends after an LF or at the end
// of the source, so a CR at its end is bare), or kNoLine. One memchr pass when text has no CR.
std::uint64_t first_bare_cr_line(std::string_view text) {
  const char* const begin = text.data();
  const char* const end = begin + text.size();
  for (const char* p = begin; p < end;) {
    const auto* cr = static_cast<const char*>(std::memchr(p, '\r', static_cast<std::size_t>(end - p)));
    if (cr == nullptr) return kNoLine;
    if (cr + 1 == end || cr[1] != '\n') {
      return static_cast<std::uint64_t>(std::count(begin, cr, '\n'));
    }
    p = cr + 2;
  }
  return kNoLine;
}

void parse_line(std::string_view line, ChunkResult& r) {
  const SourceLine source = read_source_line(line);
  const ParsedNhsNumber& parsed = source.number;
  if (parsed.valid()) {
    r.stems.push_back(parsed.stem);
  } else if (source.blank) {
    ++r.blank;
  } else {
    if (r.first_invalid == kNoLine) {
      r.first_invalid = r.lines;
      r.reason = parsed.reason;
    }
    ++r.invalid;
  }
  ++r.lines;
}

void parse_chunk(std::string_view text, ChunkResult& r) {
  r.stems.clear();
  r.stems.reserve(text.size() / 11 + 1);  // a valid line is at least 10 digits and a newline
  r.lines = r.blank = r.invalid = 0;
  r.first_invalid = kNoLine;
  r.reason = InvalidReason::kNone;
  r.first_bare_cr = first_bare_cr_line(text);
  const char* p = text.data();
  const char* const end = p + text.size();
  while (p < end) {
    const auto* nl = static_cast<const char*>(std::memchr(p, '\n', static_cast<std::size_t>(end - p)));
    const char* line_end = nl != nullptr ? nl : end;
    parse_line(std::string_view(p, static_cast<std::size_t>(line_end - p)), r);
    p = nl != nullptr ? nl + 1 : end;
  }
}

// Parses a source block by block into a stem set, counting lines.
class SourceParser {
 public:
  SourceParser(std::string_view source_name, SourceOptions options, StemSetBuilder& set)
      : name_(source_name), options_(options), set_(set) {}

  // Parses whole lines: text ends just after a '\n', or at the end of the source.
  Status parse(std::string_view text) {
    // A UTF-8 byte-order mark (Windows editors write one) marks the encoding; it is not data.
    if (at_start_) {
      at_start_ = false;
      if (text.starts_with(detail::kUtf8Bom)) text.remove_prefix(detail::kUtf8Bom.size());
    }
    std::vector<std::string_view> chunk_texts;
    for (std::size_t pos = 0; pos < text.size();) {
      std::size_t end = text.size();
      if (text.size() - pos > detail::kParseChunkBytes) {
        const std::size_t from = pos + detail::kParseChunkBytes - 1;
        const void* nl = std::memchr(text.data() + from, '\n', text.size() - from);
        if (nl != nullptr) end = static_cast<std::size_t>(static_cast<const char*>(nl) - text.data()) + 1;
      }
      chunk_texts.push_back(text.substr(pos, end - pos));
      pos = end;
    }
    if (chunks_.size() < chunk_texts.size()) chunks_.resize(chunk_texts.size());
    tbb::parallel_for(std::size_t{0}, chunk_texts.size(),
                      [&](std::size_t i) { parse_chunk(chunk_texts[i], chunks_[i]); });
    std::vector<std::span<const std::uint32_t>> stems;
    for (std::size_t i = 0; i < chunk_texts.size(); ++i) {
      const ChunkResult& r = chunks_[i];
      if (r.first_bare_cr != kNoLine && (options_.skip_invalid || r.first_bare_cr <= r.first_invalid)) {
        return invalid_line(stats_.lines + r.first_bare_cr + 1, kBareCrText);
      }
      if (r.first_invalid != kNoLine && !options_.skip_invalid) {
        return invalid_line(stats_.lines + r.first_invalid + 1, invalid_reason_text(r.reason));
      }
      stats_.lines += r.lines;
      stats_.blank += r.blank;
      stats_.invalid += r.invalid;
      stats_.numbers += r.stems.size();
      stems.emplace_back(r.stems);
    }
    set_.add(stems);
    return Status();
  }

  // Counts a line longer than kMaxSourceLineBytes, whose bytes the caller skips; head is its first
  // block (no LF in it), where a CR before the last byte is bare: a file with CR line ends.
  Status too_long_line(std::string_view head) {
    if (head.size() > 1 && std::memchr(head.data(), '\r', head.size() - 1) != nullptr) {
      return invalid_line(stats_.lines + 1, kBareCrText);
    }
    ++stats_.lines;
    if (!options_.skip_invalid) return invalid_line(stats_.lines, "line too long");
    ++stats_.invalid;
    return Status();
  }

  const SourceStats& stats() const noexcept { return stats_; }

 private:
  Status invalid_line(std::uint64_t line, const char* reason) const {
    return Status(ErrorCode::kInvalidInput, name_ + ":" + std::to_string(line) + ": " + reason);
  }

  std::string name_;
  SourceOptions options_;
  StemSetBuilder& set_;
  std::vector<ChunkResult> chunks_;
  SourceStats stats_;
  bool at_start_ = true;
};

// Cuts text in memory into blocks as a file would be read.
Status parse_text(std::string_view text, SourceParser& parser) {
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t end = text.size();
    if (text.size() - pos > detail::kSourceBlockBytes) {
      end = pos + detail::kSourceBlockBytes;
      const void* last = ::memrchr(text.data() + pos, '\n', end - pos);
      if (last == nullptr) {
        if (Status s = parser.too_long_line(text.substr(pos, end - pos)); !s.ok()) return s;
        const void* nl = std::memchr(text.data() + end, '\n', text.size() - end);
        pos = nl == nullptr ? text.size() : static_cast<std::size_t>(static_cast<const char*>(nl) - text.data()) + 1;
        continue;
      }
      end = static_cast<std::size_t>(static_cast<const char*>(last) - text.data()) + 1;
    }
    if (Status s = parser.parse(text.substr(pos, end - pos)); !s.ok()) return s;
    pos = end;
  }
  return Status();
}

// What a source's bytes were: their count and XXH3-128, for its provenance record.
struct SourceBytes {
  std::uint64_t bytes = 0;
  Digest128 xxh3;
};

struct XxhStateDeleter {
  void operator()(XXH3_state_t* state) const noexcept { XXH3_freeState(state); }
};

// The name a source is recorded under: its base name (a path may name people or places), as
// valid UTF-8 without NUL (the PROVENANCE section's rules).
std::string record_name(std::string_view source) {
  std::string name = std::filesystem::path(source).filename().string();
  if (name.empty() || name == "." || name == "..") name = "<unnamed>";
  if (!detail::is_valid_utf8(name)) {
    const std::string quoted = nlohmann::json(name).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    name = nlohmann::json::parse(quoted).get<std::string>();
  }
  std::replace(name.begin(), name.end(), '\0', '?');
  return name;
}

template <typename OnRead>
Status parse_file_blocks(const std::filesystem::path& path, SourceParser& parser, OnRead&& on_read) {
  Result<ReadOnlyFile> opened = ReadOnlyFile::open(path);  // a FIFO source (<(...)) is read as it comes
  if (!opened.ok()) return opened.status();
  const ReadOnlyFile& file = *opened;
  constexpr std::size_t kCapacity = detail::kSourceBlockBytes;
  const detail::LargeBuffer buffer(detail::allocate_large(kCapacity));
  if (!buffer) throw std::bad_alloc();
  char* const buf = buffer.get();
  std::size_t filled = 0;
  bool eof = false;
  bool skipping = false;  // inside a line that was too long, up to its newline
  for (;;) {
    while (!eof && filled < kCapacity) {
      Result<std::size_t> n = file.read(buf + filled, kCapacity - filled);
      if (!n.ok()) return n.status();
      if (*n == 0) eof = true;
      on_read(buf + filled, *n);
      filled += *n;
    }
    if (skipping) {
      const void* nl = std::memchr(buf, '\n', filled);
      if (nl == nullptr) {
        filled = 0;
        if (eof) break;
        continue;
      }
      const std::size_t drop = static_cast<std::size_t>(static_cast<const char*>(nl) - buf) + 1;
      std::memmove(buf, buf + drop, filled - drop);
      filled -= drop;
      skipping = false;
      continue;
    }
    if (filled == 0) break;
    if (eof) return parser.parse(std::string_view(buf, filled));
    const void* last = ::memrchr(buf, '\n', filled);
    if (last == nullptr) {  // the buffer is full and holds part of one line
      if (Status s = parser.too_long_line(std::string_view(buf, filled)); !s.ok()) return s;
      skipping = true;
      filled = 0;
      continue;
    }
    const std::size_t whole = static_cast<std::size_t>(static_cast<const char*>(last) - buf) + 1;
    if (Status s = parser.parse(std::string_view(buf, whole)); !s.ok()) return s;
    std::memmove(buf, buf + whole, filled - whole);
    filled -= whole;
  }
  return Status();
}

Status parse_file(const std::filesystem::path& path, SourceParser& parser, SourceBytes& read) {
  const std::unique_ptr<XXH3_state_t, XxhStateDeleter> hash(XXH3_createState());
  if (!hash || XXH3_128bits_reset(hash.get()) != XXH_OK) throw std::bad_alloc();
  const Status status = parse_file_blocks(path, parser, [&](const char* data, std::size_t n) {
    (void)XXH3_128bits_update(hash.get(), data, n);
    read.bytes += n;
  });
  const XXH128_hash_t h = XXH3_128bits_digest(hash.get());
  read.xxh3 = Digest128{h.high64, h.low64};
  return status;
}

// The index of the first stem that is not a valid stem, or nullopt.
std::optional<std::size_t> first_invalid_stem(std::span<const std::uint32_t> stems) {
  constexpr std::size_t kNone = std::numeric_limits<std::size_t>::max();
  std::atomic<std::size_t> first{kNone};
  tbb::parallel_for(tbb::blocked_range<std::size_t>(0, stems.size(), 1 << 16),
                    [&](const tbb::blocked_range<std::size_t>& range) {
                      for (std::size_t i = range.begin(); i != range.end(); ++i) {
                        if (i >= first.load(std::memory_order_relaxed)) return;
                        if (!is_valid_stem(stems[i])) {
                          std::size_t seen = first.load(std::memory_order_relaxed);
                          while (i < seen && !first.compare_exchange_weak(seen, i, std::memory_order_relaxed)) {
                          }
                          return;
                        }
                      }
                    });
  const std::size_t i = first.load();
  if (i == kNone) return std::nullopt;
  return i;
}

}  // namespace

// ---- RegistryBuilder --------------------------------------------------------------------------

struct RegistryBuilder::Impl {
  struct List {
    ListKind kind;
    RoaringPtr bitmap;
  };
  std::string description;
  std::map<std::string, List, std::less<>> lists;
  std::map<std::string, ListProvenance, std::less<>> provenance;  // by list name
  std::map<std::string, std::int64_t, std::less<>> as_of;         // set_as_of(), checked by build()
  // Each list's scopes: the base's, and an objections list's own scope (add_objections).
  std::map<std::string, std::vector<std::string>, std::less<>> scopes;
  // set_scopes(), checked by build(); they replace the above.
  std::map<std::string, std::vector<std::string>, std::less<>> set_scopes;

  // add_objections / remove_objections: each scope's rows to (or from) objections.<scope>.
  Result<ObjectionStats> objections(const std::filesystem::path& path, bool withdraw) {
    detail::ObjectionRows rows;
    if (Status s = detail::read_objections(path, rows); !s.ok()) return s;
    for (const auto& [scope, stems] : rows.stems_by_scope) {  // every list checked before any changes
      const std::string list = objections_list_name(scope);
      if (Status s = withdraw ? check_exists(list) : check_declarable(list, ListKind::kDeny); !s.ok()) return s;
    }
    ObjectionStats out;
    out.rows = rows.rows;
    const SourceBytes read{rows.bytes, rows.xxh3};
    for (const auto& [scope, stems] : rows.stems_by_scope) {
      const std::string list = objections_list_name(scope);
      SourceStats stats =
          apply_stems(withdraw ? lists.find(list)->second : declare(list, ListKind::kDeny), stems, withdraw);
      stats.lines = rows.rows;
      if (!withdraw && scopes[list].empty()) scopes[list] = {scope};
      record(list, path.string(), withdraw, read, stats);
      out.lists.push_back({list, stats});
    }
    return out;
  }

  // Records a source that was applied to list name.
  void record(std::string_view name, std::string_view source, bool removal, const SourceBytes& read,
              const SourceStats& stats) {
    ListProvenance& p = provenance[std::string(name)];
    p.list = std::string(name);
    p.sources.push_back(SourceRecord{record_name(source), removal, read.bytes, read.xxh3, stats.lines, stats.numbers});
  }

  // Checks that name can be a list of this kind, without creating it.
  Status check_declarable(std::string_view name, ListKind kind) const {
    if (Status s = validate_list_name(name); !s.ok()) return s;
    const auto it = lists.find(name);
    if (it != lists.end() && it->second.kind != kind) {
      return Status(ErrorCode::kInvalidArgument, "list '" + redact_numbers(name) + "' is " +
                                                     (it->second.kind == ListKind::kDeny ? "a deny" : "an allow") +
                                                     " list, not " + (kind == ListKind::kDeny ? "a deny" : "an allow") +
                                                     " list");
    }
    return Status();
  }

  Status check_exists(std::string_view name) const {
    if (Status s = validate_list_name(name); !s.ok()) return s;
    if (lists.find(name) == lists.end()) {
      return Status(ErrorCode::kNotFound, "no list '" + redact_numbers(name) + "' to withdraw from");
    }
    return Status();
  }

  List& declare(std::string_view name, ListKind kind) {
    const auto it = lists.find(name);
    if (it != lists.end()) return it->second;
    roaring_bitmap_t* empty = roaring_bitmap_create();
    if (empty == nullptr) throw std::bad_alloc();
    return lists.emplace(std::string(name), List{kind, RoaringPtr(empty)}).first->second;
  }

  // Adds or withdraws a finished source set; fills in changed and unchanged.
  // kInvalidArgument naming the first value that is not a valid stem.
  static Status check_stems(std::span<const std::uint32_t> stems) {
    if (const auto bad = first_invalid_stem(stems)) {
      return Status(ErrorCode::kInvalidArgument,
                    "stems[" + std::to_string(*bad) + "] is not a valid stem (below 10^9, check digit not 10)");
    }
    return Status();
  }

  // Adds checked stems from the caller to list (or withdraws them).
  SourceStats apply_stems(List& list, std::span<const std::uint32_t> stems, bool withdraw) {
    StemSetBuilder set;
    const std::span<const std::uint32_t> parts[] = {stems};
    set.add(parts);
    SourceStats stats;
    stats.numbers = stems.size();
    apply(list, set.finish(), withdraw, stats);
    return stats;
  }

  void apply(List& list, RoaringPtr set, bool withdraw, SourceStats& stats) {
    roaring_bitmap_t* bitmap = list.bitmap.get();
    const std::uint64_t before = roaring_bitmap_get_cardinality(bitmap);
    if (withdraw) {
      roaring_bitmap_andnot_inplace(bitmap, set.get());
    } else if (before == 0) {
      list.bitmap = std::move(set);  // nothing to merge with
    } else {
      roaring_bitmap_or_inplace(bitmap, set.get());
    }
    const std::uint64_t after = roaring_bitmap_get_cardinality(list.bitmap.get());
    stats.changed = withdraw ? before - after : after - before;
    stats.unchanged = stats.numbers - stats.changed;
  }
};

SourceLine parse_source_line(std::string_view line) noexcept {
  const bool has_lf = line.ends_with('\n');
  if (has_lf) line.remove_suffix(1);
  SourceLine source = read_source_line(line);
  const std::size_t crs = has_lf && line.ends_with('\r') ? line.size() - 1 : line.size();  // CRLF's CR
  source.bare_cr = std::memchr(line.data(), '\r', crs) != nullptr;
  return source;
}

Status source_line_status(std::string_view source_name, std::uint64_t line_no, const SourceLine& line) {
  if (!line.bare_cr) return Status();
  return Status(ErrorCode::kInvalidInput,
                std::string(source_name) + ":" + std::to_string(line_no) + ": " + kBareCrText);
}

RegistryBuilder::RegistryBuilder() : impl_(std::make_unique<Impl>()) {}

RegistryBuilder::RegistryBuilder(const Registry& base) : impl_(std::make_unique<Impl>()) {
  const detail::RegistryData& data = detail::RegistryAccess::data(base);
  impl_->description = data.description;
  for (std::size_t i = 0; i < data.lists.size(); ++i) {
    roaring_bitmap_t* copy = roaring_bitmap_copy(data.bitmaps[i].get());
    if (copy == nullptr) throw std::bad_alloc();
    impl_->lists.emplace(data.lists[i].name, Impl::List{data.lists[i].kind, RoaringPtr(copy)});
  }
  for (const ListProvenance& p : data.provenance) impl_->provenance.emplace(p.list, p);
  for (const ListInfo& info : data.lists) {
    if (!info.scopes.empty()) impl_->scopes.emplace(info.name, info.scopes);
  }
}

RegistryBuilder::~RegistryBuilder() = default;
RegistryBuilder::RegistryBuilder(RegistryBuilder&&) noexcept = default;
RegistryBuilder& RegistryBuilder::operator=(RegistryBuilder&&) noexcept = default;

void RegistryBuilder::set_description(std::string description) { impl_->description = std::move(description); }

void RegistryBuilder::set_as_of(std::string_view list, std::int64_t as_of) {
  impl_->as_of.insert_or_assign(std::string(list), as_of);
}

void RegistryBuilder::set_scopes(std::string_view list, std::vector<std::string> scopes) {
  impl_->set_scopes.insert_or_assign(std::string(list), std::move(scopes));
}

Result<ObjectionStats> RegistryBuilder::add_objections(const std::filesystem::path& path) {
  try {
    return impl_->objections(path, /*withdraw=*/false);
  } catch (const std::bad_alloc&) {
    return out_of_memory(path.string());
  }
}

Result<ObjectionStats> RegistryBuilder::remove_objections(const std::filesystem::path& path) {
  try {
    return impl_->objections(path, /*withdraw=*/true);
  } catch (const std::bad_alloc&) {
    return out_of_memory(path.string());
  }
}

Status RegistryBuilder::declare_list(std::string_view name, ListKind kind) {
  try {
    if (Status s = impl_->check_declarable(name, kind); !s.ok()) return s;
    impl_->declare(name, kind);
    return Status();
  } catch (const std::bad_alloc&) {
    return out_of_memory("declaring a list");
  }
}

Result<SourceStats> RegistryBuilder::add_stems(std::string_view name, ListKind kind,
                                               std::span<const std::uint32_t> stems) {
  try {
    if (Status s = impl_->check_declarable(name, kind); !s.ok()) return s;
    if (Status s = Impl::check_stems(stems); !s.ok()) return s;  // before declaring: a failed call changes nothing
    return impl_->apply_stems(impl_->declare(name, kind), stems, /*withdraw=*/false);
  } catch (const std::bad_alloc&) {
    return out_of_memory("adding stems");
  }
}

Result<SourceStats> RegistryBuilder::remove_stems(std::string_view name, std::span<const std::uint32_t> stems) {
  try {
    if (Status s = impl_->check_exists(name); !s.ok()) return s;
    if (Status s = Impl::check_stems(stems); !s.ok()) return s;
    return impl_->apply_stems(impl_->lists.find(name)->second, stems, /*withdraw=*/true);
  } catch (const std::bad_alloc&) {
    return out_of_memory("withdrawing stems");
  }
}

Result<SourceStats> RegistryBuilder::add_source(std::string_view name, ListKind kind, const std::filesystem::path& path,
                                                SourceOptions options) {
  try {
    if (Status s = impl_->check_declarable(name, kind); !s.ok()) return s;
    StemSetBuilder set;
    SourceParser parser(path.string(), options, set);
    SourceBytes read;
    if (Status s = parse_file(path, parser, read); !s.ok()) return s;
    SourceStats stats = parser.stats();
    impl_->apply(impl_->declare(name, kind), set.finish(), /*withdraw=*/false, stats);
    impl_->record(name, path.string(), /*removal=*/false, read, stats);
    return stats;
  } catch (const std::bad_alloc&) {
    return out_of_memory(path.string());
  }
}

Result<SourceStats> RegistryBuilder::remove_source(std::string_view name, const std::filesystem::path& path,
                                                   SourceOptions options) {
  try {
    if (Status s = impl_->check_exists(name); !s.ok()) return s;
    StemSetBuilder set;
    SourceParser parser(path.string(), options, set);
    SourceBytes read;
    if (Status s = parse_file(path, parser, read); !s.ok()) return s;
    SourceStats stats = parser.stats();
    impl_->apply(impl_->lists.find(name)->second, set.finish(), /*withdraw=*/true, stats);
    impl_->record(name, path.string(), /*removal=*/true, read, stats);
    return stats;
  } catch (const std::bad_alloc&) {
    return out_of_memory(path.string());
  }
}

Result<SourceStats> RegistryBuilder::add_text(std::string_view name, ListKind kind, std::string_view text,
                                              std::string_view source_name, SourceOptions options) {
  try {
    if (Status s = impl_->check_declarable(name, kind); !s.ok()) return s;
    StemSetBuilder set;
    SourceParser parser(source_name, options, set);
    if (Status s = parse_text(text, parser); !s.ok()) return s;
    SourceStats stats = parser.stats();
    impl_->apply(impl_->declare(name, kind), set.finish(), /*withdraw=*/false, stats);
    SourceBytes read{text.size(), detail::snapshot_checksum(text)};
    impl_->record(name, source_name, /*removal=*/false, read, stats);
    return stats;
  } catch (const std::bad_alloc&) {
    return out_of_memory(source_name);
  }
}

Result<Registry> RegistryBuilder::build(std::optional<std::int64_t> created_at) {
  if (!detail::is_valid_utf8(impl_->description)) {
    return Status(ErrorCode::kInvalidArgument, "description is not valid UTF-8");
  }
  if (created_at && (*created_at < 0 || *created_at > kLatestCreatedAt)) {
    return Status(ErrorCode::kInvalidArgument, "the creation time must be between 1970 and 9999");
  }
  for (const auto& [list, date] : impl_->as_of) {
    if (impl_->lists.find(list) != impl_->lists.end()) continue;
    const std::string named = validate_list_name(list).ok() ? "'" + redact_numbers(list) + "'" : "of that name";
    return Status(ErrorCode::kNotFound, "as-of date for list " + named + ": no list of that name in the registry");
  }
  for (const auto& [list, date] : impl_->as_of) {
    if (date < 0 || date > kLatestCreatedAt) {
      return Status(ErrorCode::kInvalidArgument,
                    "as-of date for list '" + redact_numbers(list) + "': outside 1970-01-01 to 9999-12-31");
    }
  }
  for (const auto& [list, scopes] : impl_->set_scopes) {
    const std::string named = validate_list_name(list).ok() ? "'" + redact_numbers(list) + "'" : "of that name";
    if (impl_->lists.find(list) == impl_->lists.end()) {
      return Status(ErrorCode::kNotFound, "scopes for list " + named + ": no list of that name in the registry");
    }
    for (std::size_t i = 0; i < scopes.size(); ++i) {
      if (Status s = validate_scope_name(scopes[i]); !s.ok()) {
        return Status(ErrorCode::kInvalidArgument, "scopes for list " + named + ": " + s.message());
      }
      if (std::find(scopes.begin(), scopes.begin() + static_cast<std::ptrdiff_t>(i), scopes[i]) !=
          scopes.begin() + static_cast<std::ptrdiff_t>(i)) {
        return Status(ErrorCode::kInvalidArgument,
                      "scopes for list " + named + ": scope '" + redact_numbers(scopes[i]) + "' given twice");
      }
    }
  }
  for (auto& [list, scopes] : impl_->set_scopes) impl_->scopes.insert_or_assign(list, std::move(scopes));
  try {
    auto data = std::make_shared<detail::RegistryData>();
    for (const auto& [list, info] : impl_->lists) {  // sorted by name
      ListProvenance p;
      if (const auto it = impl_->provenance.find(list); it != impl_->provenance.end()) p = it->second;
      p.list = list;
      // A date: midnight UTC, as the snapshot stores it (a round trip keeps it).
      if (const auto it = impl_->as_of.find(list); it != impl_->as_of.end()) p.as_of = it->second - it->second % 86400;
      if (p.as_of || !p.sources.empty()) data->provenance.push_back(std::move(p));
    }
    data->created_at = created_at.value_or(
        std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count());
    data->description = impl_->description;
    data->lists.reserve(impl_->lists.size());
    data->bitmaps.reserve(impl_->lists.size());
    for (auto& [name, list] : impl_->lists) {  // std::map: sorted by name, byte order
      detail::optimize_bitmap(list.bitmap.get());
      ListInfo info;
      info.name = name;
      info.kind = list.kind;
      if (const auto it = impl_->scopes.find(name); it != impl_->scopes.end()) {
        info.scopes = it->second;
        std::sort(info.scopes.begin(), info.scopes.end());
      }
      detail::describe_list(info, list.bitmap.get());
      data->lists.push_back(std::move(info));
      data->bitmaps.push_back(std::move(list.bitmap));
    }
    impl_ = std::make_unique<Impl>();
    const detail::SnapshotBytes bytes = detail::encode_snapshot(*data);
    data->digest = detail::snapshot_checksum(bytes.view().substr(0, bytes.size - detail::kSnapshotTrailerBytes));
    return detail::RegistryAccess::make(std::move(data));
  } catch (const std::bad_alloc&) {
    impl_ = std::make_unique<Impl>();
    return out_of_memory("building the registry");
  }
}

}  // namespace optout
