// optout verify (verify.hpp): the verdict and counts, the matches file, the audit vouch, and that
// it reads an extract by the filter's rules (the same counts and errors as run_filter).
#include "optout/verify.hpp"

#include <gtest/gtest.h>
#include <xxhash.h>

#include <filesystem>
#include <functional>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "optout/audit.hpp"
#include "optout/io.hpp"
#include "optout/nhs_number.hpp"
#include "optout/registry.hpp"
#include "optout/run.hpp"
#include "optout/signing.hpp"
#include "reference_filter.hpp"
#include "test_support.hpp"

namespace optout {
namespace {

using namespace optout::testing;

// Stems of valid numbers (is_valid_stem), from start on.
std::vector<std::uint32_t> valid_stems(std::size_t count, std::uint32_t start) {
  std::vector<std::uint32_t> stems;
  for (std::uint32_t s = start; stems.size() < count; ++s) {
    if (is_valid_stem(s)) stems.push_back(s);
  }
  return stems;
}

std::string number(std::uint32_t stem) { return format_nhs_number(stem); }

Digest128 xxh3(std::string_view bytes) {
  const XXH128_hash_t h = XXH3_128bits(bytes.data(), bytes.size());
  return Digest128{h.high64, h.low64};
}

const std::string kListedNumber = number(kListed);  // 9434765919
const std::string kUnlisted = "4010232137";

class VerifyTest : public TempDirTest {
 protected:
  void SetUp() override {
    // Beside the folder: an input no output may name, but not one of files().
    registry_file_ = dir_.string() + ".optout";
    save(make_registry({kListed}));
  }
  void TearDown() override {
    fs::remove(registry_file_);
    fs::remove(dir_.string() + "-other.optout");
  }

  void save(const Registry& registry) {
    ASSERT_TRUE(save_registry(registry, registry_file_).ok());
    Result<Registry> loaded = load_registry(registry_file_);
    ASSERT_TRUE(loaded.ok());
    index_.emplace(make_index(*loaded));
  }

  VerifyRequest request(const std::string& input = "released.csv") const {
    VerifyRequest r;
    r.input = path(input);
    r.options.column_name = "nhs_number";
    return r;
  }

  Result<VerifyResult> verify(const VerifyRequest& r) const { return run_verify(*index_, r); }

  // Filters extract.csv into clean.csv with an audit record in audit.jsonl.
  FilterStats filter_with_audit(const OptOutIndex& index) {
    FilterRequest f;
    f.inputs = {path("extract.csv")};
    f.output = path("clean.csv");
    f.audit = path("audit.jsonl");
    f.options.column_name = "nhs_number";
    Result<RunResult> ran = run_filter(index, f);
    EXPECT_TRUE(ran.ok()) << ran.status().message();
    return ran.ok() ? ran->stats : FilterStats{};
  }

  std::vector<nlohmann::json> audit_records() const {
    std::vector<nlohmann::json> records;
    std::istringstream lines(read("audit.jsonl"));
    for (std::string line; std::getline(lines, line);) records.push_back(nlohmann::json::parse(line));
    return records;
  }

