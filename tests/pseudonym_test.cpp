// Pseudonymised extracts (pseudonym.hpp): the key file, the token set, the filter and verify on
// tokens. The tokens the tests expect come from Python's hmac (hard-coded below) or from OpenSSL's
// one-shot HMAC(), never from the engine's own table.
#include "optout/pseudonym.hpp"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <nlohmann/json.hpp>
#include <random>
#include <sstream>

#include "optout/filter.hpp"
#include "optout/numbers.hpp"
#include "optout/run.hpp"
#include "optout/verify.hpp"
#include "test_support.hpp"

namespace optout {
namespace {

using testing::by_name;
using testing::kListed;  // 943476591: 9434765919
using testing::make_index;
using testing::make_registry;
using testing::TempDirTest;

// Python: hmac.new(bytes(range(40)), b'9434765919', 'sha256').hexdigest(), and so on.
constexpr const char* kToken9434765919 = "b1e2235aebefaaffd3092369e938a186c5088bce7b4972e5b4996a67df890b82";
constexpr const char* kToken4010232137 = "56f8a6f74f37d77867340e65330d110d0ddc0eca2989d0ac2d540e9a7a05309f";
constexpr const char* kToken4505577104 = "4d52d6678518332ab6dd86eec77b5ed2a40e8c8ed554e3d3c58ce7c6f7ca7c78";
constexpr const char* kKeySha256 = "5faa4eec3611556812c2d74b437c8c49add3f910f10063d801441f7d75cd5e3b";

std::vector<std::uint8_t> key_bytes() {
  std::vector<std::uint8_t> k(40);
  for (std::size_t i = 0; i < k.size(); ++i) k[i] = static_cast<std::uint8_t>(i);
  return k;
}

PseudonymKey test_key() {
  Result<PseudonymKey> key = PseudonymKey::from_bytes(key_bytes(), "test.key");
  EXPECT_TRUE(key.ok());
  return std::move(key).value();
}

std::string upper(std::string s) {
  for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

// OpenSSL's one-shot HMAC, the reference.
std::string reference_token(const std::vector<std::uint8_t>& key, std::uint32_t stem) {
  const std::string number = format_nhs_number(stem);
  unsigned char out[32];
  unsigned int length = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(number.data()),
       number.size(), out, &length);
  return to_hex(std::span<const std::uint8_t>(out, length));
}

struct TokenRun {
  Result<FilterStats> stats = Status();
  std::string output, rejects;
};

TokenRun filter_tokens(std::string_view input, const OptOutIndex& index, FilterOptions options,
                       const PseudonymKey& key = test_key()) {
  Result<std::shared_ptr<const TokenSet>> tokens = TokenSet::create(index, key);
  EXPECT_TRUE(tokens.ok());
  options.tokens = *tokens;
  std::istringstream in{std::string(input)};
  auto source = make_istream_source(in, "extract.csv");
  TokenRun run;
  auto out = make_string_sink(run.output, "<out>");
  auto rejects = make_string_sink(run.rejects, "<rejects>");
  run.stats = filter(*source, *out, rejects.get(), index, options);
  return run;
}

TEST(PseudonymTest, TokensAreHmacSha256OfTheTenDigitsAsPythonMakesThem) {
  const PseudonymKey key = test_key();
  EXPECT_EQ(key.sha256_hex(), kKeySha256);
  EXPECT_EQ(*key.token(943476591), kToken9434765919);
  EXPECT_EQ(*key.token(401023213), kToken4010232137);
  EXPECT_EQ(key.token(0).code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(PseudonymKey::from_bytes(std::vector<std::uint8_t>(31), "short").code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(PseudonymKey::from_bytes(std::vector<std::uint8_t>(1025), "long").code(), ErrorCode::kInvalidArgument);
  EXPECT_TRUE(PseudonymKey::from_bytes(std::vector<std::uint8_t>(1024), "max").ok());
}

class PseudonymFileTest : public TempDirTest {};

TEST_F(PseudonymFileTest, KeyFileIsItsBytesExactlyAndErrorsNameTheFileOnly) {
  const std::vector<std::uint8_t> k = key_bytes();
  const std::string bytes(k.begin(), k.end());
  const std::string path = testing::write_file(dir_ / "k.key", bytes).string();
  Result<PseudonymKey> key = PseudonymKey::read(path);
  ASSERT_TRUE(key.ok()) << key.status().message();
  EXPECT_EQ(key->sha256_hex(), kKeySha256);
  EXPECT_EQ(key->source(), path);
  // A line end is part of the key: another key, other tokens.
  const std::string with_lf = testing::write_file(dir_ / "lf.key", bytes + "\n").string();
  ASSERT_TRUE(PseudonymKey::read(with_lf).ok());
  EXPECT_NE(PseudonymKey::read(with_lf)->sha256_hex(), kKeySha256);

  const std::string short_key = testing::write_file(dir_ / "short.key", "9434765919").string();
  Result<PseudonymKey> refused = PseudonymKey::read(short_key);
  EXPECT_EQ(refused.code(), ErrorCode::kInvalidInput);
  EXPECT_EQ(refused.status().message(),
            short_key + ": not a pseudonym key (10 bytes; a key is 32 to 1024 bytes: the file's bytes, exactly)");
  const std::string long_key = testing::write_file(dir_ / "long.key", std::string(5000, '7')).string();
  EXPECT_EQ(PseudonymKey::read(long_key).status().message(),
            long_key +
                ": not a pseudonym key (more than 1024 bytes; a key is 32 to 1024 bytes: the file's bytes, "
                "exactly)");
  EXPECT_EQ(PseudonymKey::read(dir_ / "missing.key").code(), ErrorCode::kIoError);
  EXPECT_NE(PseudonymKey::read(dir_).code(), ErrorCode::kOk);  // a folder
}

TEST(PseudonymTest, FilterMatchesTokensExactlyInEitherCase) {
  const Registry registry = make_registry({kListed});
  const OptOutIndex index = make_index(registry);
  const std::string input = std::string("id,token\n") + "1," + kToken4010232137 + "\n" + "2," + kToken9434765919 +
                            "\n" + "3," + upper(kToken9434765919) + "\n" + "4,\"" + kToken9434765919 + "\"\n" + "5, " +
                            kToken9434765919 + "\t\n" + "6,\n" + "7," + std::string(kToken9434765919).substr(0, 63) +
                            "\n" + "8," + std::string(kToken9434765919).substr(0, 63) + "g\n" + "9\n" +
                            "10,9434765919\n" + "11," + kToken9434765919 + "0\n" + "12," + kToken4505577104 + "\r\n";
  TokenRun run = filter_tokens(input, index, by_name("token"));
  ASSERT_TRUE(run.stats.ok()) << run.stats.status().message();
  EXPECT_EQ(run.output, std::string("id,token\n1,") + kToken4010232137 + "\n12," + kToken4505577104 + "\r\n");
  const FilterStats& s = *run.stats;
  EXPECT_EQ(s.rows, 12u);
  EXPECT_EQ(s.kept, 2u);
  EXPECT_EQ(s.removed, 4u);  // lower, upper, quoted, padded
  EXPECT_EQ(s.rejected, 6u);
  EXPECT_EQ(s.rejected_by_reason[0], 1u);                                               // row 9: no field
  EXPECT_EQ(s.rejected_by_reason[static_cast<int>(InvalidReason::kEmpty)], 1u);         // 6
  EXPECT_EQ(s.rejected_by_reason[static_cast<int>(InvalidReason::kWrongLength)], 3u);   // 7, 10, 11
  EXPECT_EQ(s.rejected_by_reason[static_cast<int>(InvalidReason::kBadCharacter)], 1u);  // 8
  EXPECT_EQ(run.rejects.substr(0, 9), "id,token\n");
}

TEST(PseudonymTest, AllowListsKeepOnlyTheTokensOfClearedNumbers) {
  // national denies 943476591; cleared allows 401023213 and 943476591.
  const Registry registry = make_registry({kListed}, {401023213, kListed}, true);
  const OptOutIndex index = make_index(registry);
  const std::string input = std::string("token\n") + kToken4010232137 + "\n" + kToken9434765919 + "\n" +
                            kToken4505577104 + "\n" + std::string(64, 'a') + "\n";
  TokenRun run = filter_tokens(input, index, by_name("token"));
  ASSERT_TRUE(run.stats.ok());
  EXPECT_EQ(run.output, std::string("token\n") + kToken4010232137 + "\n");
  EXPECT_EQ(run.stats->removed, 3u);  // denied, never cleared, a token of no number
}

TEST(PseudonymTest, ManyTokensAgainstOpenSslOnEveryBlockSize) {
  std::mt19937 rng(11);
  std::vector<std::uint32_t> listed, unlisted;
  while (listed.size() < 3000 || unlisted.size() < 3000) {
    const auto stem = static_cast<std::uint32_t>(100'000'000 + rng() % 800'000'000);
    if (!is_valid_stem(stem)) continue;
    (rng() % 2 ? listed : unlisted).push_back(stem);
  }
  const Registry registry = make_registry(listed);
  const OptOutIndex index = make_index(registry);
  Result<std::shared_ptr<const TokenSet>> tokens = TokenSet::create(index, test_key(), 2);
  ASSERT_TRUE(tokens.ok());
  const std::set<std::uint32_t> distinct(listed.begin(), listed.end());
  EXPECT_EQ((*tokens)->size(), distinct.size());
  std::string input = "id,token\n", expected = "id,token\n";
  std::uint64_t removed = 0;
  for (std::size_t i = 0; i < 6000; ++i) {
    const bool is_listed = i % 2 == 0;
    const std::uint32_t stem = is_listed ? listed[i / 2 % listed.size()] : unlisted[i / 2 % unlisted.size()];
    std::string token = reference_token(key_bytes(), stem);
    if (i % 3 == 0) token = upper(token);
    const std::string row = std::to_string(i) + "," + token + "\n";
    input += row;
    if (distinct.count(stem) != 0) {
      ++removed;
    } else {
      expected += row;
    }
    EXPECT_EQ((*tokens)->parse(token).stem, distinct.count(stem) ? stem : kUnlistedTokenStem);
  }
  for (const std::size_t block : {std::size_t{64}, std::size_t{1000}, std::size_t{1} << 20}) {
    FilterOptions options = by_name("token");
    options.block_bytes = block;
    options.tokens = *tokens;
    std::istringstream in(input);
    auto source = make_istream_source(in, "extract.csv");
    std::string output;
    auto out = make_string_sink(output, "<out>");
    Result<FilterStats> stats = filter(*source, *out, nullptr, index, options);
    ASSERT_TRUE(stats.ok()) << stats.status().message();
    EXPECT_EQ(stats->removed, removed) << block;
    EXPECT_EQ(output, expected) << block;
  }
}

TEST(PseudonymTest, ParseGivesTheVerdictRuleItsInput) {
  const Registry registry = make_registry({kListed});
  const OptOutIndex index = make_index(registry);
  Result<std::shared_ptr<const TokenSet>> tokens = TokenSet::create(index, test_key());
  ASSERT_TRUE(tokens.ok());
  const TokenSet& set = **tokens;
  EXPECT_EQ(set.size(), 1u);
  EXPECT_TRUE(set.built_for(index));
  EXPECT_EQ(set.key_sha256(), kKeySha256);
  EXPECT_EQ(set.parse(kToken9434765919), (ParsedNhsNumber{kListed, InvalidReason::kNone}));
  EXPECT_EQ(set.parse(upper(kToken9434765919)), (ParsedNhsNumber{kListed, InvalidReason::kNone}));
  EXPECT_EQ(set.parse(kToken4010232137), (ParsedNhsNumber{kUnlistedTokenStem, InvalidReason::kNone}));
  EXPECT_EQ(index.verdict(set.parse(kToken9434765919)), Verdict::kRemoved);
  EXPECT_EQ(index.verdict(set.parse(kToken4010232137)), Verdict::kKept);
  EXPECT_EQ(set.parse("  ").reason, InvalidReason::kEmpty);
  EXPECT_EQ(set.parse("9434765919").reason, InvalidReason::kWrongLength);
  EXPECT_EQ(set.parse(std::string(63, 'a') + "-").reason, InvalidReason::kBadCharacter);
  EXPECT_EQ(set.parse(std::string(64, 'g')).reason, InvalidReason::kBadCharacter);
  EXPECT_EQ(set.parse(std::string(64, '\xC3')).reason, InvalidReason::kBadCharacter);

  // Another index: the set is refused, not used with the wrong lists.
  const Registry other = make_registry({401023213});
  const OptOutIndex other_index = make_index(other);
  EXPECT_FALSE(set.built_for(other_index));
  FilterOptions options = by_name("token");
  options.tokens = *tokens;
  std::istringstream in("token\n");
  auto source = make_istream_source(in, "extract.csv");
  std::string output;
  auto out = make_string_sink(output, "<out>");
  EXPECT_EQ(filter(*source, *out, nullptr, other_index, options).code(), ErrorCode::kInvalidArgument);
  // numbers lists NHS numbers: none in a pseudonymised extract.
  std::istringstream in2("token\n");
  auto source2 = make_istream_source(in2, "extract.csv");
  EXPECT_EQ(write_numbers(*source2, *out, options, NumbersFormat::kText).code(), ErrorCode::kInvalidArgument);
}

TEST(PseudonymTest, CacheReturnsTheSameSetForTheSameRegistryListsAndKey) {
  TokenSet::clear_cache();
  const Registry registry = make_registry({kListed}, {401023213, kListed}, true);
  const OptOutIndex index = make_index(registry);
  auto a = TokenSet::cached(index, test_key());
  auto b = TokenSet::cached(index, test_key());
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->get(), b->get());
  const OptOutIndex national = make_index(registry, {"national"});
  auto c = TokenSet::cached(national, test_key());
  ASSERT_TRUE(c.ok());
  EXPECT_NE(a->get(), c->get());
  std::vector<std::uint8_t> other(32, 7);
  auto d = TokenSet::cached(national, *PseudonymKey::from_bytes(other, "other"));
  ASSERT_TRUE(d.ok());
  EXPECT_NE(c->get(), d->get());
  // Cleared, the set is no longer the cache's (the runs holding it keep it), and the next call
  // makes a new one.
  const std::weak_ptr<const TokenSet> held = *d;
  EXPECT_TRUE(TokenSet::clear_cache());
  EXPECT_FALSE(TokenSet::clear_cache());
  d->reset();
  EXPECT_TRUE(held.expired());
  auto e = TokenSet::cached(national, *PseudonymKey::from_bytes(other, "other"));
  ASSERT_TRUE(e.ok());
  EXPECT_TRUE(TokenSet::clear_cache());
}

TEST(PseudonymTest, JsonLinesStringsAreTokensAndNumbersAreNot) {
  const Registry registry = make_registry({kListed});
  const OptOutIndex index = make_index(registry);
  const std::string input = std::string("{\"t\":\"") + kToken9434765919 + "\"}\n{\"t\":\"" + kToken4010232137 +
                            "\"}\n{\"t\":9434765919}\n{\"t\":null}\n{\"t\":\"" + upper(kToken9434765919) + "\"}\n";
  FilterOptions options = by_name("t");
  options.format = InputFormat::kJsonLines;
  TokenRun run = filter_tokens(input, index, options);
  ASSERT_TRUE(run.stats.ok()) << run.stats.status().message();
  EXPECT_EQ(run.output, std::string("{\"t\":\"") + kToken4010232137 + "\"}\n");
  EXPECT_EQ(run.stats->removed, 2u);
  EXPECT_EQ(run.stats->rejected_by_reason[0], 1u);
  EXPECT_EQ(run.stats->rejected_by_reason[static_cast<int>(InvalidReason::kBadCharacter)], 1u);
}

class PseudonymRunTest : public TempDirTest {};

TEST_F(PseudonymRunTest, RunFilterReadsTheKeyAndRecordsItsDigestOnly) {
  const Registry registry = make_registry({kListed});
  const std::vector<std::uint8_t> k = key_bytes();
  const std::string key = testing::write_file(dir_ / "p.key", std::string(k.begin(), k.end())).string();
  const std::string input =
      testing::write_file(dir_ / "in.csv", std::string("token\n") + kToken9434765919 + "\n" + kToken4010232137 + "\n")
          .string();
  FilterRequest request;
  request.inputs = {input};
  request.output = (dir_ / "out.csv").string();
  request.audit = (dir_ / "audit.jsonl").string();
  request.options = by_name("token");
  request.pseudonym_key = key;
  Result<RunResult> ran = run_filter(registry, request);
  ASSERT_TRUE(ran.ok()) << ran.status().message();
  EXPECT_EQ(testing::read_file(dir_ / "out.csv"), std::string("token\n") + kToken4010232137 + "\n");
  const std::string audit = testing::read_file(dir_ / "audit.jsonl");
  EXPECT_NE(audit.find(std::string("\"pseudonym_key_sha256\":\"") + kKeySha256 + "\""), std::string::npos);
  EXPECT_EQ(audit.find(kToken9434765919), std::string::npos);

  // The key is an input: no output may overwrite it.
  FilterRequest over_key = request;
  over_key.output = key;
  EXPECT_EQ(run_filter(registry, over_key).code(), ErrorCode::kInvalidArgument);
  FilterRequest empty_key = request;
  empty_key.pseudonym_key = "";
  EXPECT_EQ(run_filter(registry, empty_key).status().message(), "an empty pseudonym key path: give a file name");
  FilterRequest missing_key = request;
  missing_key.pseudonym_key = (dir_ / "none.key").string();
  missing_key.output = (dir_ / "out2.csv").string();
  EXPECT_EQ(run_filter(registry, missing_key).code(), ErrorCode::kIoError);
  EXPECT_FALSE(std::filesystem::exists(dir_ / "out2.csv"));

  // In parts: each task carries the key's path and digest, never the key.
  FilterRequest parts = request;
  parts.in_parts = true;
  parts.output = (dir_ / "parts").string();
  parts.audit.reset();
  PieceTask seen;
  Result<RunResult> in_parts =
      run_filter(registry, parts, [&](std::span<const PieceTask> tasks, std::span<FilterStats> out) {
        Result<OptOutIndex> index = OptOutIndex::create(registry);
        for (std::size_t i = 0; i < tasks.size(); ++i) {
          const std::string bytes = encode_piece_task(tasks[i]);
          EXPECT_EQ(bytes.find(std::string(k.begin(), k.end())), std::string::npos);
          Result<PieceTask> task = decode_piece_task(bytes);
          EXPECT_TRUE(task.ok());
          seen = *task;
          Result<FilterStats> stats = run_piece(*index, *task);
          if (!stats.ok()) return stats.status();
          out[i] = *stats;
        }
        return Status();
      });
  ASSERT_TRUE(in_parts.ok()) << in_parts.status().message();
  FilterRequest set_only = parts;
  set_only.pseudonym_key.reset();
  set_only.output = (dir_ / "parts2").string();
  set_only.options.tokens = *TokenSet::create(make_index(registry), test_key());
  EXPECT_EQ(run_filter(registry, set_only).status().message(),
            "a run in parts takes its pseudonym key as a path (pseudonym_key), which its tasks carry");
  EXPECT_EQ(in_parts->stats.removed, 1u);
  EXPECT_EQ(seen.pseudonym_key, key);
  EXPECT_EQ(seen.pseudonym_key_sha256, kKeySha256);
  // A worker whose key file is another key refuses the task.
  testing::write_file(key, std::string(40, 'x'));
  Result<OptOutIndex> index = OptOutIndex::create(registry);
  seen.output = (dir_ / "again.csv").string();
  Result<FilterStats> refused = run_piece(*index, seen);
  EXPECT_EQ(refused.code(), ErrorCode::kInvalidInput);
  EXPECT_EQ(refused.status().message(), key + ": the pseudonym key changed after the run started");
}

TEST_F(PseudonymRunTest, VerifyNeedsTheReleaseKey) {
  const Registry registry = make_registry({kListed});
  const std::vector<std::uint8_t> k = key_bytes();
  const std::string key = testing::write_file(dir_ / "p.key", std::string(k.begin(), k.end())).string();
  const std::string other = testing::write_file(dir_ / "o.key", std::string(40, 'o')).string();
  const std::string input =
      testing::write_file(dir_ / "in.csv", std::string("token\n") + kToken9434765919 + "\n" + kToken4010232137 + "\n")
          .string();
  FilterRequest request;
  request.inputs = {input};
  request.output = (dir_ / "out.csv").string();
  request.audit = (dir_ / "audit.jsonl").string();
  request.options = by_name("token");
  request.pseudonym_key = key;
  ASSERT_TRUE(run_filter(registry, request).ok());

  VerifyRequest verify;
  verify.options = by_name("token");
  verify.pseudonym_key = key;
  verify.input = input;  // the extract before filtering: one listed token
  Result<VerifyResult> dirty = run_verify(registry, verify);
  ASSERT_TRUE(dirty.ok()) << dirty.status().message();
  EXPECT_EQ(dirty->stats.removed, 1u);
  EXPECT_FALSE(dirty->clean());

  verify.input = (dir_ / "out.csv").string();
  verify.audit = (dir_ / "audit.jsonl").string();
  Result<VerifyResult> clean = run_verify(registry, verify);
  ASSERT_TRUE(clean.ok()) << clean.status().message();
  EXPECT_TRUE(clean->clean());
  ASSERT_TRUE(clean->audit.has_value());

  verify.pseudonym_key = other;
  Result<VerifyResult> wrong_key = run_verify(registry, verify);
  EXPECT_EQ(wrong_key.code(), ErrorCode::kUntrusted);
  EXPECT_NE(wrong_key.status().message().find("released it with another pseudonym key, or none"), std::string::npos);
  verify.pseudonym_key.reset();
  Result<VerifyResult> no_key = run_verify(registry, verify);
  EXPECT_EQ(no_key.code(), ErrorCode::kUntrusted);
  EXPECT_NE(no_key.status().message().find("released it pseudonymised: give its pseudonym key"), std::string::npos);
  verify.audit.reset();
  Result<VerifyResult> as_numbers = run_verify(registry, verify);
  ASSERT_TRUE(as_numbers.ok());  // every token is an invalid NHS number: rejected, not clean
  EXPECT_EQ(as_numbers->stats.rejected, 1u);
}

}  // namespace
}  // namespace optout
