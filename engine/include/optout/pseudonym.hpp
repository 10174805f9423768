// Pseudonymised extracts: a column of tokens instead of NHS numbers. A token is
// HMAC-SHA256(key, the 10-digit NHS number as ASCII), written as 64 hex digits (either case), as a
// secure data environment's pseudonymisation makes them. The engine hashes the applied lists'
// numbers with the same key once per run (a TokenSet) and matches the column's tokens exactly;
// opt-outs registered after the extract was pseudonymised are honoured without re-identifying it.
//
// The key file: the key is the file's bytes, exactly (no line end is stripped), from
// kPseudonymKeyMinBytes to kPseudonymKeyMaxBytes. So Python's
//   hmac.new(open(KEY, 'rb').read(), b'9434765919', 'sha256').hexdigest()
// is the token of 9434765919. The key never appears in a message, stats or audit record; audit
// records name it by its SHA-256 ("pseudonym_key_sha256").
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "optout/export.hpp"
#include "optout/index.hpp"
#include "optout/nhs_number.hpp"
#include "optout/status.hpp"

namespace optout {

namespace detail {
struct TokenAccess;  // engine/src/kernel: the filter's view of the table
}  // namespace detail

inline constexpr std::size_t kPseudonymKeyMinBytes = 32;    // 256 bits, SHA-256's strength
inline constexpr std::size_t kPseudonymKeyMaxBytes = 1024;  // a key file, not a data file
inline constexpr std::size_t kTokenHexDigits = 64;

// The stem a TokenSet gives a token that stands for no number of the applied lists: stem 0
// (0000000000, never a patient's), whose bit no list sets, so that the verdict rule treats it as
// an unlisted number (kept under deny lists, removed under allow lists).
inline constexpr std::uint32_t kUnlistedTokenStem = 0;

class OPTOUT_API PseudonymKey {
 public:
  // Reads a key file. Errors name the file and never quote it: kNotFound / kIoError (as
  // ReadOnlyFile), kInvalidInput "KEY: not a pseudonym key (N bytes; a key is 32 to 1024 bytes)"
  // or "KEY: not a regular file".
  [[nodiscard]] static Result<PseudonymKey> read(const std::filesystem::path& path);
  // A key the caller holds (tests, keys from a secret store); name stands for it in messages.
  // kInvalidArgument for a size outside kPseudonymKeyMinBytes..kPseudonymKeyMaxBytes.
  [[nodiscard]] static Result<PseudonymKey> from_bytes(std::span<const std::uint8_t> bytes, std::string name);

  PseudonymKey(PseudonymKey&&) noexcept;
  PseudonymKey& operator=(PseudonymKey&&) noexcept;
  PseudonymKey(const PseudonymKey&);
  PseudonymKey& operator=(const PseudonymKey&);
  ~PseudonymKey();  // the key's bytes are wiped

  // The file name (or from_bytes' name), for messages.
  const std::string& source() const noexcept;
  // SHA-256 of the key's bytes, 64 lower-case hex digits: how audit records name the key.
  const std::string& sha256_hex() const noexcept;
  // The token of the valid NHS number with this stem (is_valid_stem), 64 lower-case hex digits.
  // Errors: kInvalidArgument for a stem without a valid number; kInternal (OpenSSL).
  [[nodiscard]] Result<std::string> token(std::uint32_t stem) const;

  struct Impl;

 private:
  explicit PseudonymKey(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
  friend struct PseudonymAccess;
};

// The tokens of an index's applied lists under one key: the stems whose bit the index sets (the
// removed ones under deny lists, the kept ones under allow lists), each with its whole token (an
// entry), found through an open-addressing table of 8-byte slots (32 bits of the token and the
// entry) by the token's first 64 bits; a match compares all 32 bytes. Memory: 52 bytes per listed
// number, whatever the input (README, "Pseudonymised extracts"). Immutable and safe to share between
// threads; a filter run gets one through FilterOptions::tokens (run_filter() sets it from
// FilterRequest::pseudonym_key).
class OPTOUT_API TokenSet {
 public:
  // Hashes every listed stem of index with key, in parallel (threads 0: every core).
  // Errors: kInternal (OpenSSL, memory).
  [[nodiscard]] static Result<std::shared_ptr<const TokenSet>> create(const OptOutIndex& index, const PseudonymKey& key,
                                                                      unsigned threads = 0);
  // The same through this process's cache: the last set made for the same registry digest,
  // applied lists and key digest is returned again without hashing (bindings and Dask workers
  // filter many files with one registry). The cache holds one set; clear_cache() drops it (its
  // memory is freed once no run holds it) and says whether there was one.
  [[nodiscard]] static Result<std::shared_ptr<const TokenSet>> cached(const OptOutIndex& index,
                                                                      const PseudonymKey& key);
  static bool clear_cache() noexcept;

  TokenSet(const TokenSet&) = delete;
  TokenSet& operator=(const TokenSet&) = delete;
  ~TokenSet();

  // The number a token stands for, as far as the applied lists go, as the filter reads the
  // column's text (surrounding quotes already removed): ASCII whitespace around it is trimmed as
  // around an NHS number; then nothing left is kEmpty, a byte that is not a hex digit
  // kBadCharacter, and anything but 64 hex digits kWrongLength. A valid token of a listed number
  // gives that number's stem, any other valid token kUnlistedTokenStem; then
  // index.verdict(parsed) is the filter's verdict.
  ParsedNhsNumber parse(std::string_view text) const;

  // Whether this set was made from index (same registry digest and applied lists).
  bool built_for(const OptOutIndex& index) const noexcept;
  std::uint64_t size() const noexcept;          // tokens held
  std::uint64_t memory_bytes() const noexcept;  // the table's and the entries' size
  double build_seconds() const noexcept;        // the hashing and the table
  const std::string& key_sha256() const noexcept;

  struct Impl;

 private:
  explicit TokenSet(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
  friend struct detail::TokenAccess;
};

}  // namespace optout
