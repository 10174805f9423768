// Small formatting helpers shared by the commands: timestamps, aligned tables, JSON on stdout.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace optout::cli {

// Seconds since the Unix epoch as ISO 8601 UTC, e.g. "2026-11-24T18:03:00Z"; "@<seconds>" when the
// value is outside what the C library can convert (a crafted snapshot may hold anything).
std::string iso8601_utc(std::int64_t seconds);

// "7.28": bytes per number with two decimals, or "-" when count is 0.
std::string bytes_per_number(std::uint64_t bytes, std::uint64_t count);

// Rows of cells as aligned columns separated by two spaces, each line ending in '\n'.
// right_aligned[i] right-aligns column i (numbers); missing entries mean left-aligned. The last
// column is not padded, so lines carry no trailing spaces.
std::string format_table(const std::vector<std::vector<std::string>>& rows,
                         const std::vector<bool>& right_aligned = {});

// Writes json to stdout, indented by 2, followed by '\n'. Invalid UTF-8 in strings (a description
// or a typed number may hold any bytes) is replaced with U+FFFD instead of failing.
void print_json(const nlohmann::json& json);

}  // namespace optout::cli
