// interop_valid_numbers FROM TO: writes the NHS number of every valid stem in [FROM, TO), one per
// line, ascending. The interoperability test uses it for dense lists (whole 65536-stem blocks and
// short ranges), which give the Roaring bitmap and run containers that random lists never do.
#include <charconv>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>

#include "optout/nhs_number.hpp"

namespace {

bool parse_stem(const char* text, std::uint32_t& stem) {
  const char* end = text + std::strlen(text);
  const auto [at, error] = std::from_chars(text, end, stem);
  return error == std::errc() && at == end && stem <= optout::kStemLimit;
}

}  // namespace

int main(int argc, char** argv) {
  std::uint32_t from = 0;
  std::uint32_t to = 0;
  if (argc != 3 || !parse_stem(argv[1], from) || !parse_stem(argv[2], to) || from > to) {
    std::fputs("usage: interop_valid_numbers FROM TO (stems, 0 <= FROM <= TO <= 1000000000)\n", stderr);
    return 2;
  }
  std::string out;
  for (std::uint32_t stem = from; stem < to; ++stem) {
    if (!optout::is_valid_stem(stem)) continue;
    out += optout::format_nhs_number(stem);
    out += '\n';
  }
  return std::fwrite(out.data(), 1, out.size(), stdout) == out.size() && std::fflush(stdout) == 0 ? 0 : 1;
}
