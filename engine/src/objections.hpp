// Reading an objections file (RegistryBuilder::add_objections): strict RFC 4180 CSV with the
// header nhs_number,scope and optionally reference,decided, in any order.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "optout/registry.hpp"
#include "optout/status.hpp"

namespace optout::detail {

struct ObjectionRows {
  std::uint64_t rows = 0;  // data rows, header excluded
  std::uint64_t bytes = 0;
  Digest128 xxh3;
  std::map<std::string, std::vector<std::uint32_t>> stems_by_scope;  // in row order per scope
};

// Parses text (the whole file) as source_name; kInvalidInput "NAME:LINE: what is wrong" (never
// a value). Throws std::bad_alloc.
Status parse_objections(std::string_view text, std::string_view source_name, ObjectionRows& out);

// Reads and parses a file. Errors: kIoError, those of parse_objections.
Status read_objections(const std::filesystem::path& path, ObjectionRows& out);

}  // namespace optout::detail
