// Machine-readable accounts of a filter run: the stats JSON (--stats) and the compliance audit
// record (--audit, one JSON line appended per run). Both carry counts, sizes, times and digests;
// never an NHS number or row content.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "optout/export.hpp"
#include "optout/filter.hpp"
#include "optout/registry.hpp"
#include "optout/status.hpp"

namespace optout {

// What a run was asked to do and with what, besides its FilterStats.
struct RunContext {
  std::string input_name;            // "extract.csv" or "<stdin>"
  std::string output_name;           // "clean.csv" or "<stdout>"
  std::int64_t started_at = 0;       // Unix seconds, UTC
  std::int64_t finished_at = 0;
  Digest128 registry_digest;
  std::int64_t registry_created_at = 0;
  std::vector<std::string> lists_applied;
};

// The stats as one JSON object: rows, kept, removed, rejected, rejected_by_reason (by name),
// bytes_in, bytes_out, seconds, mb_per_second, threads.
OPTOUT_API std::string filter_stats_json(const FilterStats& stats);

// One audit line (JSON, no newline): tool and version, start and end (ISO 8601 UTC), input name and
// bytes, registry digest and created-at, lists applied, the four counts, output name, bytes and
// XXH3-128 digest, and the outcome: "ok", or "failed" with the error code's name. stats may be
// null for a run that failed before counting anything.
OPTOUT_API std::string audit_record_json(const RunContext& context, const FilterStats* stats,
                                         const Status& outcome);

// Appends line + '\n' to path with one O_APPEND write, so concurrent runs never interleave
// within a record. Errors: kIoError.
[[nodiscard]] OPTOUT_API Status append_line(const std::filesystem::path& path, const std::string& line);

// ISO 8601 UTC with seconds, e.g. "2026-11-24T18:03:00Z".
OPTOUT_API std::string iso8601_utc(std::int64_t unix_seconds);

// The text form of a maximum registry age, as optout filter --max-age takes it: a number of hours
// or days ("36h", "7d"; at most 9 digits) → seconds. nullopt for anything else, "" included.
OPTOUT_API std::optional<std::int64_t> parse_max_age(std::string_view text) noexcept;

// kStaleRegistry when the registry was built more than max_age_seconds before now (both Unix
// seconds), naming its age; ok otherwise.
[[nodiscard]] OPTOUT_API Status check_registry_age(const Registry& registry,
                                                   std::int64_t max_age_seconds, std::int64_t now);

}  // namespace optout
