// The impact report (impact.hpp): merging groups, the disclosure rule, the report's bytes.
#include "optout/impact.hpp"

#include <algorithm>
#include <cstring>
#include <array>
#include <string>
#include <unordered_map>

#include <nlohmann/json.hpp>

#include "impact_table.hpp"
#include "jsonl_scan.hpp"
#include "optout/index.hpp"

namespace optout {

ImpactFormat impact_format_by_suffix(std::string_view path) noexcept {
  return path.ends_with(".json") ? ImpactFormat::kJson : ImpactFormat::kCsv;
}

std::string impact_count_text(std::uint64_t count, bool exact) {
  if (exact || count == 0) return std::to_string(count);
  if (count <= kImpactSuppressUpTo) return "*";
  // The nearest multiple of 5: remainders 0-2 down, 3-4 up (never a tie for an integer).
  const std::uint64_t rest = count % kImpactRoundTo;
  return std::to_string(rest * 2 < kImpactRoundTo ? count - rest : count - rest + kImpactRoundTo);
}

Status impact_limit_error(std::string_view where, std::span<const std::string> by) {
  std::string names;
  for (const std::string& name : by) names += (names.empty() ? "'" : ", '") + redact_numbers(name) + "'";
  return Status(ErrorCode::kLimitExceeded, std::string(where) + ": more than " + std::to_string(kImpactGroupsLimit) +
                                               " groups of " + names +
                                               " for the impact report (its limit): group by fewer or coarser columns");
}

Status add_impact(ImpactGroups& total, const ImpactGroups& part, std::string_view where,
                  std::span<const std::string> by) {
  for (const auto& [key, counts] : part) {
    auto it = total.find(key);
    if (it == total.end()) {
      if (total.size() >= kImpactGroupsLimit) return impact_limit_error(where, by);
      it = total.emplace(key, ImpactCounts{}).first;
    }
    it->second.rows += counts.rows;
    it->second.kept += counts.kept;
    it->second.removed += counts.removed;
    it->second.rejected += counts.rejected;
  }
  return Status();
}

namespace {

std::string csv_field(std::string_view value) {
  if (!value.empty() && value.find_first_of(",\"\r\n") == std::string_view::npos) return std::string(value);
  std::string quoted = "\"";
  for (const char c : value) {
    if (c == '"') quoted += '"';
    quoted += c;
  }
  return quoted + "\"";
}

}  // namespace

std::string impact_report(const ImpactGroups& groups, std::span<const std::string> by, bool exact,
                          ImpactFormat format) {
  if (format == ImpactFormat::kJson) {
    using Json = nlohmann::ordered_json;
    Json j;
    j["by"] = std::vector<std::string>(by.begin(), by.end());
    j["exact"] = exact;
    if (!exact) {
      j["suppressed_up_to"] = kImpactSuppressUpTo;
      j["rounded_to"] = kImpactRoundTo;
    }
    auto count = [&](std::uint64_t n) {
      const std::string text = impact_count_text(n, exact);
      return text == "*" ? Json(text) : Json(std::stoull(text));
    };
    Json list = Json::array();
    for (const auto& [key, counts] : groups) {
      Json values = Json::array();
      for (const std::optional<std::string>& value : key) values.push_back(value ? Json(*value) : Json(nullptr));
      Json g;
      g["values"] = std::move(values);
      g["rows"] = count(counts.rows);
      g["kept"] = count(counts.kept);
      g["removed"] = count(counts.removed);
      g["rejected"] = count(counts.rejected);
      list.push_back(std::move(g));
    }
    j["groups"] = std::move(list);
    return j.dump(-1, ' ', false, Json::error_handler_t::replace) + "\n";
  }
  std::string out;
  for (const std::string& name : by) out += csv_field(name) + ",";
  out += "rows,kept,removed,rejected\n";
  for (const auto& [key, counts] : groups) {
    for (const std::optional<std::string>& value : key) out += (value ? csv_field(*value) : std::string()) + ",";
    out += impact_count_text(counts.rows, exact) + "," + impact_count_text(counts.kept, exact) + "," +
           impact_count_text(counts.removed, exact) + "," + impact_count_text(counts.rejected, exact) + "\n";
  }
  return out;
}

Result<ImpactGroups> count_impact(std::span<const std::uint8_t> verdicts,
                                  std::span<const std::vector<std::optional<std::string>>> keys,
                                  std::span<const std::string> by) {
  if (keys.size() != by.size()) {
    return Status(ErrorCode::kInvalidArgument, "one column of values per grouping column");
  }
  for (const auto& column : keys) {
    if (column.size() != verdicts.size()) {
      return Status(ErrorCode::kInvalidArgument, "verdicts and grouping values differ in length");
    }
  }
  ImpactGroups groups;
  ImpactKey key(keys.size());
  for (std::size_t i = 0; i < verdicts.size(); ++i) {
    if (verdicts[i] > static_cast<std::uint8_t>(Verdict::kRejected)) {
      return Status(ErrorCode::kInvalidArgument, "verdicts[" + std::to_string(i) + "] is not a Verdict value");
    }
    for (std::size_t c = 0; c < keys.size(); ++c) key[c] = keys[c][i];
    auto it = groups.find(key);
    if (it == groups.end()) {
      if (groups.size() >= kImpactGroupsLimit) return impact_limit_error("the data frame", by);
      it = groups.emplace(key, ImpactCounts{}).first;
    }
    ++it->second.rows;
    switch (static_cast<Verdict>(verdicts[i])) {
      case Verdict::kKept: ++it->second.kept; break;
      case Verdict::kRemoved: ++it->second.removed; break;
      case Verdict::kRejected: ++it->second.rejected; break;
    }
  }
  return groups;
}

namespace {

Status invalid(std::string message) { return Status(ErrorCode::kInvalidArgument, std::move(message)); }

// A key as the JSON Pointer to it ("nhs_number" is "/nhs_number"), so that both spellings compare.
std::string as_pointer(std::string_view column) {
  if (column.starts_with('/')) return std::string(column);
  std::string pointer = "/";
  for (const char c : column) {
    if (c == '~') {
      pointer += "~0";
    } else if (c == '/') {
      pointer += "~1";
    } else {
      pointer += c;
    }
  }
  return pointer;
}

const char* const kNhsColumnRefused =
    "the NHS-number column cannot be a grouping column of the impact report (the report would hold NHS numbers)";

}  // namespace

Status impact_with_tokens() {
  return Status(ErrorCode::kInvalidArgument,
                "an impact report cannot be made of a pseudonymised extract (--pseudonym-key)");
}

Status detail::validate_impact_by(const FilterOptions& options) {
  const std::vector<std::string>& by = options.impact_by;
  if (by.empty()) return Status();
  if (by.size() > kImpactColumnsLimit) {
    return invalid("the impact report groups by at most " + std::to_string(kImpactColumnsLimit) + " columns");
  }
  const bool json_lines = options.format == InputFormat::kJsonLines;
  for (std::size_t i = 0; i < by.size(); ++i) {
    if (by[i].empty()) return invalid("a grouping column of the impact report has an empty name");
    if (redact_numbers(by[i]) != by[i]) {
      return invalid("a grouping column's name looks like a number (6 or more digits), not a column's name");
    }
    for (std::size_t k = 0; k < i; ++k) {
      const bool same = json_lines ? as_pointer(by[k]) == as_pointer(by[i]) : by[k] == by[i];
      if (same) return invalid("the grouping column '" + by[i] + "' is given twice");
    }
    if (json_lines) {
      if (by[i].starts_with('/') && !valid_json_pointer(by[i])) {
        return invalid("a JSON Pointer escapes '~' only as ~0 or ~1 (RFC 6901)");
      }
      if (as_pointer(by[i]) == as_pointer(options.column_name)) return invalid(kNhsColumnRefused);
    } else if (!options.column_name.empty() && by[i] == options.column_name) {
      return invalid(kNhsColumnRefused);
    }
  }
  if (!json_lines && !options.has_header) {
    return invalid("the impact report's grouping columns are named by the header: the input needs one");
  }
  return Status();
}

Result<detail::ImpactColumns> detail::resolve_impact_columns(std::span<const std::string> names,
                                                             const FilterOptions& options, std::size_t nhs_column,
                                                             std::string_view input) {
  ImpactColumns columns;
  if (options.format == InputFormat::kJsonLines) {
    columns.keys = options.impact_by;
    return columns;
  }
  for (const std::string& name : options.impact_by) {
    std::vector<std::size_t> found;
    for (std::size_t k = 0; k < names.size(); ++k) {
      if (names[k] == name) found.push_back(k);
    }
    if (found.empty()) {
      FilterOptions by_name;
      by_name.column_name = name;
      Result<std::size_t> missing = resolve_column(names, by_name, input);  // its words: kNotFound
      return missing.ok() ? Status(ErrorCode::kInternal, "grouping column not found") : missing.status();
    }
    if (found.size() > 1) {
      std::string positions;
      for (const std::size_t k : found) positions += (positions.empty() ? "" : ", ") + std::to_string(k + 1);
      return Status(ErrorCode::kInvalidInput, std::string(input) + ": the header names column '" +
                                                  redact_numbers(name) + "' " + std::to_string(found.size()) +
                                                  " times (columns " + positions +
                                                  "): which one to group by is ambiguous");
    }
    if (found[0] == nhs_column) return Status(ErrorCode::kInvalidArgument, kNhsColumnRefused);
    columns.fields.push_back(found[0]);
  }
  for (const std::size_t field : columns.fields) columns.last = std::max(columns.last, field);
  columns.column_of_field.assign(columns.last + 1, -1);
  for (std::size_t c = 0; c < columns.fields.size(); ++c) {
    columns.column_of_field[columns.fields[c]] = static_cast<std::int32_t>(c);
  }
  for (std::size_t field = 0; field <= columns.last; ++field) {
    if (columns.column_of_field[field] < 0) continue;
    if (!columns.runs.empty() && columns.runs.back().last + 1 == field) {
      columns.runs.back().last = field;
    } else {
      columns.runs.push_back({field, field});
    }
  }
  return columns;
}

namespace {

// A CSV field's text: a quoted field (the scanner checked it closes at its end) without its
// quotes, "" read as ".
std::string csv_text(std::string_view field) {
  if (field.size() < 2 || field.front() != '"') return std::string(field);
  field = field.substr(1, field.size() - 2);
  std::string text;
  for (std::size_t i = 0; i < field.size(); ++i) {
    text += field[i];
    if (field[i] == '"' && i + 1 < field.size() && field[i + 1] == '"') ++i;
  }
  return text;
}

}  // namespace

Status detail::merge_impact_tables(std::span<const ImpactTable* const> tables, const ImpactColumns* csv, char delimiter,
                                   ImpactGroups& groups, std::string_view where, std::span<const std::string> by) {
  // With more than one table (threads), the raw keys are summed first (byte-equal keys are one
  // group), so that each is decoded and put in the sorted map once, not once a thread.
  std::unordered_map<std::string, std::array<std::uint64_t, 3>> raw_counts;
  if (tables.size() > 1) {
    for (const ImpactTable* table : tables) {
      table->for_each([&](std::string_view raw, const std::uint64_t* counts) {
        std::array<std::uint64_t, 3>& sum = raw_counts[std::string(raw)];
        for (std::size_t k = 0; k < 3; ++k) sum[k] += counts[k];
      });
    }
  }
  Status merged;
  const auto add = [&](std::string_view raw, const std::uint64_t* counts) {
    if (!merged.ok()) return;
    ImpactKey key(by.size(), std::nullopt);
    const std::size_t parts = csv != nullptr ? csv->runs.size() : by.size();
    for (std::size_t j = 0; j < parts; ++j) {  // the padding after the last part is left
      const auto first = static_cast<unsigned char>(raw.front());
      raw.remove_prefix(1);
      if (first == kMissingByte) continue;
      std::size_t length = first;
      if (first == kLongField) {
        std::uint32_t long_length = 0;
        std::memcpy(&long_length, raw.data(), 4);
        raw.remove_prefix(4);
        length = long_length;
      }
      const std::string_view part = raw.substr(0, length);
      raw.remove_prefix(length);
      if (csv == nullptr) {
        key[j] = std::string(part);
        continue;
      }
      // A run's span: its fields, cut at each delimiter outside quotes (the scanner checked the
      // record, so its quotes pair up); the fields past the record's last stay missing.
      std::size_t field = csv->runs[j].first;
      std::size_t field_begin = 0;
      bool quoted = false;
      for (std::size_t i = 0; i <= part.size(); ++i) {
        if (i < part.size() && part[i] == '"') quoted = !quoted;
        if (i < part.size() && (quoted || part[i] != delimiter)) continue;
        key[static_cast<std::size_t>(csv->column_of_field[field])] =
            csv_text(part.substr(field_begin, i - field_begin));
        ++field;
        field_begin = i + 1;
      }
    }
    auto it = groups.lower_bound(key);
    if (it == groups.end() || it->first != key) {
      if (groups.size() >= kImpactGroupsLimit) {
        merged = impact_limit_error(where, by);
        return;
      }
      it = groups.emplace_hint(it, std::move(key), ImpactCounts{});
    }
    it->second.rows += counts[0];
    it->second.kept += counts[0] - counts[1] - counts[2];
    it->second.removed += counts[1];
    it->second.rejected += counts[2];
  };
  if (tables.size() == 1) {
    tables.front()->for_each(add);
  } else {
    for (const auto& [raw, counts] : raw_counts) add(raw, counts.data());
  }
  return merged;
}

}  // namespace optout
