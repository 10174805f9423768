// The filter and numbers passes for options already checked: a public entry point (filter(),
// write_numbers(), run_filter(), run_numbers()) checks its options once with
// validate_filter_options() and then calls these, so no request is checked twice.
#pragma once

#include "optout/filter.hpp"
#include "optout/numbers.hpp"

namespace optout::detail {

// filter() without its validate_filter_options(). Precondition: validate_filter_options(options).ok().
Result<FilterStats> filter_checked(ByteSource& in, ByteSink& out, ByteSink* rejects, const OptOutIndex& index,
                                   const FilterOptions& options);
// write_numbers() without its validate_filter_options(). Same precondition.
Result<NumbersStats> write_numbers_checked(ByteSource& in, ByteSink& out, const FilterOptions& options,
                                           NumbersFormat format);

}  // namespace optout::detail
