// The filter's probe structure: one bit per possible stem (10^9 bits, 125 MB of address space).
// A Roaring lookup in Debian's CRoaring 0.2.66 (generic SSE2 build, no bulk contains) costs
// 170-210 ns per row in extract order; a flat bit costs one cache miss, which the filter hides by
// prefetching. Only pages holding listed stems are ever touched: the mapping is lazily zeroed.
#include <sys/mman.h>

#include <roaring/containers/containers.h>
#include <tbb/parallel_for.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cstring>

#include "optout/index.hpp"
#include "registry_data.hpp"
#include "tuning.hpp"
#include "opt_out_index_access.hpp"

namespace optout {
namespace {

constexpr std::size_t kWords = (kStemLimit + 63) / 64;
constexpr std::size_t kWordsPerContainer = 1024;  // 65536 bits

// Writes every stem of a Roaring bitmap into the flat bits (all zero beforehand), in parallel
// over containers: each container owns its own 8 KiB of the bits, so no two tasks share a word.
void expand_into(const roaring_bitmap_t* bitmap, std::uint64_t* bits) {
  const roaring_array_t& ra = bitmap->high_low_container;
  tbb::parallel_for(tbb::blocked_range<std::int32_t>(0, ra.size, detail::kContainersPerExpandTask),
                    [&](const tbb::blocked_range<std::int32_t>& range) {
    for (std::int32_t i = range.begin(); i != range.end(); ++i) {
      std::uint8_t type = ra.typecodes[i];
      const void* container = container_unwrap_shared(ra.containers[i], &type);
      std::uint64_t* words = bits + std::size_t{ra.keys[i]} * kWordsPerContainer;
      switch (type) {
        case BITSET_CONTAINER_TYPE_CODE: {
          const auto* c = static_cast<const bitset_container_t*>(container);
          std::memcpy(words, c->array, kWordsPerContainer * sizeof(std::uint64_t));
          break;
        }
        case ARRAY_CONTAINER_TYPE_CODE: {
          const auto* c = static_cast<const array_container_t*>(container);
          for (std::int32_t k = 0; k < c->cardinality; ++k) {
            words[c->array[k] >> 6] |= std::uint64_t{1} << (c->array[k] & 63);
          }
          break;
        }
        case RUN_CONTAINER_TYPE_CODE: {
          const auto* c = static_cast<const run_container_t*>(container);
          for (std::int32_t k = 0; k < c->n_runs; ++k) {
            const std::uint32_t first = c->runs[k].value;
            const std::uint32_t last = first + c->runs[k].length;
            for (std::uint32_t v = first; v <= last; ++v) {
              words[v >> 6] |= std::uint64_t{1} << (v & 63);
            }
          }
          break;
        }
        default:
          break;
      }
    }
  });
}

}  // namespace

struct OptOutIndex::Impl {
  std::uint64_t* bits = nullptr;
  bool bits_mean_kept = false;  // see detail::IndexBits
  std::vector<std::string> applied;
  std::string registry_source;
  Digest128 registry_digest;
  std::int64_t registry_created_at = 0;

