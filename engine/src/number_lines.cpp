#include "number_lines.hpp"

#include <string>
#include <string_view>

#include "optout/nhs_number.hpp"
#include "tuning.hpp"

namespace optout::detail {

Result<std::uint64_t> write_number_lines(const roaring_bitmap_t* stems, NumbersFormat format, ByteSink& out) {
  // The service's .dat form is each number followed by a comma.
  const std::string_view line_end = format == NumbersFormat::kMesh ? ",\n" : "\n";
  std::uint64_t written = 0;
  std::string buffer;
  buffer.reserve(kNumbersWriteBytes + kMaxFormattedBytes + line_end.size());
  auto flush = [&]() -> Status {
    const std::string_view pieces[] = {buffer};
    Status s = out.write(pieces);
    if (s.ok()) written += buffer.size();
    buffer.clear();
    return s;
  };
  roaring_uint32_iterator_t it;
  roaring_init_iterator(stems, &it);
  char number[kMaxFormattedBytes];
  for (; it.has_value; roaring_advance_uint32_iterator(&it)) {
    buffer.append(number, format_nhs_number(it.current_value, number));
    buffer.append(line_end);
    if (buffer.size() >= kNumbersWriteBytes) {
      if (Status s = flush(); !s.ok()) return s;
    }
  }
  if (!buffer.empty()) {
    if (Status s = flush(); !s.ok()) return s;
  }
  return written;
}

}  // namespace optout::detail
