// Micro-benchmarks of the filter: one in-memory block of CSV (about 8 MB) through filter(),
// narrow (~75 B) and wide (~1 KB, 190 columns) rows, 1 and 2 threads, against a registry of n
// numbers. 8 % of rows belong to listed patients. Input and output stay in memory, so this
// measures scanning, parsing and probing, not the kernel's copies (the end-to-end benchmark does).
// BM_VerifyBlock reads the same block through run_verify() (the same pipeline, plus XXH3-128 of
// every byte), without matches, or naming the 8 % removed rows by number or by an id column in a
// matches file written to /dev/null: its time over BM_FilterBlock's is verify's cost.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstring>
#include <string>

#include "fixtures.hpp"
#include "optout/filter.hpp"
#include "optout/pseudonym.hpp"
#include "optout/verify.hpp"

namespace optout::bench {
namespace {

constexpr std::size_t kBlockBytes = std::size_t{8} << 20;

class StringViewSource final : public ByteSource {
 public:
  explicit StringViewSource(std::string_view text) : text_(text) {}
  Result<std::size_t> read(char* buffer, std::size_t capacity) override {
    const std::size_t n = std::min(capacity, text_.size() - pos_);
    std::memcpy(buffer, text_.data() + pos_, n);
    pos_ += n;
    return n;
  }
  const std::string& name() const override { return name_; }

 private:
  std::string_view text_;
  std::size_t pos_ = 0;
  std::string name_ = "<bench>";
};

class CountingSink final : public ByteSink {
 public:
  Status write(std::span<const std::string_view> spans) override {
    for (std::string_view span : spans) bytes_ += span.size();
    return Status();
  }
  const std::string& name() const override { return name_; }

