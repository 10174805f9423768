// Seeded benchmark data shared by bench_*.cpp: NHS-number stems and their text forms, registry
// source files, registries and snapshots.
//
// Everything here is built before a benchmark's timed loop and, for the large fixtures, cached in
// function-local statics keyed by size, so that 50 M stems, their source file and their snapshot
// are generated once per process however many benchmarks and repetitions use them.
//
// Data is reproducible: a fixed seed, splitmix64 and a multiply-shift range reduction (the
// standard library's distributions differ between implementations; these do not).
#pragma once

#include <benchmark/benchmark.h>

#include <array>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include <unistd.h>  // getpid: a per-process temp directory

#include "optout/nhs_number.hpp"
#include "optout/registry.hpp"
#include "optout/signing.hpp"

namespace optout::bench {

inline constexpr std::uint64_t kSeed = 0x6f70'746f'7574'2026ULL;

// Registry sizes. kSmokeCount keeps bench_smoke (ctest) to a few seconds; kTypicalCount is the
// order of the national opt-out list's growth over a few years; kLargeCount, about the whole list
// and more, is registered only when OPTOUT_BENCH_LARGE=1 (it needs ~1 GB of memory and a 550 MB
// temporary source file).
inline constexpr std::int64_t kSmokeCount = 100'000;
inline constexpr std::int64_t kTypicalCount = 5'000'000;
inline constexpr std::int64_t kLargeCount = 50'000'000;

// Whether the 50 M cases are registered: environment OPTOUT_BENCH_LARGE=1.
inline bool large_enabled() {
  const char* value = std::getenv("OPTOUT_BENCH_LARGE");
  return value != nullptr && std::string_view(value) == "1";
}

// Adds one Arg per registry size: the smoke size, 5 M and, when enabled, 50 M.
inline void registry_sizes(benchmark::internal::Benchmark* b) {
  b->ArgName("n");
  b->Arg(kSmokeCount);
  b->Arg(kTypicalCount);
  if (large_enabled()) b->Arg(kLargeCount);
}

// ---- Random numbers ---------------------------------------------------------------------------

class Random {
 public:
  explicit Random(std::uint64_t seed) : state_(seed) {}