  std::string registry_file_;
  std::optional<OptOutIndex> index_;
};

// ---- The verdict ------------------------------------------------------------------------------

TEST_F(VerifyTest, CleanOutputOfAFilterRunIsClean) {
  write("extract.csv",
        "id,nhs_number\n1," + kUnlisted + "\n2," + kListedNumber + "\n3,12345\n4,\"" + kUnlisted + "\"\n");
  const FilterStats filtered = filter_with_audit(*index_);
  ASSERT_EQ(filtered.kept, 2u);
  Result<VerifyResult> r = verify(request("clean.csv"));
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_TRUE(r->clean());
  EXPECT_EQ(r->stats.rows, 2u);
  EXPECT_EQ(r->stats.kept, 2u);
  EXPECT_EQ(r->stats.removed, 0u);
  EXPECT_EQ(r->stats.rejected, 0u);
  EXPECT_EQ(r->stats.bytes_in, read("clean.csv").size());
  EXPECT_EQ(r->stats.bytes_out, 0u);
  EXPECT_EQ(r->input_digest, xxh3(read("clean.csv")));
  ASSERT_TRUE(filtered.output_digest.has_value());
  EXPECT_EQ(r->input_digest, *filtered.output_digest);
  EXPECT_FALSE(r->audit.has_value());
  EXPECT_EQ(r->matches_written, 0u);
}

TEST_F(VerifyTest, OneOptedOutRowMakesItNotClean) {
  write("released.csv", "id,nhs_number\n1," + kUnlisted + "\n2," + kListedNumber + "\n3," + kUnlisted + "\n");
  Result<VerifyResult> r = verify(request());
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_FALSE(r->clean());
  EXPECT_EQ(r->stats.rows, 3u);
  EXPECT_EQ(r->stats.kept, 2u);
  EXPECT_EQ(r->stats.removed, 1u);
  EXPECT_EQ(r->stats.rejected, 0u);
  EXPECT_EQ(files(), std::vector<std::string>{"released.csv"});  // verify writes nothing unasked
}

TEST_F(VerifyTest, OneInvalidRowMakesItNotClean) {
  write("released.csv", "id,nhs_number\n1," + kUnlisted + "\n2,4010232138\n3\n");
  Result<VerifyResult> r = verify(request());
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_FALSE(r->clean());
  EXPECT_EQ(r->stats.removed, 0u);
  EXPECT_EQ(r->stats.rejected, 2u);
  EXPECT_EQ(r->stats.rejected_by_reason[static_cast<std::size_t>(InvalidReason::kWrongCheckDigit)], 1u);
  EXPECT_EQ(r->stats.rejected_by_reason[0], 1u);  // a missing field
}

TEST_F(VerifyTest, HeaderOnlyAndHeaderlessInputs) {
  write("released.csv", "id,nhs_number\n");
  Result<VerifyResult> r = verify(request());
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_TRUE(r->clean());
  EXPECT_EQ(r->stats.rows, 0u);

  write("released.csv", "\xEF\xBB\xBF" + kListedNumber + "\r\n" + kUnlisted);  // BOM, CRLF, no final LF
  VerifyRequest q = request();
  q.options.column_name.clear();
  q.options.column_index = 1;
  q.options.has_header = false;
  q.matches = path("m.txt");
  r = verify(q);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->stats.rows, 2u);
  EXPECT_EQ(r->stats.removed, 1u);
  EXPECT_EQ(read("m.txt"), "1\n");
  EXPECT_EQ(r->input_digest, xxh3(read("released.csv")));
}

// The filter's errors, in its words, for a malformed extract; no matches file is left.
TEST_F(VerifyTest, MalformedInputFailsAsTheFilterFails) {
  const std::string inputs[] = {
      "id,nhs_number\n1," + kListedNumber + "\n2,\"" + kUnlisted + "\n",  // unterminated quote
      "id,nhs_number\n1," + kListedNumber + "\n2,a\"b\n",                 // quote in an unquoted field
      "id,nhs_number\n1," + kListedNumber + "\r3,x\n",                    // bare CR
      "id,other\n1,2\n",                                                  // no such column
      "",                                                                 // empty: no header
      std::string("\x1f\x8b\x08\x00", 4),                                 // gzip
  };
  for (const std::string& input : inputs) {
    SCOPED_TRACE(input);
    write("released.csv", input);
    FilterRequest f;
    f.inputs = {path("released.csv")};
    f.output = path("out.csv");
    f.options.column_name = "nhs_number";
    Result<RunResult> filtered = run_filter(*index_, f);
    ASSERT_FALSE(filtered.ok());
    VerifyRequest q = request();
    q.matches = path("m.txt");
    Result<VerifyResult> r = verify(q);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.code(), filtered.code());
    EXPECT_EQ(r.status().message(), filtered.status().message());
    EXPECT_EQ(files(), std::vector<std::string>{"released.csv"});
  }
}

TEST_F(VerifyTest, RecordOverTheLimitFailsAsTheFilterFails) {
  write("released.csv", "id,nhs_number\n1," + kUnlisted + "\n2," + kUnlisted + std::string(200, ' ') + "\n");
  VerifyRequest q = request();
  q.options.max_record_bytes = 64;
  q.options.block_bytes = 16;
  q.matches = path("m.txt");
  Result<VerifyResult> r = verify(q);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.code(), ErrorCode::kLimitExceeded);
  EXPECT_EQ(r.status().message(), path("released.csv") + ":3: record longer than the limit of 64 bytes");
  EXPECT_EQ(files(), std::vector<std::string>{"released.csv"});
}

// ---- The request ------------------------------------------------------------------------------