  ~Impl() {
    if (bits != nullptr) munmap(bits, kWords * sizeof(std::uint64_t));
  }
};

OptOutIndex::OptOutIndex(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
OptOutIndex::OptOutIndex(OptOutIndex&&) noexcept = default;
OptOutIndex& OptOutIndex::operator=(OptOutIndex&&) noexcept = default;
OptOutIndex::~OptOutIndex() = default;

Result<OptOutIndex> OptOutIndex::create(const Registry& registry,
                                        std::span<const std::string> apply) {
  const detail::RegistryData& data = detail::RegistryAccess::data(registry);
  std::vector<std::size_t> chosen;
  if (apply.empty()) {
    for (std::size_t i = 0; i < data.lists.size(); ++i) chosen.push_back(i);
  } else {
    for (const std::string& name : apply) {
      const Result<std::size_t> index = registry.require_list(name);
      if (!index.ok()) return index.status();
      chosen.push_back(*index);
    }
    // Registry order, each list once: the same lists name the same run in its audit record,
    // however --apply spelled them.
    std::sort(chosen.begin(), chosen.end());
    chosen.erase(std::unique(chosen.begin(), chosen.end()), chosen.end());
  }

  // Fold the lists into one Roaring bitmap: the stems removed (deny lists only), or the stems
  // kept (allow lists intersected, minus every deny list).
  detail::RoaringPtr denied(roaring_bitmap_create());
  detail::RoaringPtr allowed;
  auto impl = std::make_unique<Impl>();
  impl->registry_source = registry.source();
  impl->registry_digest = registry.digest();
  impl->registry_created_at = registry.created_at();
  for (std::size_t i : chosen) {
    impl->applied.push_back(data.lists[i].name);
    const roaring_bitmap_t* bitmap = data.bitmaps[i].get();
    if (data.lists[i].kind == ListKind::kDeny) {
      roaring_bitmap_or_inplace(denied.get(), bitmap);
    } else if (!allowed) {
      allowed.reset(roaring_bitmap_copy(bitmap));
    } else {
      roaring_bitmap_and_inplace(allowed.get(), bitmap);
    }
  }
  const roaring_bitmap_t* folded = denied.get();
  if (allowed) {
    roaring_bitmap_andnot_inplace(allowed.get(), denied.get());
    folded = allowed.get();
    impl->bits_mean_kept = true;
  }
  if (folded == nullptr) return Status(ErrorCode::kInternal, "out of memory folding lists");

  void* mapping = mmap(nullptr, kWords * sizeof(std::uint64_t), PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (mapping == MAP_FAILED) {
    return Status(ErrorCode::kIoError, registry.source() + ": cannot map the lookup index: " + std::strerror(errno));
  }
  // Huge pages cut TLB misses on random probes; the kernel may ignore the advice.
  madvise(mapping, kWords * sizeof(std::uint64_t), MADV_HUGEPAGE);
  impl->bits = static_cast<std::uint64_t*>(mapping);
  expand_into(folded, impl->bits);
  return OptOutIndex(std::move(impl));
}

bool OptOutIndex::removes(std::uint32_t stem) const noexcept {
  return detail::IndexAccess::bits(*this).removes(stem);
}

detail::IndexBits detail::IndexAccess::bits(const OptOutIndex& index) noexcept {
  return {index.impl_->bits, index.impl_->bits_mean_kept};
}

const std::vector<std::string>& OptOutIndex::applied_lists() const noexcept { return impl_->applied; }
const std::string& OptOutIndex::registry_source() const noexcept { return impl_->registry_source; }
const Digest128& OptOutIndex::registry_digest() const noexcept { return impl_->registry_digest; }
std::int64_t OptOutIndex::registry_created_at() const noexcept { return impl_->registry_created_at; }

Status OptOutIndex::check_age(std::int64_t max_age_seconds, std::int64_t now) const {
  return check_registry_age(impl_->registry_source, impl_->registry_created_at, max_age_seconds, now);
}

Status check_registry_age(std::string_view source, std::int64_t created, std::int64_t max_age_seconds,
                          std::int64_t now) {
  if (max_age_seconds < 0) return Status(ErrorCode::kInvalidArgument, "the maximum age cannot be negative");
  if (now < 0 || now > kLatestCreatedAt) return Status(ErrorCode::kInvalidArgument, "the current time is out of range");
  // created_at is within 0..kLatestCreatedAt (load and build refuse others), so neither
  // difference below can overflow for any now.
  const std::string prefix = std::string(source) + ": ";
  if (created > now && created - now > kClockSkewSeconds) {
    return Status(ErrorCode::kStaleRegistry,
                  prefix + "the registry claims to be built " + iso8601_utc(created) +
                      ", in the future (a wrong clock?): its age is unknown, so it cannot pass a maximum age");
  }
  const std::int64_t age = now - created;
  if (age <= max_age_seconds) return Status();
  return Status(ErrorCode::kStaleRegistry, prefix + "the registry was built " + iso8601_utc(created) + ", " +
                                               std::to_string(age / 3600) + " h ago, older than the limit of " +
                                               std::to_string(max_age_seconds / 3600) + " h");
}

std::optional<std::int64_t> parse_max_age(std::string_view text) noexcept {
  if (text.size() < 2 || text.size() > 10) return std::nullopt;
  const std::string_view digits = text.substr(0, text.size() - 1);
  if (digits.find_first_not_of("0123456789") != std::string_view::npos) return std::nullopt;
  std::int64_t n = 0;
  (void)std::from_chars(digits.data(), digits.data() + digits.size(), n);  // 9 digits fit
  if (text.back() == 'h') return n * 3600;
  if (text.back() == 'd') return n * 86400;
  return std::nullopt;
}

Verdict OptOutIndex::verdict(const ParsedNhsNumber& parsed) const noexcept {
  Verdict verdict;
  classify_parsed(std::span<const ParsedNhsNumber>(&parsed, 1), std::span<Verdict>(&verdict, 1));
  return verdict;
}

void OptOutIndex::classify_parsed(std::span<const ParsedNhsNumber> parsed,
                                  std::span<Verdict> out) const noexcept {
  const detail::IndexBits bits = detail::IndexAccess::bits(*this);
  for (std::size_t i = 0; i < parsed.size(); ++i) {
    out[i] = !parsed[i].valid() ? Verdict::kRejected : bits.removes(parsed[i].stem) ? Verdict::kRemoved : Verdict::kKept;
  }
}

namespace {

// Parses kClassifyChunk inputs at a time (parse(i) → ParsedNhsNumber), then probes them together.
template <typename Parse>
void classify_in_chunks(const OptOutIndex& index, std::size_t count, std::span<Verdict> out, Parse&& parse) {
  std::array<ParsedNhsNumber, detail::kClassifyChunk> chunk;
  for (std::size_t base = 0; base < count; base += chunk.size()) {
    const std::size_t n = std::min(chunk.size(), count - base);
    for (std::size_t k = 0; k < n; ++k) chunk[k] = parse(base + k);
    index.classify_parsed(std::span<const ParsedNhsNumber>(chunk.data(), n), out.subspan(base, n));
  }
}

}  // namespace

void OptOutIndex::classify_stems(std::span<const std::uint32_t> stems,
                                 std::span<Verdict> out) const noexcept {
  classify_in_chunks(*this, stems.size(), out, [&](std::size_t i) {
    return is_valid_stem(stems[i]) ? ParsedNhsNumber{stems[i], InvalidReason::kNone}
           : stems[i] == 0         ? ParsedNhsNumber{0, InvalidReason::kAllZeros}
                                   : ParsedNhsNumber{0, InvalidReason::kCheckDigitTen};
  });
}

void OptOutIndex::classify_numbers(std::span<const std::uint64_t> numbers,
                                   std::span<Verdict> out) const noexcept {
  classify_in_chunks(*this, numbers.size(), out, [&](std::size_t i) { return nhs_number_from_integer(numbers[i]); });
}

void OptOutIndex::classify_text(std::span<const std::string_view> texts,
                                std::span<Verdict> out) const noexcept {
  classify_in_chunks(*this, texts.size(), out, [&](std::size_t i) { return parse_nhs_number(texts[i]); });
}

}  // namespace optout
