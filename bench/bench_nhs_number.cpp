// Micro-benchmarks for nhs_number.hpp: parse_nhs_number over each accepted shape and over invalid
// text, nhs_number_from_integer, and format_nhs_number. Target: a few ns per plain parse.
//
// Each iteration walks a batch of kBatch seeded items (built before the loop, small enough to stay
// in L1/L2, so the figure is the parser's, not the memory system's). items_per_second counts
// parses; time_per_item is the same inverted (in seconds: "2.5n" is 2.5 ns).
#include <benchmark/benchmark.h>

#include <cstdint>
#include <string>
#include <vector>

#include "fixtures.hpp"
#include "optout/nhs_number.hpp"

namespace optout::bench {
namespace {

constexpr std::size_t kBatch = 4096;

void set_per_item(benchmark::State& state, std::size_t items_per_iteration) {
  const auto items = static_cast<std::int64_t>(items_per_iteration) * state.iterations();
  state.SetItemsProcessed(items);
  state.counters["time_per_item"] =
      benchmark::Counter(static_cast<double>(items), benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

void BM_ParseNhsNumber(benchmark::State& state, TextForm form) {
  const TextBatch batch = make_text_batch(form, kBatch, kSeed);
  // The fixture is checked before it is timed: valid forms must all parse, invalid ones must not.
  const bool all_valid =
      form == TextForm::kPlain || form == TextForm::kSpaced || form == TextForm::kDashed || form == TextForm::kPadded;
  if (all_valid && batch.valid != batch.items.size()) {
    state.SkipWithError("fixture: a valid text failed to parse");
    return;
  }
  if (form == TextForm::kInvalid && batch.valid != 0) {
    state.SkipWithError("fixture: an invalid text parsed as valid");
    return;
  }
  for (auto _ : state) {
    std::uint64_t sum = 0;
    for (std::string_view text : batch.items) {
      const ParsedNhsNumber parsed = parse_nhs_number(text);
      sum += parsed.stem + static_cast<std::uint64_t>(parsed.reason);
    }
    benchmark::DoNotOptimize(sum);
  }
  set_per_item(state, batch.items.size());
  state.SetBytesProcessed(static_cast<std::int64_t>(batch.storage.size()) * state.iterations());
  state.counters["valid_fraction"] = static_cast<double>(batch.valid) / static_cast<double>(batch.items.size());
}
BENCHMARK_CAPTURE(BM_ParseNhsNumber, plain, TextForm::kPlain);
BENCHMARK_CAPTURE(BM_ParseNhsNumber, spaced, TextForm::kSpaced);
BENCHMARK_CAPTURE(BM_ParseNhsNumber, dashed, TextForm::kDashed);
BENCHMARK_CAPTURE(BM_ParseNhsNumber, padded, TextForm::kPadded);
BENCHMARK_CAPTURE(BM_ParseNhsNumber, invalid, TextForm::kInvalid);
BENCHMARK_CAPTURE(BM_ParseNhsNumber, mixed, TextForm::kMixed);

// Integers as they arrive from a numpy uint64 column.
void BM_NhsNumberFromInteger(benchmark::State& state) {
  Random random(kSeed);
  std::vector<std::uint64_t> values(kBatch);
  for (auto& value : values) value = nhs_number_value(random_valid_stem(random));
  for (auto _ : state) {
    std::uint64_t sum = 0;
    for (std::uint64_t value : values) sum += nhs_number_from_integer(value).stem;
    benchmark::DoNotOptimize(sum);
  }
  set_per_item(state, values.size());
}
BENCHMARK(BM_NhsNumberFromInteger);

void BM_FormatNhsNumber(benchmark::State& state, NhsFormat format) {
  Random random(kSeed);
  std::vector<std::uint32_t> stems(kBatch);
  for (auto& stem : stems) stem = random_valid_stem(random);
  std::vector<char> out(kBatch * kMaxFormattedBytes);
  std::size_t bytes = 0;
  for (auto _ : state) {
    bytes = 0;
    char* cursor = out.data();
    for (std::uint32_t stem : stems) {
      const std::size_t n = format_nhs_number(stem, cursor, format);
      cursor += n;
      bytes += n;
    }
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  set_per_item(state, stems.size());
  state.SetBytesProcessed(static_cast<std::int64_t>(bytes) * state.iterations());
}
BENCHMARK_CAPTURE(BM_FormatNhsNumber, plain, NhsFormat::kPlain);
BENCHMARK_CAPTURE(BM_FormatNhsNumber, spaced, NhsFormat::kSpaced);
BENCHMARK_CAPTURE(BM_FormatNhsNumber, dashed, NhsFormat::kDashed);

}  // namespace
}  // namespace optout::bench

BENCHMARK_MAIN();
