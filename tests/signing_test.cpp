// Signing: key ids, key files (round trip, mode, refusals, every malformed shape), the trust list
// of OPTOUT_TRUST, signatures (wrong key, changed bytes, domain separation) and the prehash
// against a direct SHA-256 computation.
#include "optout/signing.hpp"

#include <gtest/gtest.h>
#include <openssl/sha.h>
#include <sys/stat.h>

#include <array>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "test_support.hpp"

namespace optout {
namespace {

namespace fs = std::filesystem;
using testing::TempDirTest;

// RFC 8032 section 7.1, test 1: the seed and the public key Ed25519 derives from it.
constexpr const char* kRfcSeed = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
constexpr const char* kRfcPublic = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";
// The first 8 bytes of SHA-256 over kRfcPublic's bytes (python3 hashlib).
constexpr const char* kRfcKeyId = "21fe31dfa154a261";

SecretKey key_of(const char* seed_hex) {
  const auto seed = from_hex<32>(seed_hex);
  EXPECT_TRUE(seed.has_value());
  auto key = SecretKey::from_seed(*seed);
  EXPECT_TRUE(key.ok());
  return std::move(key).value();
}

SecretKey rfc_key() { return key_of(kRfcSeed); }
SecretKey other_key() { return key_of("0101010101010101010101010101010101010101010101010101010101010101"); }

std::array<std::uint8_t, 32> sha256(std::string_view bytes) {
  std::array<std::uint8_t, 32> out{};
  SHA256(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(), out.data());
  return out;
}

// prehash() computed the slow, obvious way.
std::array<std::uint8_t, 32> direct_prehash(std::string_view bytes) {
  std::string message;
  const std::uint64_t length = bytes.size();
  for (int i = 0; i < 8; ++i) message.push_back(static_cast<char>(length >> (8 * i)));
  constexpr std::size_t kChunk = std::size_t{1} << 20;
  for (std::size_t at = 0; at < bytes.size(); at += kChunk) {
    const auto h = sha256(bytes.substr(at, kChunk));
    message.append(reinterpret_cast<const char*>(h.data()), h.size());
  }
  return sha256(message);
}

// ---- Keys -----------------------------------------------------------------------------------------

TEST(SigningKeys, SeedGivesTheRfcPublicKeyAndItsKeyId) {
  const SecretKey key = rfc_key();
  EXPECT_EQ(to_hex(key.public_key().bytes), kRfcPublic);
  EXPECT_EQ(key.public_key().key_id(), kRfcKeyId);
  EXPECT_EQ(key.public_key().key_id().size(), kKeyIdHexDigits);
  EXPECT_NE(other_key().public_key().key_id(), kRfcKeyId);
}

TEST(SigningKeys, GeneratedKeysDiffer) {
  auto a = SecretKey::generate();
  auto b = SecretKey::generate();
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NE(a->public_key(), b->public_key());
}

TEST(SigningHex, RoundTripAndRefusals) {
  EXPECT_EQ(to_hex(*from_hex<2>("0aFf")), "0aff");
  EXPECT_FALSE(from_hex<2>("0af").has_value());    // too short
  EXPECT_FALSE(from_hex<2>("0aff0").has_value());  // too long
  EXPECT_FALSE(from_hex<2>("0afg").has_value());   // not hex
  EXPECT_FALSE(from_hex<2>(" aff").has_value());   // a space
  EXPECT_FALSE(from_hex<1>("").has_value());       // empty
}

class KeyFileTest : public TempDirTest {};

TEST_F(KeyFileTest, WrittenPairReadsBackWithModes) {
  auto written = write_key_pair(dir_ / "k");
  ASSERT_TRUE(written.ok()) << written.status().message();
  EXPECT_EQ(files(), (std::vector<std::string>{"k.key", "k.pub"}));
  const std::string pub = read("k.pub");
  EXPECT_EQ(pub, "optout public key ed25519 " + to_hex(written->bytes) + "\n");
  const std::string secret = read("k.key");
  EXPECT_EQ(secret.size(), 91u);
  EXPECT_EQ(secret.rfind("optout secret key ed25519 ", 0), 0u);
  EXPECT_EQ(secret.back(), '\n');
  struct stat st {};
  ASSERT_EQ(::stat(path("k.key").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_EQ(::stat(path("k.pub").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0644u);  // set with fchmod, whatever the umask

  auto pub_key = read_public_key(path("k.pub"));
  ASSERT_TRUE(pub_key.ok()) << pub_key.status().message();
  EXPECT_EQ(*pub_key, *written);
  auto secret_key = read_secret_key(path("k.key"));
  ASSERT_TRUE(secret_key.ok()) << secret_key.status().message();
  EXPECT_EQ(secret_key->public_key(), *written);
  EXPECT_EQ(secret_key_path("dir/n"), fs::path("dir/n.key"));
  EXPECT_EQ(public_key_path("dir/n"), fs::path("dir/n.pub"));
}

TEST_F(KeyFileTest, AnExistingFileIsNeverOverwrittenAndNoHalfPairIsLeft) {
  write("a.pub", "keep");
  auto r = write_key_pair(dir_ / "a");
  EXPECT_EQ(r.code(), ErrorCode::kIoError);
  EXPECT_EQ(r.status().message(), path("a.pub") + ": already exists (a key is never overwritten)");
  EXPECT_EQ(files(), (std::vector<std::string>{"a.pub"}));
  EXPECT_EQ(read("a.pub"), "keep");

  write("b.key", "keep");
  r = write_key_pair(dir_ / "b");
  EXPECT_EQ(r.code(), ErrorCode::kIoError);
  EXPECT_EQ(r.status().message(), path("b.key") + ": already exists (a key is never overwritten)");
  EXPECT_EQ(files(), (std::vector<std::string>{"a.pub", "b.key"}));

  r = write_key_pair("");
  EXPECT_EQ(r.code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(r.status().message(), "the key name is empty");
}

TEST_F(KeyFileTest, MalformedKeyFilesAreRefusedWithoutQuotingThem) {
  ASSERT_TRUE(write_key_pair(dir_ / "k").ok());
  const std::string pub = read("k.pub");
  const std::string secret = read("k.key");
  const auto not_a_key = [&](const std::string& name, std::size_t bytes) {
    return path(name) + ": not an optout key file (" + std::to_string(bytes) +
           " bytes; a key file is one line of 91 bytes, made by optout keygen)";
  };
  struct Case {
    std::string name;
    std::string bytes;
  };
  std::string bad_hex = pub;
  bad_hex[40] = 'g';
  std::string no_newline = pub;
  no_newline.back() = ' ';
  std::string other_prefix = pub;
  other_prefix[0] = 'O';
  const Case cases[] = {
      {"empty.pub", ""},    {"short.pub", pub.substr(0, 90)}, {"long.pub", pub + "\n"},
      {"hex.pub", bad_hex}, {"newline.pub", no_newline},      {"prefix.pub", other_prefix},
  };
  for (const Case& c : cases) {
    write(c.name, c.bytes);
    auto r = read_public_key(path(c.name));
    EXPECT_EQ(r.code(), ErrorCode::kInvalidInput) << c.name;
    EXPECT_EQ(r.status().message(), not_a_key(c.name, c.bytes.size())) << c.name;
  }
  auto swapped = read_public_key(path("k.key"));
  EXPECT_EQ(swapped.code(), ErrorCode::kInvalidInput);
  EXPECT_EQ(swapped.status().message(), path("k.key") + ": a secret key, where a public key (NAME.pub) is needed");
  auto reverse = read_secret_key(path("k.pub"));
  EXPECT_EQ(reverse.code(), ErrorCode::kInvalidInput);
  EXPECT_EQ(reverse.status().message(), path("k.pub") + ": a public key, where a secret key (NAME.key) is needed");
  write("hex.key", secret.substr(0, 30) + "z" + secret.substr(31));
  auto bad_secret = read_secret_key(path("hex.key"));
  EXPECT_EQ(bad_secret.code(), ErrorCode::kInvalidInput);
  EXPECT_EQ(bad_secret.status().message(), not_a_key("hex.key", 91));

  auto missing = read_public_key(path("none.pub"));
  EXPECT_EQ(missing.code(), ErrorCode::kIoError);
  EXPECT_EQ(missing.status().message().rfind(path("none.pub") + ": ", 0), 0u);
  auto folder = read_public_key(dir_.string());
  EXPECT_EQ(folder.code(), ErrorCode::kIoError);
}

// ---- Trusted keys -----------------------------------------------------------------------------------

class TrustedKeysTest : public TempDirTest {
 protected:
  void SetUp() override {
    const char* saved = std::getenv("OPTOUT_TRUST");
    if (saved != nullptr) saved_ = saved;
    ASSERT_TRUE(write_key_pair(dir_ / "a").ok());
    ASSERT_TRUE(write_key_pair(dir_ / "b").ok());
  }
  void TearDown() override {
    if (saved_) {
      ::setenv("OPTOUT_TRUST", saved_->c_str(), 1);
    } else {
      ::unsetenv("OPTOUT_TRUST");
    }
  }
  std::optional<std::string> saved_;
};

TEST_F(TrustedKeysTest, PathsThenTheEnvironment) {
  const PublicKey a = *read_public_key(path("a.pub"));
  const PublicKey b = *read_public_key(path("b.pub"));
  ::unsetenv("OPTOUT_TRUST");
  auto none = read_trusted_keys({});
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());

  ::setenv("OPTOUT_TRUST", (path("a.pub") + ":" + path("b.pub")).c_str(), 1);
  auto env = read_trusted_keys({});
  ASSERT_TRUE(env.ok()) << env.status().message();
  EXPECT_EQ(*env, (std::vector<PublicKey>{a, b}));

  const std::vector<std::string> given = {path("b.pub")};  // paths win over the environment
  auto paths = read_trusted_keys(given);
  ASSERT_TRUE(paths.ok());
  EXPECT_EQ(*paths, (std::vector<PublicKey>{b}));
}

TEST_F(TrustedKeysTest, EmptyEntriesAndBadKeysAreErrors) {
  const std::string empty_entry = "OPTOUT_TRUST holds an empty path (paths are separated by ':')";
  for (const std::string& value :
       {std::string(""), ":" + path("a.pub"), path("a.pub") + ":", path("a.pub") + "::" + path("b.pub")}) {
    ::setenv("OPTOUT_TRUST", value.c_str(), 1);
    auto r = read_trusted_keys({});
    EXPECT_EQ(r.code(), ErrorCode::kInvalidArgument) << value;
    EXPECT_EQ(r.status().message(), empty_entry) << value;
  }
  ::setenv("OPTOUT_TRUST", path("a.key").c_str(), 1);
  auto secret = read_trusted_keys({});
  EXPECT_EQ(secret.code(), ErrorCode::kInvalidInput);
  EXPECT_EQ(secret.status().message(), path("a.key") + ": a secret key, where a public key (NAME.pub) is needed");

  const std::vector<std::string> blank = {""};
  auto r = read_trusted_keys(blank);
  EXPECT_EQ(r.code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(r.status().message(), "a trusted key path is empty");
}

// ---- Signatures -------------------------------------------------------------------------------------

TEST(SigningSignatures, SignAndVerify) {
  const SecretKey key = rfc_key();
  const std::string bytes = "a registry snapshot's bytes";
  auto signature = sign_bytes(key, SignedKind::kRegistry, bytes);
  ASSERT_TRUE(signature.ok());
  EXPECT_TRUE(verify_bytes(key.public_key(), SignedKind::kRegistry, bytes, *signature));
  // Ed25519 is deterministic: the same bytes give the same signature.
  EXPECT_EQ(*sign_bytes(key, SignedKind::kRegistry, bytes), *signature);
  // The prehash form is the same signature.
  EXPECT_EQ(*sign_prehash(key, SignedKind::kRegistry, prehash(bytes)), *signature);
  EXPECT_TRUE(verify_prehash(key.public_key(), SignedKind::kRegistry, prehash(bytes), *signature));

  // The wrong key, changed bytes, a changed signature, the other kind: none verifies.
  EXPECT_FALSE(verify_bytes(other_key().public_key(), SignedKind::kRegistry, bytes, *signature));
  EXPECT_FALSE(verify_bytes(key.public_key(), SignedKind::kRegistry, bytes + " ", *signature));
  std::string changed = bytes;
  changed[0] ^= 1;
  EXPECT_FALSE(verify_bytes(key.public_key(), SignedKind::kRegistry, changed, *signature));
  Signature flipped = *signature;
  flipped[10] ^= 0x40;
  EXPECT_FALSE(verify_bytes(key.public_key(), SignedKind::kRegistry, bytes, flipped));
  EXPECT_FALSE(verify_bytes(key.public_key(), SignedKind::kAuditRecord, bytes, *signature));
  auto audit = sign_bytes(key, SignedKind::kAuditRecord, bytes);
  ASSERT_TRUE(audit.ok());
  EXPECT_NE(*audit, *signature);
  EXPECT_TRUE(verify_bytes(key.public_key(), SignedKind::kAuditRecord, bytes, *audit));
  EXPECT_FALSE(verify_bytes(key.public_key(), SignedKind::kRegistry, bytes, *audit));
}

TEST(SigningPrehash, MatchesADirectComputationAtChunkBoundaries) {
  constexpr std::size_t kMiB = std::size_t{1} << 20;
  std::string bytes(3 * kMiB + 1, '\0');
  for (std::size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<char>((i * 2654435761u) >> 13);
  for (const std::size_t size : {std::size_t{0}, std::size_t{1}, kMiB - 1, kMiB, kMiB + 1, 3 * kMiB, 3 * kMiB + 1}) {
    const std::string_view part = std::string_view(bytes).substr(0, size);
    EXPECT_EQ(to_hex(prehash(part)), to_hex(direct_prehash(part))) << size;
  }
  // The empty input: SHA-256 of its length alone, eight zero bytes.
  EXPECT_EQ(to_hex(prehash("")), to_hex(sha256(std::string(8, '\0'))));
  // The length is hashed: a prefix of whole chunks differs from the whole.
  EXPECT_NE(prehash(std::string_view(bytes).substr(0, kMiB)), prehash(std::string_view(bytes).substr(0, 2 * kMiB)));
}

}  // namespace
}  // namespace optout
