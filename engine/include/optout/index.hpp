// The lookup index: the lists of a registry that a run applies, folded into one probe, and what a
// run needs to know of the registry besides (its name, digest and age). A run needs only an index
// and a request (run.hpp).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "optout/export.hpp"
#include "optout/nhs_number.hpp"
#include "optout/policy.hpp"
#include "optout/registry.hpp"
#include "optout/status.hpp"

namespace optout {

namespace detail {
struct IndexAccess;  // engine/src/kernel: the filter's view of the bits
}  // namespace detail

// An applied list, as a run's audit record names it.
struct AppliedList {
  std::string name;
  ListKind kind = ListKind::kDeny;
  std::uint64_t count = 0;
  std::optional<std::int64_t> as_of;  // ListProvenance::as_of
};

// The verdict for one record or number. Values are fixed (bindings expose them).
enum class Verdict : std::uint8_t { kKept = 0, kRemoved = 1, kRejected = 2 };

// Batch lookups (OptOutIndex::classify_each) parse this many numbers, then probe them: the probes
// are random reads of the index, and a tight probe loop keeps many of their cache misses in
// flight. From Python on the 2-core AMD VM, 10 M listed uint64 numbers, 5 M registry: 4.8 M/s
// parsing between probes, 9.4 M/s parsing all then probing all, 20 M/s in chunks of 1024 (8 KB of
// parsed numbers stay in L1).
inline constexpr std::size_t kClassifyChunk = 1024;

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
  [[nodiscard]] static Result<OptOutIndex> create(const Registry& registry, std::span<const std::string> apply = {});

  // Applies the lists a selection chooses (select_lists(): by name, or by purpose less
  // exemptions); its errors, then create()'s. The index then knows the purpose and exemptions.
  [[nodiscard]] static Result<OptOutIndex> create(const Registry& registry, const ListSelection& selection);
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

  // The one parse-then-probe loop behind every batch lookup: out[i] = the verdict for
  // parse_at(i) (a ParsedNhsNumber), parse_at called for i = 0 .. out.size() - 1 in order,
  // kClassifyChunk at a time, each chunk then probed by classify_parsed(). Out is Verdict, or
  // std::uint8_t for a caller's byte buffer (the C and Python bindings). Throws only what
  // parse_at throws.
  //   index.classify_each(std::span<Verdict>(out), [&](std::size_t i) { return parse_nhs_number(texts[i]); });
  template <typename Out, typename ParseAt>
  void classify_each(std::span<Out> out, ParseAt&& parse_at) const {
    static_assert(std::is_same_v<Out, Verdict> || std::is_same_v<Out, std::uint8_t>);
    std::array<ParsedNhsNumber, kClassifyChunk> parsed;
    std::array<Verdict, kClassifyChunk> verdicts;
    for (std::size_t base = 0; base < out.size(); base += kClassifyChunk) {
      const std::size_t n = out.size() - base < kClassifyChunk ? out.size() - base : kClassifyChunk;
      for (std::size_t k = 0; k < n; ++k) parsed[k] = parse_at(base + k);
      if constexpr (std::is_same_v<Out, Verdict>) {
        classify_parsed({parsed.data(), n}, out.subspan(base, n));
      } else {
        classify_parsed({parsed.data(), n}, {verdicts.data(), n});
        for (std::size_t k = 0; k < n; ++k) out[base + k] = static_cast<std::uint8_t>(verdicts[k]);
      }
    }
  }

  // The names of the applied lists, in registry order.
  const std::vector<std::string>& applied_lists() const noexcept;
  // The applied lists as audit records name them: name, kind, count and as-of date.
  const std::vector<AppliedList>& applied_list_facts() const noexcept;
  // The purpose the lists were chosen by (nullopt: by name), and the lists it exempted.
  const std::optional<std::string>& purpose() const noexcept;
  const std::vector<ExemptedList>& exempted_lists() const noexcept;
  // The registry's: where it came from (Registry::source()), its digest, creation time and signer,
  // and when the applied lists' data dates from (Registry::data_as_of()), for messages, audit
  // records, the trust check and the freshness gate.
  const std::string& registry_source() const noexcept;
  const Digest128& registry_digest() const noexcept;
  std::int64_t registry_created_at() const noexcept;
  const std::optional<PublicKey>& registry_signer() const noexcept;
  std::int64_t data_as_of() const noexcept;

  // The freshness gate: kStaleRegistry "SOURCE: the registry was built ..., N h ago, older than
  // the limit of M h" (or "the registry's lists date from ...") when the applied lists' data
  // (data_as_of(): the oldest as-of date, else the build time) is more than max_age_seconds older
  // than now (both Unix seconds), and when it claims to be from more than kClockSkewSeconds after
  // now (a wrong clock at build or here: its age cannot be known); ok otherwise.
  // kInvalidArgument for a negative max_age_seconds or a now out of range. run_filter() applies
  // it from the request.
  [[nodiscard]] Status check_age(std::int64_t max_age_seconds, std::int64_t now) const;

 private:
  friend struct detail::IndexAccess;
  struct Impl;
  explicit OptOutIndex(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// The freshness gate over a registry's source name, creation time and the date its applied lists'
// data is from (OptOutIndex::check_age's rule, for a caller holding a Registry:
// registry.source(), registry.created_at(), registry.data_as_of(lists)). The age counts from
// data_as_of when it is earlier than created_at.
[[nodiscard]] OPTOUT_API Status check_registry_age(std::string_view source, std::int64_t created_at,
                                                   std::int64_t data_as_of, std::int64_t max_age_seconds,
                                                   std::int64_t now);

// The text form of a maximum registry age, as optout filter --max-age takes it: a number of hours
// or days ("36h", "7d"; at most 9 digits) → seconds. kInvalidArgument "the maximum age takes a number of hours or days,
// e.g. 36h or 7d" for anything else, "" included.
[[nodiscard]] OPTOUT_API Result<std::int64_t> parse_max_age(std::string_view text);

}  // namespace optout
