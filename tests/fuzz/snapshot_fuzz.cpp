// libFuzzer target for the snapshot loader: arbitrary bytes must never crash, hang or leak; a
// rejection must be kCorruption or kUnsupportedVersion with a message naming the source; an
// accepted snapshot must satisfy the registry's invariants (provenance and signer included) and
// survive a re-encode round trip.
//
// Random bytes almost never carry a valid XXH3 trailer, so each input is also decoded with its
// trailer recomputed: that is what reaches the section and bitmap checks.
//
//   build (clang): CC=clang-14 CXX=clang++-14 cmake -B build-fuzz -DOPTOUT_BUILD_FUZZERS=ON ...
//   run:           build-fuzz/tests/snapshot_fuzz -max_total_time=600 corpus tests/fuzz/corpus_snapshot
#include <roaring/roaring.h>

#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "optout/nhs_number.hpp"
#include "optout/registry.hpp"
#include "registry_data.hpp"
#include "snapshot_format.hpp"

namespace {

void check(bool condition) {
  if (!condition) std::abort();
}

void check_rejection(const optout::Status& status) {
  check(status.code() == optout::ErrorCode::kCorruption || status.code() == optout::ErrorCode::kUnsupportedVersion);
  check(status.message().rfind("fuzz: ", 0) == 0);
}

void check_registry(const optout::Registry& r, std::string_view bytes) {
  using optout::detail::RegistryAccess;
  const auto& data = RegistryAccess::data(r);
  check(data.bitmaps.size() == r.lists().size());
  check(r.digest() == optout::detail::snapshot_checksum(bytes.substr(0, bytes.size() - 16)));
  for (std::size_t i = 0; i < r.lists().size(); ++i) {
    const optout::ListInfo& info = r.lists()[i];
    check(optout::validate_list_name(info.name).ok());
    if (i > 0) check(r.lists()[i - 1].name < info.name);
    check(r.find_list(info.name) == i);
    const auto stems = r.stems(i);
    check(stems.size() == info.count);
    for (std::size_t j = 0; j < stems.size(); ++j) {
      check(stems[j] < optout::kStemLimit);
      if (j > 0) check(stems[j - 1] < stems[j]);
    }
    if (!stems.empty()) {
      check(r.contains(i, stems.front()));
      check(r.contains(i, stems.back()));
    }
    // A frozen bitmap must copy into an ordinary one with the same content.
    roaring_bitmap_t* copy = roaring_bitmap_copy(data.bitmaps[i].get());
    check(copy != nullptr && roaring_bitmap_equals(copy, data.bitmaps[i].get()));
    roaring_bitmap_free(copy);
  }
  // Re-encoding gives a snapshot that loads to the same lists (optional sections are dropped).
  const std::string again = optout::encode_registry(r);
  auto reloaded = optout::decode_registry(again, "fuzz");
  check(reloaded.ok());
  check(reloaded->lists().size() == r.lists().size());
  check(reloaded->description() == r.description());
  check(reloaded->created_at() == r.created_at());
  for (std::size_t i = 0; i < r.lists().size(); ++i) check(reloaded->stems(i) == r.stems(i));
  check(optout::encode_registry(*reloaded) == again);
  check(reloaded->digest() == optout::detail::snapshot_checksum(std::string_view(again).substr(0, again.size() - 16)));
  // Provenance survives; the signature too, unless the bytes it covered do not re-encode as such.
  check(reloaded->provenance() == r.provenance());
  check(!reloaded->signer() || reloaded->signer() == r.signer());
  if (again == bytes) check(reloaded->signer() == r.signer());
  for (const optout::ListProvenance& p : r.provenance()) {
    check(r.find_list(p.list).has_value());
    check(p.as_of || !p.sources.empty());
    for (const optout::SourceRecord& s : p.sources) {
      check(!s.file.empty() && s.file.find('/') == std::string::npos && s.numbers <= s.lines);
    }
  }
  check(r.data_as_of() >= 0 && r.data_as_of() <= optout::kLatestCreatedAt);
}

void run(std::string_view bytes) {
  auto r = optout::decode_registry(bytes, "fuzz");
  if (r.ok()) {
    check_registry(*r, bytes);
  } else {
    check_rejection(r.status());
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  run(bytes);
  if (size >= optout::detail::kSnapshotTrailerBytes) {
    std::string fixed(bytes);
    optout::detail::rewrite_trailer(fixed);
    run(fixed);
  }
  return 0;
}
