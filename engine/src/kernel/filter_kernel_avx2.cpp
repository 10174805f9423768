// The kernel compiled for AVX2 + BMI2 (x86-64 CPUs since 2013-2015); select_filter_kernel()
// (filter_kernel.cpp) picks it only on a CPU that has them. Off x86-64 this file is empty.
//
// The target is switched with a pragma (GCC's, or clang's attribute push) around this file's own
// code, not with -mavx2 for the whole file: library templates instantiated here (std::vector's
// growth, for one) stay baseline code, so the linker can never pick an AVX2 copy of a shared
// function for a baseline caller. The kernel's own inline functions are compiled again inside
// namespace avx2 for the same reason (filter_kernel_isa.inl).
#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

#include "kernel/filter_kernel.hpp"
#include "optout/nhs_number.hpp"
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
#include "kernel/filter_kernel_isa.inl"

constinit const FilterKernel kernel{&scan_block, &last_record_end, "avx2", &scan_block_impact, &scan_token_block};
}  // namespace optout::detail::avx2
#undef OPTOUT_KERNEL_AVX2
#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif

#endif
