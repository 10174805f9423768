// Micro-benchmarks for registry.hpp: building from a source file and from stems, snapshot
// encode/save/load/decode (signed and unsigned), signing, memory per number, and
// Registry::contains / contains_many.
//
// Sizes (Arg "n"): 100 000 (the smoke size), 5 M and, with OPTOUT_BENCH_LARGE=1, 50 M; see
// fixtures.hpp. Targets (README.md): build ≥ 25 M numbers/s; load ≤ 50 ms at 50 M; memory ≤ 2.2
// bytes per number at 5 M and ≤ 0.8 at 50 M.
//
// Builder and loader work may run on oneTBB threads, so whole-operation benchmarks use real time.
#include <benchmark/benchmark.h>
#include <tbb/global_control.h>

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "fixtures.hpp"
#include "optout/index.hpp"
#include "optout/pseudonym.hpp"
#include "optout/registry.hpp"
#include "optout/signing.hpp"

namespace optout::bench {
namespace {

// Skips the benchmark with the status's message when it is not ok; returns whether it was ok.
bool check(benchmark::State& state, const Status& status, const char* what) {
  if (status.ok()) return true;
  state.SkipWithError((std::string(what) + ": " + status.to_string()).c_str());
  return false;
}

// The index of the fixture's list, or nullopt (and the benchmark skipped).
std::optional<std::size_t> list_index(benchmark::State& state, const Registry& registry) {
  auto index = registry.find_list(kListName);
  if (!index) state.SkipWithError("fixture: the registry has no list named national");
  return index;
}

// Skips the benchmark with the fixture file's error (SourceFile, SnapshotFile) when it could not
// be made; returns whether it was.
template <typename File>
bool check_file(benchmark::State& state, const File& file) {
  if (file.error.empty()) return true;
  state.SkipWithError(file.error.c_str());
  return false;
}

// Skips the benchmark unless the last registry the loop made holds n numbers ("the built
// registry", ...: what names it); returns whether it does.
bool check_holds(benchmark::State& state, const std::optional<Registry>& last, std::int64_t n,
                 const std::string& what) {
  if (last && last->total_count() == static_cast<std::uint64_t>(n)) return true;
  state.SkipWithError((what + " does not hold n numbers").c_str());
  return false;
}

// Size counters of a snapshot of `bytes` bytes holding n numbers.
void set_snapshot_counters(benchmark::State& state, std::uint64_t bytes, std::int64_t n) {
  state.counters["snapshot_bytes"] = static_cast<double>(bytes);
  state.counters["snapshot_bytes_per_number"] = static_cast<double>(bytes) / static_cast<double>(n);
}

// Footprint counters of a registry holding n numbers in one list.
void set_memory_counters(benchmark::State& state, const Registry& registry, std::int64_t n) {
  const double count = static_cast<double>(n);
  state.counters["mem_bytes"] = static_cast<double>(registry.memory_bytes());
  state.counters["mem_bytes_per_number"] = static_cast<double>(registry.memory_bytes()) / count;
  std::uint64_t serialized = 0;
  for (const auto& list : registry.lists()) serialized += list.serialized_bytes;
  state.counters["bitmap_bytes_per_number"] = static_cast<double>(serialized) / count;
}

// ---- Building -----------------------------------------------------------------------------------

// Args: n, tbb_threads (1 and every hardware thread, when those differ).
void build_source_args(benchmark::internal::Benchmark* b) {
  b->ArgNames({"n", "tbb_threads"});
  const auto hardware = static_cast<std::int64_t>(std::max(1u, std::thread::hardware_concurrency()));
  std::vector<std::int64_t> sizes = {kSmokeCount, kTypicalCount};
  if (large_enabled()) sizes.push_back(kLargeCount);
  for (std::int64_t n : sizes) {
    b->Args({n, 1});
    if (hardware > 1) b->Args({n, hardware});
  }
}

// RegistryBuilder::add_source + build() over a file of n plain numbers, warm in the page cache
// (written once per process, before the loop). Target: ≥ 25 M numbers/s (50 M in < 2 s).
void BM_BuildFromSource(benchmark::State& state) {
  const std::int64_t n = state.range(0);
  const SourceFile& file = source_file(n);
  if (!check_file(state, file)) return;
  tbb::global_control threads(tbb::global_control::max_allowed_parallelism, static_cast<std::size_t>(state.range(1)));
  std::optional<Registry> last;
  for (auto _ : state) {
    RegistryBuilder builder;
    auto added = builder.add_source(kListName, ListKind::kDeny, file.path);
    if (!check(state, added.status(), "add_source")) return;
    auto registry = builder.build(kCreatedAt);
    if (!check(state, registry.status(), "build")) return;
    last = std::move(*registry);
    benchmark::DoNotOptimize(last);
  }
  if (!check_holds(state, last, n, "the built registry")) return;
  state.SetItemsProcessed(n * state.iterations());
  state.SetBytesProcessed(static_cast<std::int64_t>(file.bytes) * state.iterations());
  set_memory_counters(state, *last, n);
}
BENCHMARK(BM_BuildFromSource)->Apply(build_source_args)->UseRealTime()->Unit(benchmark::kMillisecond);

// RegistryBuilder::add_stems + build() from n distinct stems in memory (random order).
void BM_BuildFromStems(benchmark::State& state) {
  const std::int64_t n = state.range(0);
  const auto& stems = stem_set(n).members;
  for (auto _ : state) {
    RegistryBuilder builder;
    auto added = builder.add_stems(kListName, ListKind::kDeny, stems);
    if (!check(state, added.status(), "add_stems")) return;
    auto registry = builder.build(kCreatedAt);
    if (!check(state, registry.status(), "build")) return;
    benchmark::DoNotOptimize(*registry);
  }
  state.SetItemsProcessed(n * state.iterations());
}
BENCHMARK(BM_BuildFromStems)->Apply(registry_sizes)->UseRealTime()->Unit(benchmark::kMillisecond);

// ---- Snapshots ----------------------------------------------------------------------------------

// encode_registry: the snapshot bytes in memory (serialization and checksum, no I/O).
void BM_SnapshotEncode(benchmark::State& state) {
  const std::int64_t n = state.range(0);
  const auto& registry = built_registry(n);
  if (!check(state, registry.status(), "fixture")) return;
  std::size_t bytes = 0;
  for (auto _ : state) {
    const std::string encoded = encode_registry(*registry);
    bytes = encoded.size();
    benchmark::DoNotOptimize(encoded.data());
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(bytes) * state.iterations());
  state.counters["snapshot_bytes"] = static_cast<double>(bytes);
}
BENCHMARK(BM_SnapshotEncode)->Apply(registry_sizes)->UseRealTime()->Unit(benchmark::kMillisecond);

// save_registry: encode, write a temporary file, fsync, rename (the fsync is most of it on a slow disk).
void BM_SnapshotSave(benchmark::State& state) {
  const std::int64_t n = state.range(0);
  const auto& registry = built_registry(n);
  if (!check(state, registry.status(), "fixture")) return;
  const auto path = temp_dir() / ("save-" + std::to_string(n) + ".optout");
  for (auto _ : state) {
    if (!check(state, save_registry(*registry, path), "save_registry")) return;
  }
  std::error_code error;
  const auto bytes = std::filesystem::file_size(path, error);
  if (error) {
    state.SkipWithError("cannot stat the saved snapshot");
    return;
  }
  std::filesystem::remove(path, error);
  state.SetBytesProcessed(static_cast<std::int64_t>(bytes) * state.iterations());
  set_snapshot_counters(state, bytes, n);
}
BENCHMARK(BM_SnapshotSave)->Apply(registry_sizes)->UseRealTime()->Unit(benchmark::kMillisecond);

// load_registry from a snapshot file warm in the page cache: read, checksum, deserialize, validate.
// Target: ≤ 50 ms at 50 M numbers. Reports the snapshot's size and the loaded registry's footprint.
void BM_SnapshotLoad(benchmark::State& state) {
  const std::int64_t n = state.range(0);
  const SnapshotFile& file = snapshot_file(n);
  if (!check_file(state, file)) return;
  std::optional<Registry> last;
  for (auto _ : state) {
    auto loaded = load_registry(file.path);
    if (!check(state, loaded.status(), "load_registry")) return;
    last = std::move(*loaded);
    benchmark::DoNotOptimize(last);
  }
  if (!check_holds(state, last, n, "the loaded registry")) return;
  state.SetItemsProcessed(n * state.iterations());
  state.SetBytesProcessed(static_cast<std::int64_t>(file.bytes.size()) * state.iterations());
  set_snapshot_counters(state, file.bytes.size(), n);
  set_memory_counters(state, *last, n);
}
BENCHMARK(BM_SnapshotLoad)->Apply(registry_sizes)->UseRealTime()->Unit(benchmark::kMillisecond);

// BM_SnapshotLoad of the same registry signed (signed_snapshot_file): the load also checks the
// signature (a parallel SHA-256 prehash of the signed bytes, then one Ed25519 verification).
// Target (issue 12): signing and checking add ≤ 20 ms to a load at 50 M numbers.
void BM_SnapshotLoadSigned(benchmark::State& state) {
  const std::int64_t n = state.range(0);
  const SnapshotFile& file = signed_snapshot_file(n);
  if (!check_file(state, file)) return;
  std::optional<Registry> last;
  for (auto _ : state) {
    auto loaded = load_registry(file.path);
    if (!check(state, loaded.status(), "load_registry")) return;
    last = std::move(*loaded);
    benchmark::DoNotOptimize(last);
  }
  if (!check_holds(state, last, n, "the loaded registry")) return;
  if (last->signer() != bench_key().public_key()) {
    state.SkipWithError("the loaded registry is not signed by the bench key");
    return;
  }
  state.SetItemsProcessed(n * state.iterations());
  state.SetBytesProcessed(static_cast<std::int64_t>(file.bytes.size()) * state.iterations());
  set_snapshot_counters(state, file.bytes.size(), n);
}
BENCHMARK(BM_SnapshotLoadSigned)->Apply(registry_sizes)->UseRealTime()->Unit(benchmark::kMillisecond);

// prehash() over a signed snapshot's signed bytes: the SHA-256 work the signature check adds to
// a load (the Ed25519 verification itself is ~50 µs).
void BM_SnapshotPrehash(benchmark::State& state) {
  const std::int64_t n = state.range(0);
  const SnapshotFile& file = signed_snapshot_file(n);
  if (!check_file(state, file)) return;
  const std::string_view signed_bytes = std::string_view(file.bytes).substr(0, file.bytes.size() - 128);
  for (auto _ : state) benchmark::DoNotOptimize(prehash(signed_bytes));
  state.SetBytesProcessed(static_cast<std::int64_t>(signed_bytes.size()) * state.iterations());
}
BENCHMARK(BM_SnapshotPrehash)->Apply(registry_sizes)->UseRealTime()->Unit(benchmark::kMillisecond);

// sign_registry of a built registry: encode, prehash, sign, and decode the signed bytes (which
// checks the signature once more): what `optout build --sign` adds before saving.
void BM_SnapshotSign(benchmark::State& state) {
  const std::int64_t n = state.range(0);
  const auto& registry = built_registry(n);
  if (!check(state, registry.status(), "fixture")) return;
  for (auto _ : state) {
    auto signed_registry = sign_registry(*registry, bench_key());
    if (!check(state, signed_registry.status(), "sign_registry")) return;
    benchmark::DoNotOptimize(*signed_registry);
  }
  state.SetItemsProcessed(n * state.iterations());
}
BENCHMARK(BM_SnapshotSign)->Apply(registry_sizes)->UseRealTime()->Unit(benchmark::kMillisecond);

// decode_registry from bytes in memory: BM_SnapshotLoad without the file read.
void BM_SnapshotDecode(benchmark::State& state) {
  const std::int64_t n = state.range(0);
  const SnapshotFile& file = snapshot_file(n);
  if (!check_file(state, file)) return;
  for (auto _ : state) {
    auto decoded = decode_registry(file.bytes, "<memory>");
    if (!check(state, decoded.status(), "decode_registry")) return;
    benchmark::DoNotOptimize(*decoded);
  }
  state.SetItemsProcessed(n * state.iterations());
  state.SetBytesProcessed(static_cast<std::int64_t>(file.bytes.size()) * state.iterations());
}
BENCHMARK(BM_SnapshotDecode)->Apply(registry_sizes)->UseRealTime()->Unit(benchmark::kMillisecond);

// ---- Lookups ------------------------------------------------------------------------------------

// Args: n, hit (1: every probe is in the list; 0: none is). Probes: kProbeCount, random order.
void lookup_args(benchmark::internal::Benchmark* b) {
  b->ArgNames({"n", "hit"});
  std::vector<std::int64_t> sizes = {kSmokeCount, kTypicalCount};
  if (large_enabled()) sizes.push_back(kLargeCount);
  for (std::int64_t n : sizes) {
    b->Args({n, 1});
    b->Args({n, 0});
  }
}

// What a lookup benchmark probes, from its Args (n, hit): the loaded registry of n numbers, its
// list and kProbeCount probes that all hit it or all miss.
struct Lookup {
  const Registry* registry = nullptr;
  std::size_t list = 0;
  const std::vector<std::uint32_t>* stems = nullptr;
  bool hits = false;

