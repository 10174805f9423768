// libFuzzer target: arbitrary bytes, delimiters, columns, thread counts and block sizes through the
// parallel filter, which must agree with the sequential reference (tests/reference_filter.hpp):
// the same output, rejects and counts, or the same error. Any disagreement prints what differed
// and traps. (Inputs are synthetic, so printing their bytes is fine here.) The reference shares no
// CSV code with the engine (its own byte-at-a-time reader of the strict rules: LF or CRLF record
// ends, a bare CR an error), so a rule the engine reads leniently shows up as a disagreement.
//
// Input layout: three option bytes, then the CSV.
//   byte 0  bits 0-1 delimiter (, | TAB ;)  bit 2 no header  bit 3 column by position (always
//           without a header)  bits 4-5 position - 1  bit 6 no rejects sink  bit 7 see below
//   byte 1  bits 0-1 threads - 1 (3 counts as 0)  bit 2 digest the output  bit 3 block += 256
//           bit 4 block = 1 MiB (the default)  bit 5 write_numbers in the .dat (MESH) form
//           bits 6-7 both set, with byte 0 bit 7: also run write_numbers and check it against the
//           reference's valid numbers (1 input in 8: under ASan it costs ~6 ms a run, the filter ~0.3)
//   byte 2  block - 1 (low byte): blocks of 1..512 bytes put record and quote boundaries anywhere
//   byte 1 bits 6-7 = 01, with a header: an impact report grouped by the header's fields at
//           positions byte 2 bits 0-1 and bits 2-3 (one field when they are equal), checked
//           against the reference's groups (a name the engine refuses skips the check)
//
//   build: CC=clang-14 CXX=clang++-14 cmake -B build-fuzz -DOPTOUT_BUILD_FUZZERS=ON ...
//   run:   build-fuzz/tests/filter_fuzz -dict=tests/fuzz/filter.dict WORK tests/fuzz/corpus_filter
//   (ctest -L fuzz runs it as fuzz_filter on a copy of the corpus.)
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <set>
#include <sstream>
#include <string>
#include <string_view>

#include "optout/filter.hpp"
#include "optout/nhs_number.hpp"
#include "optout/numbers.hpp"
#include "optout/registry.hpp"
#include "reference_filter.hpp"
#include "snapshot_format.hpp"  // snapshot_checksum: XXH3-128 of a byte string

namespace {

// The deny list: 9434765919, 4010232137 and 9999999999 are removed (filter.dict holds them, so
// "removed" is reachable). 0000000000 (also in the dictionary) passes modulus 11 but is invalid
// everywhere (kAllZeros), so no list can hold it: it must be rejected.
const std::set<std::uint32_t> kListed = {943476591, 401023213, 999999999};

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

// Printable, bounded: control and non-ASCII bytes as \xNN.
std::string escape(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size() && i < 300; ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c == '\\') {
      out += "\\\\";
    } else if (c >= 0x20 && c < 0x7f) {
      out += static_cast<char>(c);
    } else {
      char hex[8];
      std::snprintf(hex, sizeof hex, "\\x%02x", c);
      out += hex;
    }
  }
  if (s.size() > 300) out += "... (" + std::to_string(s.size()) + " bytes)";
  return out;
}

struct Case {
  optout::FilterOptions options;
  optout::testing::ReferenceOptions reference;
  bool with_rejects = true;
  bool numbers = false;
  bool impact = false;
  optout::NumbersFormat numbers_format = optout::NumbersFormat::kText;
  std::string csv;

  std::string describe() const {
    return "delimiter '" + escape(std::string(1, options.delimiter)) + "', " +
           (options.has_header ? "header" : "no header") + ", column " +
           (options.column_index ? std::to_string(*options.column_index) : "'" + options.column_name + "'") +
           ", threads " + std::to_string(options.threads) + ", block " + std::to_string(options.block_bytes) +
           (with_rejects ? ", rejects" : ", no rejects") + (options.digest_output ? ", digest" : "") +
           (impact ? ", impact by " + std::to_string(options.impact_by.size()) + " fields" : "") + "\n  input: \"" +
           escape(csv) + "\"";
  }
};

[[noreturn]] void disagree(const Case& c, const char* what, const std::string& engine, const std::string& reference) {
  std::fprintf(stderr,
               "filter_fuzz: the engine and the reference disagree on %s\n  %s\n  engine:    %s\n  reference: %s\n",
               what, c.describe().c_str(), engine.c_str(), reference.c_str());
  __builtin_trap();
}

void check(const Case& c, bool condition, const char* what, const std::string& engine, const std::string& reference) {
  if (!condition) disagree(c, what, engine, reference);
}

