// The audit log: records, and appends that are all or nothing (issue 15.6); the registry age rule
// (--max-age).
#include "optout/audit.hpp"

#include <gtest/gtest.h>

#include <sys/resource.h>
#include <unistd.h>

#include <array>
#include <csignal>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>
#include <vector>

#include "optout/registry.hpp"
#include "optout/signing.hpp"
#include "test_support.hpp"

namespace optout {
namespace {

using testing::make_registry;

class AuditTest : public testing::TempDirTest {
 protected:
  std::string read() const { return testing::read_file(log_); }
  void write(const std::string& text) const { testing::write_file(log_, text); }

  const std::string log_ = path("audit.jsonl");
};

const std::string kRecord = R"({"tool":"optout","outcome":"ok"})";

TEST_F(AuditTest, AppendAddsOneLine) {
  ASSERT_TRUE(append_line(log_, kRecord).ok());
  ASSERT_TRUE(append_line(log_, kRecord).ok());
  EXPECT_EQ(read(), kRecord + "\n" + kRecord + "\n");
}

// A line torn by a crash (or a full disk under an older version) must not swallow the next record:
// before the fix the next good run's record was glued on, {"tool{"tool":"optout",...
TEST_F(AuditTest, AuditAfterATornLineStartsOnANewLine) {
  write(kRecord + "\n{\"tool");
  ASSERT_TRUE(append_line(log_, kRecord).ok());
  EXPECT_EQ(read(), kRecord + "\n{\"tool\n" + kRecord + "\n");
}

// A write that stops part way (here at a file size limit, as a full disk does) is rolled back to
// the old end of the file: the log holds whole records only.
TEST_F(AuditTest, ShortAuditAppendIsRolledBack) {
  write(kRecord + "\n");
  const std::string before = read();
  const std::string long_record = R"({"tool":"optout","pad":")" + std::string(4000, 'x') + "\"}";
  struct rlimit old_limit {};
  ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &old_limit), 0);
  auto* const old_handler = std::signal(SIGXFSZ, SIG_IGN);
  struct rlimit limit = old_limit;
  limit.rlim_cur = before.size() + 100;  // room for part of the record only
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &limit), 0);
  const Status s = append_line(log_, long_record);
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &old_limit), 0);
  std::signal(SIGXFSZ, old_handler);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), ErrorCode::kIoError);
  EXPECT_EQ(s.message(), log_ + ": write failed: File too large");
  EXPECT_EQ(read(), before);
  // The next record is whole and on a line of its own.
  ASSERT_TRUE(append_line(log_, kRecord).ok());
  EXPECT_EQ(read(), before + kRecord + "\n");
}

// Appenders run at once (threads here, each with its own open file, as separate runs have) never
// interleave or lose records.
TEST_F(AuditTest, ConcurrentAppendsAllParse) {
  constexpr int kWriters = 100;
  std::vector<std::thread> writers;
  for (int i = 0; i < kWriters; ++i) {
    writers.emplace_back([&, i] {
      const std::string record = R"({"writer":)" + std::to_string(i) + R"(,"pad":")" + std::string(5000, 'p') + "\"}";
      EXPECT_TRUE(append_line(log_, record).ok());
    });
  }
  for (std::thread& t : writers) t.join();
  std::istringstream lines(read());
  std::vector<bool> seen(kWriters);
  int count = 0;
  for (std::string line; std::getline(lines, line); ++count) {
    const nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
    ASSERT_FALSE(j.is_discarded()) << line.substr(0, 80);
    seen[j["writer"].get<int>()] = true;
  }
  EXPECT_EQ(count, kWriters);
  EXPECT_EQ(std::count(seen.begin(), seen.end(), true), kWriters);
}

TEST_F(AuditTest, EmptyAuditPathIsAUsageError) {
  const Status s = append_line("", kRecord);
  EXPECT_EQ(s.code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "an empty audit path: give a file name");
}

