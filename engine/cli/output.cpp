#include "output.hpp"

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <iostream>

#include <nlohmann/json.hpp>

namespace optout::cli {

std::string iso8601_utc(std::int64_t seconds) {
  const auto t = static_cast<std::time_t>(seconds);
  std::tm tm{};
  char buffer[64];
  if (static_cast<std::int64_t>(t) != seconds || gmtime_r(&t, &tm) == nullptr ||
      std::strftime(buffer, sizeof buffer, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0) {
    std::string raw(1, '@');  // (not "@" + to_string: GCC 12 warns falsely, -Wrestrict)
    raw += std::to_string(seconds);
    return raw;
  }
  return buffer;
}

std::string bytes_per_number(std::uint64_t bytes, std::uint64_t count) {
  if (count == 0) return "-";
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.2f", static_cast<double>(bytes) / static_cast<double>(count));
  return buffer;
}

std::string format_table(const std::vector<std::vector<std::string>>& rows, const std::vector<bool>& right_aligned) {
  std::vector<std::size_t> widths;
  for (const auto& row : rows) {
    if (widths.size() < row.size()) widths.resize(row.size(), 0);
    for (std::size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], row[i].size());
  }
  std::string out;
  for (const auto& row : rows) {
    std::string line;
    for (std::size_t i = 0; i < row.size(); ++i) {
      if (i > 0) line += "  ";
      const std::size_t pad = widths[i] - row[i].size();
      const bool right = i < right_aligned.size() && right_aligned[i];
      if (right) line.append(pad, ' ');
      line += row[i];
      if (!right && i + 1 < row.size()) line.append(pad, ' ');
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out += line;
    out += '\n';
  }
  return out;
}

void print_json(const nlohmann::json& json) {
  std::cout << json.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << '\n';
}

}  // namespace optout::cli
