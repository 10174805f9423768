// The scan kernel for the baseline target (SSE2 on x86-64), and the choice of kernel per CPU.
#include <cstdlib>
#include <cstring>
#include <string_view>

#include "filter_block.hpp"
#include "nhs_number_parse.hpp"
#include "tuning.hpp"

namespace optout::detail {
namespace baseline {
#include "scan_block_kernel.inl"
}  // namespace baseline

namespace {

std::size_t baseline_last_record_end(const char* data, std::size_t size) noexcept {
  return last_record_end(data, size);
}

FilterKernel choose() noexcept {
  const FilterKernel baseline_kernel{&baseline::scan_block, &baseline_last_record_end, "baseline"};
  const char* forced = std::getenv("OPTOUT_KERNEL");
  if (forced != nullptr && std::string_view(forced) == "baseline") return baseline_kernel;
#if defined(__x86_64__)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("bmi") && __builtin_cpu_supports("bmi2") &&
      __builtin_cpu_supports("popcnt")) {
    return {&avx2::scan_block, &avx2::cut_at_record_end, "avx2"};
  }
#endif
  return baseline_kernel;
}

}  // namespace

const FilterKernel& select_filter_kernel() noexcept {
  static const FilterKernel kernel = choose();
  return kernel;
}

}  // namespace optout::detail
