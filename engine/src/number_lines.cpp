#include "number_lines.hpp"

#include <string>
#include <string_view>

#include "tuning.hpp"

namespace optout {

const char* numbers_format_name(NumbersFormat format) noexcept {
  switch (format) {
    case NumbersFormat::kRoaring: return "roaring";
    case NumbersFormat::kText: return "text";
    case NumbersFormat::kMesh: return "mesh";
  }
  return "unknown";
}

std::optional<NumbersFormat> numbers_format_from_name(std::string_view name) noexcept {
  for (const NumbersFormat format : {NumbersFormat::kRoaring, NumbersFormat::kText, NumbersFormat::kMesh}) {
    if (name == numbers_format_name(format)) return format;
  }
  return std::nullopt;
}

namespace detail {
namespace {

Result<std::uint64_t> write_roaring(const roaring_bitmap_t* stems, ByteSink& out) {
  std::string bytes(roaring_bitmap_portable_size_in_bytes(stems), '\0');
  if (roaring_bitmap_portable_serialize(stems, bytes.data()) != bytes.size()) {
    return Status(ErrorCode::kInternal, out.name() + ": the Roaring serialization's size changed");
  }
  const std::string_view spans[] = {bytes};
  if (Status s = out.write(spans); !s.ok()) return s;
  return std::uint64_t{bytes.size()};
}

}  // namespace

Result<std::uint64_t> write_stems(const roaring_bitmap_t* stems, NumbersFormat format, ByteSink& out) {
  if (format == NumbersFormat::kRoaring) return write_roaring(stems, out);
  // The service's .dat form is each number followed by a comma.
  const std::string_view line_end = format == NumbersFormat::kMesh ? ",\n" : "\n";
  std::uint64_t written = 0;
  std::string buffer;
  buffer.reserve(kNumbersWriteBytes + kMaxFormattedBytes + line_end.size());
  auto flush = [&]() -> Status {
    const std::string_view spans[] = {buffer};
    Status s = out.write(spans);
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

}  // namespace detail
}  // namespace optout
