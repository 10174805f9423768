// Writes the seed corpus of snapshot_fuzz: small valid snapshots made by the library, covering
// every container type, both list kinds, an empty list, an optional section of an unknown type,
// provenance, and a signature.
//
//   make_snapshot_corpus tests/fuzz/corpus_snapshot
#include <array>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "optout/nhs_number.hpp"
#include "optout/registry.hpp"
#include "optout/signing.hpp"
#include "snapshot_format.hpp"

namespace {

std::vector<std::uint32_t> valid_stems(std::uint32_t start, std::size_t n, std::uint32_t step) {
  std::vector<std::uint32_t> out;
  for (std::uint32_t s = start; out.size() < n; s += step) {
    if (optout::is_valid_stem(s)) out.push_back(s);
  }
  return out;
}

bool write(const std::filesystem::path& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  return static_cast<bool>(out);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: make_snapshot_corpus DIRECTORY\n");
    return 2;
  }
  const std::filesystem::path dir = argv[1];
  std::filesystem::create_directories(dir);

  // 1. Empty registry.
  optout::RegistryBuilder empty;
  const auto r1 = empty.build(0);

  // 2. Two small lists (array and run containers), deny and allow, and an empty list.
  optout::RegistryBuilder small;
  small.set_description("seed: arrays and runs");
  std::vector<std::uint32_t> run;
  for (std::uint32_t s = 700'000'000; s < 700'000'040; ++s) {
    if (optout::is_valid_stem(s)) run.push_back(s);
  }
  bool ok = small.add_stems("national", optout::ListKind::kDeny, valid_stems(400'000'000, 12, 70'001)).ok() &&
            small.add_stems("ranges", optout::ListKind::kDeny, run).ok() &&
            small.add_stems("cleaned", optout::ListKind::kAllow, valid_stems(600'000'000, 3, 1)).ok() &&
            small.declare_list("type1", optout::ListKind::kDeny).ok();
  const auto r2 = small.build(1'764'000'000);

  // 3. One bitset container (> 4096 values in one key).
  optout::RegistryBuilder dense;
  dense.set_description("seed: bitset");
  ok = ok && dense.add_stems("dense", optout::ListKind::kDeny, valid_stems(500'000'000, 4200, 2)).ok();
  const auto r3 = dense.build(1'764'000'001);
  if (!ok || !r1.ok() || !r2.ok() || !r3.ok()) {
    std::fprintf(stderr, "make_snapshot_corpus: building the seeds failed\n");
    return 1;
  }

  // 4. The small registry with an optional section of an unknown type in front.
  const std::string bytes2 = optout::encode_registry(*r2);
  std::vector<optout::detail::SnapshotSection> sections = {{99, 0, "optional"}};
  std::uint32_t count;
  std::memcpy(&count, bytes2.data() + 32, 4);  // section_count
  for (std::uint32_t i = 0; i < count; ++i) {
    std::uint32_t type, flags;
    std::uint64_t offset, length;
    std::memcpy(&type, bytes2.data() + 64 + 24 * i, 4);
    std::memcpy(&flags, bytes2.data() + 64 + 24 * i + 4, 4);
    std::memcpy(&offset, bytes2.data() + 64 + 24 * i + 8, 8);
    std::memcpy(&length, bytes2.data() + 64 + 24 * i + 16, 8);
    sections.push_back({type, flags, bytes2.substr(offset, length)});
  }

  // 5. A signed registry with provenance (as-of dates, added and withdrawn sources), so that the
  // fuzzer explores the PROVENANCE and SIGNATURE sections; and the same unsigned, whose
  // provenance a mutation can change without failing the signature first.
  optout::RegistryBuilder provenance;
  provenance.set_description("seed: provenance and signature");
  ok = ok && provenance.add_text("national", optout::ListKind::kDeny, "9434765919\n\n4010232137,\n", "ndoo.dat").ok() &&
       provenance.remove_source("national", "/dev/null").ok() &&
       provenance.add_text("type1", optout::ListKind::kDeny, "9434765919\n", "t1.txt").ok();
  provenance.set_as_of("national", 1'795'478'400);  // 2026-11-24
  const auto r5 = provenance.build(1'796'000'000);
  std::array<std::uint8_t, 32> seed{};
  seed.fill(0x5A);
  auto key = optout::SecretKey::from_seed(seed);
  if (!ok || !r5.ok() || !key.ok()) {
    std::fprintf(stderr, "make_snapshot_corpus: building the provenance seed failed\n");
    return 1;
  }
  const auto signed5 = optout::sign_registry(*r5, *key);
  if (!signed5.ok()) {
    std::fprintf(stderr, "make_snapshot_corpus: signing the seed failed\n");
    return 1;
  }

  ok = write(dir / "empty.optout", optout::encode_registry(*r1)) && write(dir / "small.optout", bytes2) &&
       write(dir / "provenance.optout", optout::encode_registry(*r5)) &&
       write(dir / "signed.optout", optout::encode_registry(*signed5)) &&
       write(dir / "bitset.optout", optout::encode_registry(*r3)) &&
       write(dir / "optional_section.optout", optout::detail::assemble_snapshot(1'764'000'000, sections));
  if (!ok) {
    std::fprintf(stderr, "make_snapshot_corpus: cannot write to %s\n", dir.c_str());
    return 1;
  }
  return 0;
}