TEST_F(AuditTest, RecordsSayTheirOutcomeAndRunId) {
  RunContext context;
  context.run_id = new_run_id();
  context.input_name = "extract.csv";
  context.output_name = "clean.csv";
  FilterStats stats;
  stats.rows = 3;
  const nlohmann::json committing = nlohmann::json::parse(audit_record_json(context, &stats, RunOutcome::kCommitting));
  const nlohmann::json failed =
      nlohmann::json::parse(audit_record_json(context, &stats, RunOutcome::kFailed, ErrorCode::kIoError));
  EXPECT_EQ(committing["outcome"], "committing");
  EXPECT_FALSE(committing.contains("error"));
  EXPECT_EQ(failed["outcome"], "failed");
  EXPECT_EQ(failed["error"], "i/o error");
  EXPECT_EQ(committing["run_id"], context.run_id);
  EXPECT_EQ(context.run_id.size(), kRunIdLetters);
  EXPECT_EQ(context.run_id.find_first_not_of("abcdefghijklmnopqrstuvwxyz"), std::string::npos);
  EXPECT_NE(new_run_id(), context.run_id);
}

// Issue 15.7: names are bytes. A name that is not UTF-8 is written readable (U+FFFD) and exactly
// (hex, under key + "_hex"); the record stays valid JSON. UTF-8 names get no "_hex" key.
TEST_F(AuditTest, NamesThatAreNotUtf8AreWrittenLosslesslyBesideTheirReadableForm) {
  RunContext context;
  context.input_name = "in-\xff.csv";
  context.output_name = "caf\xc3\xa9.csv";                         // valid UTF-8
  context.inputs = {"a.csv", "b-\xed\xa0\x80.csv", "c-\xc3.csv"};  // a surrogate, a cut sequence
  PieceAccount piece;
  piece.input = "b-\xed\xa0\x80.csv";
  piece.output = "part-00000.csv";
  context.pieces = {piece};
  FilterStats stats;
  const nlohmann::json record = nlohmann::json::parse(audit_record_json(context, &stats, RunOutcome::kOk));
  EXPECT_EQ(record["input"], "in-\xef\xbf\xbd.csv");
  EXPECT_EQ(record["input_hex"], "696e2dff2e637376");
  EXPECT_EQ(record["output"], "caf\xc3\xa9.csv");
  EXPECT_FALSE(record.contains("output_hex"));
  EXPECT_EQ(record["inputs_hex"], nlohmann::json::parse(R"([null, "622deda0802e637376", "632dc32e637376"])"));
  EXPECT_EQ(record["pieces"][0]["input_hex"], "622deda0802e637376");
  EXPECT_FALSE(record["pieces"][0].contains("output_hex"));
  RunContext plain;
  plain.input_name = "extract.csv";
  plain.inputs = {"a.csv"};
  const std::string text = audit_record_json(plain, &stats, RunOutcome::kOk);
  EXPECT_EQ(text.find("_hex"), std::string::npos) << text;
}

// A run in pieces counts a cut file's bytes once: each piece reads the header again.
TEST_F(AuditTest, PiecesAddUpWithTheHeaderCountedOnce) {
  std::vector<PieceAccount> pieces(3);
  for (PieceAccount& p : pieces) {
    p.input = "big.csv";
    p.cut = true;
    p.header_bytes = 10;
    p.stats.rows = 5;
    p.stats.kept = 5;
    p.stats.bytes_in = 110;  // header + 100 bytes of records
  }
  pieces[2].input = "other.csv";  // a whole file: every byte counts
  pieces[2].cut = false;
  const FilterStats total = add_pieces(pieces);
  EXPECT_EQ(total.rows, 15u);
  EXPECT_EQ(total.bytes_in, 110u + 100u + 110u);
}

// ---- Signed records (issue 12.3) -------------------------------------------------------------------

Result<SecretKey> test_key(std::uint8_t fill) {
  std::array<std::uint8_t, 32> seed{};
  seed.fill(fill);
  return SecretKey::from_seed(seed);
}

const std::string kOkRecord =
    R"({"tool":"optout","outcome":"ok","output_xxh3_128":"00112233445566778899aabbccddeeff"})";