// Compares an engine failure with the reference's error.
void check_error(const Case& c, const optout::Status& status, const std::string& expected) {
  check(c, !status.ok(), "acceptance", "accepted", expected);
  if (expected == "no column") {  // the reference does not word this one
    check(c, status.code() == optout::ErrorCode::kNotFound && status.message().starts_with("extract.csv: "), "error",
          status.message(), "kNotFound: " + expected);
  } else if (expected == "ambiguous column") {  // nor this one
    check(c,
          status.code() == optout::ErrorCode::kInvalidInput && status.message().starts_with("extract.csv: ") &&
              status.message().find("ambiguous") != std::string::npos,
          "error", status.message(), "kInvalidInput: " + expected);
  } else {
    check(c, status.code() == optout::ErrorCode::kInvalidInput && status.message() == expected, "error",
          status.message(), expected);
  }
}

std::string counts(std::uint64_t rows, std::uint64_t kept, std::uint64_t removed, std::uint64_t rejected) {
  return "rows " + std::to_string(rows) + " kept " + std::to_string(kept) + " removed " + std::to_string(removed) +
         " rejected " + std::to_string(rejected);
}

void check_filter(const Case& c, const optout::testing::ReferenceResult& expected) {
  std::istringstream in(c.csv);
  auto source = optout::make_istream_source(in, "extract.csv");
  std::string output, rejects;
  auto out = optout::make_string_sink(output, "<out>");
  auto rej = optout::make_string_sink(rejects, "<rejects>");
  const optout::Result<optout::FilterStats> stats =
      optout::filter(*source, *out, c.with_rejects ? rej.get() : nullptr, index(), c.options);

  if (c.impact && !stats.ok() && stats.status().code() == optout::ErrorCode::kInvalidArgument) return;
  if (!expected.error.empty()) {
    check_error(c, stats.status(), expected.error);
    return;
  }
  check(c, stats.ok(), "acceptance", stats.status().message(), "accepted");
  const optout::FilterStats& s = *stats;
  if (c.impact) {
    optout::testing::ReferenceGroups groups;
    for (const auto& [key, n] : s.impact) groups[key] = {n.rows, n.kept, n.removed, n.rejected};
    if (groups != expected.groups) {
      disagree(c, "impact groups", std::to_string(groups.size()) + " groups",
               std::to_string(expected.groups.size()) + " groups (or other counts)");
    }
  }
  // (The descriptions are built only on failure: the comparisons run on every input.)
  if (output != expected.output) disagree(c, "output", escape(output), escape(expected.output));
  if (c.with_rejects && rejects != expected.rejects) disagree(c, "rejects", escape(rejects), escape(expected.rejects));
  if (!c.with_rejects && !rejects.empty()) disagree(c, "rejects without a sink", escape(rejects), "");
  if (s.rows != expected.rows || s.kept != expected.kept || s.removed != expected.removed ||
      s.rejected != expected.rejected) {
    disagree(c, "counts", counts(s.rows, s.kept, s.removed, s.rejected),
             counts(expected.rows, expected.kept, expected.removed, expected.rejected));
  }
  std::uint64_t by_reason = 0;
  for (std::uint64_t n : s.rejected_by_reason) by_reason += n;
  check(c, by_reason == s.rejected, "rejected_by_reason total", std::to_string(by_reason), std::to_string(s.rejected));
  check(c, s.bytes_in == c.csv.size(), "bytes_in", std::to_string(s.bytes_in), std::to_string(c.csv.size()));
  check(c, s.bytes_out == output.size(), "bytes_out", std::to_string(s.bytes_out), std::to_string(output.size()));
  check(c, s.bytes_rejected == (c.with_rejects ? rejects.size() : 0), "bytes_rejected",
        std::to_string(s.bytes_rejected), std::to_string(c.with_rejects ? rejects.size() : 0));
  check(c, s.threads == c.options.threads, "threads", std::to_string(s.threads), std::to_string(c.options.threads));
  if (c.options.digest_output) {
    const optout::Digest128 want = optout::detail::snapshot_checksum(output);
    if (!s.output_digest || *s.output_digest != want) {
      disagree(c, "output digest", s.output_digest ? s.output_digest->hex() : "none", want.hex());
    }
  } else {
    check(c, !s.output_digest.has_value(), "output digest", "present", "none (not asked for)");
  }
}

