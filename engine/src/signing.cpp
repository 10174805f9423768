// Ed25519 keys, key files and signatures (signing.hpp), through OpenSSL 3's EVP interface; the
// prehash's chunks are hashed in parallel with oneTBB.
#include "optout/signing.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <tbb/parallel_for.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <utility>

#include "optout/io.hpp"

namespace optout {

struct SecretKey::Impl {
  std::array<std::uint8_t, 32> seed{};
  PublicKey public_key;
  ~Impl() { OPENSSL_cleanse(seed.data(), seed.size()); }
};

struct SigningAccess {
  static const std::array<std::uint8_t, 32>& seed(const SecretKey& key) { return key.impl_->seed; }
  static SecretKey make() { return SecretKey(); }
  static SecretKey::Impl& impl(SecretKey& key) { return *key.impl_; }
};

namespace {

constexpr std::string_view kPublicPrefix = "optout public key ed25519 ";
constexpr std::string_view kSecretPrefix = "optout secret key ed25519 ";
constexpr std::size_t kKeyFileBytes = 26 + 64 + 1;  // prefix, 64 hex digits, LF
static_assert(kPublicPrefix.size() == 26 && kSecretPrefix.size() == 26);
constexpr std::size_t kPrehashChunk = std::size_t{1} << 20;

struct PkeyDeleter {
  void operator()(EVP_PKEY* k) const noexcept { EVP_PKEY_free(k); }
};
struct MdCtxDeleter {
  void operator()(EVP_MD_CTX* c) const noexcept { EVP_MD_CTX_free(c); }
};
using Pkey = std::unique_ptr<EVP_PKEY, PkeyDeleter>;
using MdCtx = std::unique_ptr<EVP_MD_CTX, MdCtxDeleter>;

std::string_view domain_of(SignedKind kind) noexcept {
  switch (kind) {
    case SignedKind::kRegistry: return std::string_view("optout registry signature v1\0", 29);
    case SignedKind::kAuditRecord: return std::string_view("optout audit record signature v1\0", 33);
  }
  return {};
}

// The message an Ed25519 signature covers: the domain string and the 32-byte prehash.
std::string message_of(SignedKind kind, std::span<const std::uint8_t, 32> hash) {
  std::string m(domain_of(kind));
  m.append(reinterpret_cast<const char*>(hash.data()), hash.size());
  return m;
}

Result<SecretKey> key_of_seed(std::span<const std::uint8_t, 32> seed) {
  Pkey pkey(EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr, seed.data(), seed.size()));
  if (!pkey) return Status(ErrorCode::kInternal, "OpenSSL cannot make an Ed25519 key");
  SecretKey key = SigningAccess::make();
  auto& impl = SigningAccess::impl(key);
  std::memcpy(impl.seed.data(), seed.data(), seed.size());
  std::size_t length = impl.public_key.bytes.size();
  if (EVP_PKEY_get_raw_public_key(pkey.get(), impl.public_key.bytes.data(), &length) != 1 ||
      length != kPublicKeyBytes) {
    return Status(ErrorCode::kInternal, "OpenSSL cannot derive an Ed25519 public key");
  }
  return key;
}

// The 32 bytes of a key file, or the error: the file's contents are never quoted.
Result<std::array<std::uint8_t, 32>> read_key_file(const std::filesystem::path& path, bool secret) {
  const std::string name = path.string();
  Result<ReadOnlyFile> opened = ReadOnlyFile::open(path, /*nonblocking=*/true);
  if (!opened.ok()) return opened.status();
  if (Status s = opened->require_regular(); !s.ok()) return s;
  const std::uint64_t size = opened->size();
  const auto not_a_key = [&] {
    return Status(ErrorCode::kInvalidInput, name + ": not an optout key file (" + std::to_string(size) +
                                                " bytes; a key file is one line of " + std::to_string(kKeyFileBytes) +
                                                " bytes, made by optout keygen)");
  };
  if (size != kKeyFileBytes) return not_a_key();
  std::string text(kKeyFileBytes, '\0');
  if (Status s = opened->read_exactly(text.data(), text.size(), 0); !s.ok()) return s;
  std::array<std::uint8_t, 32> bytes{};
  const std::string_view view(text);
  const bool is_public = view.starts_with(kPublicPrefix);
  const bool is_secret = view.starts_with(kSecretPrefix);
  if (!is_public && !is_secret) return not_a_key();
  if (secret && is_public) {
    return Status(ErrorCode::kInvalidInput, name + ": a public key, where a secret key (NAME.key) is needed");
  }
  if (!secret && is_secret) {
    return Status(ErrorCode::kInvalidInput, name + ": a secret key, where a public key (NAME.pub) is needed");
  }
  if (view.back() != '\n' || !decode_hex(view.substr(26, 64), bytes)) {
    OPENSSL_cleanse(text.data(), text.size());
    return not_a_key();
  }
  OPENSSL_cleanse(text.data(), text.size());
  return bytes;
}

// Creates path with mode, refusing an existing file, and writes text to it, durably. On error
// nothing is left at path.
Status write_new_file(const std::filesystem::path& path, std::string_view text, mode_t mode) {
  const std::string name = path.string();
  const int fd = ::open(name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
  if (fd < 0) {
    const int e = errno;
    if (e == EEXIST) return Status(ErrorCode::kIoError, name + ": already exists (a key is never overwritten)");
    return Status(ErrorCode::kIoError, name + ": cannot create: " + std::strerror(e));
  }
  Status status;
  std::size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      status = Status(ErrorCode::kIoError, name + ": cannot write: " + std::strerror(errno));
      break;
    }
    done += static_cast<std::size_t>(n);
  }
  // The mode, whatever the umask made of it (a umask only removes bits, but be exact).
  if (status.ok() && ::fchmod(fd, mode) != 0) {
    status = Status(ErrorCode::kIoError, name + ": cannot set its mode: " + std::strerror(errno));
  }
  if (status.ok() && ::fsync(fd) != 0) {
    status = Status(ErrorCode::kIoError, name + ": cannot sync: " + std::strerror(errno));
  }
  if (::close(fd) != 0 && status.ok()) {
    status = Status(ErrorCode::kIoError, name + ": cannot close: " + std::strerror(errno));
  }
  if (!status.ok()) ::unlink(name.c_str());
  return status;
}

}  // namespace

