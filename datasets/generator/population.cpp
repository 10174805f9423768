#include "population.hpp"

#include <algorithm>
#include <cassert>
#include <string>
#include <vector>

#include "optout/nhs_number.hpp"
#include "random.hpp"

namespace optout::gen {
namespace {

// 16432² = 270 010 624 is the smallest square ≥ kMaxSize, so cycle-walking almost never repeats.
constexpr std::uint32_t kFeistelSide = 16432;
static_assert(std::uint64_t{kFeistelSide} * kFeistelSide >= Population::kMaxSize);
static_assert(std::uint64_t{kFeistelSide - 1} * (kFeistelSide - 1) < Population::kMaxSize);

constexpr std::uint64_t kValidDigitsUsed = 9;            // per eight-digit prefix, see stem()
constexpr std::uint32_t kLowRangePrefixes = 10'000'000;  // stems 400 000 000–499 999 999
constexpr std::uint32_t kLowRangeFirst = 40'000'000;     // their first prefix
constexpr std::uint32_t kHighRangeFirst = 60'000'000;    // stems 600 000 000–799 999 999
static_assert(kValidDigitsUsed * 30'000'000 == Population::kMaxSize);

bool is_rate(double r) { return r >= 0.0 && r <= 1.0; }

}  // namespace

Result<Population> Population::create(const PopulationOptions& options) {
  if (options.size == 0 || options.size > kMaxSize) {
    return Status(ErrorCode::kInvalidArgument, "population must be between 1 and " + std::to_string(kMaxSize));
  }
  if (!is_rate(options.national_rate)) {
    return Status(ErrorCode::kInvalidArgument, "national rate must be between 0 and 1");
  }
  if (!is_rate(options.type1_rate)) {
    return Status(ErrorCode::kInvalidArgument, "type1 rate must be between 0 and 1");
  }
  if (!is_rate(options.type1_overlap)) {
    return Status(ErrorCode::kInvalidArgument, "type1 overlap must be between 0 and 1");
  }
  return Population(options);
}

Population::Population(const PopulationOptions& options) : options_(options) {
  const std::uint64_t perm_key = stream_key(options.seed, Stream::kPermutation);
  for (int i = 0; i < kFeistelRounds; ++i) round_keys_[i] = keyed_hash(perm_key, static_cast<std::uint64_t>(i));
  national_key_ = stream_key(options.seed, Stream::kNational);
  type1_key_ = stream_key(options.seed, Stream::kType1);
  traits_key_ = stream_key(options.seed, Stream::kTraits);

  // Split type1_rate t between national (rate n) and other patients so that the total is exactly
  // t and, where the rates allow it, a share `overlap` of type 1 patients is also national.
  const double n = options.national_rate;
  const double t = options.type1_rate;
  const double overlap = options.type1_overlap;
  double if_national = n > 0 ? std::min(1.0, overlap * t / n) : 0.0;
  double if_not = n < 1 ? (t - n * if_national) / (1 - n) : 0.0;
  if (if_not > 1.0) {  // too few non-national patients for the requested overlap: raise it
    if_not = 1.0;
    if_national = std::min(1.0, (t - (1 - n)) / n);
  }
  type1_if_national_ = if_national;
  type1_if_not_ = std::max(0.0, if_not);
}

std::uint64_t Population::permute(std::uint64_t slot) const noexcept {
  std::uint64_t x = slot;
  do {  // cycle-walking: x < kMaxSize on entry, so the walk ends on the cycle through it
    auto left = static_cast<std::uint32_t>(x / kFeistelSide);
    auto right = static_cast<std::uint32_t>(x % kFeistelSide);
    for (const std::uint64_t key : round_keys_) {
      const auto f = static_cast<std::uint32_t>(mix64(key ^ right) % kFeistelSide);
      const std::uint32_t next_right = (left + f) % kFeistelSide;
      left = right;
      right = next_right;
    }
    x = std::uint64_t{left} * kFeistelSide + right;
  } while (x >= kMaxSize);
  return x;
}

std::uint32_t Population::stem(std::uint64_t patient) const noexcept {
  const std::uint64_t slot = permute(patient);
  const auto prefix_index = static_cast<std::uint32_t>(slot / kValidDigitsUsed);
  const auto wanted = static_cast<unsigned>(slot % kValidDigitsUsed);
  const std::uint32_t prefix = prefix_index < kLowRangePrefixes ? kLowRangeFirst + prefix_index
                                                                : kHighRangeFirst + (prefix_index - kLowRangePrefixes);
  // The wanted-th valid last digit. Going from last digit 0 to d adds 2d to the weighted sum, so
  // with c0 = check_digit(prefix·10) the one digit giving check digit 10 is 6·(c0 + 1) mod 11
  // (none when that is 10): one check_digit() call instead of trying digits one by one.
  const unsigned c0 = check_digit(prefix * 10);
  const unsigned invalid_digit = 6 * (c0 + 1) % 11;
  const std::uint32_t stem = prefix * 10 + (wanted < invalid_digit ? wanted : wanted + 1);
  assert(is_valid_stem(stem));
  return stem;
}

bool Population::national(std::uint64_t patient) const noexcept {
  return unit_interval(keyed_hash(national_key_, patient)) < options_.national_rate;
}

bool Population::type1(std::uint64_t patient) const noexcept {
  const double p = national(patient) ? type1_if_national_ : type1_if_not_;
  return unit_interval(keyed_hash(type1_key_, patient)) < p;
}

PatientTraits Population::traits(std::uint64_t patient) const noexcept {
  constexpr std::int32_t kFirstBirth = -16436;  // 1925-01-01
  constexpr std::uint32_t kBirthDays = 34698;   // .. 2019-12-31
  const std::uint64_t h = keyed_hash(traits_key_, patient);
  PatientTraits t;
  t.birth_day = kFirstBirth + static_cast<std::int32_t>((h & 0xffffffffULL) % kBirthDays);
  const auto sex = static_cast<unsigned>((h >> 32) % 100);
  t.sex = sex < 49 ? 'M' : sex < 99 ? 'F' : 'U';
  t.postcode = static_cast<std::uint16_t>((h >> 40) % postcode_district_count());
  return t;
}

std::uint64_t Population::patient_hash(std::uint64_t patient, std::uint64_t salt) const noexcept {
  return keyed_hash(keyed_hash(traits_key_, salt + 1), patient);
}

namespace {

// England postcode areas; districts 1..kDistrictsPerArea of each (not all exist: synthetic data).
constexpr const char* kPostcodeAreas[] = {
    "B",  "BA", "BB", "BD", "BH", "BL", "BN", "BR", "BS", "CA", "CB", "CH", "CM", "CO", "CR", "CT",
    "CV", "CW", "DA", "DE", "DH", "DL", "DN", "DT", "DY", "E",  "EN", "EX", "FY", "GL", "GU", "HA",
    "HD", "HG", "HP", "HR", "HU", "HX", "IG", "IP", "KT", "L",  "LA", "LE", "LN", "LS", "LU", "M",
    "ME", "MK", "N",  "NE", "NG", "NN", "NR", "NW", "OL", "OX", "PE", "PL", "PO", "PR", "RG", "RH",
    "RM", "S",  "SE", "SG", "SK", "SL", "SM", "SN", "SO", "SP", "SR", "SS", "ST", "SW", "SY", "TA",
    "TF", "TN", "TQ", "TR", "TS", "TW", "UB", "W",  "WA", "WD", "WF", "WN", "WR", "WS", "WV", "YO"};
constexpr unsigned kDistrictsPerArea = 20;

const std::vector<std::string>& districts() {
  static const std::vector<std::string> table = [] {
    std::vector<std::string> v;
    for (const char* area : kPostcodeAreas) {
      for (unsigned d = 1; d <= kDistrictsPerArea; ++d) v.push_back(area + std::to_string(d));
    }
    return v;
  }();
  return table;
}

}  // namespace

std::size_t postcode_district_count() noexcept { return std::size(kPostcodeAreas) * kDistrictsPerArea; }

const std::string& postcode_district(std::uint16_t index) noexcept { return districts()[index]; }

}  // namespace optout::gen