TEST_F(VerifyTest, RefusesRequestsItCannotCarryOut) {
  write("released.csv", "id,nhs_number\n1," + kUnlisted + "\n");
  struct Case {
    std::function<void(VerifyRequest&)> set;
    ErrorCode code;
    std::string message;
  };
  const Case cases[] = {
      {[](VerifyRequest& r) { r.options.max_rejected_rows = 0; }, ErrorCode::kInvalidArgument,
       "verify has no rejected-row limit: any rejected row fails it"},
      {[](VerifyRequest& r) { r.apply = {"national"}; }, ErrorCode::kInvalidArgument,
       "a verification given an index applies the index's lists: leave the request's lists empty"},
      {[](VerifyRequest& r) { r.input = ""; }, ErrorCode::kInvalidArgument,
       "an empty input path: give a file name, or \"-\" for standard input"},
      {[](VerifyRequest& r) { r.audit = ""; }, ErrorCode::kInvalidArgument, "an empty audit path: give a file name"},
      {[](VerifyRequest& r) { r.matches = ""; }, ErrorCode::kInvalidArgument,
       "an empty matches path: give a file name, or \"-\" for standard output"},
      {[](VerifyRequest& r) { r.id_column = "id"; }, ErrorCode::kInvalidArgument,
       "an id column names the rows of a matches file: give one too"},
      {[&](VerifyRequest& r) {
         r.matches = path("m.txt");
         r.id_column = "nhs_number";
       },
       ErrorCode::kInvalidArgument,
       "the id column 'nhs_number' is the NHS-number column: a matches file never holds NHS numbers; choose another "
       "column"},
      // By position, the id column is known to be the NHS column once the header is read.
      {[&](VerifyRequest& r) {
         r.options.column_name.clear();
         r.options.column_index = 2;
         r.matches = path("m.txt");
         r.id_column = "nhs_number";
       },
       ErrorCode::kInvalidArgument,
       "the id column 'nhs_number' is the NHS-number column: a matches file never holds NHS numbers; choose another "
       "column"},
      {[&](VerifyRequest& r) {
         r.options.column_name.clear();
         r.options.column_index = 2;
         r.options.has_header = false;
         r.matches = path("m.txt");
         r.id_column = "id";
       },
       ErrorCode::kInvalidArgument, "an id column name needs a header"},
      {[&](VerifyRequest& r) {
         r.matches = path("m.txt");
         r.id_column = "patient_ref";
       },
       ErrorCode::kNotFound, path("released.csv") + ": no column named 'patient_ref' (the id column) in the header"},
      {[&](VerifyRequest& r) { r.options.column_name = "nhs"; }, ErrorCode::kNotFound,
       path("released.csv") + ": no column named 'nhs' in the header (it has: id, nhs_number)"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.message);
    VerifyRequest r = request();
    c.set(r);
    Result<VerifyResult> result = verify(r);
    ASSERT_FALSE(result.ok());
    EXPECT_EQ(result.code(), c.code);
    EXPECT_EQ(result.status().message(), c.message);
    EXPECT_EQ(files(), std::vector<std::string>{"released.csv"});
  }
}

// --matches must not name the extract, the registry or the audit log, by any path to them.
TEST_F(VerifyTest, MatchesNamingAnInputIsRefused) {
  write("released.csv", "id,nhs_number\n1," + kListedNumber + "\n");
  write("audit.jsonl", "");
  fs::create_hard_link(dir_ / "released.csv", dir_ / "hard.csv");
  const std::string before = read("released.csv");
  for (const std::string& matches : {path("released.csv"), path("hard.csv"), (dir_ / "." / "released.csv").string(),
                                     registry_file_, path("audit.jsonl")}) {
    SCOPED_TRACE(matches);
    VerifyRequest r = request();
    r.matches = matches;
    r.audit = path("audit.jsonl");
    Result<VerifyResult> result = verify(r);
    ASSERT_FALSE(result.ok());
    EXPECT_EQ(result.code(), ErrorCode::kInvalidArgument);
    const std::string& message = result.status().message();
    EXPECT_TRUE(message.find("are one file") != std::string::npos ||
                message.find("is given twice") != std::string::npos)
        << message;
  }
  EXPECT_EQ(read("released.csv"), before);
  EXPECT_EQ(read("audit.jsonl"), "");
}

// ---- Matches ------------------------------------------------------------------------------------

TEST_F(VerifyTest, MatchesNameRemovedRowsByNumber) {
  write("released.csv", "id,nhs_number\n1," + kUnlisted + "\n2," + kListedNumber + "\n3,bad\n4,\"" + kListedNumber +
                            "\"\n5," + kUnlisted + "\n6,943 476 5919\n");
  VerifyRequest q = request();
  q.matches = path("m.txt");
  Result<VerifyResult> r = verify(q);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->stats.removed, 3u);
  EXPECT_EQ(r->stats.rejected, 1u);
  EXPECT_EQ(r->matches_written, 3u);
  EXPECT_EQ(read("m.txt"), "2\n4\n6\n");
}

// Data-row numbers count records, not lines: a quoted field may span lines.
TEST_F(VerifyTest, MatchesCountRecordsNotLines) {
  write("released.csv", "id,nhs_number,note\n1," + kUnlisted + ",\"two\nlines\"\n2," + kListedNumber +
                            ",\"three\r\nlines\nhere\"\n3," + kListedNumber + ",x\n");
  VerifyRequest q = request();
  q.matches = path("m.txt");
  Result<VerifyResult> r = verify(q);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(read("m.txt"), "2\n3\n");
}