 private:
  std::uint64_t bytes_ = 0;
  std::string name_ = "<null>";
};

// About kBlockBytes of CSV whose second column is the NHS number; wide rows add 180 code columns.
// grouped: sex and postcode_district vary (3 sexes × 1 920 districts, about 5 760 groups, as in
// the end-to-end extract) instead of being the same on every row. bytes: about how much.
std::string make_extract(std::int64_t n, bool wide, bool grouped = false, std::size_t bytes = kBlockBytes) {
  const StemSet& stems = stem_set(n);
  Random random(kSeed ^ (wide ? 2 : 1));
  Random groups(kSeed ^ 3);
  std::string csv = "record_id,nhs_number,date_of_birth,sex,postcode_district,admission_date,diagnosis,notes";
  if (wide) {
    for (int c = 0; c < 180; ++c) csv += ",code_" + std::to_string(c);
  }
  csv += '\n';
  for (std::uint64_t row = 0; csv.size() < bytes; ++row) {
    const bool listed = random.below(100) < 8;
    const std::uint32_t stem = listed ? stems.members[random.below(static_cast<std::uint32_t>(stems.members.size()))]
                                      : stems.absent[random.below(static_cast<std::uint32_t>(stems.absent.size()))];
    std::string sex_and_district = "F,LS1";
    if (grouped) {
      const std::uint32_t district = groups.below(1920);
      sex_and_district = std::string(1, "FMU"[groups.below(3)]) + ',' + static_cast<char>('A' + district / 80 % 24) +
                         static_cast<char>('A' + district / 4 % 20) + std::to_string(district % 4 + 1);
    }
    csv +=
        std::to_string(row) + ',' + format_nhs_number(stem) + ",1970-01-01," + sex_and_district + ",2024-05-01,J18.9,";
    csv += (row % 3 == 0) ? "\"seen, discharged\"" : "routine";
    if (wide) {
      for (int c = 0; c < 180; ++c) csv += (c % 4 == 0) ? ",A01.1" : ",";
    }
    csv += '\n';
  }
  return csv;
}

// The index of built_registry(n).
Result<OptOutIndex> index_of(std::int64_t n) {
  const Result<Registry>& registry = built_registry(n);
  if (!registry.ok()) return registry.status();
  return OptOutIndex::create(*registry);
}

// Times filter() over csv: ns_per_row and the bytes and rows a second.
void time_filter(benchmark::State& state, const std::string& csv, const OptOutIndex& index,
                 const FilterOptions& options) {
  std::uint64_t rows = 0;
  for (auto _ : state) {
    StringViewSource in(csv);
    CountingSink out;
    Result<FilterStats> stats = filter(in, out, nullptr, index, options);
    if (!stats.ok()) return state.SkipWithError(stats.status().message().c_str());
    rows = stats->rows;
    benchmark::DoNotOptimize(stats->kept);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * csv.size()));
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * rows));
  state.counters["ns_per_row"] = benchmark::Counter(static_cast<double>(state.iterations() * rows),
                                                    benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

void BM_FilterBlock(benchmark::State& state) {
  const std::int64_t n = state.range(0);
  const bool wide = state.range(1) != 0;
  Result<OptOutIndex> index = index_of(n);
  if (!index.ok()) return state.SkipWithError(index.status().message().c_str());
  const std::string csv = make_extract(n, wide);
  FilterOptions options;
  options.column_name = "nhs_number";
  options.threads = static_cast<unsigned>(state.range(2));
  time_filter(state, csv, *index, options);
}

void filter_args(benchmark::internal::Benchmark* b) {
  b->ArgNames({"n", "wide", "threads"});
  for (std::int64_t n : {kSmokeCount, kTypicalCount}) {
    for (std::int64_t wide : {0, 1}) {
      for (std::int64_t threads : {1, 2}) b->Args({n, wide, threads});
    }
  }
  b->Unit(benchmark::kMillisecond)->UseRealTime();
}

BENCHMARK(BM_FilterBlock)->Apply(filter_args);

// The impact report (impact.hpp) grouped by sex,postcode_district (about 5 760 groups), against
// the same rows without it (impact:0): the ratio of their ns_per_row is the report's cost (the
// limit: at most 15 %). 64 MB of rows (about 870 000), not 8: each filter() call starts its
// group tables empty, and with 8 MB filling them (a first, cold touch of every group) was half
// the report's cost; over the end-to-end benchmark's 5 M rows it is under 1 %.
void BM_FilterImpactBlock(benchmark::State& state) {
  const std::int64_t n = state.range(0);
  Result<OptOutIndex> index = index_of(n);
  if (!index.ok()) return state.SkipWithError(index.status().message().c_str());
  const std::string csv = make_extract(n, false, true, kBlockBytes * 8);
  FilterOptions options;
  options.column_name = "nhs_number";
  options.threads = static_cast<unsigned>(state.range(2));
  if (state.range(1) != 0) options.impact_by = {"sex", "postcode_district"};
  time_filter(state, csv, *index, options);
}

BENCHMARK(BM_FilterImpactBlock)
    ->ArgNames({"n", "impact", "threads"})
    ->ArgsProduct({{kSmokeCount, kTypicalCount}, {0, 1}, {1, 2}})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

// A pseudonymised extract: BM_FilterBlock's rows with each NHS number replaced by its token
// (HMAC-SHA256, 64 hex digits), filtered with the token set built once, outside the loop. Its
// ns_per_row over BM_FilterBlock's is the cost of matching tokens (the limit: at most twice).
void BM_FilterTokensBlock(benchmark::State& state) {
  const std::int64_t n = state.range(0);
  const bool wide = state.range(1) != 0;
  Result<OptOutIndex> index = index_of(n);
  if (!index.ok()) return state.SkipWithError(index.status().message().c_str());
  std::vector<std::uint8_t> key_bytes(32, 0x5a);
  Result<PseudonymKey> key = PseudonymKey::from_bytes(key_bytes, "bench.key");
  if (!key.ok()) return state.SkipWithError(key.status().message().c_str());
  Result<std::shared_ptr<const TokenSet>> tokens = TokenSet::create(*index, *key);
  if (!tokens.ok()) return state.SkipWithError(tokens.status().message().c_str());
  // The plain extract with its second field (the number) swapped for the number's token.
  const std::string plain = make_extract(n, wide);
  std::string csv;
  csv.reserve(plain.size() * 2);
  std::size_t at = plain.find('\n') + 1;
  csv.append(plain, 0, at);
  while (at < plain.size()) {
    const std::size_t end = plain.find('\n', at) + 1;
    const std::size_t comma = plain.find(',', at);
    const ParsedNhsNumber parsed = parse_nhs_number(std::string_view(plain).substr(comma + 1, 10));
    csv.append(plain, at, comma + 1 - at);
    csv += *key->token(parsed.stem);
    csv.append(plain, comma + 11, end - comma - 11);
    at = end;
  }
  FilterOptions options;
  options.column_name = "nhs_number";
  options.threads = static_cast<unsigned>(state.range(2));
  options.tokens = *tokens;
  time_filter(state, csv, *index, options);
}

BENCHMARK(BM_FilterTokensBlock)->Apply(filter_args);

void BM_VerifyBlock(benchmark::State& state) {
  const std::int64_t n = state.range(0);
  const bool wide = state.range(1) != 0;
  Result<OptOutIndex> index = index_of(n);
  if (!index.ok()) return state.SkipWithError(index.status().message().c_str());
  const std::string csv = make_extract(n, wide);
  VerifyRequest request;
  request.options.column_name = "nhs_number";
  request.options.threads = static_cast<unsigned>(state.range(2));
  if (state.range(3) > 0) request.matches = "/dev/null";  // a character device: written in place
  if (state.range(3) > 1) request.id_column = "record_id";
  std::uint64_t rows = 0;
  for (auto _ : state) {
    StringViewSource in(csv);
    request.source = &in;
    Result<VerifyResult> verified = run_verify(*index, request);
    if (!verified.ok()) return state.SkipWithError(verified.status().message().c_str());
    rows = verified->stats.rows;
    benchmark::DoNotOptimize(verified->input_digest);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * csv.size()));
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * rows));
  state.counters["ns_per_row"] = benchmark::Counter(static_cast<double>(state.iterations() * rows),
                                                    benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

// matches: 0 none, 1 by row number, 2 by id column.
void verify_args(benchmark::internal::Benchmark* b) {
  b->ArgNames({"n", "wide", "threads", "matches"});
  for (std::int64_t n : {kSmokeCount, kTypicalCount}) {
    for (std::int64_t wide : {0, 1}) {
      for (std::int64_t threads : {1, 2}) {
        for (std::int64_t matches : {0, 1, 2}) b->Args({n, wide, threads, matches});
      }
    }
  }
  b->Unit(benchmark::kMillisecond)->UseRealTime();
}

BENCHMARK(BM_VerifyBlock)->Apply(verify_args);

}  // namespace
}  // namespace optout::bench

BENCHMARK_MAIN();
