#include "jsonl_scan.hpp"

#include <simdjson.h>

#include <cstring>
#include <optional>
#include <string>

#include "kernel/nhs_number_parse.hpp"
#include "kernel/token_probe.hpp"
#include "optout/pseudonym.hpp"
#include "tuning.hpp"

namespace optout::detail {

namespace {

namespace od = simdjson::ondemand;

constexpr bool is_json_space(char c) noexcept { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

// A number at the key, by its text (simdjson checks it is a JSON number): an integer below 10^10
// reads as its 10 digits (one implied leading zero, or more), so 943476591 is "0943476591" and 0
// (or -0) "0000000000"; an integer of 11 digits or more is the wrong length, whatever its size
// (simdjson would read one past 2^64 as a double); a sign or a fraction or an exponent is a bad
// character, as "-943..." or "943.0" would be in a CSV field.
JsonLineField read_number(od::value& value) {
  std::string_view text = value.raw_json_token();
  while (!text.empty() && is_json_space(text.back())) text.remove_suffix(1);
  double checked = 0;
  if (value.get_double().get(checked) != simdjson::SUCCESS) return {JsonLineKind::kMalformed, {}};
  JsonLineField field{JsonLineKind::kValue, {0, InvalidReason::kBadCharacter}};
  if (text.find_first_of(".eE") != std::string_view::npos) return field;
  if (text.starts_with('-')) {
    if (text != "-0") return field;
    text.remove_prefix(1);
  }
  if (text.size() > 10) {
    field.parsed.reason = InvalidReason::kWrongLength;
    return field;
  }
  char digits[10];
  std::memset(digits, '0', sizeof digits);
  std::memcpy(digits + (10 - text.size()), text.data(), text.size());
  field.parsed = parse_nhs_number_inline(std::string_view(digits, 10));
  return field;
}

// A token's text → the stem of a listed number, kUnlistedTokenStem, or why it is no token.
ParsedNhsNumber read_token(std::string_view text, JsonTokenReader& tokens) {
  const TokenKey key = parse_token_key(text);
  if (key.reason != InvalidReason::kNone) return {0, key.reason};
  return {tokens.table.find(key), InvalidReason::kNone};
}

JsonLineField read_value(od::value& value, JsonTokenReader* tokens) {
  od::json_type type;
  if (value.type().get(type) != simdjson::SUCCESS) return {JsonLineKind::kMalformed, {}};
  switch (type) {
    case od::json_type::string: {
      std::string_view text;
      if (value.get_string().get(text) != simdjson::SUCCESS) return {JsonLineKind::kMalformed, {}};
      return {JsonLineKind::kValue, tokens != nullptr ? read_token(text, *tokens) : parse_nhs_number_inline(text)};
    }
    case od::json_type::number: {
      if (tokens == nullptr) return read_number(value);
      double checked = 0;  // still a JSON number, or the line is malformed
      if (value.get_double().get(checked) != simdjson::SUCCESS) return {JsonLineKind::kMalformed, {}};
      return {JsonLineKind::kValue, {0, InvalidReason::kBadCharacter}};
    }
    case od::json_type::null: {
      bool is_null = false;
      if (value.is_null().get(is_null) != simdjson::SUCCESS || !is_null) return {JsonLineKind::kMalformed, {}};
      return {JsonLineKind::kMissing, {}};
    }
    case od::json_type::boolean: {
      bool b = false;
      if (value.get_bool().get(b) != simdjson::SUCCESS) return {JsonLineKind::kMalformed, {}};
      return {JsonLineKind::kValue, {0, InvalidReason::kBadCharacter}};
    }
    default: return {JsonLineKind::kValue, {0, InvalidReason::kBadCharacter}};  // an object or an array
  }
}

// The group value at column (impact report): appended to key.
void append_group_value(od::document& doc, std::string_view column, KeyBuffer& key) {
  doc.rewind();
  od::value value;
  const simdjson::error_code error =
      is_json_pointer(column) ? doc.at_pointer(column).get(value) : doc.find_field_unordered(column).get(value);
  if (error != simdjson::SUCCESS) return key.add_missing();
  od::json_type type;
  if (value.type().get(type) != simdjson::SUCCESS) return key.add_missing();
  std::string_view text;
  bool ok = false;
  switch (type) {
    case od::json_type::string: ok = value.get_string().get(text) == simdjson::SUCCESS; break;
    case od::json_type::null: return key.add_missing();
    case od::json_type::object: {
      od::object object;
      ok = value.get_object().get(object) == simdjson::SUCCESS && object.raw_json().get(text) == simdjson::SUCCESS;
      break;
    }
    case od::json_type::array: {
      od::array array;
      ok = value.get_array().get(array) == simdjson::SUCCESS && array.raw_json().get(text) == simdjson::SUCCESS;
      break;
    }
    default:
      text = value.raw_json_token();
      ok = true;
      break;
  }
  if (!ok) return key.add_missing();
  while (!text.empty() && is_json_space(text.back())) text.remove_suffix(1);
  key.add(text.data(), text.size());
}

}  // namespace

bool valid_json_pointer(std::string_view pointer) noexcept {
  for (std::size_t i = 0; i < pointer.size(); ++i) {
    if (pointer[i] == '~' && (i + 1 == pointer.size() || (pointer[i + 1] != '0' && pointer[i + 1] != '1'))) {
      return false;
    }
  }
  return true;
}

std::size_t last_line_end(const char* data, std::size_t size) noexcept {
  const void* lf = size == 0 ? nullptr : memrchr(data, '\n', size);
  return lf == nullptr ? 0 : static_cast<std::size_t>(static_cast<const char*>(lf) - data) + 1;
}

JsonLineField read_json_line(const char* line, std::size_t size, std::string_view column, JsonTokenReader* tokens,
                             const std::vector<std::string>* group_keys, KeyBuffer* key_out) {
  // One parser per thread: a parser is not thread-safe, and keeps its buffers (sized for the
  // longest line seen) from line to line.
  thread_local od::parser parser;
  // The line, copied with spaces after it as its padding: On-Demand may look past the end of a
  // malformed line (the jsonl fuzzer found a line read differently with other bytes after it:
  // the next line, or a recycled block's leftovers), so what follows a line must never be data.
  thread_local std::string padded;
  if (padded.size() < size + simdjson::SIMDJSON_PADDING) padded.resize(size + simdjson::SIMDJSON_PADDING);
  std::memcpy(padded.data(), line, size);
  std::memset(padded.data() + size, ' ', simdjson::SIMDJSON_PADDING);
  od::document doc;
  if (parser.iterate(padded.data(), size, size + simdjson::SIMDJSON_PADDING).get(doc) != simdjson::SUCCESS) {
    return {JsonLineKind::kMalformed, {}};
  }
  od::json_type type;
  if (doc.type().get(type) != simdjson::SUCCESS || type != od::json_type::object) {
    return {JsonLineKind::kMalformed, {}};
  }
  od::value value;
  const simdjson::error_code error =
      is_json_pointer(column) ? doc.at_pointer(column).get(value) : doc.find_field_unordered(column).get(value);
  JsonLineField field;
  switch (error) {
    case simdjson::SUCCESS: field = read_value(value, tokens); break;
    // No such key, an index past an array's end, or a pointer through a string or number.
    case simdjson::NO_SUCH_FIELD:
    case simdjson::INDEX_OUT_OF_BOUNDS:
    case simdjson::INCORRECT_TYPE:
    case simdjson::INVALID_JSON_POINTER: field = {JsonLineKind::kMissing, {}}; break;
    default: return {JsonLineKind::kMalformed, {}};
  }
  if (group_keys != nullptr && field.kind != JsonLineKind::kMalformed) {
    key_out->clear();
    for (const std::string& key : *group_keys) append_group_value(doc, key, *key_out);
  }
  return field;
}

void scan_jsonl_block(Block& b, const IndexBits* index, const FilterOptions& options, bool keep_rejected,
                      const ImpactColumns* impact) {
  KeyBuffer group_key;
  const char* data = b.data.get();
  const std::size_t size = b.size;
  const std::string_view column = options.column_name;
  // A pseudonymised extract's tokens (pseudonym.hpp).
  std::optional<TokenTable> table;
  if (options.tokens) table = TokenAccess::table(*options.tokens);
  std::optional<JsonTokenReader> tokens;
  if (table) tokens.emplace(JsonTokenReader{*table});
  std::size_t run_begin = 0, run_end = 0;  // the current run of touching kept lines
  // Lines are parsed a batch ahead of their probes, as the CSV kernel does (tuning.hpp:
  // kProbeBatch), so that each probe's cache miss is under way while later lines parse.
  struct Pending {
    std::size_t begin, end;
    JsonLineField field;
    std::uint32_t group;  // with an impact report: the line's group
  };
  Pending batch[kProbeBatch];
  std::size_t pending = 0;
  const auto settle = [&] {
    for (std::size_t i = 0; i < pending; ++i) {
      const Pending& r = batch[i];
      const bool has_field = r.field.kind == JsonLineKind::kValue;
      const Verdict verdict = has_field ? verdict_of(r.field.parsed, index) : Verdict::kRejected;
      if (impact != nullptr && verdict != Verdict::kKept) b.impact->count_verdict(r.group, verdict);
      if (verdict == Verdict::kRejected) {
        ++b.rejected_by_reason[has_field ? static_cast<std::size_t>(r.field.parsed.reason) : kMissingField];
        if (keep_rejected) append_span(b.rejected, r.begin, r.end);
      } else if (verdict == Verdict::kRemoved) {
        ++b.removed;
      } else {
        ++b.kept_rows;
        if (index == nullptr) {
          b.stems.push_back(r.field.parsed.stem);
        } else {
          if (r.begin != run_end) {
            if (run_end != run_begin) b.kept.push_back({run_begin, run_end});
            run_begin = r.begin;
          }
          run_end = r.end;
        }
      }
    }
    pending = 0;
  };
  std::size_t begin = b.skip;
  while (begin < size) {
    const void* lf = std::memchr(data + begin, '\n', size - begin);
    const std::size_t line_end = lf == nullptr ? size : static_cast<std::size_t>(static_cast<const char*>(lf) - data);
    const std::size_t end = lf == nullptr ? size : line_end + 1;
    if (lf != nullptr) ++b.outcome.lf_count;
    if (end - begin > options.max_record_bytes) {
      b.long_record_begin = begin - b.skip;
      break;
    }
    std::size_t first = begin;
    while (first < line_end && is_json_space(data[first])) ++first;
    if (first == line_end) {
      b.outcome.error = ScanError::kBlankLine;
      b.outcome.error_record_begin = begin - b.skip;
      break;
    }
    const JsonLineField field = read_json_line(data + begin, line_end - begin, column, tokens ? &*tokens : nullptr,
                                               impact != nullptr ? &impact->keys : nullptr, &group_key);
    if (field.kind == JsonLineKind::kMalformed) {
      b.outcome.error = ScanError::kNotJsonObject;
      b.outcome.error_record_begin = begin - b.skip;
      break;
    }
    ++b.rows;
    std::uint32_t group = 0;
    if (impact != nullptr) {
      const char* key = group_key.finish();
      group = b.impact->find(key_head(key, group_key.size()), key);
      if (group == kNoGroup) {
        b.impact_overflow = true;
        break;
      }
    }
    if (index != nullptr && field.kind == JsonLineKind::kValue && field.parsed.valid()) {
      index->prefetch(field.parsed.stem);
    }
    batch[pending++] = {begin, end, field, group};
    if (pending == kProbeBatch) settle();
    begin = end;
  }
  settle();
  if (run_end != run_begin) b.kept.push_back({run_begin, run_end});
}

}  // namespace optout::detail