  std::uint64_t next() noexcept {  // splitmix64
    std::uint64_t z = (state_ += 0x9e37'79b9'7f4a'7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58'476d'1ce4'e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d0'49bb'1331'11ebULL;
    return z ^ (z >> 31);
  }
  // Uniform in [0, bound), bound < 2^32 (Lemire's multiply-shift; the bias is below 2^-32·bound).
  std::uint32_t below(std::uint32_t bound) noexcept {
    return static_cast<std::uint32_t>(((next() >> 32) * bound) >> 32);
  }

 private:
  std::uint64_t state_;
};

// England's NHS numbers start 400000000–499999999 and 600000000–799999999 (stems; Scotland's CHI
// and Northern Ireland's ranges are elsewhere). Stems are drawn uniformly from their union, so the
// 50 M list has the density (~1 in 6) the memory targets assume.
inline constexpr std::uint32_t kEnglandLowBegin = 400'000'000;
inline constexpr std::uint32_t kEnglandLowSize = 100'000'000;
inline constexpr std::uint32_t kEnglandHighBegin = 600'000'000;
inline constexpr std::uint32_t kEnglandHighSize = 200'000'000;
inline constexpr std::uint32_t kEnglandSize = kEnglandLowSize + kEnglandHighSize;

// The position of an England stem in [0, kEnglandSize).
constexpr std::uint32_t england_offset(std::uint32_t stem) noexcept {
  return stem < kEnglandHighBegin ? stem - kEnglandLowBegin : stem - kEnglandHighBegin + kEnglandLowSize;
}

// A uniformly random valid England stem (stems whose check digit would be 10 are redrawn).
inline std::uint32_t random_valid_stem(Random& random) noexcept {
  for (;;) {
    const std::uint32_t r = random.below(kEnglandSize);
    const std::uint32_t stem = r < kEnglandLowSize ? kEnglandLowBegin + r : kEnglandHighBegin + (r - kEnglandLowSize);
    if (is_valid_stem(stem)) return stem;
  }
}

// A stem in [0, 10^9) whose check digit is 10: no valid number has it.
inline std::uint32_t random_check_digit_ten_stem(Random& random) noexcept {
  for (;;) {
    const std::uint32_t stem = kEnglandLowBegin + random.below(kEnglandLowSize);
    if (!is_valid_stem(stem)) return stem;
  }
}

// count distinct valid England stems in random order, followed by `extra` more distinct stems that
// are not among the first count (probes that must miss). Precondition: count + extra is well
// below the ~273 M valid England stems.
struct StemSet {
  std::vector<std::uint32_t> members;  // the list: distinct, random order
  std::vector<std::uint32_t> absent;   // distinct, none in members
};

inline StemSet make_stem_set(std::size_t count, std::size_t extra, std::uint64_t seed) {
  std::vector<std::uint64_t> seen((kEnglandSize + 63) / 64);
  Random random(seed);
  auto draw = [&] {
    for (;;) {
      const std::uint32_t stem = random_valid_stem(random);
      const std::uint32_t offset = england_offset(stem);
      std::uint64_t& word = seen[offset / 64];
      const std::uint64_t bit = std::uint64_t{1} << (offset % 64);
      if ((word & bit) == 0) {
        word |= bit;
        return stem;
      }
    }
  };
  StemSet set;
  set.members.resize(count);
  for (auto& stem : set.members) stem = draw();
  set.absent.resize(extra);
  for (auto& stem : set.absent) stem = draw();
  return set;
}

// ---- Text forms ---------------------------------------------------------------------------------

enum class TextForm : std::uint8_t {
  kPlain,    // "9434765919"
  kSpaced,   // "943 476 5919"
  kDashed,   // "943-476-5919"
  kPadded,   // " 9434765919\r": surrounding whitespace (CRLF sources, padded CSV fields)
  kInvalid,  // every invalid kind, drawn at random (see append_invalid)
  kMixed,    // what an extract looks like: 94% plain, 2% spaced, 2% padded, 2% invalid
};

// Appends one invalid text, one of eight kinds drawn at random so that no branch pattern repeats.
inline void append_invalid(std::string& out, Random& random) {
  const std::uint32_t stem = random_valid_stem(random);
  char digits[kMaxFormattedBytes];
  format_nhs_number(stem, digits, NhsFormat::kPlain);
  std::string_view plain(digits, 10);
  switch (random.below(8)) {
    case 0: {  // wrong check digit
      std::string text(plain);
      text[9] = static_cast<char>('0' + (text[9] - '0' + 1) % 10);
      out += text;
      break;
    }
    case 1:  // check digit 10 (the formatter wants a valid stem, so the digits are written here)
      out += std::to_string(random_check_digit_ten_stem(random));  // 9 digits: stems are ≥ 4·10^8
      out += '0';
      break;
    case 2: out += plain.substr(0, 9); break;  // a lost digit
    case 3:
      out += plain;
      out += '7';
      break;   // an extra digit
    case 4: {  // a letter O for a zero
      std::string text(plain);
      text[random.below(10)] = 'O';
      out += text;
      break;
    }
    case 5:
      out += plain.substr(0, 3);
      out += ' ';
      out += plain.substr(3);
      break;   // 3-7 shape
    case 6: {  // mixed separators
      out += plain.substr(0, 3);
      out += '-';
      out += plain.substr(3, 3);
      out += ' ';
      out += plain.substr(6);
      break;
    }
    default: out += "  "; break;  // empty after trimming
  }
}

inline void append_form(std::string& out, TextForm form, Random& random) {
  char buffer[kMaxFormattedBytes];
  switch (form) {
    case TextForm::kPlain:
    case TextForm::kSpaced:
    case TextForm::kDashed: {
      const NhsFormat f = form == TextForm::kPlain    ? NhsFormat::kPlain
                          : form == TextForm::kSpaced ? NhsFormat::kSpaced
                                                      : NhsFormat::kDashed;
      out.append(buffer, format_nhs_number(random_valid_stem(random), buffer, f));
      break;
    }
    case TextForm::kPadded:
      out += ' ';
      out.append(buffer, format_nhs_number(random_valid_stem(random), buffer, NhsFormat::kPlain));
      out += '\r';
      break;
    case TextForm::kInvalid: append_invalid(out, random); break;
    case TextForm::kMixed: {
      const std::uint32_t pick = random.below(100);
      append_form(out,
                  pick < 94   ? TextForm::kPlain
                  : pick < 96 ? TextForm::kSpaced
                  : pick < 98 ? TextForm::kPadded
                              : TextForm::kInvalid,
                  random);
      break;
    }
  }
}

// count texts of one form in one buffer, with views into it (built after the buffer is complete,
// so no view dangles).
struct TextBatch {
  std::string storage;
  std::vector<std::string_view> items;
  std::size_t valid = 0;  // how many items parse as valid (checked when built)
};

inline TextBatch make_text_batch(TextForm form, std::size_t count, std::uint64_t seed) {
  TextBatch batch;
  Random random(seed);
  std::vector<std::size_t> ends;
  ends.reserve(count);
  for (std::size_t i = 0; i < count; ++i) {
    append_form(batch.storage, form, random);
    ends.push_back(batch.storage.size());
  }
  batch.items.reserve(count);
  std::size_t begin = 0;
  for (std::size_t end : ends) {
    batch.items.emplace_back(batch.storage.data() + begin, end - begin);
    if (parse_nhs_number(batch.items.back()).valid()) ++batch.valid;
    begin = end;
  }
  return batch;
}

// ---- Files --------------------------------------------------------------------------------------

// A per-process directory under the system temp directory ($TMPDIR), removed at exit.
class TempDir {
 public:
  // Never throws: when the directory cannot be made, the files under it cannot be created either
  // and the benchmarks that need them are skipped with an error.
  TempDir() {
    std::error_code error;
    std::filesystem::path base = std::filesystem::temp_directory_path(error);
    if (error) base = "/tmp";
    path_ = base / ("optout-bench-" + std::to_string(::getpid()));
    std::filesystem::create_directories(path_, error);
  }
  ~TempDir() {
    std::error_code ignored;  // nothing useful to do at exit if removal fails
    std::filesystem::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const noexcept { return path_; }

 private:
  std::filesystem::path path_;
};

inline const std::filesystem::path& temp_dir() {
  static TempDir dir;
  return dir.path();
}

// ---- Cached fixtures ----------------------------------------------------------------------------

inline constexpr std::size_t kProbeCount = std::size_t{1} << 18;  // 1 MB of probes: beyond L2
inline constexpr std::int64_t kCreatedAt = 1'764'000'000;         // fixed: snapshots are reproducible
inline constexpr std::string_view kListName = "national";

// A cache of T by size; values are built on first use and live until exit.
template <typename T>
class SizeCache {
 public:
  template <typename Make>
  const T& get(std::int64_t n, Make&& make) {
    std::lock_guard lock(mutex_);
    auto& slot = cache_[n];
    if (!slot) slot = std::make_unique<T>(make());
    return *slot;
  }

