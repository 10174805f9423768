// libFuzzer target: arbitrary bytes as JSON Lines through the parallel filter (FilterOptions::format
// kJsonLines). Never a crash, a sanitizer report or a hang; and when the run succeeds: rows ==
// kept + removed + rejected, the output and the rejects are the input's lines in order (each
// line whole, LF or CRLF included), and every thread count and block size gives the bytes and
// counts of one thread with the default block, or the same error. Any disagreement prints what
// differed and traps. (Inputs are synthetic, so printing their sizes is fine here.)
//
// Input layout: one option byte, then the lines.
//   byte 0  bits 0-1 threads - 1 (3 counts as 0)  bits 2-6 block - 1 (1..32 bytes: line ends
//           anywhere)  bit 7 the column is the JSON Pointer /p/nhs (else the key "nhs")
//
//   build: CC=clang-14 CXX=clang++-14 cmake -B build-fuzz -DOPTOUT_BUILD_FUZZERS=ON ...
//   run:   build-fuzz/tests/jsonl_fuzz WORK tests/fuzz/corpus_jsonl   (ctest -L fuzz: fuzz_jsonl)
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <string>
#include <string_view>

#include "optout/filter.hpp"
#include "optout/registry.hpp"

namespace {

const optout::OptOutIndex& index() {
  static const optout::OptOutIndex* built = [] {
    optout::RegistryBuilder builder;
    const std::vector<std::uint32_t> stems = {943476591, 401023213};
    if (!builder.add_stems("national", optout::ListKind::kDeny, stems).ok()) std::abort();
    static optout::Result<optout::Registry> registry = builder.build(0);
    if (!registry.ok()) std::abort();
    static optout::Result<optout::OptOutIndex> idx = optout::OptOutIndex::create(*registry);
    if (!idx.ok()) std::abort();
    return &*idx;
  }();
  return *built;
}

struct Outcome {
  optout::Result<optout::FilterStats> stats;
  std::string output;
  std::string rejects;
};

Outcome run(const std::string& input, const optout::FilterOptions& options) {
  std::istringstream in(input);
  auto source = optout::make_istream_source(in, "fuzz.jsonl");
  Outcome o{optout::Status(), "", ""};
  auto out = optout::make_string_sink(o.output, "<out>");
  auto rejects = optout::make_string_sink(o.rejects, "<rejects>");
  o.stats = optout::filter(*source, *out, rejects.get(), index(), options);
  return o;
}

[[noreturn]] void disagree(const char* what, const std::string& input) {
  std::fprintf(stderr, "jsonl_fuzz: %s (input %zu bytes)\n", what, input.size());
  __builtin_trap();
}

// Whether part is a subsequence of input's whole lines, in order.
bool lines_of(std::string_view part, std::string_view input) {
  std::size_t at = 0;
  while (!part.empty()) {
    if (at >= input.size()) return false;
    const std::size_t lf = input.find('\n', at);
    const std::size_t end = lf == std::string_view::npos ? input.size() : lf + 1;
    const std::string_view line = input.substr(at, end - at);
    if (part.starts_with(line)) part.remove_prefix(line.size());
    at = end;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const std::uint8_t flags = data[0];
  const std::string input(reinterpret_cast<const char*>(data + 1), size - 1);

  optout::FilterOptions base;
  base.format = optout::InputFormat::kJsonLines;
  base.column_name = (flags & 0x80) != 0 ? "/p/nhs" : "nhs";
  base.threads = 1;
  const Outcome expected = run(input, base);

  optout::FilterOptions varied = base;
  varied.threads = (flags & 3) == 3 ? 0 : (flags & 3) + 1u;
  varied.block_bytes = ((flags >> 2) & 31) + 1u;
  const Outcome got = run(input, varied);

  if (expected.stats.ok() != got.stats.ok()) disagree("one run failed, the other did not", input);
  if (!expected.stats.ok()) {
    if (expected.stats.status().message() != got.stats.status().message()) disagree("different errors", input);
    return 0;
  }
  const optout::FilterStats& s = *expected.stats;
  if (s.rows != s.kept + s.removed + s.rejected) disagree("rows != kept + removed + rejected", input);
  if (got.output != expected.output || got.rejects != expected.rejects) disagree("different bytes", input);
  if (got.stats->kept != s.kept || got.stats->removed != s.removed || got.stats->rejected != s.rejected) {
    disagree("different counts", input);
  }
  if (!lines_of(expected.output, input) || !lines_of(expected.rejects, input)) {
    disagree("output or rejects not whole input lines in order", input);
  }
  return 0;
}