TEST_F(VerifyTest, MatchesNameRemovedRowsByIdColumn) {
  write("released.csv",
        "\"episode id\",nhs_number,note\n"
        "E1," +
            kUnlisted + ",a\n" + "E2," + kListedNumber + ",b\n" + "\"E,3\"," + kListedNumber + ",c\n" +
            "\"say \"\"hi\"\"\"," + kListedNumber + ",d\n" + "\"line\nbreak\"," + kListedNumber + ",e\n" + "\"\"," +
            kListedNumber + ",f\n" + "\"E7\"," + kListedNumber + "\r\n" + " E8 ," + kListedNumber + ",h");
  VerifyRequest q = request();
  q.matches = path("m.txt");
  q.id_column = "episode id";
  Result<VerifyResult> r = verify(q);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->stats.removed, 7u);
  EXPECT_EQ(r->matches_written, 7u);
  EXPECT_EQ(read("m.txt"), "E2\n\"E,3\"\n\"say \"\"hi\"\"\"\n\"line\nbreak\"\n\"\"\nE7\n E8 \n");
  EXPECT_EQ(read("m.txt").find(kListedNumber), std::string::npos);
}

TEST_F(VerifyTest, IdColumnErrors) {
  // Named twice: ambiguous.
  write("released.csv", "id,nhs_number,id\nA," + kListedNumber + ",B\n");
  VerifyRequest q = request();
  q.matches = path("m.txt");
  q.id_column = "id";
  Result<VerifyResult> r = verify(q);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.code(), ErrorCode::kInvalidInput);
  EXPECT_EQ(r.status().message(),
            path("released.csv") + ": the header names the id column 'id' 2 times: which one names a row is ambiguous");
  EXPECT_EQ(files(), std::vector<std::string>{"released.csv"});

  // A removed row too short to have the id field (the NHS field comes first here).
  write("released.csv", "nhs_number,x,id\n" + kListedNumber + ",1,A\n" + kUnlisted + "\n" + kListedNumber + ",2\n");
  r = verify(q);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.code(), ErrorCode::kInvalidInput);
  EXPECT_EQ(r.status().message(), path("released.csv") +
                                      ":4: a removed row has no id column field (too few fields), so the matches "
                                      "file cannot name it; without --id-column rows are named by number");
  EXPECT_EQ(files(), std::vector<std::string>{"released.csv"});
}

// A recipient re-checks an old release against a registry grown by known numbers: the matches are
// exactly the rows of those numbers, for every block size and thread count.
TEST_F(VerifyTest, GrownRegistryMatchesExactlyTheNewNumbers) {
  const std::vector<std::uint32_t> stems = valid_stems(400, 400'000'000);
  const std::vector<std::uint32_t> old_list(stems.begin(), stems.begin() + 50);
  std::vector<std::uint32_t> grown = old_list;
  std::set<std::uint32_t> added;
  for (std::size_t i = 50; i < stems.size(); i += 7) {
    grown.push_back(stems[i]);
    added.insert(stems[i]);
  }
  // The release: rows of numbers that were not listed then (old numbers filtered out).
  std::mt19937_64 rng(12);
  std::string extract = "row,nhs_number,note\n";
  std::vector<std::string> expected_rows, expected_ids;
  for (int row = 1; row <= 3000; ++row) {
    const std::uint32_t stem = stems[50 + rng() % (stems.size() - 50)];
    const std::string note = rng() % 5 == 0 ? "\"a,\"\"b\"\"\nc\"" : "plain";
    extract += "R" + std::to_string(row) + "," + number(stem) + "," + note + (rng() % 3 == 0 ? "\r\n" : "\n");
    if (added.count(stem)) {
      expected_rows.push_back(std::to_string(row));
      expected_ids.push_back("R" + std::to_string(row));
    }
  }
  write("released.csv", extract);
  ASSERT_FALSE(expected_rows.empty());
  save(make_registry(grown));
  for (const std::size_t block : {std::size_t{1}, std::size_t{100}, std::size_t{4096}, kDefaultBlockBytes}) {
    for (const unsigned threads : {1u, 3u}) {
      SCOPED_TRACE(std::to_string(block) + " bytes, " + std::to_string(threads) + " threads");
      for (const bool by_id : {false, true}) {
        VerifyRequest q = request();
        q.options.block_bytes = block;
        q.options.threads = threads;
        q.matches = path("m.txt");
        if (by_id) q.id_column = "row";
        Result<VerifyResult> r = verify(q);
        ASSERT_TRUE(r.ok()) << r.status().message();
        EXPECT_EQ(r->stats.rows, 3000u);
        EXPECT_EQ(r->stats.removed, expected_rows.size());
        EXPECT_EQ(r->matches_written, expected_rows.size());
        std::string expected;
        for (const std::string& line : by_id ? expected_ids : expected_rows) expected += line + "\n";
        EXPECT_EQ(read("m.txt"), expected);
        EXPECT_EQ(r->input_digest, xxh3(extract));
      }
    }
  }
}

