// Pseudonym keys and token sets (pseudonym.hpp): HMAC-SHA256 through OpenSSL 3's EVP_MAC (one
// context per task, keyed once and re-initialised with a NULL key per token, which reuses the
// keyed state), the listed stems hashed in parallel with oneTBB into a lock-free open-addressing
// table (kernel/token_probe.hpp reads it).
#include "optout/pseudonym.hpp"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/sha.h>
#include <tbb/blocked_range.h>
#include <tbb/global_control.h>
#include <tbb/parallel_for.h>
#include <tbb/parallel_reduce.h>
#include <tbb/task_arena.h>

#include <sys/mman.h>

#include <atomic>
#include <cerrno>
#include <bit>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <optional>

#include "kernel/probe.hpp"
#include "kernel/token_probe.hpp"
#include "optout/io.hpp"
#include "optout/signing.hpp"

namespace optout {

// ---- Keys ---------------------------------------------------------------------------------------

struct PseudonymKey::Impl {
  std::vector<std::uint8_t> bytes;
  std::string source;
  std::string sha256;
  ~Impl() {
    if (!bytes.empty()) OPENSSL_cleanse(bytes.data(), bytes.size());
  }
};

struct PseudonymAccess {
  static const std::vector<std::uint8_t>& bytes(const PseudonymKey& key) { return key.impl_->bytes; }
  static PseudonymKey make(std::unique_ptr<PseudonymKey::Impl> impl) { return PseudonymKey(std::move(impl)); }
};

namespace {

std::string size_rule() {
  return "a key is " + std::to_string(kPseudonymKeyMinBytes) + " to " + std::to_string(kPseudonymKeyMaxBytes) +
         " bytes: the file's bytes, exactly";
}

struct MacDeleter {
  void operator()(EVP_MAC* m) const noexcept { EVP_MAC_free(m); }
};
struct MacCtxDeleter {
  void operator()(EVP_MAC_CTX* c) const noexcept { EVP_MAC_CTX_free(c); }
};
using Mac = std::unique_ptr<EVP_MAC, MacDeleter>;
using MacCtx = std::unique_ptr<EVP_MAC_CTX, MacCtxDeleter>;

// A context keyed with key, or null when OpenSSL fails.
MacCtx keyed_context(std::span<const std::uint8_t> key) {
  static EVP_MAC* const mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);  // shared, thread-safe, kept
  if (mac == nullptr) return nullptr;
  MacCtx ctx(EVP_MAC_CTX_new(mac));
  if (!ctx) return nullptr;
  char digest[] = "SHA256";
  const OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
                               OSSL_PARAM_construct_end()};
  if (EVP_MAC_init(ctx.get(), key.data(), key.size(), params) != 1) return nullptr;
  return ctx;
}

// The token of a valid stem with a keyed context: false when OpenSSL fails.
bool token_of(EVP_MAC_CTX* ctx, std::uint32_t stem, std::uint8_t (&out)[32]) noexcept {
  char digits[kMaxFormattedBytes];
  const std::size_t n = format_nhs_number(stem, digits);
  std::size_t length = 0;
  return EVP_MAC_init(ctx, nullptr, 0, nullptr) == 1 &&
         EVP_MAC_update(ctx, reinterpret_cast<const unsigned char*>(digits), n) == 1 &&
         EVP_MAC_final(ctx, out, &length, sizeof out) == 1 && length == sizeof out;
}

// The key of bytes (their size already checked), named name; bytes are wiped.
PseudonymKey make_key(std::vector<std::uint8_t>& bytes, std::string name) {
  auto impl = std::make_unique<PseudonymKey::Impl>();
  impl->bytes = bytes;
  OPENSSL_cleanse(bytes.data(), bytes.size());
  impl->source = std::move(name);
  std::uint8_t digest[SHA256_DIGEST_LENGTH];
  SHA256(impl->bytes.data(), impl->bytes.size(), digest);
  impl->sha256 = to_hex(digest);
  return PseudonymAccess::make(std::move(impl));
}

bool key_size_ok(std::uint64_t size) { return size >= kPseudonymKeyMinBytes && size <= kPseudonymKeyMaxBytes; }

}  // namespace

