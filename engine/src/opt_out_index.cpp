// OptOutIndex: the applied lists folded into the filter's probe structure (the lookups themselves
// are the kernel's, kernel/probe.cpp): one bit per possible stem (10^9 bits, 125 MB of address space).
// A Roaring lookup in Debian's CRoaring 0.2.66 (generic SSE2 build, no bulk contains) costs
// 170-210 ns per row in extract order; a flat bit costs one cache miss, which the filter hides by
// prefetching. Only pages holding listed stems are ever touched: the mapping is lazily zeroed.
#include <sys/mman.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>

#include "kernel/probe.hpp"
#include "optout/index.hpp"
#include "registry_data.hpp"
#include "roaring_frozen.hpp"

namespace optout {
namespace {

constexpr std::size_t kWords = (kStemLimit + 63) / 64;

}  // namespace

struct OptOutIndex::Impl {
  std::uint64_t* bits = nullptr;
  bool bits_mean_kept = false;  // see detail::IndexBits
  std::vector<std::string> applied;
  std::string registry_source;
  Digest128 registry_digest;
  std::int64_t registry_created_at = 0;
  std::optional<PublicKey> registry_signer;
  std::int64_t data_as_of = 0;
  std::vector<AppliedList> facts;
  std::optional<std::string> purpose;
  std::vector<ExemptedList> exempted;

  ~Impl() {
    if (bits != nullptr) munmap(bits, kWords * sizeof(std::uint64_t));
  }
};

OptOutIndex::OptOutIndex(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
OptOutIndex::OptOutIndex(OptOutIndex&&) noexcept = default;
OptOutIndex& OptOutIndex::operator=(OptOutIndex&&) noexcept = default;
OptOutIndex::~OptOutIndex() = default;

Result<OptOutIndex> OptOutIndex::create(const Registry& registry, std::span<const std::string> apply) {
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
  impl->registry_signer = registry.signer();
  for (std::size_t i : chosen) {
    impl->applied.push_back(data.lists[i].name);
    const ListProvenance* provenance = registry.provenance_of(data.lists[i].name);
    impl->facts.push_back({data.lists[i].name, data.lists[i].kind, data.lists[i].count,
                           provenance != nullptr ? provenance->as_of : std::nullopt});
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
  impl->data_as_of = registry.data_as_of(impl->applied);

  void* mapping = mmap(nullptr, kWords * sizeof(std::uint64_t), PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (mapping == MAP_FAILED) {
    return Status(ErrorCode::kIoError, registry.source() + ": cannot map the lookup index: " + std::strerror(errno));
  }
  // Huge pages cut TLB misses on random probes; the kernel may ignore the advice.
  madvise(mapping, kWords * sizeof(std::uint64_t), MADV_HUGEPAGE);
  impl->bits = static_cast<std::uint64_t*>(mapping);
  detail::expand_into(folded, impl->bits);
  return OptOutIndex(std::move(impl));
}

Result<OptOutIndex> OptOutIndex::create(const Registry& registry, const ListSelection& selection) {
  Result<SelectedLists> selected = select_lists(registry, selection);
  if (!selected.ok()) return selected.status();
  Result<OptOutIndex> index = create(registry, selected->apply);
  if (!index.ok()) return index.status();
  index->impl_->purpose = std::move(selected->purpose);
  index->impl_->exempted = std::move(selected->exempted);
  return index;
}

const std::optional<std::string>& OptOutIndex::purpose() const noexcept { return impl_->purpose; }
const std::vector<ExemptedList>& OptOutIndex::exempted_lists() const noexcept { return impl_->exempted; }

detail::IndexBits detail::IndexAccess::bits(const OptOutIndex& index) noexcept {
  return {index.impl_->bits, index.impl_->bits_mean_kept};
}

const std::vector<std::string>& OptOutIndex::applied_lists() const noexcept { return impl_->applied; }
const std::string& OptOutIndex::registry_source() const noexcept { return impl_->registry_source; }
const Digest128& OptOutIndex::registry_digest() const noexcept { return impl_->registry_digest; }
std::int64_t OptOutIndex::registry_created_at() const noexcept { return impl_->registry_created_at; }
const std::optional<PublicKey>& OptOutIndex::registry_signer() const noexcept { return impl_->registry_signer; }
std::int64_t OptOutIndex::data_as_of() const noexcept { return impl_->data_as_of; }
const std::vector<AppliedList>& OptOutIndex::applied_list_facts() const noexcept { return impl_->facts; }

Status OptOutIndex::check_age(std::int64_t max_age_seconds, std::int64_t now) const {
  return check_registry_age(impl_->registry_source, impl_->registry_created_at, impl_->data_as_of, max_age_seconds,
                            now);
}

Status check_registry_age(std::string_view source, std::int64_t created, std::int64_t data_as_of,
                          std::int64_t max_age_seconds, std::int64_t now) {
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
  // An as-of date makes the data as old as the list it was cut from, however recent the build.
  const bool from_as_of = data_as_of >= 0 && data_as_of < created;
  const std::int64_t since = from_as_of ? data_as_of : created;
  const std::int64_t age = now - since;
  if (age <= max_age_seconds) return Status();
  const std::string what = from_as_of ? "the registry's lists date from " + iso_date_utc(since) + " (as-of)"
                                      : "the registry was built " + iso8601_utc(since);
  return Status(ErrorCode::kStaleRegistry, prefix + what + ", " + std::to_string(age / 3600) +
                                               " h ago, older than the limit of " +
                                               std::to_string(max_age_seconds / 3600) + " h");
}

Result<std::int64_t> parse_max_age(std::string_view text) {
  const Status refused(ErrorCode::kInvalidArgument, "the maximum age takes a number of hours or days, e.g. 36h or 7d");
  if (text.size() < 2 || text.size() > 10) return refused;
  const std::string_view digits = text.substr(0, text.size() - 1);
  if (digits.find_first_not_of("0123456789") != std::string_view::npos) return refused;
  std::int64_t n = 0;
  (void)std::from_chars(digits.data(), digits.data() + digits.size(), n);  // 9 digits fit
  if (text.back() == 'h') return n * 3600;
  if (text.back() == 'd') return n * 86400;
  return refused;
}

}  // namespace optout
