// Ed25519 keys and signatures for signed registries and signed audit records, through OpenSSL 3
// (no hand-written cryptography).
//
// Key files are one line of text, so that a public key can be mailed, pasted and diffed:
//   NAME.pub  "optout public key ed25519 " + 64 hex digits (the 32-byte public key) + "\n"
//   NAME.key  "optout secret key ed25519 " + 64 hex digits (the 32-byte seed) + "\n", mode 0600
// A key is named in snapshots, audit records and messages by its key id: the first 8 bytes of
// SHA-256 over the 32 public-key bytes, as 16 lower-case hex digits (`xxd -r -p` of the hex, then
// `sha256sum`, shows the same).
//
// What is signed: a domain string naming what the bytes are (a registry, an audit record) followed
// by prehash(bytes), a SHA-256 tree hash computed in parallel, so that checking the signature of a
// 40 MB registry costs ~10 ms on two cores rather than the ~70 ms of Ed25519's own SHA-512 pass.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "optout/export.hpp"
#include "optout/status.hpp"

namespace optout {

inline constexpr std::size_t kPublicKeyBytes = 32;
inline constexpr std::size_t kSignatureBytes = 64;
inline constexpr std::size_t kKeyIdHexDigits = 16;

using Signature = std::array<std::uint8_t, kSignatureBytes>;

// An Ed25519 public key.
struct OPTOUT_API PublicKey {
  std::array<std::uint8_t, kPublicKeyBytes> bytes{};
  // The key id: 16 lower-case hex digits (see above).
  std::string key_id() const;
  friend bool operator==(const PublicKey&, const PublicKey&) = default;
};

// An Ed25519 secret key (its 32-byte seed) and the public key derived from it. Move-only; the
// seed is wiped (OPENSSL_cleanse) when the key is destroyed.
class OPTOUT_API SecretKey {
 public:
  SecretKey(SecretKey&&) noexcept;
  SecretKey& operator=(SecretKey&&) noexcept;
  SecretKey(const SecretKey&) = delete;
  SecretKey& operator=(const SecretKey&) = delete;
  ~SecretKey();

  const PublicKey& public_key() const noexcept;

  // A new random key (OpenSSL's RAND_bytes). Errors: kInternal when the generator fails.
  [[nodiscard]] static Result<SecretKey> generate();
  // The key of a 32-byte seed (tests use fixed seeds). Errors: kInternal.
  [[nodiscard]] static Result<SecretKey> from_seed(std::span<const std::uint8_t, 32> seed);

 private:
  friend struct SigningAccess;
  SecretKey();
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The key files of a key pair NAME: NAME.key and NAME.pub.
OPTOUT_API std::filesystem::path secret_key_path(const std::filesystem::path& name);
OPTOUT_API std::filesystem::path public_key_path(const std::filesystem::path& name);

// `optout keygen -o NAME`: a new key written to NAME.key (created with mode 0600; refused if
// either file exists, and neither is left half-written) and NAME.pub. Returns the public key.
// Errors: kIoError "NAME.key: already exists" and the like; kInvalidArgument for an empty name.
[[nodiscard]] OPTOUT_API Result<PublicKey> write_key_pair(const std::filesystem::path& name);

// Reads a key file. Errors (messages start with the path, never quote the file's bytes):
//   kIoError: cannot read, not a regular file;
//   kInvalidInput: "not an optout key file (N bytes)" for a file of the wrong size or shape;
//   "a secret key, where a public key (.pub) is needed" and the reverse.
[[nodiscard]] OPTOUT_API Result<PublicKey> read_public_key(const std::filesystem::path& path);
[[nodiscard]] OPTOUT_API Result<SecretKey> read_secret_key(const std::filesystem::path& path);

// The trusted keys of a run: the public keys at paths; when paths is empty, those the environment
// names in OPTOUT_TRUST (paths separated by ':'; empty entries are an error, as an unset variable
// inside a longer value would be). No paths and no OPTOUT_TRUST: an empty list (nothing is
// checked). Every edge (CLI --trust, C, Python, Dask) calls this, so the rule is the same.
// Errors: those of read_public_key(); kInvalidArgument for an empty entry.
[[nodiscard]] OPTOUT_API Result<std::vector<PublicKey>> read_trusted_keys(std::span<const std::string> paths);

// What signed bytes are; part of the signed message, so that a signature over one kind of bytes
// never verifies as another.
enum class SignedKind : std::uint8_t { kRegistry = 1, kAuditRecord = 2 };

// SHA-256 over the little-endian u64 length of bytes followed by the SHA-256 of each 1 MiB chunk
// of bytes in order (the last chunk may be shorter; empty bytes have no chunk). Chunks are
// hashed in parallel (oneTBB).
OPTOUT_API std::array<std::uint8_t, 32> prehash(std::string_view bytes);

// The Ed25519 signature of kind's domain string and prehash(bytes). Errors: kInternal.
[[nodiscard]] OPTOUT_API Result<Signature> sign_bytes(const SecretKey& key, SignedKind kind, std::string_view bytes);
// The same over a prehash already computed (a registry's load computes it once).
[[nodiscard]] OPTOUT_API Result<Signature> sign_prehash(const SecretKey& key, SignedKind kind,
                                                        std::span<const std::uint8_t, 32> hash);
// Whether signature is key's over kind and bytes (or a prehash already computed).
OPTOUT_API bool verify_bytes(const PublicKey& key, SignedKind kind, std::string_view bytes, const Signature& signature);
OPTOUT_API bool verify_prehash(const PublicKey& key, SignedKind kind, std::span<const std::uint8_t, 32> hash,
                               const Signature& signature);

// Lower-case hex, and back (nullopt unless exactly 2 * N hex digits, either case).
OPTOUT_API std::string to_hex(std::span<const std::uint8_t> bytes);
template <std::size_t N>
std::optional<std::array<std::uint8_t, N>> from_hex(std::string_view hex);
OPTOUT_API bool decode_hex(std::string_view hex, std::span<std::uint8_t> out) noexcept;

template <std::size_t N>
std::optional<std::array<std::uint8_t, N>> from_hex(std::string_view hex) {
  std::array<std::uint8_t, N> out{};
  if (!decode_hex(hex, out)) return std::nullopt;
  return out;
}

}  // namespace optout
