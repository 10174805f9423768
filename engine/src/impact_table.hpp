// The impact report's per-slot group table (impact.hpp): the filter's parallel stage counts each
// record's group here, one table per block slot (a slot holds one block at a time, so no lock);
// the pipeline merges the tables once the input is read. Keys are the grouping fields' raw bytes
// (quotes included), each prefixed by its length (KeyBuffer); they are
// unquoted when the tables are merged, so "M" and M end up in one group.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <span>
#include <string_view>
#include <vector>

#include "kernel/prefetch.hpp"
#include "optout/filter.hpp"
#include "optout/impact.hpp"
#include "optout/index.hpp"

namespace optout::detail {

inline constexpr std::uint32_t kNoGroup = 0xFFFFFFFFu;

// Where the grouping columns are (CSV): column_of_field[k] is the report column of field k
// (0-based), or -1; last is the highest field wanted. For JSON Lines: the keys.
struct ImpactColumns {
  std::vector<std::size_t> fields;            // CSV: field positions, in impact_by's order
  std::vector<std::int32_t> column_of_field;  // CSV: size last + 1
  std::size_t last = 0;
  // CSV: the wanted fields in ascending order as runs of adjacent fields (sex,postcode_district
  // side by side: one run); a record's key holds one raw span a run (kernel: GroupKey).
  struct Run {
    std::size_t first = 0, last = 0;
  };
  std::vector<Run> runs;
  std::vector<std::string> keys;  // JSON Lines: impact_by
};

// A key of up to kInlineKey bytes lives in its slot and is compared as two words; a longer one is
// compared in keys_. Keys are built zero-padded to kInlineKey bytes (KeyBuffer below).
inline constexpr std::size_t kInlineKey = 16;

// The hash of a key (its bytes zero-padded to a multiple of 8).
inline std::uint64_t key_hash(const char* key, std::size_t size) noexcept {
  std::uint64_t h = 0x9E3779B97F4A7C15ull ^ size;
  for (std::size_t i = 0; i < size; i += 8) {
    std::uint64_t word;
    std::memcpy(&word, key + i, 8);
    h = (h ^ word) * 0xBF58476D1CE4E5B9ull;
    h ^= h >> 31;
  }
  h *= 0x94D049BB133111EBull;
  return h ^ (h >> 29);
}

// The hash of a key of exactly kInlineKey bytes (w0, w1: its two words): a couple of multiplies.
// Every key of that size hashes so, however it was built (short_key_head() or KeyBuffer).
inline std::uint64_t short_key_hash(std::uint64_t w0, std::uint64_t w1) noexcept {
  std::uint64_t h = (w0 ^ 0x9E3779B97F4A7C15ull) * 0xBF58476D1CE4E5B9ull;
  h = (h ^ (h >> 32) ^ w1) * 0x94D049BB133111EBull;
  return h ^ (h >> 29);
}

// A key's hash and its first kInlineKey bytes: what a lookup compares first (a key of at most
// kInlineKey bytes is all there).
struct KeyHead {
  std::uint64_t hash = 0;
  std::uint64_t w0 = 0, w1 = 0;
  std::uint64_t size = 0;
};

// key (size bytes, zero-padded to a multiple of 8, at least kInlineKey) as its KeyHead.
inline KeyHead key_head(const char* key, std::size_t size) noexcept {
  KeyHead head;
  std::memcpy(&head.w0, key, 8);
  std::memcpy(&head.w1, key + 8, 8);
  head.hash = size == kInlineKey ? short_key_hash(head.w0, head.w1) : key_hash(key, size);
  head.size = size;
  return head;
}

// Open addressing, linear probing, at most half full. A slot (32 bytes, two a cache line) holds a
// key's first kInlineKey bytes, a tag of its hash and its group, and the group's row count, so
// that looking up a record's group and counting its row touch one cache line. The groups (dense
// numbers, stable while the slots are rehashed) hold the rest: the removed and rejected counts,
// counted only for a record that is not kept, and a key longer than kInlineKey.
class ImpactTable {
 public:
  ImpactTable() : slots_(1024) {}

