// The scan stage for JSON Lines (FilterOptions::format kJsonLines, filter.hpp): one block of whole
// lines → kept spans, removed and rejected counts, exactly as the CSV kernel's scan_block()
// (kernel/filter_kernel.hpp) fills a Block, so the pipeline's reader, writer, numbers and verify
// run unchanged. Each line is parsed by simdjson's On-Demand parser (one per thread) from a copy
// with blank padding: On-Demand may look past a malformed line's end, so what follows a line in
// its block must never be read as part of it.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "kernel/filter_kernel.hpp"
#include "kernel/probe.hpp"
#include "optout/filter.hpp"

namespace optout::detail {

// Whether a column names a JSON Pointer ("/patient/nhs_number") rather than a top-level key.
constexpr bool is_json_pointer(std::string_view column) noexcept { return column.starts_with('/'); }

// Whether a JSON Pointer's every '~' is ~0 or ~1 (RFC 6901).
bool valid_json_pointer(std::string_view pointer) noexcept;

// Just past the last LF of data[0, size); 0 when there is none. A JSON Lines record ends at every
// LF (a JSON string cannot hold a raw LF), so the reader cuts blocks here.
std::size_t last_line_end(const char* data, std::size_t size) noexcept;

// What one line holds at the key.
enum class JsonLineKind : unsigned char {
  kValue,      // parsed: a string or a number, read into `parsed` (valid or not)
  kMissing,    // no such key (or pointer target), or null: a missing field
  kMalformed,  // not JSON, or not an object
};

struct JsonLineField {
  JsonLineKind kind = JsonLineKind::kMalformed;
  ParsedNhsNumber parsed;
};

// Reads one line (without its LF; a CR before it is whitespace) at `column` (a key, or a JSON
// Pointer when is_json_pointer). Uses this thread's parser, on a copy of the line with blank
// padding: the bytes after the line are never read, so they never change how it reads.
// A pseudonymised extract: a string value is a token, looked up in table (TokenSet::parse's
// rule); a number is kBadCharacter. read_json_line reads NHS numbers when given none.
struct JsonTokenReader {
  const TokenTable& table;
};
// With group_keys (the impact report's keys, impact.hpp): key_out is made the line's group key
// (impact_table.hpp: each value's text, length first; missing for no such key or null).
JsonLineField read_json_line(const char* line, std::size_t size, std::string_view column,
                             JsonTokenReader* tokens = nullptr, const std::vector<std::string>* group_keys = nullptr,
                             KeyBuffer* key_out = nullptr);

// scan_block() for JSON Lines: classifies every line of b (b.skip must be 0; blank and malformed
// lines stop the scan, b.outcome naming the first: kBlankLine, kNotJsonObject).
// With impact: each line's group is counted in b.impact, as the CSV kernel's scan_block_impact().
void scan_jsonl_block(Block& b, const IndexBits* index, const FilterOptions& options, bool keep_rejected,
                      const ImpactColumns* impact = nullptr);

}  // namespace optout::detail
