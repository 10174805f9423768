// The impact report's per-slot group table (impact.hpp): the filter's parallel stage counts each
// record's group here, one table per block slot (a slot holds one block at a time, so no lock);
// the pipeline merges the tables once the input is read. Keys are the grouping fields' raw bytes
// (quotes included), each prefixed by its length (kMissingLength for a missing field); they are
// unquoted when the tables are merged, so "M" and M end up in one group.
#pragma once

#include <xxhash.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <span>
#include <string_view>
#include <vector>

#include "optout/filter.hpp"
#include "optout/impact.hpp"

namespace optout::detail {

inline constexpr std::uint32_t kMissingLength = 0xFFFFFFFFu;
inline constexpr std::uint32_t kNoGroup = 0xFFFFFFFFu;

// Where the grouping columns are (CSV): column_of_field[k] is the report column of field k
// (0-based), or -1; last is the highest field wanted. For JSON Lines: the keys.
struct ImpactColumns {
  std::vector<std::size_t> fields;            // CSV: field positions, in impact_by's order
  std::vector<std::int32_t> column_of_field;  // CSV: size last + 1
  std::size_t last = 0;
  std::vector<std::string> keys;  // JSON Lines: impact_by
};

class ImpactTable {
 public:
  ImpactTable() : slots_(1024, 0) {}

  // The group of a key, added when new; kNoGroup when adding would pass kImpactGroupsLimit.
  std::uint32_t find_or_add(std::string_view key) {
    const std::uint64_t h = XXH3_64bits(key.data(), key.size());
    const std::uint32_t tag = static_cast<std::uint32_t>(h >> 32);
    std::size_t mask = slots_.size() - 1;
    for (std::size_t i = static_cast<std::size_t>(h) & mask;; i = (i + 1) & mask) {
      const std::uint64_t slot = slots_[i];
      if (slot == 0) break;
      const std::uint32_t group = static_cast<std::uint32_t>(slot) - 1;
      if (static_cast<std::uint32_t>(slot >> 32) == tag && key_of(group) == key) return group;
    }
    if (counts_.size() >= kImpactGroupsLimit) return kNoGroup;
    const auto group = static_cast<std::uint32_t>(counts_.size());
    offsets_.push_back(keys_.size());
    keys_.append(key);
    counts_.push_back({});
    tags_.push_back(h);
    if (counts_.size() * 2 > slots_.size()) {
      rehash(slots_.size() * 2);
    } else {
      insert(h, group);
    }
    return group;
  }

  // kept, removed, rejected of group g, by Verdict value (0, 1, 2).
  void count(std::uint32_t group, unsigned verdict) { ++counts_[group][verdict]; }

  std::size_t size() const { return counts_.size(); }
  std::string_view key_of(std::uint32_t group) const {
    const std::size_t end = group + 1 < offsets_.size() ? offsets_[group + 1] : keys_.size();
    return std::string_view(keys_).substr(offsets_[group], end - offsets_[group]);
  }
  const std::array<std::uint64_t, 3>& counts_of(std::uint32_t group) const { return counts_[group]; }

 private:
  void insert(std::uint64_t h, std::uint32_t group) {
    const std::size_t mask = slots_.size() - 1;
    std::size_t i = static_cast<std::size_t>(h) & mask;
    while (slots_[i] != 0) i = (i + 1) & mask;
    slots_[i] = (std::uint64_t{static_cast<std::uint32_t>(h >> 32)} << 32) | (group + 1);
  }
  void rehash(std::size_t size) {
    slots_.assign(size, 0);
    for (std::uint32_t g = 0; g < counts_.size(); ++g) insert(tags_[g], g);
  }

  std::vector<std::uint64_t> slots_;  // tag << 32 | group + 1; 0 empty
  std::vector<std::uint64_t> tags_;   // each group's hash
  std::vector<std::size_t> offsets_;  // each group's key in keys_
  std::string keys_;
  std::vector<std::array<std::uint64_t, 3>> counts_;
};

// Appends one field to a key: its length, then its bytes (missing: kMissingLength alone).
inline void append_key_field(std::string& key, const char* data, std::size_t size) {
  const auto length = static_cast<std::uint32_t>(size);
  const std::size_t at = key.size();
  key.resize(at + 4 + size);
  std::memcpy(key.data() + at, &length, 4);
  if (size > 0) std::memcpy(key.data() + at + 4, data, size);
}
inline void append_missing_field(std::string& key) {
  const std::size_t at = key.size();
  key.resize(at + 4);
  std::memcpy(key.data() + at, &kMissingLength, 4);
}

// The rules of FilterOptions::impact_by that need no input (validate_filter_options() calls it):
// kInvalidArgument for too many columns, an empty name, a name that looks like a number, a name
// given twice, CSV without a header, the NHS-number column by name (or key / pointer).
Status validate_impact_by(const FilterOptions& options);
// The grouping columns among a header's names (CSV; for JSON Lines the keys are kept as given):
// kNotFound as resolve_column() words it, kInvalidInput for a name the header has twice,
// kInvalidArgument when one is the NHS column (nhs_column, 0-based).
Result<ImpactColumns> resolve_impact_columns(std::span<const std::string> names, const FilterOptions& options,
                                             std::size_t nhs_column, std::string_view input);

// Adds every group of table into groups, decoding its keys (CSV fields unquoted when quoted).
// Errors: kLimitExceeded (impact_limit_error) past the limit.
Status merge_impact_table(const ImpactTable& table, bool csv, ImpactGroups& groups, std::string_view where,
                          std::span<const std::string> by);

}  // namespace optout::detail
