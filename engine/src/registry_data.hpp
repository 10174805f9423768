// What a Registry holds, shared by the registry, snapshot and filter code. Private to the engine:
// CRoaring types stay out of the public headers.
#pragma once

#include <roaring/roaring.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "optout/registry.hpp"

namespace optout::detail {

struct RoaringDeleter {
  void operator()(roaring_bitmap_t* bitmap) const noexcept { roaring_bitmap_free(bitmap); }
};
using RoaringPtr = std::unique_ptr<roaring_bitmap_t, RoaringDeleter>;

struct RegistryData {
  std::string source = "<built>";  // Registry::source(): set by decode_registry()
  std::int64_t created_at = 0;
  std::string description;
  std::vector<ListInfo> lists;  // sorted by name
  // bitmaps[i] holds the stems of lists[i]; never null. Read-only: a loaded registry's bitmaps are
  // frozen (one block each, ROARING_FLAG_FROZEN, see snapshot_format.cpp), so never pass them to
  // an in-place CRoaring function; roaring_bitmap_copy() gives an ordinary, mutable copy.
  std::vector<RoaringPtr> bitmaps;
  Digest128 digest;  // XXH3-128 of the snapshot encoding
  // Registry::provenance(): sorted by list name, each naming a list of lists; no empty entry.
  std::vector<ListProvenance> provenance;
  // The key of the SIGNATURE section and its signature, re-emitted as they are by encode_snapshot
  // (Ed25519 is deterministic, so a decode and encode round trip gives the same bytes).
  std::optional<PublicKey> signer;
  Signature signature{};
};

struct RegistryAccess {
  static const RegistryData& data(const Registry& registry) { return *registry.data_; }
  static Registry make(std::shared_ptr<const RegistryData> data) { return Registry(std::move(data)); }
};

}  // namespace optout::detail
