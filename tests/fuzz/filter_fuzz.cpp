// libFuzzer target: arbitrary bytes, delimiters, columns, thread counts and block sizes through the
// parallel filter, which must agree with the sequential reference (tests/reference_filter.hpp):
// the same output, rejects and counts, or the same error.
#include <cstdint>
#include <cstdio>
#include <set>
#include <sstream>
#include <string>

#include "optout/filter.hpp"
#include "optout/registry.hpp"
#include "reference_filter.hpp"

namespace {

const std::set<std::uint32_t> kListed = {943476591, 401023213, 0, 999999999};

const optout::OptOutIndex& index() {
  static const optout::OptOutIndex* built = [] {
    optout::RegistryBuilder builder;
    const std::vector<std::uint32_t> stems(kListed.begin(), kListed.end());
    if (!builder.add_stems("national", optout::ListKind::kDeny, stems).ok()) std::abort();
    static optout::Result<optout::Registry> registry = builder.build(0);
    if (!registry.ok()) std::abort();
    static optout::Result<optout::OptOutIndex> idx = optout::OptOutIndex::create(*registry);
    if (!idx.ok()) std::abort();
    return &*idx;
  }();
  return *built;
}

[[noreturn]] void disagree(const char* what, const std::string& a, const std::string& b) {
  std::fprintf(stderr, "filter and reference disagree on %s:\n  filter:    %s\n  reference: %s\n", what,
               a.c_str(), b.c_str());
  __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 3) return 0;
  const char delimiters[] = {',', '|', '\t', ';'};
  optout::FilterOptions options;
  optout::testing::ReferenceOptions reference;
  options.delimiter = reference.delimiter = delimiters[data[0] & 3];
  options.has_header = reference.has_header = (data[0] & 4) == 0;
  if (options.has_header && (data[0] & 8) == 0) {
    options.column_name = reference.column_name = "nhs_number";
  } else {
    options.column_index = reference.column_index = 1 + ((data[0] >> 4) & 3);
  }
  options.threads = 1 + data[1] % 3;
  options.block_bytes = data[2] == 255 ? std::size_t{1} << 20 : 1 + data[2];
  options.max_record_bytes = std::size_t{1} << 30;  // the reference has no record limit
  const std::string csv(reinterpret_cast<const char*>(data) + 3, size - 3);

  std::istringstream in(csv);
  auto source = optout::make_istream_source(in, "extract.csv");
  std::string output, rejects;
  auto out = optout::make_string_sink(output, "<out>");
  auto rej = optout::make_string_sink(rejects, "<rejects>");
  const optout::Result<optout::FilterStats> stats = optout::filter(*source, *out, rej.get(), index(), options);
  const optout::testing::ReferenceResult expected = optout::testing::reference_filter(
      csv, reference, [](std::uint32_t stem) { return kListed.count(stem) > 0; });

  if (!expected.error.empty()) {
    if (stats.ok()) disagree("acceptance", "accepted", expected.error);
    if (expected.error == "no column" || expected.error == "empty input") {
      const bool matches = expected.error == "no column" ? stats.code() == optout::ErrorCode::kNotFound
                                                         : stats.code() == optout::ErrorCode::kInvalidInput;
      if (!matches) disagree("error", stats.status().message(), expected.error);
      return 0;
    }
    if (stats.status().message() != expected.error) disagree("error", stats.status().message(), expected.error);
    return 0;
  }
  if (!stats.ok()) disagree("acceptance", stats.status().message(), "accepted");
  if (output != expected.output) disagree("output", output, expected.output);
  if (rejects != expected.rejects) disagree("rejects", rejects, expected.rejects);
  if (stats->rows != expected.rows || stats->kept != expected.kept || stats->removed != expected.removed ||
      stats->rejected != expected.rejected || stats->rows != stats->kept + stats->removed + stats->rejected) {
    disagree("counts", std::to_string(stats->rows), std::to_string(expected.rows));
  }
  return 0;
}