PseudonymKey::PseudonymKey(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
PseudonymKey::PseudonymKey(PseudonymKey&&) noexcept = default;
PseudonymKey& PseudonymKey::operator=(PseudonymKey&&) noexcept = default;
PseudonymKey::PseudonymKey(const PseudonymKey& other) : impl_(std::make_unique<Impl>(*other.impl_)) {}
PseudonymKey& PseudonymKey::operator=(const PseudonymKey& other) {
  if (this != &other) impl_ = std::make_unique<Impl>(*other.impl_);
  return *this;
}
PseudonymKey::~PseudonymKey() = default;

const std::string& PseudonymKey::source() const noexcept { return impl_->source; }
const std::string& PseudonymKey::sha256_hex() const noexcept { return impl_->sha256; }

Result<std::string> PseudonymKey::token(std::uint32_t stem) const {
  if (!is_valid_stem(stem)) return Status(ErrorCode::kInvalidArgument, "not the stem of a valid NHS number");
  MacCtx ctx = keyed_context(impl_->bytes);
  std::uint8_t raw[32];
  if (!ctx || !token_of(ctx.get(), stem, raw)) return Status(ErrorCode::kInternal, "OpenSSL cannot compute an HMAC");
  return to_hex(raw);
}

Result<PseudonymKey> PseudonymKey::read(const std::filesystem::path& path) {
  const std::string name = path.string();
  Result<ReadOnlyFile> opened = ReadOnlyFile::open(path, /*nonblocking=*/true);
  if (!opened.ok()) return opened.status();
  if (Status s = opened->require_regular(); !s.ok()) return s;
  const std::uint64_t size = opened->size();
  if (!key_size_ok(size)) {
    // A size of 10 digits would look like an NHS number: a large file is only "more than".
    const std::string found = size > kPseudonymKeyMaxBytes
                                  ? "more than " + std::to_string(kPseudonymKeyMaxBytes) + " bytes"
                                  : std::to_string(size) + (size == 1 ? " byte" : " bytes");
    return Status(ErrorCode::kInvalidInput, name + ": not a pseudonym key (" + found + "; " + size_rule() + ")");
  }
  std::vector<std::uint8_t> bytes(size);
  Status s = opened->read_exactly(reinterpret_cast<char*>(bytes.data()), bytes.size(), 0);
  if (s.ok()) s = opened->check_unchanged();
  if (!s.ok()) {
    OPENSSL_cleanse(bytes.data(), bytes.size());
    return s;
  }
  return make_key(bytes, name);
}

Result<PseudonymKey> PseudonymKey::from_bytes(std::span<const std::uint8_t> bytes, std::string name) {
  if (!key_size_ok(bytes.size())) {
    return Status(ErrorCode::kInvalidArgument, name + ": not a pseudonym key (" + size_rule() + ")");
  }
  std::vector<std::uint8_t> copy(bytes.begin(), bytes.end());
  return make_key(copy, std::move(name));
}

// ---- Token sets ---------------------------------------------------------------------------------

// A mapping of count T's, zeroed lazily, huge pages advised (random reads, as the index's bits).
template <typename T>
class Mapped {
 public:
  Mapped() = default;
  Mapped(const Mapped&) = delete;
  Mapped& operator=(const Mapped&) = delete;
  ~Mapped() {
    if (data_ != nullptr) munmap(data_, bytes_);
  }
  Status map(std::uint64_t count) {
    bytes_ = std::max<std::uint64_t>(count, 1) * sizeof(T);
    void* mapping = mmap(nullptr, bytes_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (mapping == MAP_FAILED) {
      return Status(ErrorCode::kInternal, std::string("cannot map the token table: ") + std::strerror(errno));
    }
    madvise(mapping, bytes_, MADV_HUGEPAGE);
    data_ = static_cast<T*>(mapping);
    return Status();
  }
  T* data() const noexcept { return data_; }
  std::uint64_t bytes() const noexcept { return data_ != nullptr ? bytes_ : 0; }

 private:
  T* data_ = nullptr;
  std::uint64_t bytes_ = 0;
};

struct TokenSet::Impl {
  PseudonymKey key;
  Mapped<std::uint64_t> slots;  // capacity slots (token_probe.hpp)
  std::uint64_t capacity = 0;
  Mapped<std::uint64_t> tokens;  // 4 words an entry: each token whole
  Mapped<std::uint32_t> stems;   // an entry's stem
  std::uint64_t size = 0;
  Digest128 registry_digest;
  std::vector<std::string> lists;
  double seconds = 0;

  explicit Impl(const PseudonymKey& k) : key(k) {}
};

TokenSet::TokenSet(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
TokenSet::~TokenSet() = default;

detail::TokenTable detail::TokenAccess::table(const TokenSet& set) noexcept {
  return {set.impl_->slots.data(), set.impl_->capacity, set.impl_->tokens.data(), set.impl_->stems.data(),
          set.impl_->size > 0 ? set.impl_->stems.data()[0] : kUnlistedTokenStem};
}

namespace {

constexpr std::size_t kIndexWords = (kStemLimit + 63) / 64;
constexpr std::size_t kWordsPerTask = std::size_t{1} << 14;  // 1 M stems a task

}  // namespace

Result<std::shared_ptr<const TokenSet>> TokenSet::create(const OptOutIndex& index, const PseudonymKey& key,
                                                         unsigned threads) {
  const auto started = std::chrono::steady_clock::now();
  const detail::IndexBits bits = detail::IndexAccess::bits(index);
  if ((bits.bits[kUnlistedTokenStem >> 6] >> (kUnlistedTokenStem & 63)) & 1) {
    return Status(ErrorCode::kInternal, index.registry_source() + ": the index lists stem 0");
  }
  auto impl = std::make_unique<Impl>(key);
  impl->registry_digest = index.registry_digest();
  impl->lists = index.applied_lists();
  // A caller's thread count gets its own arena; by default the work runs in the caller's.
  std::optional<tbb::task_arena> own;
  if (threads > 0) own.emplace(static_cast<int>(threads));
  const auto run = [&](auto&& work) {
    if (own) {
      own->execute(work);
    } else {
      work();
    }
  };

  const tbb::blocked_range<std::size_t> words(0, kIndexWords, kWordsPerTask);
  std::uint64_t listed = 0;
  run([&] {
    listed = tbb::parallel_reduce(
        words, std::uint64_t{0},
        [&](const tbb::blocked_range<std::size_t>& r, std::uint64_t n) {
          for (std::size_t w = r.begin(); w < r.end(); ++w) n += static_cast<unsigned>(std::popcount(bits.bits[w]));
          return n;
        },
        std::plus<>());
  });
  // Load at most 0.5: a miss probes 2.5 slots on average (at 0.7, 6: often into a second line).
  // Each token is kept whole (32 bytes), so that a lookup compares it instead of computing an HMAC
  // again (0.75 us a candidate: every row of a run whose allow list holds most patients).
  if (listed >= detail::kTokenEntryMask) return Status(ErrorCode::kInternal, "too many numbers for the token table");
  impl->capacity = 2 * listed + 16;
  for (Status s : {impl->slots.map(impl->capacity), impl->tokens.map(4 * listed), impl->stems.map(listed)}) {
    if (!s.ok()) return s;
  }
  const detail::TokenTable table{impl->slots.data(), impl->capacity, impl->tokens.data(), impl->stems.data(),
                                 kUnlistedTokenStem};
  std::uint64_t* const slots = impl->slots.data();
  std::uint64_t* const tokens = impl->tokens.data();
  std::uint32_t* const stems = impl->stems.data();
  std::atomic<bool> failed{false};
  std::atomic<std::uint64_t> next_entry{0};
  const std::vector<std::uint8_t>& key_bytes = PseudonymAccess::bytes(key);
  // Each task hashes a batch of stems, prefetching each one's home slot, then stores the batch:
  // the slots' cache misses overlap the hashing instead of following it.
  constexpr std::size_t kInsertBatch = 16;
  const auto insert = [&](std::size_t i, std::uint64_t slot_word) {
    for (;;) {
      std::atomic_ref<std::uint64_t> slot(slots[i]);
      std::uint64_t expected = 0;
      if (slot.load(std::memory_order_relaxed) == 0 &&
          slot.compare_exchange_strong(expected, slot_word, std::memory_order_relaxed)) {
        return;
      }
      if (++i == impl->capacity) i = 0;
    }
  };
  run([&] {
    tbb::parallel_for(words, [&](const tbb::blocked_range<std::size_t>& r) {
      MacCtx ctx;
      std::size_t homes[kInsertBatch];
      std::uint64_t token_words[kInsertBatch][4];
      std::uint32_t batch_stems[kInsertBatch];
      std::size_t pending = 0;
      const auto flush = [&] {
        const std::uint64_t base = next_entry.fetch_add(pending, std::memory_order_relaxed);
        for (std::size_t k = 0; k < pending; ++k) {
          const std::uint64_t entry = base + k;
          std::memcpy(tokens + 4 * entry, token_words[k], sizeof token_words[k]);
          stems[entry] = batch_stems[k];
          insert(homes[k], detail::token_slot_word(token_words[k][1], entry));
        }
        pending = 0;
      };
      for (std::size_t w = r.begin(); w < r.end(); ++w) {
        for (std::uint64_t word = bits.bits[w]; word != 0; word &= word - 1) {
          const auto stem = static_cast<std::uint32_t>(w * 64 + static_cast<unsigned>(std::countr_zero(word)));
          if (!ctx) ctx = keyed_context(key_bytes);
          std::uint8_t raw[32];
          if (!ctx || !token_of(ctx.get(), stem, raw)) {
            failed.store(true);
            return;
          }
          for (std::size_t q = 0; q < 4; ++q) token_words[pending][q] = detail::token_word(raw + 8 * q);
          batch_stems[pending] = stem;
          homes[pending] = table.home(token_words[pending][0]);
          __builtin_prefetch(slots + homes[pending], 1);
          if (++pending == kInsertBatch) flush();
        }
      }
      flush();
    });
  });
  if (failed.load()) return Status(ErrorCode::kInternal, "OpenSSL cannot compute an HMAC");
  impl->size = next_entry.load();
  if (impl->size != listed) return Status(ErrorCode::kInternal, "the token table lost a token");
  impl->seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  return std::shared_ptr<const TokenSet>(new TokenSet(std::move(impl)));
}

namespace {

struct TokenCache {
  std::mutex mutex;
  std::shared_ptr<const TokenSet> last;
  std::string key_sha256;
};

TokenCache& token_cache() {
  static TokenCache* cache = new TokenCache();  // never destroyed: a set may outlive static teardown
  return *cache;
}

}  // namespace

Result<std::shared_ptr<const TokenSet>> TokenSet::cached(const OptOutIndex& index, const PseudonymKey& key) {
  TokenCache& cache = token_cache();
  std::lock_guard lock(cache.mutex);  // one build at a time; others wait for it and share it
  if (cache.last && cache.key_sha256 == key.sha256_hex() && cache.last->built_for(index)) return cache.last;
  cache.last.reset();  // its memory goes before the next set's is taken
  Result<std::shared_ptr<const TokenSet>> made = create(index, key);
  if (!made.ok()) return made.status();
  cache.last = *made;
  cache.key_sha256 = key.sha256_hex();
  return made;
}

bool TokenSet::clear_cache() noexcept {
  TokenCache& cache = token_cache();
  std::lock_guard lock(cache.mutex);
  const bool held = cache.last != nullptr;
  cache.last.reset();
  return held;
}

ParsedNhsNumber TokenSet::parse(std::string_view text) const {
  const detail::TokenKey key = detail::parse_token_key(text);
  if (key.reason != InvalidReason::kNone) return {0, key.reason};
  return {detail::TokenAccess::table(*this).find(key), InvalidReason::kNone};
}

bool TokenSet::built_for(const OptOutIndex& index) const noexcept {
  return impl_->registry_digest == index.registry_digest() && impl_->lists == index.applied_lists();
}

std::uint64_t TokenSet::size() const noexcept { return impl_->size; }
std::uint64_t TokenSet::memory_bytes() const noexcept {
  return impl_->slots.bytes() + impl_->tokens.bytes() + impl_->stems.bytes();
}
double TokenSet::build_seconds() const noexcept { return impl_->seconds; }
const std::string& TokenSet::key_sha256() const noexcept { return impl_->key.sha256_hex(); }

}  // namespace optout
