// The kernel for the baseline target (SSE2 on x86-64), and the choice of kernel per CPU.
#include <cstdlib>
#include <cstring>
#include <string_view>

#include "kernel/filter_kernel.hpp"
#include "optout/nhs_number.hpp"
#include "tuning.hpp"

namespace optout::detail {

namespace baseline {
#include "kernel/filter_kernel_isa.inl"

constinit const FilterKernel kernel{&scan_block, &last_record_end, "baseline", &scan_block_impact, &scan_token_block};
}  // namespace baseline

namespace {

const FilterKernel& choose() noexcept {
  const char* forced = std::getenv("OPTOUT_KERNEL");
  if (forced != nullptr && std::string_view(forced) == "baseline") return baseline::kernel;
#if defined(__x86_64__)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("bmi") && __builtin_cpu_supports("bmi2") &&
      __builtin_cpu_supports("popcnt")) {
    return avx2::kernel;
  }
#endif
  return baseline::kernel;
}

}  // namespace

const FilterKernel& select_filter_kernel() noexcept {
  static const FilterKernel& kernel = choose();
  return kernel;
}

}  // namespace optout::detail
