// One instruction set's copy of the whole kernel: the CSV scan, the NHS-number parse, and the block
// scan that ties them to the probe. Without include guard or namespace, like the files it includes:
// filter_kernel.cpp includes it inside optout::detail::baseline, filter_kernel_avx2.cpp inside
// optout::detail::avx2 (with OPTOUT_KERNEL_AVX2 defined and the target switched), so the copies
// never merge at link time and an AVX2 copy never runs on a machine without AVX2. Each includer
// then defines its `kernel` (filter_kernel.hpp) from this copy's scan_block and last_record_end.
#include "kernel/csv_scan_kernel.inl"
#include "kernel/nhs_number_parse.inl"
#include "kernel/scan_block_kernel.inl"
#include "kernel/scan_token_kernel.inl"