  // After the loop: skips the benchmark unless `found` is every probe (hits) or none; otherwise
  // sets the items processed and time_per_probe. what: "contains", ...
  void finish(benchmark::State& state, std::size_t found, const std::string& what) const {
    if (found != (hits ? stems->size() : 0)) {
      state.SkipWithError((what + " gave a wrong answer").c_str());
      return;
    }
    const auto items = static_cast<std::int64_t>(stems->size()) * state.iterations();
    state.SetItemsProcessed(items);
    state.counters["time_per_probe"] =
        benchmark::Counter(static_cast<double>(items), benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
  }
};

// The lookup's fixtures (built before the loop), or nullopt (and the benchmark skipped).
std::optional<Lookup> lookup_fixture(benchmark::State& state) {
  const std::int64_t n = state.range(0);
  const bool hits = state.range(1) != 0;
  const auto& registry = loaded_registry(n);
  if (!check(state, registry.status(), "fixture")) return std::nullopt;
  const auto index = list_index(state, *registry);
  if (!index) return std::nullopt;
  return Lookup{&*registry, *index, &probes(n, hits), hits};
}

// Registry::contains, one probe at a time, on the loaded registry.
void BM_Contains(benchmark::State& state) {
  const auto lookup = lookup_fixture(state);
  if (!lookup) return;
  const Registry& registry = *lookup->registry;
  std::size_t found = 0;
  for (auto _ : state) {
    found = 0;
    for (std::uint32_t stem : *lookup->stems) found += registry.contains(lookup->list, stem) ? 1 : 0;
    benchmark::DoNotOptimize(found);
  }
  lookup->finish(state, found, "contains");
}
BENCHMARK(BM_Contains)->Apply(lookup_args)->Unit(benchmark::kMicrosecond);

// Registry::contains_many over the same probes in one batch.
void BM_ContainsMany(benchmark::State& state) {
  const auto lookup = lookup_fixture(state);
  if (!lookup) return;
  std::vector<std::uint8_t> out(lookup->stems->size());
  for (auto _ : state) {
    lookup->registry->contains_many(lookup->list, *lookup->stems, out);
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  lookup->finish(state, static_cast<std::size_t>(std::count(out.begin(), out.end(), std::uint8_t{1})), "contains_many");
}
BENCHMARK(BM_ContainsMany)->Apply(lookup_args)->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace optout::bench

namespace optout::bench {
namespace {

// ---- Token sets (pseudonymised extracts) ----------------------------------------------------------

// TokenSet::create: HMAC-SHA256 of every listed number (OpenSSL EVP_MAC, all cores) into the
// token table; the index is built once, outside the loop. items: numbers hashed.
void BM_TokenSetBuild(benchmark::State& state) {
  const std::int64_t n = state.range(0);
  const auto& registry = built_registry(n);
  if (!check(state, registry.status(), "fixture")) return;
  Result<OptOutIndex> index = OptOutIndex::create(*registry);
  if (!check(state, index.status(), "index")) return;
  std::vector<std::uint8_t> key_bytes(32);
  for (std::size_t i = 0; i < key_bytes.size(); ++i) key_bytes[i] = static_cast<std::uint8_t>(i * 7 + 1);
  Result<PseudonymKey> key = PseudonymKey::from_bytes(key_bytes, "bench.key");
  if (!check(state, key.status(), "key")) return;
  std::uint64_t tokens = 0, bytes = 0;
  for (auto _ : state) {
    Result<std::shared_ptr<const TokenSet>> set = TokenSet::create(*index, *key);
    if (!check(state, set.status(), "create")) return;
    tokens = (*set)->size();
    bytes = (*set)->memory_bytes();
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * tokens));
  state.counters["table_MB"] = static_cast<double>(bytes) / 1e6;
}
BENCHMARK(BM_TokenSetBuild)->Apply(registry_sizes)->UseRealTime()->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace optout::bench

BENCHMARK_MAIN();
