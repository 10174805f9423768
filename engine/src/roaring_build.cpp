#include "roaring_build.hpp"

#include <sys/mman.h>

#include <tbb/blocked_range.h>
#include <tbb/parallel_for.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <memory>
#include <new>

#include "tuning.hpp"

namespace optout::detail {
namespace {

constexpr std::uint32_t kKeys = kStemKeyCount;
constexpr int kPageWords = BITSET_CONTAINER_SIZE_IN_WORDS;  // 1024 words = 65 536 bits

inline void set_bit(std::uint64_t* words, std::uint32_t low) noexcept {
  words[low >> 6] |= std::uint64_t{1} << (low & 63);
}

// Containers are created in parallel into these slots, then appended in key order.
struct Slots {
  std::vector<void*> containers;
  std::vector<std::uint8_t> types;

  explicit Slots(std::size_t n) : containers(n, nullptr), types(n, 0) {}
  ~Slots() {
    for (std::size_t i = 0; i < containers.size(); ++i) {
      if (containers[i] != nullptr) container_free(containers[i], types[i]);
    }
  }
};

}  // namespace

char* allocate_large(std::size_t bytes) noexcept {
  if (bytes < kHugeBufferMinBytes) return static_cast<char*>(std::malloc(bytes == 0 ? 1 : bytes));
  void* p = nullptr;
  if (posix_memalign(&p, kHugePageBytes, bytes) != 0) return nullptr;
  (void)madvise(p, bytes, MADV_HUGEPAGE);  // advice only: without THP the memory works the same
  return static_cast<char*>(p);
}

// target_clones picks the popcnt version at load time where the CPU has it.
__attribute__((target_clones("popcnt", "default"))) std::uint32_t popcount_page(const std::uint64_t* words) noexcept {
  std::uint32_t bits = 0;
  for (int w = 0; w < kPageWords; ++w) bits += static_cast<std::uint32_t>(__builtin_popcountll(words[w]));
  return bits;
}

StemSetBuilder::StemSetBuilder() : pages_(kKeys, nullptr), pending_(kKeys) {}

StemSetBuilder::~StemSetBuilder() { clear(); }

void StemSetBuilder::clear() noexcept {
  for (bitset_container_t*& p : pages_) {
    if (p != nullptr) bitset_container_free(p);
    p = nullptr;
  }
  for (auto& values : pending_) std::vector<std::uint16_t>().swap(values);
}

// Called for distinct keys from distinct tasks, so no two tasks touch the same slots.
void StemSetBuilder::add_to_key(std::uint32_t key, const std::uint16_t* lows, std::size_t n) {
  bitset_container_t*& page = pages_[key];
  if (page == nullptr) {
    std::vector<std::uint16_t>& values = pending_[key];
    if (values.size() + n <= DEFAULT_MAX_SIZE) {
      values.insert(values.end(), lows, lows + n);
      return;
    }
    page = bitset_container_create();  // zeroed, from CRoaring's allocator so CRoaring can free it
    if (page == nullptr) throw std::bad_alloc();
    for (const std::uint16_t low : values) set_bit(page->array, low);
    std::vector<std::uint16_t>().swap(values);
  }
  for (std::size_t i = 0; i < n; ++i) set_bit(page->array, lows[i]);
}

void StemSetBuilder::add_sequential(std::span<const std::span<const std::uint32_t>> parts) {
  for (const auto part : parts) {
    for (const std::uint32_t stem : part) {
      const auto low = static_cast<std::uint16_t>(stem & 0xFFFF);
      add_to_key(stem >> 16, &low, 1);
    }
  }
}

void StemSetBuilder::add(std::span<const std::span<const std::uint32_t>> parts) {
  // Re-cut the input into parts of at most kStemPart stems and batches of at most kStemBatch, so
  // that the histograms have enough parts to run in parallel and 32-bit cursors cannot overflow.
  std::vector<std::span<const std::uint32_t>> batch;
  std::size_t total = 0;
  const auto flush = [&] {
    if (total == 0) {
      batch.clear();
      return;
    }
    if (total < kSequentialAddStems) {
      add_sequential(batch);
      batch.clear();
      total = 0;
      return;
    }
    const std::size_t part_count = batch.size();
    cursors_.assign(part_count * kKeys, 0);
    tbb::parallel_for(std::size_t{0}, part_count, [&](std::size_t p) {
      std::uint32_t* counts = cursors_.data() + p * kKeys;
      for (const std::uint32_t stem : batch[p]) ++counts[stem >> 16];
    });
    // Turn the counts into write cursors: key-major, then part order within a key.
    std::vector<std::uint32_t> key_begin(kKeys + 1);
    std::uint32_t running = 0;
    for (std::uint32_t k = 0; k < kKeys; ++k) {
      key_begin[k] = running;
      for (std::size_t p = 0; p < part_count; ++p) {
        std::uint32_t& c = cursors_[p * kKeys + k];
        const std::uint32_t n = c;
        c = running;
        running += n;
      }
    }
    key_begin[kKeys] = running;
    if (sorted_.size() < total) sorted_.resize(total);
    tbb::parallel_for(std::size_t{0}, part_count, [&](std::size_t p) {
      std::uint32_t* cursor = cursors_.data() + p * kKeys;
      std::uint16_t* out = sorted_.data();
      for (const std::uint32_t stem : batch[p]) {
        out[cursor[stem >> 16]++] = static_cast<std::uint16_t>(stem & 0xFFFF);
      }
    });
    tbb::parallel_for(tbb::blocked_range<std::uint32_t>(0, kKeys, 64),
                      [&](const tbb::blocked_range<std::uint32_t>& keys) {
                        for (std::uint32_t k = keys.begin(); k != keys.end(); ++k) {
                          const std::uint32_t begin = key_begin[k];
                          const std::uint32_t end = key_begin[k + 1];
                          if (begin != end) add_to_key(k, sorted_.data() + begin, end - begin);
                        }
                      });
    batch.clear();
    total = 0;
  };
  for (const auto part : parts) {
    for (std::size_t i = 0; i < part.size(); i += kStemPart) {
      const std::size_t n = std::min(kStemPart, part.size() - i);
      if (total + n > kStemBatch) flush();
      batch.push_back(part.subspan(i, n));
      total += n;
    }
  }
  flush();
}

RoaringPtr StemSetBuilder::finish() {
  std::vector<std::uint16_t> keys;
  for (std::uint32_t k = 0; k < kKeys; ++k) {
    if (pages_[k] != nullptr || !pending_[k].empty()) keys.push_back(static_cast<std::uint16_t>(k));
  }
  Slots slots(keys.size());
  std::atomic<bool> out_of_memory{false};
  tbb::parallel_for(
      tbb::blocked_range<std::size_t>(0, keys.size(), 64), [&](const tbb::blocked_range<std::size_t>& range) {
        for (std::size_t i = range.begin(); i != range.end(); ++i) {
          bitset_container_t*& page = pages_[keys[i]];
          if (page == nullptr) {  // at most 4096 values: sort them into an array container
            std::vector<std::uint16_t>& values = pending_[keys[i]];
            std::sort(values.begin(), values.end());
            values.erase(std::unique(values.begin(), values.end()), values.end());
            array_container_t* array = array_container_create_given_capacity(static_cast<std::int32_t>(values.size()));
            if (array == nullptr) {
              out_of_memory = true;
              continue;
            }
            std::copy(values.begin(), values.end(), array->array);
            array->cardinality = static_cast<std::int32_t>(values.size());
            slots.containers[i] = array;
            slots.types[i] = ARRAY_CONTAINER_TYPE_CODE;
            std::vector<std::uint16_t>().swap(values);
            continue;
          }
          const auto cardinality = static_cast<std::int32_t>(popcount_page(page->array));
          if (cardinality > DEFAULT_MAX_SIZE) {
            page->cardinality = cardinality;
            slots.containers[i] = page;
            slots.types[i] = BITSET_CONTAINER_TYPE_CODE;
            page = nullptr;  // the bitmap owns it now
            continue;
          }
          array_container_t* array = array_container_create_given_capacity(cardinality);
          if (array == nullptr) {
            out_of_memory = true;
            continue;
          }
          std::int32_t n = 0;
          for (int w = 0; w < kPageWords; ++w) {
            for (std::uint64_t word = page->array[w]; word != 0; word &= word - 1) {
              array->array[n++] = static_cast<std::uint16_t>(w * 64 + std::countr_zero(word));
            }
          }
          array->cardinality = n;
          slots.containers[i] = array;
          slots.types[i] = ARRAY_CONTAINER_TYPE_CODE;
        }
      });
  clear();
  if (out_of_memory) throw std::bad_alloc();
  roaring_bitmap_t* bitmap = roaring_bitmap_create_with_capacity(static_cast<std::uint32_t>(keys.size()));
  if (bitmap == nullptr) throw std::bad_alloc();
  RoaringPtr result(bitmap);
  // The capacity is reserved, so ra_append never reallocates (it would ignore a failure).
  for (std::size_t i = 0; i < keys.size(); ++i) {
    if (slots.containers[i] == nullptr) continue;  // a page with no bits: cannot happen, but skip
    ra_append(&bitmap->high_low_container, keys[i], slots.containers[i], slots.types[i]);
    slots.containers[i] = nullptr;
  }
  return result;
}

void optimize_bitmap(roaring_bitmap_t* bitmap) noexcept {
  roaring_bitmap_run_optimize(bitmap);
  roaring_bitmap_shrink_to_fit(bitmap);
}

}  // namespace optout::detail