// The same counts and errors as run_filter, the same matches as an independent reading of the
// records (tests/reference_filter.hpp), over random inputs, some malformed.
TEST_F(VerifyTest, AgreesWithTheFilterOnRandomInputs) {
  const std::vector<std::uint32_t> stems = valid_stems(20, 600'000'000);
  const std::set<std::uint32_t> listed(stems.begin(), stems.begin() + 8);
  save(make_registry(std::vector<std::uint32_t>(listed.begin(), listed.end())));
  const char* const kNotes[] = {"x", "\"q,\"\"\"", "\"a\nb\"", "", "\"\r\n\"", "y\"z", "w\rv"};
  int malformed = 0;
  for (std::uint64_t seed = 1; seed <= 40; ++seed) {
    std::mt19937_64 rng(seed);
    std::string csv = rng() % 4 == 0 ? "\xEF\xBB\xBFid,nhs_number,note\n" : "id,nhs_number,note\n";
    const int rows = static_cast<int>(rng() % 200);
    for (int row = 0; row < rows; ++row) {
      csv += "i" + std::to_string(row) + ",";
      switch (rng() % 6) {
        case 0: csv += "bad"; break;
        case 1: csv += "\"" + number(stems[rng() % stems.size()]) + "\""; break;
        default: csv += number(stems[rng() % stems.size()]);
      }
      if (rng() % 4 != 0) csv += std::string(",") + kNotes[rng() % (rng() % 150 == 0 ? 7 : 5)];
      if (row + 1 < rows || rng() % 2) csv += rng() % 3 == 0 ? "\r\n" : "\n";
    }
    write("released.csv", csv);
    fs::remove(path("m.txt"));  // a failed run leaves an earlier file as it was
    SCOPED_TRACE("seed " + std::to_string(seed));

    FilterRequest f;
    f.inputs = {path("released.csv")};
    f.output = path("out.csv");
    f.options.column_name = "nhs_number";
    f.options.block_bytes = 1 + rng() % 300;
    Result<RunResult> filtered = run_filter(*index_, f);
    fs::remove(path("out.csv"));

    VerifyRequest q = request();
    q.options.block_bytes = 1 + rng() % 300;
    q.options.threads = 1 + static_cast<unsigned>(rng() % 4);
    q.matches = path("m.txt");
    q.id_column = "id";
    Result<VerifyResult> r = verify(q);
    ASSERT_EQ(r.ok(), filtered.ok()) << (r.ok() ? filtered.status().message() : r.status().message());
    if (!r.ok()) {
      ++malformed;
      EXPECT_EQ(r.status().message(), filtered.status().message());
      EXPECT_FALSE(fs::exists(path("m.txt")));
      continue;
    }
    EXPECT_EQ(r->stats.rows, filtered->stats.rows);
    EXPECT_EQ(r->stats.kept, filtered->stats.kept);
    EXPECT_EQ(r->stats.removed, filtered->stats.removed);
    EXPECT_EQ(r->stats.rejected, filtered->stats.rejected);
    for (std::size_t i = 0; i < 8; ++i)
      EXPECT_EQ(r->stats.rejected_by_reason[i], filtered->stats.rejected_by_reason[i]);
    EXPECT_EQ(r->input_digest, xxh3(csv));

    std::string error;
    const std::size_t bom = csv.starts_with("\xEF\xBB\xBF") ? 3 : 0;
    const std::vector<ReferenceRecord> records = reference_read_records(csv, bom, ',', error);
    ASSERT_TRUE(error.empty()) << error;
    std::string expected;
    for (std::size_t k = 1; k < records.size(); ++k) {
      std::uint32_t stem = 0;
      const ReferenceRecord& rec = records[k];
      if (rec.fields.size() >= 2 && reference_nhs_number(rec.fields[1], stem) && listed.count(stem)) {
        expected += rec.fields[0] + "\n";  // ids are i<row>: never quoted
      }
    }
    EXPECT_EQ(read("m.txt"), expected);
  }
  EXPECT_GT(malformed, 0);  // both outcomes were seen
  EXPECT_LT(malformed, 40);
}

// ---- Audit --------------------------------------------------------------------------------------

