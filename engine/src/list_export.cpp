#include "optout/list_export.hpp"

#include <roaring/roaring.h>

#include "number_lines.hpp"
#include "registry_data.hpp"

namespace optout {

Result<ListExportStats> export_list(const Registry& registry, std::string_view list, NumbersFormat format,
                                    ByteSink& out) {
  if (Status s = validate_list_name(list); !s.ok()) return s;
  const Result<std::size_t> index = registry.require_list(list);
  if (!index.ok()) return index.status();
  // The registry's bitmaps are frozen (registry_data.hpp): only read here.
  const roaring_bitmap_t* stems = detail::RegistryAccess::data(registry).bitmaps[*index].get();
  Result<std::uint64_t> written = detail::write_stems(stems, format, out);
  if (!written.ok()) return written.status();
  return ListExportStats{registry.lists()[*index].count, *written};
}

}  // namespace optout