 private:
  std::mutex mutex_;
  std::map<std::int64_t, std::unique_ptr<T>> cache_;
};

// The registry's stems (n distinct) and kProbeCount absent stems, from one seed per size.
inline const StemSet& stem_set(std::int64_t n) {
  static SizeCache<StemSet> cache;
  return cache.get(n, [n] {
    return make_stem_set(static_cast<std::size_t>(n), kProbeCount, kSeed ^ static_cast<std::uint64_t>(n));
  });
}

// A source file of n plain numbers, one per LF-terminated line, in stem_set(n) order.
struct SourceFile {
  std::filesystem::path path;
  std::uint64_t bytes = 0;
  std::string error;  // non-empty when the file could not be written
};

inline const SourceFile& source_file(std::int64_t n) {
  static SizeCache<SourceFile> cache;
  return cache.get(n, [n] {
    SourceFile file;
    file.path = temp_dir() / ("source-" + std::to_string(n) + ".txt");
    std::FILE* out = std::fopen(file.path.c_str(), "wb");
    if (out == nullptr) {
      file.error = "cannot create " + file.path.string();
      return file;
    }
    std::string chunk;
    constexpr std::size_t kChunkBytes = std::size_t{1} << 20;
    chunk.reserve(kChunkBytes + 16);
    bool ok = true;
    for (std::uint32_t stem : stem_set(n).members) {
      char buffer[kMaxFormattedBytes];
      chunk.append(buffer, format_nhs_number(stem, buffer));
      chunk += '\n';
      if (chunk.size() >= kChunkBytes) {
        ok = ok && std::fwrite(chunk.data(), 1, chunk.size(), out) == chunk.size();
        file.bytes += chunk.size();
        chunk.clear();
      }
    }
    ok = ok && std::fwrite(chunk.data(), 1, chunk.size(), out) == chunk.size();
    file.bytes += chunk.size();
    ok = (std::fclose(out) == 0) && ok;
    if (!ok) file.error = "cannot write " + file.path.string();
    return file;
  });
}

// A registry with one deny list, kListName, holding stem_set(n).members; or the Status of the failure.
inline const Result<Registry>& built_registry(std::int64_t n) {
  static SizeCache<Result<Registry>> cache;
  return cache.get(n, [n]() -> Result<Registry> {
    RegistryBuilder builder;
    auto added = builder.add_stems(kListName, ListKind::kDeny, stem_set(n).members);
    if (!added.ok()) return added.status();
    return builder.build(kCreatedAt);
  });
}

// built_registry(n) saved as a snapshot file.
struct SnapshotFile {
  std::filesystem::path path;
  std::string bytes;  // the encoding, as saved
  std::string error;  // non-empty when the snapshot could not be made
};

inline const SnapshotFile& snapshot_file(std::int64_t n) {
  static SizeCache<SnapshotFile> cache;
  return cache.get(n, [n] {
    SnapshotFile file;
    const auto& registry = built_registry(n);
    if (!registry.ok()) {
      file.error = registry.status().to_string();
      return file;
    }
    file.path = temp_dir() / ("registry-" + std::to_string(n) + ".optout");
    if (auto saved = save_registry(*registry, file.path); !saved.ok()) {
      file.error = saved.to_string();
      return file;
    }
    file.bytes = encode_registry(*registry);
    return file;
  });
}

// The fixed key the signed fixtures are signed with (a seed of 32 bytes of 0x42).
inline const SecretKey& bench_key() {
  static const SecretKey key = [] {
    std::array<std::uint8_t, 32> seed{};
    seed.fill(0x42);
    return std::move(SecretKey::from_seed(seed)).value();
  }();
  return key;
}

// built_registry(n) signed with bench_key() and saved as a snapshot file.
inline const SnapshotFile& signed_snapshot_file(std::int64_t n) {
  static SizeCache<SnapshotFile> cache;
  return cache.get(n, [n] {
    SnapshotFile file;
    const auto& registry = built_registry(n);
    if (!registry.ok()) {
      file.error = registry.status().to_string();
      return file;
    }
    auto signed_registry = sign_registry(*registry, bench_key());
    if (!signed_registry.ok()) {
      file.error = signed_registry.status().to_string();
      return file;
    }
    file.path = temp_dir() / ("registry-signed-" + std::to_string(n) + ".optout");
    if (auto saved = save_registry(*signed_registry, file.path); !saved.ok()) {
      file.error = saved.to_string();
      return file;
    }
    file.bytes = encode_registry(*signed_registry);
    return file;
  });
}

// snapshot_file(n) loaded back: what the filter and the CLI query.
inline const Result<Registry>& loaded_registry(std::int64_t n) {
  static SizeCache<Result<Registry>> cache;
  return cache.get(n, [n]() -> Result<Registry> {
    const auto& file = snapshot_file(n);
    if (!file.error.empty()) return Status(ErrorCode::kInternal, file.error);
    return load_registry(file.path);
  });
}

// kProbeCount probes in random order: stems of the list (hits) or stems not in it (misses).
inline const std::vector<std::uint32_t>& probes(std::int64_t n, bool hits) {
  static SizeCache<std::vector<std::uint32_t>> hit_cache;
  if (!hits) return stem_set(n).absent;
  return hit_cache.get(n, [n] {
    const auto& members = stem_set(n).members;
    Random random(kSeed + 1);
    std::vector<std::uint32_t> out(kProbeCount);
    for (auto& stem : out) stem = members[random.below(static_cast<std::uint32_t>(members.size()))];
    return out;
  });
}

}  // namespace optout::bench
