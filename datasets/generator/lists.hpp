// Opt-out lists and the Check for National Data Opt-outs service's reply, as optout-gen writes them.
#pragma once

#include <cstdint>
#include <optional>

#include "optout/status.hpp"
#include "output.hpp"
#include "population.hpp"

namespace optout::gen {

enum class ListKind { kNational, kType1 };

enum class ListFormat {
  kText,  // "9434765919" per line
  kDat,   // "9434765919," per line: the Check service's .dat form (no header)
};

struct LineStyle {
  ListFormat format = ListFormat::kText;
  bool crlf = false;  // CRLF instead of LF after every number
};

struct ListOptions {
  ListKind kind = ListKind::kNational;
  LineStyle style;
  std::optional<std::uint64_t> count;  // exactly this many numbers; see options_for_count()
};

// The population options a list of `count` numbers is drawn from: unchanged when count fits the
// list's rate (count ≤ rate × size), otherwise with the list's rate raised to count / size, so
// that 50 M distinct numbers come from the default 60 M patients. Lists stay nested: raising a
// rate only adds members. The result has valid rates when `options` has.
PopulationOptions options_for_count(PopulationOptions options, ListKind kind, std::uint64_t count);

// Writes the list's members' NHS numbers in patient order (unsorted, as real lists are). With a
// count, the first `count` members; when the population has fewer, the scan continues past its
// size (up to Population::kMaxSize), i.e. over a larger population with the same members.
// Errors: kInvalidArgument (count not reachable), kIoError, kBrokenPipe.
[[nodiscard]] Status write_list(const Population& population, const ListOptions& options, ByteSink& out,
                                std::size_t max_in_flight);

// Writes the Check service's "cleaned list" for patients 0 .. patients-1: the NHS numbers of those
// WITHOUT a national opt-out, in patient order. patients ≤ population size.
// Errors: kInvalidArgument, kIoError, kBrokenPipe.
[[nodiscard]] Status write_allow(const Population& population, std::uint64_t patients, const LineStyle& style,
                                 ByteSink& out, std::size_t max_in_flight);

}  // namespace optout::gen
