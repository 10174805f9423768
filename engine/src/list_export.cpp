#include "optout/list_export.hpp"

#include <roaring/roaring.h>

#include <string>

#include "number_lines.hpp"
#include "registry_data.hpp"

namespace optout {

const char* list_export_format_name(ListExportFormat format) noexcept {
  switch (format) {
    case ListExportFormat::kRoaring: return "roaring";
    case ListExportFormat::kText: return "text";
    case ListExportFormat::kMesh: return "mesh";
  }
  return "unknown";
}

std::optional<ListExportFormat> list_export_format_from_name(std::string_view name) noexcept {
  for (const ListExportFormat format : {ListExportFormat::kRoaring, ListExportFormat::kText, ListExportFormat::kMesh}) {
    if (name == list_export_format_name(format)) return format;
  }
  return std::nullopt;
}

Result<ListExportStats> export_list(const Registry& registry, std::string_view list, ListExportFormat format,
                                    ByteSink& out) {
  if (Status s = validate_list_name(list); !s.ok()) return s;
  const Result<std::size_t> index = registry.require_list(list);
  if (!index.ok()) return index.status();
  // The registry's bitmaps are frozen (registry_data.hpp): only read here.
  const roaring_bitmap_t* stems = detail::RegistryAccess::data(registry).bitmaps[*index].get();
  ListExportStats stats;
  stats.count = registry.lists()[*index].count;

  if (format == ListExportFormat::kRoaring) {
    // The same call that writes the snapshot's bitmap sections, so these are the snapshot's bytes.
    std::string bytes(roaring_bitmap_portable_size_in_bytes(stems), '\0');
    const std::size_t used = roaring_bitmap_portable_serialize(stems, bytes.data());
    if (used != bytes.size()) {
      return Status(ErrorCode::kInternal, "list '" + redact_numbers(list) + "': Roaring serialization size changed");
    }
    const std::string_view pieces[] = {bytes};
    if (Status s = out.write(pieces); !s.ok()) return s;
    stats.bytes = bytes.size();
    return stats;
  }

  const NumbersFormat lines = format == ListExportFormat::kMesh ? NumbersFormat::kMesh : NumbersFormat::kText;
  Result<std::uint64_t> written = detail::write_number_lines(stems, lines, out);
  if (!written.ok()) return written.status();
  stats.bytes = *written;
  return stats;
}

}  // namespace optout