TEST_F(VerifyTest, AuditRecordOfTheRunVouchesForItsOutput) {
  write("extract.csv", "id,nhs_number\n1," + kUnlisted + "\n2," + kListedNumber + "\n");
  filter_with_audit(*index_);
  const std::vector<nlohmann::json> records = audit_records();
  ASSERT_EQ(records.size(), 2u);
  ASSERT_EQ(records[1]["outcome"], "ok");
  VerifyRequest q = request("clean.csv");
  q.audit = path("audit.jsonl");
  Result<VerifyResult> r = verify(q);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_TRUE(r->clean());
  ASSERT_TRUE(r->audit.has_value());
  EXPECT_EQ(r->audit->log, path("audit.jsonl"));
  EXPECT_EQ(r->audit->line, 2u);
  EXPECT_EQ(r->audit->run_id, records[1]["run_id"].get<std::string>());
  EXPECT_EQ(r->audit->finished_at, records[1]["finished_at"].get<std::string>());
  EXPECT_EQ(r->audit->output_name, path("clean.csv"));
  EXPECT_FALSE(r->audit->signer_key_id.has_value());

  // Other runs before and after: still the run that produced it.
  write("other.csv", "id,nhs_number\n9," + kUnlisted + "\n");
  FilterRequest f;
  f.inputs = {path("other.csv")};
  f.output = path("other-clean.csv");
  f.audit = path("audit.jsonl");
  f.options.column_name = "nhs_number";
  ASSERT_TRUE(run_filter(*index_, f).ok());
  r = verify(q);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->audit->line, 2u);
  EXPECT_EQ(r->audit->run_id, records[1]["run_id"].get<std::string>());

  const nlohmann::json j = nlohmann::json::parse(verify_result_json(*r));
  EXPECT_EQ(j["clean"], true);
  EXPECT_EQ(j["rows"], 1);
  EXPECT_EQ(j["kept"], 1);
  EXPECT_EQ(j["removed"], 0);
  EXPECT_EQ(j["rejected"], 0);
  EXPECT_EQ(j["rejected_by_reason"], nlohmann::json::object());
  EXPECT_EQ(j["bytes_in"], read("clean.csv").size());
  EXPECT_EQ(j["input_xxh3_128"], xxh3(read("clean.csv")).hex());
  EXPECT_EQ(j["matches_written"], 0);
  EXPECT_EQ(j["audit"]["log"], path("audit.jsonl"));
  EXPECT_EQ(j["audit"]["line"], 2);
  EXPECT_EQ(j["audit"]["run_id"], records[1]["run_id"]);
  EXPECT_EQ(j["audit"]["finished_at"], records[1]["finished_at"]);
  EXPECT_EQ(j["audit"]["output"], path("clean.csv"));
  EXPECT_TRUE(j["audit"]["signer"].is_null());
}

// A part of a run in parts is vouched for by the piece the run's record lists.
TEST_F(VerifyTest, APartOfARunInPartsIsVouchedForByItsPiece) {
  write("a.csv", "id,nhs_number\n1," + kUnlisted + "\n2," + kListedNumber + "\n");
  write("b.csv", "id,nhs_number\n3," + kListedNumber + "\n4," + kUnlisted + "\n5," + kUnlisted + "\n");
  FilterRequest f;
  f.inputs = {path("a.csv"), path("b.csv")};
  f.output = path("parts");
  f.in_parts = true;
  f.audit = path("audit.jsonl");
  f.options.column_name = "nhs_number";
  Result<RunResult> ran = run_filter(*index_, f);
  ASSERT_TRUE(ran.ok()) << ran.status().message();
  const std::vector<nlohmann::json> records = audit_records();
  ASSERT_EQ(records.size(), 2u);
  VerifyRequest q = request("parts/part-00001.csv");
  q.audit = path("audit.jsonl");
  Result<VerifyResult> r = verify(q);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->stats.rows, 2u);
  ASSERT_TRUE(r->audit.has_value());
  EXPECT_EQ(r->audit->line, 2u);
  EXPECT_EQ(r->audit->run_id, records[1]["run_id"].get<std::string>());
  EXPECT_EQ(r->audit->output_name, "part-00001.csv");
}

TEST_F(VerifyTest, AFileChangedByOneByteIsNotVouchedFor) {
  write("extract.csv", "id,nhs_number\n1," + kUnlisted + "\n2," + kListedNumber + "\n");
  filter_with_audit(*index_);
  std::string changed = read("clean.csv");
  changed[changed.size() - 2] = changed[changed.size() - 2] == '1' ? '2' : '1';  // still a clean row? no matter
  write("clean.csv", changed);
  VerifyRequest q = request("clean.csv");
  q.audit = path("audit.jsonl");
  q.matches = path("m.txt");
  Result<VerifyResult> r = verify(q);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.code(), ErrorCode::kUntrusted);
  EXPECT_EQ(r.status().message(), path("clean.csv") + ": no record of " + path("audit.jsonl") +
                                      " vouches for it (no \"ok\" record has its XXH3-128 as output digest)");
  EXPECT_FALSE(fs::exists(path("m.txt")));
}

TEST_F(VerifyTest, ARecordNamingAnotherRegistryDoesNotVouch) {
  write("extract.csv", "id,nhs_number\n1," + kUnlisted + "\n2," + kListedNumber + "\n");
  const Registry other = make_registry({kListed, valid_stems(1, 400'000'000)[0]});  // same verdicts, another digest
  const OptOutIndex other_index = make_index(other);
  filter_with_audit(other_index);
  const std::vector<nlohmann::json> records = audit_records();
  VerifyRequest q = request("clean.csv");
  q.audit = path("audit.jsonl");
  Result<VerifyResult> r = verify(q);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.code(), ErrorCode::kUntrusted);
  EXPECT_EQ(r.status().message(), path("clean.csv") + ": " + path("audit.jsonl") + ":2 (run " +
                                      records[1]["run_id"].get<std::string>() +
                                      ") released it with another registry than " + registry_file_);
}

