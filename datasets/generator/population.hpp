// The synthetic patient population behind every file optout-gen writes.
//
// Patients are numbered 0, 1, 2, ... Patient k has:
//   - an NHS number: a valid stem in the England ranges (400 000 000–499 999 999 and
//     600 000 000–799 999 999), distinct for distinct k (see Population::stem);
//   - a national opt-out with probability national_rate, and a type 1 opt-out with probability
//     type1_rate of which about type1_overlap also have a national opt-out; both are keyed hashes
//     of (seed, list, k), so a list and an extract made separately agree without sharing files;
//   - fixed traits (date of birth, sex, postcode district) shared by all of the patient's rows.
// The population size only bounds which patients exist; patient k's facts never depend on it.
#pragma once

#include <array>
#include <cstdint>
#include <string>

#include "optout/status.hpp"

namespace optout::gen {

struct PopulationOptions {
  std::uint64_t seed = 1;
  std::uint64_t size = 60'000'000;  // roughly England's registered population
  double national_rate = 0.05;      // 4.97% in July 2021 (DOMAIN.md §2)
  double type1_rate = 0.035;        // ~2.1M type 1 people in 2018 among ~60M
  double type1_overlap = 0.4;       // share of type 1 patients who also have a national opt-out
};

// Facts about one patient that stay the same in every row of every extract.
struct PatientTraits {
  std::int32_t birth_day = 0;  // days since 1970-01-01; births 1925-01-01 .. 2019-12-31
  char sex = 'U';              // 'M', 'F' or 'U' (not known)
  std::uint16_t postcode = 0;  // index into the postcode district table (postcode_district())
};

class Population {
 public:
  // How many distinct valid England stems the stem mapping can hand out: 30 M eight-digit prefixes
  // times the 9 valid last digits every prefix has (see stem()).
  static constexpr std::uint64_t kMaxSize = 270'000'000;

  // Checks sizes and rates: size in [1, kMaxSize], rates in [0, 1]. Errors: kInvalidArgument.
  [[nodiscard]] static Result<Population> create(const PopulationOptions& options);

  const PopulationOptions& options() const noexcept { return options_; }
  std::uint64_t size() const noexcept { return options_.size; }

  // The NHS number stem of patient k (k < kMaxSize): valid, in the England ranges, and distinct
  // for distinct k. Cost ~40 ns.
  //
  // The slots 0 .. kMaxSize-1 stand for (prefix, j): prefix = one of the 30 M eight-digit stem
  // prefixes of the England ranges, j = 0..8 picks the j-th last digit whose stem has a valid
  // check digit. Of the ten last digits at most one gives check digit 10 (2·d mod 11 differs for
  // each d), so every prefix has at least 9 valid stems; the rare tenth valid one is never used.
  // Patient k gets slot π(k) for π a keyed 4-round Feistel permutation on 16432² ≥ kMaxSize
  // values with cycle-walking, so the mapping is a bijection and no two patients share a stem.
  std::uint32_t stem(std::uint64_t patient) const noexcept;

  bool national(std::uint64_t patient) const noexcept;
  bool type1(std::uint64_t patient) const noexcept;
  PatientTraits traits(std::uint64_t patient) const noexcept;
  // A hash of (seed, patient, salt) for further per-patient facts (GP practice, LSOA, ...).
  std::uint64_t patient_hash(std::uint64_t patient, std::uint64_t salt) const noexcept;

 private:
  static constexpr int kFeistelRounds = 4;  // Luby–Rackoff: 4 rounds of a good mixer suffice

  explicit Population(const PopulationOptions& options);
  std::uint64_t permute(std::uint64_t slot) const noexcept;

  PopulationOptions options_;
  std::array<std::uint64_t, kFeistelRounds> round_keys_{};
  std::uint64_t national_key_ = 0;
  std::uint64_t type1_key_ = 0;
  std::uint64_t traits_key_ = 0;
  double type1_if_national_ = 0;  // P(type1 | national)
  double type1_if_not_ = 0;       // P(type1 | not national)
};

// The number of postcode districts traits().postcode indexes, and the text of one ("LS11").
std::size_t postcode_district_count() noexcept;
const std::string& postcode_district(std::uint16_t index) noexcept;

}  // namespace optout::gen
