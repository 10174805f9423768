// The lookup index: the lists of a registry that a run applies, folded into one probe, and what a
// run needs to know of the registry besides (its name, digest and age). A run needs only an index
// and a request (run.hpp).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "optout/export.hpp"
#include "optout/nhs_number.hpp"
#include "optout/registry.hpp"
#include "optout/status.hpp"

namespace optout {

namespace detail {
struct IndexAccess;  // engine/src/kernel: the filter's view of the bits
}  // namespace detail

// The verdict for one record or number. Values are fixed (bindings expose them).
enum class Verdict : std::uint8_t { kKept = 0, kRemoved = 1, kRejected = 2 };

// How far in the future a registry's creation time may be, under a maximum age, before it is
// refused: clocks of the building and the filtering machine may disagree by this much.
inline constexpr std::int64_t kClockSkewSeconds = 300;

// The applied lists of a registry folded into one flat bit per stem, answering "must a row with
// this stem be removed?" in a few ns (a Roaring lookup costs 170-210 ns here). Immutable and safe
// to share between threads. Costs up to 125 MB of address space, of which only the pages that
// hold listed stems are touched (~40 MiB for lists spread over the England ranges).
class OPTOUT_API OptOutIndex {
 public:
  // Applies the named lists (empty: every list in the registry): a stem is removed when it is in
  // any applied deny list, or missing from any applied allow list.
  // Errors (messages start with registry.source()): kNotFound naming an unknown list,
  // kInvalidArgument for a name no list can have; kIoError when memory cannot be mapped.
  [[nodiscard]] static Result<OptOutIndex> create(const Registry& registry,
                                                  std::span<const std::string> apply = {});

  OptOutIndex(OptOutIndex&&) noexcept;
  OptOutIndex& operator=(OptOutIndex&&) noexcept;
  ~OptOutIndex();

  // Precondition: stem < kStemLimit.
  bool removes(std::uint32_t stem) const noexcept;
  // kRejected for an invalid parse, else kRemoved or kKept: the one verdict rule.
  Verdict verdict(const ParsedNhsNumber& parsed) const noexcept;

  // Verdicts for numbers callers already hold: out[i] for stems[i] (all valid stems), for
  // 10-digit integers (invalid ones are rejected), for text (parsed as in the filter), or for
  // numbers already parsed. Each parses a chunk at a time and then probes it, so that the probes'
  // cache misses overlap. Precondition: out.size() equals the input's size.
  void classify_parsed(std::span<const ParsedNhsNumber> parsed, std::span<Verdict> out) const noexcept;
  void classify_stems(std::span<const std::uint32_t> stems, std::span<Verdict> out) const noexcept;
  void classify_numbers(std::span<const std::uint64_t> numbers, std::span<Verdict> out) const noexcept;
  void classify_text(std::span<const std::string_view> texts, std::span<Verdict> out) const noexcept;

  // The names of the applied lists, in registry order.
  const std::vector<std::string>& applied_lists() const noexcept;
  // The registry's: where it came from (Registry::source()), its digest and creation time, for
  // messages, audit records and the freshness gate.
  const std::string& registry_source() const noexcept;
  const Digest128& registry_digest() const noexcept;
  std::int64_t registry_created_at() const noexcept;

  // The freshness gate: kStaleRegistry "SOURCE: the registry was built ..., N h ago, older than
  // the limit of M h" when the registry was built more than max_age_seconds before now (both Unix
  // seconds), and when it claims to be built more than kClockSkewSeconds after now (a wrong clock
  // at build or here: its age cannot be known); ok otherwise. kInvalidArgument for a negative
  // max_age_seconds or a now out of range. run_filter() applies it from the request.
  [[nodiscard]] Status check_age(std::int64_t max_age_seconds, std::int64_t now) const;

 private:
  friend struct detail::IndexAccess;
  struct Impl;
  explicit OptOutIndex(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// The freshness gate over a registry's source name and creation time (OptOutIndex::check_age's
// rule, for a caller holding a Registry: registry.source(), registry.created_at()).
[[nodiscard]] OPTOUT_API Status check_registry_age(std::string_view source, std::int64_t created_at,
                                                   std::int64_t max_age_seconds, std::int64_t now);

// The text form of a maximum registry age, as optout filter --max-age takes it: a number of hours
// or days ("36h", "7d"; at most 9 digits) → seconds. nullopt for anything else, "" included.
OPTOUT_API std::optional<std::int64_t> parse_max_age(std::string_view text) noexcept;

}  // namespace optout
