// `optout-gen validate`: checks a list of NHS numbers (text or .dat form) with the engine's parser.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "optout/status.hpp"

namespace optout::gen {

struct ValidateReport {
  std::uint64_t numbers = 0;     // lines read
  std::uint64_t invalid = 0;     // lines parse_nhs_number() rejects
  std::uint64_t duplicates = 0;  // valid numbers seen before (counted only when asked)
  // "FILE:LINE: reason" for the first kMaxMessages problems; never the number itself.
  std::vector<std::string> messages;

  static constexpr std::size_t kMaxMessages = 10;
  bool ok() const noexcept { return invalid == 0 && duplicates == 0; }
};

// Reads one NHS number per line (LF or CRLF; one trailing comma allowed, as in .dat files; the
// last line may lack its newline). With check_unique, also counts numbers that occur twice
// (memory: 4 bytes per number). Errors: kIoError.
[[nodiscard]] Result<ValidateReport> validate_list(const std::string& path, bool check_unique);

}  // namespace optout::gen