// write_numbers reads the CSV as filter() does: the same errors, and the distinct valid numbers.
void check_numbers(const Case& c, const optout::testing::ReferenceResult& expected,
                   const std::set<std::uint32_t>& valid_stems) {
  std::istringstream in(c.csv);
  auto source = optout::make_istream_source(in, "extract.csv");
  std::string numbers;
  auto out = optout::make_string_sink(numbers, "<numbers>");
  const optout::Result<optout::NumbersStats> stats = optout::write_numbers(*source, *out, c.options, c.numbers_format);
  if (!expected.error.empty()) {
    check_error(c, stats.status(), expected.error);
    return;
  }
  check(c, stats.ok(), "write_numbers acceptance", stats.status().message(), "accepted");
  std::string want;
  const char* line_end = c.numbers_format == optout::NumbersFormat::kMesh ? ",\n" : "\n";
  for (std::uint32_t stem : valid_stems) want += optout::format_nhs_number(stem) + line_end;
  if (numbers != want) disagree(c, "write_numbers output", escape(numbers), escape(want));
  const optout::NumbersStats& s = *stats;
  if (s.rows != expected.rows || s.valid != expected.kept + expected.removed || s.rejected != expected.rejected ||
      s.distinct != valid_stems.size() || s.bytes_in != c.csv.size() || s.bytes_out != numbers.size()) {
    disagree(c, "write_numbers counts",
             "rows " + std::to_string(s.rows) + " valid " + std::to_string(s.valid) + " rejected " +
                 std::to_string(s.rejected) + " distinct " + std::to_string(s.distinct) + " bytes in " +
                 std::to_string(s.bytes_in) + " out " + std::to_string(s.bytes_out),
             "rows " + std::to_string(expected.rows) + " valid " + std::to_string(expected.kept + expected.removed) +
                 " rejected " + std::to_string(expected.rejected) + " distinct " + std::to_string(valid_stems.size()) +
                 " bytes in " + std::to_string(c.csv.size()) + " out " + std::to_string(numbers.size()));
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 3) return 0;
  Case c;
  const char delimiters[] = {',', '|', '\t', ';'};
  c.options.delimiter = c.reference.delimiter = delimiters[data[0] & 3];
  c.options.has_header = c.reference.has_header = (data[0] & 4) == 0;
  if (c.options.has_header && (data[0] & 8) == 0) {
    c.options.column_name = c.reference.column_name = "nhs_number";
  } else {
    c.options.column_index = c.reference.column_index = 1 + ((data[0] >> 4) & 3);
  }
  c.with_rejects = (data[0] & 64) == 0;
  c.numbers = (data[0] & 128) != 0 && (data[1] & 0xc0) == 0xc0;
  c.options.threads = 1 + (data[1] & 3) % 3;
  c.options.digest_output = (data[1] & 4) != 0;
  c.options.block_bytes =
      (data[1] & 16) != 0 ? optout::kDefaultBlockBytes : 1 + data[2] + ((data[1] & 8) != 0 ? 256 : 0);
  c.numbers_format = (data[1] & 32) != 0 ? optout::NumbersFormat::kMesh : optout::NumbersFormat::kText;
  c.options.max_record_bytes = std::size_t{1} << 30;  // the reference has no record limit
  c.csv.assign(reinterpret_cast<const char*>(data) + 3, size - 3);
  if (c.options.has_header && (data[1] & 0xc0) == 0x40) {
    // The grouping columns by name: the header's fields at two positions, when they can be named.
    std::string error;
    const std::size_t start = c.csv.starts_with("\xEF\xBB\xBF") ? 3 : 0;
    const std::vector<optout::testing::ReferenceRecord> records = optout::testing::reference_read_records(
        c.csv.substr(0, c.csv.find('\n') + 1), start, c.options.delimiter, error);
    const std::size_t nhs = c.options.column_index ? *c.options.column_index - 1 : SIZE_MAX;
    std::vector<std::size_t> positions = {std::size_t{data[2] & 3u}};
    if (((data[2] >> 2) & 3u) != positions[0]) positions.push_back((data[2] >> 2) & 3u);
    bool nameable = !records.empty();
    for (std::size_t p : positions) {
      if (!nameable || p >= records[0].fields.size() || p == nhs) {
        nameable = false;
        break;
      }
      const std::string& name = records[0].fields[p];
      std::size_t times = 0;
      for (const std::string& f : records[0].fields) times += f == name;
      if (name.empty() || name == "nhs_number" || times != 1) nameable = false;
      c.options.impact_by.push_back(name);
    }
    if (nameable) {
      c.impact = true;
      c.reference.group_fields = positions;
    } else {
      c.options.impact_by.clear();
    }
  }

  // The reference asks removes() exactly once per record with a valid number: those stems are
  // what write_numbers must list.
  std::set<std::uint32_t> valid_stems;
  const optout::testing::ReferenceResult expected =
      optout::testing::reference_filter(c.csv, c.reference, [&](std::uint32_t stem) {
        valid_stems.insert(stem);
        return kListed.count(stem) > 0;
      });
  check_filter(c, expected);
  if (c.numbers) check_numbers(c, expected, valid_stems);
  return 0;
}