TEST(AuditSignatureTest, ASignedRecordIsTheRecordWithASignatureMemberAtItsEnd) {
  Result<SecretKey> key = test_key(7);
  ASSERT_TRUE(key.ok());
  Result<std::string> line = sign_audit_record(kOkRecord, *key);
  ASSERT_TRUE(line.ok());
  const nlohmann::json parsed = nlohmann::json::parse(*line);  // still one JSON object
  EXPECT_EQ(parsed["outcome"], "ok");
  EXPECT_EQ(parsed["signature"]["algorithm"], "ed25519");
  EXPECT_EQ(parsed["signature"]["key_id"], key->public_key().key_id());
  EXPECT_EQ(parsed["signature"]["public_key"], to_hex(key->public_key().bytes));
  EXPECT_EQ(parsed["signature"]["value"].get<std::string>().size(), 128u);
  EXPECT_EQ(line->substr(0, kOkRecord.size() - 1), kOkRecord.substr(0, kOkRecord.size() - 1));

  Result<std::optional<AuditSignature>> sig = read_audit_signature(*line);
  ASSERT_TRUE(sig.ok());
  ASSERT_TRUE(sig->has_value());
  EXPECT_EQ((*sig)->signed_line, kOkRecord);
  EXPECT_EQ((*sig)->key, key->public_key());
  EXPECT_TRUE(check_audit_record("audit.jsonl:1", *line, {}).ok());
  const std::vector<PublicKey> trusted = {key->public_key()};
  EXPECT_TRUE(check_audit_record("audit.jsonl:1", *line, trusted).ok());
}

TEST(AuditSignatureTest, AChangedRecordNoLongerVerifies) {
  Result<SecretKey> key = test_key(7);
  ASSERT_TRUE(key.ok());
  std::string line = *sign_audit_record(kOkRecord, *key);
  line[line.find("\"ok\"") + 1] = 'O';  // "ok" -> "Ok"
  const Status s = check_audit_record("audit.jsonl:3", line, {});
  EXPECT_EQ(s.code(), ErrorCode::kCorruption);
  EXPECT_EQ(s.message(), "audit.jsonl:3: audit record signature does not verify (key " + key->public_key().key_id() +
                             "): changed after signing");
}

TEST(AuditSignatureTest, TrustedKeysRequireASignatureByOneOfThem) {
  Result<SecretKey> signer = test_key(7);
  Result<SecretKey> other = test_key(9);
  ASSERT_TRUE(signer.ok() && other.ok());
  const std::string line = *sign_audit_record(kOkRecord, *signer);
  const std::vector<PublicKey> trusted = {other->public_key()};
  Status s = check_audit_record("a:1", line, trusted);
  EXPECT_EQ(s.code(), ErrorCode::kUntrusted);
  EXPECT_EQ(s.message(), "a:1: audit record is signed by key " + signer->public_key().key_id() +
                             ", which is not trusted (trusted: " + other->public_key().key_id() + ")");
  s = check_audit_record("a:2", kOkRecord, trusted);
  EXPECT_EQ(s.code(), ErrorCode::kUntrusted);
  EXPECT_EQ(s.message(), "a:2: audit record is unsigned: a record signed by a trusted key (" +
                             other->public_key().key_id() + ") is required");
  EXPECT_TRUE(check_audit_record("a:2", kOkRecord, {}).ok());  // no trust asked for
}

TEST(AuditSignatureTest, AMalformedSignatureIsRefused) {
  Result<SecretKey> key = test_key(7);
  ASSERT_TRUE(key.ok());
  const std::string line = *sign_audit_record(kOkRecord, *key);
  const std::size_t value = line.find("\"value\":\"") + 9;
  std::vector<std::string> bad = {
      line.substr(0, line.size() - 2) + "}",                  // cut short
      line.substr(0, value) + "zz" + line.substr(value + 2),  // not hex
      line.substr(0, line.size() - 1) + " }",                 // extra byte
  };
  std::string wrong_id = line;
  wrong_id[wrong_id.find("\"key_id\":\"") + 10] ^= 1;  // key id of another key
  bad.push_back(wrong_id);
  for (const std::string& b : bad) {
    SCOPED_TRACE(b);
    const Status s = check_audit_record("a:5", b, {});
    EXPECT_EQ(s.code(), ErrorCode::kInvalidInput);
    EXPECT_EQ(s.message(), "a:5: audit record has a malformed signature");
  }
}

}  // namespace
}  // namespace optout
