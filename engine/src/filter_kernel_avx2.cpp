// The scan kernel compiled for AVX2 + BMI2 (x86-64 CPUs since 2013-2015); select_scan_block()
// picks it only on a CPU that has them.
//
// The target is switched with a pragma (GCC's, or clang's attribute push) around this file's own code, not with -mavx2 for the
// whole file: library templates instantiated here (std::vector's growth, for one) stay baseline
// code, so the linker can never pick an AVX2 copy of a shared function for a baseline caller.
// The kernel's own inline functions are compiled again inside namespace avx2 for the same reason.
#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

#include "filter_block.hpp"
#include "tuning.hpp"

#if defined(__x86_64__)
#include <immintrin.h>

#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,bmi,bmi2,popcnt,lzcnt"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx2,bmi,bmi2,popcnt,lzcnt")
#endif
#define OPTOUT_KERNEL_AVX2 1
namespace optout::detail::avx2 {
#include "csv_scan_kernel.inl"
#include "nhs_number_parse.inl"
#include "scan_block_kernel.inl"

std::size_t cut_at_record_end(const char* data, std::size_t size) noexcept { return last_record_end(data, size); }
}  // namespace optout::detail::avx2
#undef OPTOUT_KERNEL_AVX2
#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif

#else
namespace optout::detail::avx2 {
// Never selected off x86-64; the baseline kernel serves.
void scan_block(Block& b, const IndexBits* index, const FilterOptions& options, std::size_t column,
                bool keep_rejected) {
  baseline::scan_block(b, index, options, column, keep_rejected);
}
std::size_t cut_at_record_end(const char* data, std::size_t size) noexcept { return last_record_end(data, size); }
}  // namespace optout::detail::avx2
#endif