// Only "ok" records vouch: a run that never finished ("committing") or failed does not.
TEST_F(VerifyTest, OnlyAnOkRecordVouches) {
  write("extract.csv", "id,nhs_number\n1," + kUnlisted + "\n");
  filter_with_audit(*index_);
  std::vector<nlohmann::json> records = audit_records();
  ASSERT_EQ(records.size(), 2u);
  records[1]["outcome"] = "failed";
  write("audit.jsonl", records[0].dump() + "\n" + records[1].dump() + "\n");
  VerifyRequest q = request("clean.csv");
  q.audit = path("audit.jsonl");
  Result<VerifyResult> r = verify(q);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.code(), ErrorCode::kUntrusted);
}

TEST_F(VerifyTest, AMalformedAuditLineIsNamed) {
  write("extract.csv", "id,nhs_number\n1," + kUnlisted + "\n");
  filter_with_audit(*index_);
  const std::string log = read("audit.jsonl");
  const std::string bad_lines[] = {"{\"tool\":\"optout\",\"rows\":" + kListedNumber, "[1,2]", "",
                                   "not json " + kListedNumber};
  for (const std::string& bad : bad_lines) {
    SCOPED_TRACE(bad);
    write("audit.jsonl", log + bad + "\n");
    VerifyRequest q = request("clean.csv");
    q.audit = path("audit.jsonl");
    q.matches = path("m.txt");
    Result<VerifyResult> r = verify(q);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.code(), ErrorCode::kInvalidInput);
    EXPECT_EQ(r.status().message(), path("audit.jsonl") + ":3: not a JSON object");
    EXPECT_FALSE(fs::exists(path("m.txt")));
  }
  // A missing log is an I/O error naming it.
  VerifyRequest q = request("clean.csv");
  q.audit = path("missing.jsonl");
  Result<VerifyResult> r = verify(q);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.code(), ErrorCode::kIoError);
  EXPECT_EQ(r.status().message().rfind(path("missing.jsonl") + ": cannot open", 0), 0u) << r.status().message();
}

// A vouched-for extract that the registry now finds opted-out rows in: vouched, not clean, and the
// matches name them.
TEST_F(VerifyTest, VouchedReleaseRecheckedAgainstANewerRegistry) {
  write("extract.csv", "id,nhs_number\nA," + kUnlisted + "\nB," + kListedNumber + "\n");
  filter_with_audit(*index_);
  // The audit record names the old registry; a newer one is another registry, so re-checking
  // against it is done without --audit.
  save(make_registry({kListed, 401023213}));
  VerifyRequest q = request("clean.csv");
  q.matches = path("m.txt");
  q.id_column = "id";
  Result<VerifyResult> r = verify(q);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_FALSE(r->clean());
  EXPECT_EQ(read("m.txt"), "A\n");
}

TEST_F(VerifyTest, RegistryOverloadAppliesTheNamedLists) {
  write("released.csv", "id,nhs_number\n1," + kUnlisted + "\n2," + kListedNumber + "\n");
  const Registry registry =
      make_registry({{"national", ListKind::kDeny, {kListed}}, {"type1", ListKind::kDeny, {401023213}}});
  VerifyRequest q = request();
  q.apply = {"type1"};
  Result<VerifyResult> r = run_verify(registry, q);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->stats.removed, 1u);
  q.apply = {"nope"};
  r = run_verify(registry, q);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.code(), ErrorCode::kNotFound);
}

TEST_F(VerifyTest, ReadsACallersStream) {
  std::istringstream in("id,nhs_number\n1," + kListedNumber + "\n");
  auto source = make_istream_source(in, "<memory>");
  VerifyRequest q = request();
  q.source = source.get();
  q.matches = path("m.txt");
  Result<VerifyResult> r = verify(q);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->stats.removed, 1u);
  EXPECT_EQ(read("m.txt"), "1\n");
}

// ---- Trust (issue 12): the registry's signer and pin, signed audit records --------------------------

SecretKey test_key(std::uint8_t fill) {
  std::array<std::uint8_t, 32> seed{};
  seed.fill(fill);
  return std::move(SecretKey::from_seed(seed)).value();
}

