// The impact report: what a filter run did to each group of rows. Grouped by the values of one or
// more columns (FilterOptions::impact_by; FilterRequest::impact writes the report), each group has
// the four counts of filter.hpp: rows, kept, removed, rejected.
//
// A group's value in a column is the field's unquoted text ("a""b" is a"b), as it stands (no
// trimming); a record with too few fields has no value there: missing. JSON Lines: a string is its
// text, a number, true or false its JSON text, null or a missing key missing, an object or array
// its JSON text.
//
// Disclosure control, on unless exact: a count from 1 to 7 is written "*"; any other count is
// rounded to the nearest multiple of 5 (0 stays 0; an integer is never halfway between two
// multiples of 5, so no tie rule is needed: 8 and 12 are 10, 13 is 15).
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "optout/export.hpp"
#include "optout/status.hpp"

namespace optout {

struct ImpactCounts {
  std::uint64_t rows = 0;
  std::uint64_t kept = 0;
  std::uint64_t removed = 0;
  std::uint64_t rejected = 0;
  friend bool operator==(const ImpactCounts&, const ImpactCounts&) = default;
};

// A group: one value per grouping column, in impact_by's order; nullopt for a missing field.
using ImpactKey = std::vector<std::optional<std::string>>;
// Every group of a run, in the report's order: by the values, column by column, bytewise, a
// missing value first.
using ImpactGroups = std::map<ImpactKey, ImpactCounts>;

// At most this many grouping columns, and this many distinct groups in a run (a run over more
// fails with kLimitExceeded, naming the limit: grouping by a column unique to each row, a date or
// a record id, would make a report as long as the extract and hold it all in memory). Each of the
// run's block slots holds at most the limit too, so memory stays bounded while it runs.
inline constexpr std::size_t kImpactColumnsLimit = 8;
inline constexpr std::size_t kImpactGroupsLimit = 100000;
// Disclosure control: counts from 1 to this are suppressed; the others rounded to this base.
inline constexpr std::uint64_t kImpactSuppressUpTo = 7;
inline constexpr std::uint64_t kImpactRoundTo = 5;

// How a report is written: JSON when the path ends in ".json", else CSV.
enum class ImpactFormat : std::uint8_t { kCsv = 0, kJson = 1 };
OPTOUT_API ImpactFormat impact_format_by_suffix(std::string_view path) noexcept;

// The report reads grouping columns beside NHS numbers, not beside tokens: kInvalidArgument "an
// impact report cannot be made of a pseudonymised extract (--pseudonym-key)", which run_filter()
// and validate_filter_options() return for a request or options that ask for both.
OPTOUT_API Status impact_with_tokens();

// A count as the report writes it: exact, "*" for 1..7, or rounded to the nearest 5.
OPTOUT_API std::string impact_count_text(std::uint64_t count, bool exact);

// Adds part's groups into total (a run in parts sums its parts before any suppression).
// Errors: kLimitExceeded "WHERE: more than 100000 groups ..." when total would pass the limit.
[[nodiscard]] OPTOUT_API Status add_impact(ImpactGroups& total, const ImpactGroups& part, std::string_view where,
                                           std::span<const std::string> by);
// The limit message, for WHERE (an input's name) and the grouping columns.
OPTOUT_API Status impact_limit_error(std::string_view where, std::span<const std::string> by);

// The report's bytes.
// CSV: a header of the grouping columns' names then rows,kept,removed,rejected; one line per
// group, LF-terminated; a value is quoted when it holds a comma, quote, CR or LF or is empty (""),
// and a missing value is an empty field.
// JSON: {"by":[names],"exact":false,"suppressed_up_to":7,"rounded_to":5,"groups":[{"values":[..],
// "rows":N|"*","kept":..,"removed":..,"rejected":..},..]} (suppressed_up_to and rounded_to only
// when not exact), one object and a newline; a missing value is null; bytes that are not UTF-8
// are replaced by U+FFFD.
OPTOUT_API std::string impact_report(const ImpactGroups& groups, std::span<const std::string> by, bool exact,
                                     ImpactFormat format);

// Counts groups of rows decided elsewhere (a data frame's verdicts, as count_verdicts() takes
// them): keys[c][i] is row i's value in column c (nullopt: missing). Errors: kInvalidArgument for
// columns of different lengths, a value that is not a Verdict; kLimitExceeded past the limit.
[[nodiscard]] OPTOUT_API Result<ImpactGroups> count_impact(
    std::span<const std::uint8_t> verdicts, std::span<const std::vector<std::optional<std::string>>> keys,
    std::span<const std::string> by);

}  // namespace optout