// ---- Keys ---------------------------------------------------------------------------------------

std::string PublicKey::key_id() const {
  std::array<std::uint8_t, SHA256_DIGEST_LENGTH> digest{};
  SHA256(bytes.data(), bytes.size(), digest.data());
  return to_hex(std::span<const std::uint8_t>(digest.data(), kKeyIdHexDigits / 2));
}

SecretKey::SecretKey() : impl_(std::make_unique<Impl>()) {}
SecretKey::SecretKey(SecretKey&&) noexcept = default;
SecretKey& SecretKey::operator=(SecretKey&&) noexcept = default;
SecretKey::~SecretKey() = default;

const PublicKey& SecretKey::public_key() const noexcept { return impl_->public_key; }

Result<SecretKey> SecretKey::generate() {
  std::array<std::uint8_t, 32> seed{};
  if (RAND_priv_bytes(seed.data(), static_cast<int>(seed.size())) != 1) {
    return Status(ErrorCode::kInternal, "OpenSSL's random generator failed");
  }
  Result<SecretKey> key = key_of_seed(seed);
  OPENSSL_cleanse(seed.data(), seed.size());
  return key;
}

Result<SecretKey> SecretKey::from_seed(std::span<const std::uint8_t, 32> seed) { return key_of_seed(seed); }

std::filesystem::path secret_key_path(const std::filesystem::path& name) {
  std::filesystem::path p = name;
  p += ".key";
  return p;
}

std::filesystem::path public_key_path(const std::filesystem::path& name) {
  std::filesystem::path p = name;
  p += ".pub";
  return p;
}

Result<PublicKey> write_key_pair(const std::filesystem::path& name) {
  if (name.empty()) return Status(ErrorCode::kInvalidArgument, "the key name is empty");
  const std::filesystem::path secret_path = secret_key_path(name);
  const std::filesystem::path public_path = public_key_path(name);
  // Both refused up front when either exists, so that no half pair is made.
  for (const std::filesystem::path& p : {secret_path, public_path}) {
    struct stat st {};
    if (::lstat(p.c_str(), &st) == 0) {
      return Status(ErrorCode::kIoError, p.string() + ": already exists (a key is never overwritten)");
    }
  }
  Result<SecretKey> key = SecretKey::generate();
  if (!key.ok()) return key.status();
  std::string secret_text(kSecretPrefix);
  secret_text += to_hex(SigningAccess::seed(*key));
  secret_text += '\n';
  Status s = write_new_file(secret_path, secret_text, 0600);
  OPENSSL_cleanse(secret_text.data(), secret_text.size());
  if (!s.ok()) return s;
  std::string public_text(kPublicPrefix);
  public_text += to_hex(key->public_key().bytes);
  public_text += '\n';
  if (Status p = write_new_file(public_path, public_text, 0644); !p.ok()) {
    ::unlink(secret_path.c_str());
    return p;
  }
  return key->public_key();
}

Result<PublicKey> read_public_key(const std::filesystem::path& path) {
  Result<std::array<std::uint8_t, 32>> bytes = read_key_file(path, /*secret=*/false);
  if (!bytes.ok()) return bytes.status();
  PublicKey key;
  key.bytes = *bytes;
  // A valid Ed25519 point: OpenSSL refuses bytes that are not one.
  Pkey pkey(EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, key.bytes.data(), key.bytes.size()));
  if (!pkey) return Status(ErrorCode::kInvalidInput, path.string() + ": not a valid Ed25519 public key");
  return key;
}

Result<SecretKey> read_secret_key(const std::filesystem::path& path) {
  Result<std::array<std::uint8_t, 32>> seed = read_key_file(path, /*secret=*/true);
  if (!seed.ok()) return seed.status();
  Result<SecretKey> key = key_of_seed(*seed);
  OPENSSL_cleanse(seed->data(), seed->size());
  return key;
}