  // The group of a key (head, and the whole key when longer than kInlineKey), added when new, and
  // its row counted; kNoGroup when it is new and there are kImpactGroupsLimit groups already.
  [[gnu::always_inline]] std::uint32_t find(const KeyHead& head, const char* long_key) {
    return lookup<false>(head, long_key);
  }
  // find() for a key of exactly kInlineKey bytes (short_key_hash's: its words are the whole key).
  [[gnu::always_inline]] std::uint32_t find_short(const KeyHead& head) { return lookup<true>(head, nullptr); }

  // The home slot of a key's hash, prefetched (the lookup waits for the record's batch).
  void prefetch(std::uint64_t hash) const noexcept {
    prefetch_line(slots_.data() + (static_cast<std::size_t>(hash) & (slots_.size() - 1)));
  }

  // A record of group that is not kept (kRemoved or kRejected): its row was counted by find().
  void count_verdict(std::uint32_t group, Verdict verdict) noexcept {
    ++groups_[group].counts[verdict == Verdict::kRemoved ? 0 : 1];
  }

  std::size_t size() const { return groups_.size(); }
  // Calls f(key, counts) for every group: counts[0] its rows, [1] removed, [2] rejected.
  template <typename F>
  void for_each(F&& f) const {
    std::vector<std::uint64_t> rows(groups_.size(), 0);
    for (const Slot& slot : slots_) {
      if (slot.group != 0) rows[slot.group - 1] = slot.rows;
    }
    for (std::size_t k = 0; k < groups_.size(); ++k) {
      const Group& g = groups_[k];
      char head[kInlineKey];
      std::memcpy(head, &g.w0, 8);
      std::memcpy(head + 8, &g.w1, 8);
      const std::string_view key =
          g.size <= kInlineKey ? std::string_view(head, g.size) : std::string_view(keys_).substr(g.offset, g.size);
      const std::uint64_t counts[3] = {rows[k], g.counts[0], g.counts[1]};
      f(key, counts);
    }
  }

 private:
  struct Slot {
    std::uint64_t w0 = 0, w1 = 0;  // the key's first kInlineKey bytes
    std::uint64_t rows = 0;
    std::uint32_t tag = 0;    // tag_of(): the hash's high half, bit 0 whether the key is long
    std::uint32_t group = 0;  // the group + 1; 0: empty
  };
  struct Group {
    std::uint64_t w0 = 0, w1 = 0;
    std::uint64_t size = 0;
    std::uint64_t offset = 0;      // a key longer than kInlineKey: where it is in keys_
    std::uint64_t counts[2] = {};  // removed, rejected
  };

  template <bool kShort>
  [[gnu::always_inline]] std::uint32_t lookup(const KeyHead& head, const char* long_key) {
    const std::uint32_t tag = kShort ? static_cast<std::uint32_t>(head.hash >> 32) & ~1u : tag_of(head);
    Slot* const slots = slots_.data();
    const std::size_t mask = slots_.size() - 1;
    for (std::size_t i = static_cast<std::size_t>(head.hash) & mask;; i = (i + 1) & mask) {
      Slot& slot = slots[i];
      if (slot.group == 0) break;
      if (slot.w0 == head.w0 && slot.w1 == head.w1 && slot.tag == tag &&
          (kShort || head.size <= kInlineKey || same_long_key(slot.group - 1, head, long_key))) {
        ++slot.rows;
        return slot.group - 1;
      }
    }
    return add(head, long_key);
  }

  static std::uint32_t tag_of(const KeyHead& head) noexcept {
    return (static_cast<std::uint32_t>(head.hash >> 32) & ~1u) | (head.size > kInlineKey ? 1u : 0u);
  }
  bool same_long_key(std::uint32_t group, const KeyHead& head, const char* long_key) const noexcept {
    const Group& g = groups_[group];
    return g.size == head.size && std::memcmp(keys_.data() + g.offset, long_key, head.size) == 0;
  }

