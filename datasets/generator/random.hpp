// Keyed hashing and a small counter-based random generator for optout-gen.
//
// Everything the generator emits is a pure function of (seed, arguments): per-patient facts come
// from keyed hashes of the patient index, per-row choices from a Rng seeded by (seed, stream,
// chunk index). The standard <random> distributions are avoided on purpose: their output is
// implementation-defined, so the same seed could give different files with another library.
#pragma once

#include <cstdint>

namespace optout::gen {

__extension__ using Uint128 = unsigned __int128;  // GCC and Clang; __extension__ silences -Wpedantic

// The SplitMix64 finaliser: a bijective 64-bit mixer with full avalanche.
constexpr std::uint64_t mix64(std::uint64_t x) noexcept {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  x ^= x >> 31;
  return x;
}

// A keyed hash of one value: different keys give independent-looking functions of value.
constexpr std::uint64_t keyed_hash(std::uint64_t key, std::uint64_t value) noexcept {
  return mix64(key ^ mix64(value + 0x9e3779b97f4a7c15ULL));
}

// A uniform double in [0, 1) from the top 53 bits of a hash.
constexpr double unit_interval(std::uint64_t bits) noexcept { return static_cast<double>(bits >> 11) * 0x1.0p-53; }

// Stream tags: one per independent use of the seed, so that e.g. the national and the type1
// memberships of a patient are unrelated hashes. Values are part of the output format.
enum class Stream : std::uint64_t {
  kPermutation = 1,
  kNational = 2,
  kType1 = 3,
  kTraits = 4,
  kExtractRows = 5,
};

// The key of one stream under one seed.
constexpr std::uint64_t stream_key(std::uint64_t seed, Stream stream) noexcept {
  return keyed_hash(mix64(seed ^ 0x6f70746f75742d67ULL), static_cast<std::uint64_t>(stream));
}

// SplitMix64 as a generator: 8 bytes of state, a few ns per number, statistically sound for
// synthetic data (not for cryptography). Copyable; each chunk of output owns one.
class Rng {
 public:
  constexpr Rng(std::uint64_t key, std::uint64_t chunk) noexcept : state_(keyed_hash(key, chunk)) {}

  constexpr std::uint64_t next() noexcept {
    state_ += 0x9e3779b97f4a7c15ULL;
    return mix64(state_);
  }

  // Uniform in [0, n) by multiply-shift (bias below 2^-40 for the n used here). n > 0.
  constexpr std::uint64_t below(std::uint64_t n) noexcept {
    return static_cast<std::uint64_t>((static_cast<Uint128>(next()) * n) >> 64);
  }

  // Uniform in [lo, hi], inclusive.
  constexpr std::int64_t between(std::int64_t lo, std::int64_t hi) noexcept {
    return lo + static_cast<std::int64_t>(below(static_cast<std::uint64_t>(hi - lo) + 1));
  }

  constexpr double unit() noexcept { return unit_interval(next()); }

  // True with probability p.
  constexpr bool chance(double p) noexcept { return unit() < p; }

 private:
  std::uint64_t state_;
};

}  // namespace optout::gen
