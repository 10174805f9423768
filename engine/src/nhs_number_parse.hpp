// The NHS-number parser's implementation, private to the engine. parse_nhs_number() in
// nhs_number.cpp is the public entry point; the filter includes this header so that its per-row
// call inlines (one parser, two ways to call it).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

#include "optout/nhs_number.hpp"

namespace optout::detail {

#include "nhs_number_parse.inl"

}  // namespace optout::detail