  [[gnu::noinline]] std::uint32_t add(const KeyHead& head, const char* long_key) {
    if (groups_.size() >= kImpactGroupsLimit) return kNoGroup;
    const auto group = static_cast<std::uint32_t>(groups_.size());
    Group g;
    g.w0 = head.w0;
    g.w1 = head.w1;
    g.size = head.size;
    if (head.size > kInlineKey) {
      g.offset = keys_.size();
      keys_.append(long_key, head.size);
    }
    groups_.push_back(g);
    Slot slot;
    slot.w0 = head.w0;
    slot.w1 = head.w1;
    slot.rows = 1;
    slot.tag = tag_of(head);
    slot.group = group + 1;
    hashes_.push_back(head.hash);
    if (groups_.size() * 2 > slots_.size()) {
      std::vector<Slot> old(slots_.size() * 2);
      old.swap(slots_);
      for (const Slot& s : old) {
        if (s.group != 0) insert(s, hashes_[s.group - 1]);
      }
    }
    insert(slot, head.hash);
    return group;
  }
  void insert(const Slot& slot, std::uint64_t hash) {
    const std::size_t mask = slots_.size() - 1;
    std::size_t i = static_cast<std::size_t>(hash) & mask;
    while (slots_[i].group != 0) i = (i + 1) & mask;
    slots_[i] = slot;
  }

  std::vector<Slot> slots_;
  std::vector<Group> groups_;
  std::vector<std::uint64_t> hashes_;  // each group's key hash (for rehashing)
  std::string keys_;                   // the keys longer than kInlineKey
};

// A key being built: each part (a JSON Lines value; a CSV run's raw span) as its length in one byte
// (kLongField: four bytes follow) then its bytes, or kMissingField alone; zero-padded to a
// multiple of 8, at least kInlineKey bytes.
inline constexpr unsigned char kMissingByte = 0xFE;
inline constexpr unsigned char kLongField = 0xFF;

class KeyBuffer {
 public:
  void clear() noexcept { size_ = 0; }
  void add_missing() {
    reserve(1);
    data_[size_++] = static_cast<char>(kMissingByte);
  }
  // readable: bytes[0, 16) may be read even when n is less (a short field inside a block), so
  // that a short field is copied with one fixed-size move rather than a call.
  void add(const char* bytes, std::size_t n, bool readable = false) {
    reserve(n + 5 + 16);
    char* out = data_.data() + size_;
    if (n < kMissingByte) {
      *out++ = static_cast<char>(n);
    } else {
      *out++ = static_cast<char>(kLongField);
      const auto length = static_cast<std::uint32_t>(n);
      std::memcpy(out, &length, 4);
      out += 4;
    }
    if (readable && n <= 16) {
      std::memcpy(out, bytes, 16);  // the bytes past n are overwritten or zeroed by finish()
    } else {
      std::memcpy(out, bytes, n);
    }
    size_ = static_cast<std::size_t>(out - data_.data()) + n;
  }
  // The key, zero-padded: size() is then the padded size, what find_or_add() takes.
  const char* finish() {
    reserve(16);
    const std::size_t padded = std::max(kInlineKey, (size_ + 7) & ~std::size_t{7});
    std::memset(data_.data() + size_, 0, 16);  // padded - size_ is at most 16
    size_ = padded;
    return data_.data();
  }
  std::size_t size() const noexcept { return size_; }

 private:
  void reserve(std::size_t more) {
    if (size_ + more + 8 > data_.size()) data_.resize(std::max<std::size_t>(256, 2 * (size_ + more + 8)));
  }
  std::string data_ = std::string(256, '\0');
  std::size_t size_ = 0;
};

// The rules of FilterOptions::impact_by that need no input (validate_filter_options() calls it):
// kInvalidArgument for too many columns, an empty name, a name that looks like a number, a name
// given twice, CSV without a header, the NHS-number column by name (or key / pointer).
Status validate_impact_by(const FilterOptions& options);
// The grouping columns among a header's names (CSV; for JSON Lines the keys are kept as given):
// kNotFound as resolve_column() words it, kInvalidInput for a name the header has twice,
// kInvalidArgument when one is the NHS column (nhs_column, 0-based).
Result<ImpactColumns> resolve_impact_columns(std::span<const std::string> names, const FilterOptions& options,
                                             std::size_t nhs_column, std::string_view input);

// Adds every group of the tables (the threads') into groups, decoding its keys: csv, the CSV
// columns (keys of raw spans, one a run of adjacent fields, cut at each delimiter outside quotes,
// quoted fields unquoted), else null (JSON Lines: a key holds each value in the report's order).
// Errors: kLimitExceeded (impact_limit_error) past the limit.
Status merge_impact_tables(std::span<const ImpactTable* const> tables, const ImpactColumns* csv, char delimiter,
                           ImpactGroups& groups, std::string_view where, std::span<const std::string> by);
}  // namespace optout::detail
