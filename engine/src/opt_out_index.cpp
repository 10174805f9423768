// OptOutIndex: the applied lists folded into the filter's probe structure (the lookups themselves
// are the kernel's, kernel/probe.cpp): one bit per possible stem (10^9 bits, 125 MB of address space).
// A Roaring lookup in Debian's CRoaring 0.2.66 (generic SSE2 build, no bulk contains) costs
// 170-210 ns per row in extract order; a flat bit costs one cache miss, which the filter hides by
// prefetching. Only pages holding listed stems are ever touched: the mapping is lazily zeroed.
#include <sys/mman.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "kernel/probe.hpp"
#include "optout/filter.hpp"
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
    return Status(ErrorCode::kIoError, std::string("cannot map the lookup index: ") + std::strerror(errno));
  }
  // Huge pages cut TLB misses on random probes; the kernel may ignore the advice.
  madvise(mapping, kWords * sizeof(std::uint64_t), MADV_HUGEPAGE);
  impl->bits = static_cast<std::uint64_t*>(mapping);
  detail::expand_into(folded, impl->bits);
  return OptOutIndex(std::move(impl));
}

detail::IndexBits detail::IndexAccess::bits(const OptOutIndex& index) noexcept {
  return {index.impl_->bits, index.impl_->bits_mean_kept};
}

const std::vector<std::string>& OptOutIndex::applied_lists() const noexcept { return impl_->applied; }

}  // namespace optout
