// libFuzzer target: arbitrary bytes as an objections file (optout build --objections), read by
// detail::parse_objections. Never a crash, a sanitizer report or a hang; and when it accepts the
// text, the filter's own CSV reading agrees: filtering the same bytes by the column nhs_number
// succeeds with as many rows, none rejected (every number the objections reader took is valid),
// and the objections' row count is the sum of its scopes' numbers, each a valid stem. Two CSV
// readers of the engine, checked against each other on every input. Any disagreement prints the
// counts (inputs are synthetic) and traps.
//
//   build: CC=clang-14 CXX=clang++-14 cmake -B build-fuzz -DOPTOUT_BUILD_FUZZERS=ON ...
//   run:   build-fuzz/tests/objections_fuzz WORK tests/fuzz/corpus_objections   (ctest -L fuzz)
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <string>
#include <string_view>

#include "objections.hpp"
#include "optout/filter.hpp"
#include "optout/registry.hpp"

namespace {

const optout::OptOutIndex& index() {
  static const optout::OptOutIndex* built = [] {
    optout::RegistryBuilder builder;
    const std::vector<std::uint32_t> stems = {943476591};
    if (!builder.add_stems("national", optout::ListKind::kDeny, stems).ok()) std::abort();
    static optout::Result<optout::Registry> registry = builder.build(0);
    if (!registry.ok()) std::abort();
    static optout::Result<optout::OptOutIndex> idx = optout::OptOutIndex::create(*registry);
    if (!idx.ok()) std::abort();
    return &*idx;
  }();
  return *built;
}

[[noreturn]] void disagree(const char* what, std::uint64_t a, std::uint64_t b) {
  std::fprintf(stderr, "objections_fuzz: %s: %llu against %llu\n", what, static_cast<unsigned long long>(a),
               static_cast<unsigned long long>(b));
  __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  optout::detail::ObjectionRows rows;
  const optout::Status parsed = optout::detail::parse_objections(text, "fuzz.csv", rows);
  if (!parsed.ok()) {
    // A message names the file and a line, never a value: it starts "fuzz.csv".
    if (parsed.message().rfind("fuzz.csv", 0) != 0) std::abort();
    return 0;
  }
  std::uint64_t numbers = 0;
  for (const auto& [scope, stems] : rows.stems_by_scope) {
    if (optout::validate_scope_name(scope).ok() == false) disagree("a scope that is not a scope name", 0, 0);
    for (const std::uint32_t stem : stems) {
      if (!optout::is_valid_stem(stem)) disagree("an invalid stem", stem, 0);
    }
    numbers += stems.size();
  }
  if (numbers != rows.rows) disagree("numbers by scope against rows", numbers, rows.rows);

  std::istringstream in{std::string(text)};
  std::unique_ptr<optout::ByteSource> source = optout::make_istream_source(in, "fuzz.csv");
  std::string out;
  std::unique_ptr<optout::ByteSink> sink = optout::make_string_sink(out, "out");
  optout::FilterOptions options;
  options.column_name = "nhs_number";
  options.threads = 1;
  optout::Result<optout::FilterStats> filtered = optout::filter(*source, *sink, nullptr, index(), options);
  if (!filtered.ok()) {
    std::fprintf(stderr, "objections_fuzz: the filter refused what the objections reader took: %s\n",
                 filtered.status().message().c_str());
    __builtin_trap();
  }
  if (filtered->rows != rows.rows) disagree("filter rows against objection rows", filtered->rows, rows.rows);
  if (filtered->rejected != 0) disagree("rows the filter rejected", filtered->rejected, 0);
  return 0;
}
