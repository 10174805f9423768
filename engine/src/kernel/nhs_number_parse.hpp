// The NHS-number parser's implementation, private to the engine. parse_nhs_number() in
// nhs_number.cpp is the public entry point; the filter's kernels compile nhs_number_parse.inl into
// their own namespaces (filter_kernel_isa.inl) so that the per-row call inlines (one parser).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

#include "optout/nhs_number.hpp"

namespace optout::detail {

#include "kernel/nhs_number_parse.inl"

}  // namespace optout::detail