class VerifyTrustTest : public VerifyTest {
 protected:
  // extract.csv filtered with the registry signed by registry_key into clean.csv, its audit
  // records signed by test_key(audit_fill) (unsigned when none).
  void release(const SecretKey& registry_key, std::optional<std::uint8_t> audit_fill) {
    write("extract.csv", "id,nhs_number\n1," + kUnlisted + "\n2," + kListedNumber + "\n");
    Result<Registry> loaded = load_registry(registry_file_);
    ASSERT_TRUE(loaded.ok());
    Result<Registry> signed_registry = sign_registry(*loaded, registry_key);
    ASSERT_TRUE(signed_registry.ok());
    ASSERT_TRUE(save_registry(*signed_registry, registry_file_).ok());
    save_and_index();
    FilterRequest f;
    f.inputs = {path("extract.csv")};
    f.output = path("clean.csv");
    f.audit = path("audit.jsonl");
    f.options.column_name = "nhs_number";
    if (audit_fill) f.sign_audit = std::make_shared<const SecretKey>(test_key(*audit_fill));
    Result<RunResult> ran = run_filter(*index_, f);
    ASSERT_TRUE(ran.ok()) << ran.status().message();
  }
  void save_and_index() {
    Result<Registry> loaded = load_registry(registry_file_);
    ASSERT_TRUE(loaded.ok());
    index_.emplace(make_index(*loaded));
  }
  VerifyRequest audited(std::vector<PublicKey> trust) const {
    VerifyRequest q = request("clean.csv");
    q.audit = path("audit.jsonl");
    q.trust = std::move(trust);
    return q;
  }
};

TEST_F(VerifyTrustTest, ARegistryNotSignedByATrustedKeyIsRefused) {
  write("released.csv", "id,nhs_number\n1," + kUnlisted + "\n");
  VerifyRequest q = request();
  q.matches = path("m.txt");
  q.trust = {test_key(1).public_key()};
  Result<VerifyResult> r = verify(q);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.code(), ErrorCode::kUntrusted);
  EXPECT_EQ(r.status().message(), registry_file_ + ": unsigned: a registry signed by a trusted key is required");
  EXPECT_EQ(files(), std::vector<std::string>{"released.csv"});

  q.trust.clear();
  q.expect_digest = std::string(32, '0');
  r = verify(q);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.code(), ErrorCode::kUntrusted);
  EXPECT_EQ(r.status().message(), registry_file_ + ": digest " + index_->registry_digest().hex() +
                                      " is not the expected " + std::string(32, '0'));
  q.expect_digest = "xyz";
  r = verify(q);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.code(), ErrorCode::kInvalidArgument);
  q.expect_digest = index_->registry_digest().hex();
  r = verify(q);
  EXPECT_TRUE(r.ok()) << r.status().message();
}

TEST_F(VerifyTrustTest, ASignedRecordVouchesWhenItsKeyIsTrusted) {
  const SecretKey key = test_key(1);
  release(key, 1);
  Result<VerifyResult> r = verify(audited({key.public_key()}));
  ASSERT_TRUE(r.ok()) << r.status().message();
  ASSERT_TRUE(r->audit.has_value());
  EXPECT_EQ(r->audit->line, 2u);
  EXPECT_EQ(r->audit->signer_key_id, key.public_key().key_id());
  EXPECT_EQ(nlohmann::json::parse(verify_result_json(*r))["audit"]["signer"], key.public_key().key_id());
  // Without trusted keys a signed record still vouches (its signature is checked all the same).
  r = verify(audited({}));
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->audit->signer_key_id, key.public_key().key_id());
}

TEST_F(VerifyTrustTest, AnUnsignedOrUntrustedRecordDoesNotVouch) {
  const SecretKey key = test_key(1);
  release(key, std::nullopt);
  Result<VerifyResult> r = verify(audited({key.public_key()}));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.code(), ErrorCode::kUntrusted);
  EXPECT_EQ(r.status().message(), path("audit.jsonl") +
                                      ":2: audit record is unsigned: a record signed by a trusted key (" +
                                      key.public_key().key_id() + ") is required");

  fs::remove(path("audit.jsonl"));
  release(key, 2);  // the record signed by another key than the registry's
  r = verify(audited({key.public_key()}));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.code(), ErrorCode::kUntrusted);
  EXPECT_NE(r.status().message().find("audit record is signed by key " + test_key(2).public_key().key_id()),
            std::string::npos)
      << r.status().message();
}

TEST_F(VerifyTrustTest, ARecordChangedAfterSigningIsCorruption) {
  const SecretKey key = test_key(1);
  release(key, 1);
  std::string log = read("audit.jsonl");
  const std::size_t at = log.rfind("\"rows\":2");
  ASSERT_NE(at, std::string::npos);
  log.replace(at, 8, "\"rows\":3");
  write("audit.jsonl", log);
  VerifyRequest q = audited({key.public_key()});
  q.matches = path("m.txt");
  Result<VerifyResult> r = verify(q);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.code(), ErrorCode::kCorruption);
  EXPECT_EQ(r.status().message().rfind(path("audit.jsonl") + ":2: audit record signature does not verify", 0), 0u)
      << r.status().message();
  EXPECT_FALSE(fs::exists(path("m.txt")));
}

}  // namespace
}  // namespace optout