Result<std::vector<PublicKey>> read_trusted_keys(std::span<const std::string> paths) {
  std::vector<std::string> from_env;
  if (paths.empty()) {
    const char* env = std::getenv("OPTOUT_TRUST");
    if (env == nullptr) return std::vector<PublicKey>{};
    const std::string_view value(env);
    std::size_t start = 0;
    for (;;) {
      const std::size_t colon = value.find(':', start);
      const std::string_view entry = value.substr(start, colon == std::string_view::npos ? colon : colon - start);
      if (entry.empty()) {
        return Status(ErrorCode::kInvalidArgument, "OPTOUT_TRUST holds an empty path (paths are separated by ':')");
      }
      from_env.emplace_back(entry);
      if (colon == std::string_view::npos) break;
      start = colon + 1;
    }
    paths = from_env;
  }
  std::vector<PublicKey> keys;
  for (const std::string& p : paths) {
    if (p.empty()) return Status(ErrorCode::kInvalidArgument, "a trusted key path is empty");
    Result<PublicKey> key = read_public_key(p);
    if (!key.ok()) return key.status();
    keys.push_back(*key);
  }
  return keys;
}

// ---- Signatures ---------------------------------------------------------------------------------

std::array<std::uint8_t, 32> prehash(std::string_view bytes) {
  const std::size_t chunks = (bytes.size() + kPrehashChunk - 1) / kPrehashChunk;
  std::vector<std::uint8_t> digests(8 + chunks * SHA256_DIGEST_LENGTH);
  const std::uint64_t length = bytes.size();
  for (int i = 0; i < 8; ++i) digests[i] = static_cast<std::uint8_t>(length >> (8 * i));
  tbb::parallel_for(std::size_t{0}, chunks, [&](std::size_t i) {
    const std::string_view chunk = bytes.substr(i * kPrehashChunk, kPrehashChunk);
    SHA256(reinterpret_cast<const unsigned char*>(chunk.data()), chunk.size(),
           digests.data() + 8 + i * SHA256_DIGEST_LENGTH);
  });
  std::array<std::uint8_t, 32> out{};
  SHA256(digests.data(), digests.size(), out.data());
  return out;
}

Result<Signature> sign_prehash(const SecretKey& key, SignedKind kind, std::span<const std::uint8_t, 32> hash) {
  const std::array<std::uint8_t, 32>& seed = SigningAccess::seed(key);
  Pkey pkey(EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr, seed.data(), seed.size()));
  MdCtx ctx(EVP_MD_CTX_new());
  const std::string message = message_of(kind, hash);
  Signature signature{};
  std::size_t length = signature.size();
  if (!pkey || !ctx || EVP_DigestSignInit(ctx.get(), nullptr, nullptr, nullptr, pkey.get()) != 1 ||
      EVP_DigestSign(ctx.get(), signature.data(), &length, reinterpret_cast<const unsigned char*>(message.data()),
                     message.size()) != 1 ||
      length != kSignatureBytes) {
    return Status(ErrorCode::kInternal, "OpenSSL cannot sign");
  }
  return signature;
}

Result<Signature> sign_bytes(const SecretKey& key, SignedKind kind, std::string_view bytes) {
  return sign_prehash(key, kind, prehash(bytes));
}

bool verify_prehash(const PublicKey& key, SignedKind kind, std::span<const std::uint8_t, 32> hash,
                    const Signature& signature) {
  Pkey pkey(EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, key.bytes.data(), key.bytes.size()));
  MdCtx ctx(EVP_MD_CTX_new());
  if (!pkey || !ctx || EVP_DigestVerifyInit(ctx.get(), nullptr, nullptr, nullptr, pkey.get()) != 1) return false;
  const std::string message = message_of(kind, hash);
  return EVP_DigestVerify(ctx.get(), signature.data(), signature.size(),
                          reinterpret_cast<const unsigned char*>(message.data()), message.size()) == 1;
}

bool verify_bytes(const PublicKey& key, SignedKind kind, std::string_view bytes, const Signature& signature) {
  return verify_prehash(key, kind, prehash(bytes), signature);
}

// ---- Hex ----------------------------------------------------------------------------------------

std::string to_hex(std::span<const std::uint8_t> bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out(bytes.size() * 2, '\0');
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    out[2 * i] = kDigits[bytes[i] >> 4];
    out[2 * i + 1] = kDigits[bytes[i] & 15];
  }
  return out;
}

bool decode_hex(std::string_view hex, std::span<std::uint8_t> out) noexcept {
  if (hex.size() != out.size() * 2) return false;
  const auto value = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  for (std::size_t i = 0; i < out.size(); ++i) {
    const int hi = value(hex[2 * i]);
    const int lo = value(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    out[i] = static_cast<std::uint8_t>(hi << 4 | lo);
  }
  return true;
}

}  // namespace optout
