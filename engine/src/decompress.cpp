// Compressed input: the source that sniffs its first bytes and decompresses gzip (ISA-L), zstd
// (libzstd) or zip (libarchive), or passes plain text through with no copy. Decoding runs in the
// caller's read(), i.e. in the filter's serial read stage, overlapped with the parallel scan.
#include "decompress.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <isa-l/igzip_lib.h>
#include <xxhash.h>
#include <zstd.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "optout/io.hpp"
#include "tuning.hpp"

namespace optout {
namespace detail {

Compression sniff_compression(std::string_view first_bytes) noexcept {
  if (first_bytes.starts_with(std::string_view("\x1f\x8b", 2))) return Compression::kGzip;
  if (first_bytes.starts_with(std::string_view("\x28\xb5\x2f\xfd", 4))) return Compression::kZstd;
  // A local file header, or the end record of an empty zip.
  if (first_bytes.starts_with(std::string_view("PK\x03\x04", 4)) ||
      first_bytes.starts_with(std::string_view("PK\x05\x06", 4))) {
    return Compression::kZip;
  }
  return Compression::kNone;
}

const char* compression_name(Compression kind) noexcept {
  switch (kind) {
    case Compression::kGzip: return "gzip";
    case Compression::kZstd: return "zstd";
    case Compression::kZip: return "zip";
    case Compression::kNone: break;
  }
  return "none";
}

Result<Compression> sniff_file(const std::filesystem::path& path) {
  Result<ReadOnlyFile> file = ReadOnlyFile::open(path, /*nonblocking=*/true);
  if (!file.ok()) return file.status();
  if (!file->is_regular()) return Compression::kNone;
  char first[kSniffBytes];
  Result<std::size_t> n = file->read_at(first, sizeof first, 0);
  if (!n.ok()) return n.status();
  return sniff_compression(std::string_view(first, *n));
}

}  // namespace detail

namespace {

using detail::Compression;

// The compressed bytes: read from the source in fixed-size chunks, counted and digested.
class RawInput {
 public:
  // keep_tail: keep the last bytes read (tail()): a zip's end record is found there.
  RawInput(ByteSource& source, const char* first, std::size_t size, bool keep_tail)
      : source_(source),
        keep_tail_(keep_tail),
        capacity_(std::max(detail::kDecompressInputBytes, size)),
        buffer_(std::make_unique_for_overwrite<char[]>(capacity_)),
        hash_(XXH3_createState(), &XXH3_freeState) {
    if (!hash_ || XXH3_128bits_reset(hash_.get()) != XXH_OK) throw std::bad_alloc();
    std::memcpy(buffer_.get(), first, size);
    took(size);
  }

  const std::string& name() const { return source_.name(); }
  const char* data() const noexcept { return buffer_.get() + begin_; }
  std::size_t size() const noexcept { return end_ - begin_; }
  bool at_end() const noexcept { return eof_; }
  void consume(std::size_t n) noexcept { begin_ += n; }
  // The compressed offset of the next byte not yet consumed.
  std::uint64_t offset() const noexcept { return read_ - size(); }
  std::uint64_t bytes_read() const noexcept { return read_; }
  struct Digest {
    std::uint64_t high, low;
  };
  Digest digest() const noexcept {
    const XXH128_hash_t h = XXH3_128bits_digest(hash_.get());
    return {h.high64, h.low64};
  }

  // Reads the next chunk once what was read is consumed: false at the end of the input.
  Result<bool> refill() {
    if (size() > 0) return true;
    begin_ = end_ = 0;
    if (eof_) return false;
    Result<std::size_t> n = source_.read(buffer_.get(), capacity_);
    if (!n.ok()) return n.status();
    if (*n == 0) {
      eof_ = true;
      return false;
    }
    took(*n);
    return true;
  }

  const std::string& tail() const noexcept { return tail_; }

  // Reads the rest of the input, so that bytes_read() and digest() are the whole file's.
  Status drain() {
    for (;;) {
      begin_ = end_;
      Result<bool> more = refill();
      if (!more.ok()) return more.status();
      if (!*more) return Status();
    }
  }

 private:
  void took(std::size_t n) {
    (void)XXH3_128bits_update(hash_.get(), buffer_.get(), n);
    if (keep_tail_) {
      const std::size_t keep = std::min(n, kTailBytes);
      tail_.append(buffer_.get() + n - keep, keep);
      if (tail_.size() > kTailBytes) tail_.erase(0, tail_.size() - kTailBytes);
    }
    read_ += n;
    end_ = n;
  }

  ByteSource& source_;
  bool keep_tail_;
  std::size_t capacity_;
  std::unique_ptr<char[]> buffer_;
  std::unique_ptr<XXH3_state_t, decltype(&XXH3_freeState)> hash_;
  std::size_t begin_ = 0;
  std::size_t end_ = 0;
  std::uint64_t read_ = 0;
  bool eof_ = false;
  std::string tail_;
  // A zip's end of central directory record: 22 bytes and a comment of at most 65535.
  static constexpr std::size_t kTailBytes = 22 + 65535;
};

Status truncated(const RawInput& in, const char* kind, const char* inside) {
  return Status(ErrorCode::kInvalidInput, in.name() + ": truncated " + kind + " input: it ends at byte " +
                                              std::to_string(in.bytes_read()) + ", inside " + inside);
}

Status corrupt(const RawInput& in, const char* kind, std::uint64_t offset, std::string_view why) {
  return Status(ErrorCode::kInvalidInput,
                in.name() + ": corrupt " + kind + " input at byte " + std::to_string(offset) + ": " + std::string(why));
}

// Decompressed bytes, one read() at a time.
class Decoder {
 public:
  virtual ~Decoder() = default;
  // Up to capacity bytes into out; 0 only at the end of the stream (and then on every call).
  virtual Result<std::size_t> decode(char* out, std::size_t capacity) = 0;
};

// ISA-L's capacities are 32-bit.
std::uint32_t clamp32(std::size_t n) {
  return static_cast<std::uint32_t>(std::min<std::size_t>(n, std::numeric_limits<std::uint32_t>::max()));
}

// gzip: one member after another, each inflated with its header parsed and its trailer (CRC-32 and
// length) checked by ISA-L; anything after a member that is not another member is corrupt.
class GzipDecoder final : public Decoder {
 public:
  explicit GzipDecoder(RawInput& in) : in_(in), state_(std::make_unique<inflate_state>()) { start_member(); }

  Result<std::size_t> decode(char* out, std::size_t capacity) override {
    for (;;) {
      if (member_done_) {
        Result<bool> more = in_.refill();
        if (!more.ok()) return more.status();
        if (!*more) return std::size_t{0};  // the end, between members
        start_member();
      }
      Result<bool> more = in_.refill();
      if (!more.ok()) return more.status();
      const std::uint32_t given_in = clamp32(in_.size());
      const std::uint32_t given_out = clamp32(capacity);
      state_->next_in = reinterpret_cast<std::uint8_t*>(const_cast<char*>(in_.data()));
      state_->avail_in = given_in;
      state_->next_out = reinterpret_cast<std::uint8_t*>(out);
      state_->avail_out = given_out;
      const int ret = isal_inflate(state_.get());
      const std::uint32_t used = given_in - state_->avail_in;
      in_.consume(used);
      const std::uint32_t produced = given_out - state_->avail_out;
      if (ret < 0) return corrupt(in_, "gzip", in_.offset(), why(ret));
      if (state_->block_state == ISAL_BLOCK_FINISH) member_done_ = true;
      if (produced > 0) return std::size_t{produced};
      if (member_done_) continue;
      if (in_.size() == 0 && in_.at_end()) return truncated(in_, "gzip", "a member");
      if (used == 0 && in_.size() > 0) return corrupt(in_, "gzip", in_.offset(), "no progress");
    }
  }

 private:
  void start_member() {
    isal_inflate_init(state_.get());
    state_->crc_flag = ISAL_GZIP;
    member_done_ = false;
  }
  static const char* why(int ret) {
    switch (ret) {
      case ISAL_INVALID_BLOCK: return "invalid deflate block";
      case ISAL_INVALID_SYMBOL: return "invalid deflate symbol";
      case ISAL_INVALID_LOOKBACK: return "invalid back-reference distance";
      case ISAL_INVALID_WRAPPER: return "not a gzip member header";
      case ISAL_UNSUPPORTED_METHOD: return "unsupported compression method";
      case ISAL_INCORRECT_CHECKSUM: return "checksum mismatch";
      default: return "undecodable data";
    }
  }

  RawInput& in_;
  std::unique_ptr<inflate_state> state_;  // ~ 40 KiB: history and tables
  bool member_done_ = false;
};

// zstd: one frame after another (skippable frames skipped), each checked against its content
// checksum when it has one. Windows over zstd's default limit (2^27 bytes) are refused, which
// bounds memory.
class ZstdDecoder final : public Decoder {
 public:
  explicit ZstdDecoder(RawInput& in) : in_(in), context_(ZSTD_createDCtx(), &ZSTD_freeDCtx) {
    if (!context_) throw std::bad_alloc();
  }

  Result<std::size_t> decode(char* out, std::size_t capacity) override {
    for (;;) {
      Result<bool> more = in_.refill();
      if (!more.ok()) return more.status();
      if (!*more && frame_done_) return std::size_t{0};
      ZSTD_inBuffer input{in_.data(), in_.size(), 0};
      ZSTD_outBuffer output{out, capacity, 0};
      const std::size_t ret = ZSTD_decompressStream(context_.get(), &output, &input);
      in_.consume(input.pos);
      if (ZSTD_isError(ret)) return corrupt(in_, "zstd", in_.offset(), ZSTD_getErrorName(ret));
      frame_done_ = ret == 0;
      if (output.pos > 0) return output.pos;
      if (in_.size() == 0 && in_.at_end()) {
        if (frame_done_) return std::size_t{0};
        return truncated(in_, "zstd", "a frame");
      }
      if (input.pos == 0 && in_.size() > 0) return corrupt(in_, "zstd", in_.offset(), "no progress");
    }
  }

 private:
  RawInput& in_;
  std::unique_ptr<ZSTD_DCtx, decltype(&ZSTD_freeDCtx)> context_;
  bool frame_done_ = false;
};

// zip: read as a stream (libarchive's streaming zip reader, fed from the source, so standard input
// works too): the one file entry, or the entry named. Directories are not counted as entries.
class ZipDecoder final : public Decoder {
 public:
  ZipDecoder(RawInput& in, std::optional<std::string> entry)
      : in_(in), entry_(std::move(entry)), archive_(archive_read_new(), &archive_read_free) {
    if (!archive_) throw std::bad_alloc();
  }

  // Whether tail (the input's last bytes) ends with an end of central directory record. The
  // streaming reader stops at the central directory, so a zip cut inside it would pass unseen.
  static bool ends_whole(const std::string& tail) {
    for (std::size_t at = tail.size() >= 22 ? tail.size() - 22 + 1 : 0; at-- > 0;) {
      if (tail.compare(at, 4, std::string_view("PK\x05\x06", 4)) != 0) continue;
      const std::size_t comment = static_cast<unsigned char>(tail[at + 20]) |
                                  (static_cast<std::size_t>(static_cast<unsigned char>(tail[at + 21])) << 8);
      if (at + 22 + comment == tail.size()) return true;
    }
    return false;
  }

  Result<std::size_t> decode(char* out, std::size_t capacity) override {
    if (!opened_) {
      opened_ = true;
      if (Status s = open(); !s.ok()) return s;
    }
    if (done_) return std::size_t{0};
    const la_ssize_t n = archive_read_data(archive_.get(), out, capacity);
    if (n < 0) return failed();
    if (n > 0) return static_cast<std::size_t>(n);
    done_ = true;
    if (!entry_) {
      // The entry read must have been the only one.
      Result<std::uint64_t> rest = count_entries();
      if (!rest.ok()) return rest.status();
      if (*rest > 0) {
        return Status(ErrorCode::kInvalidInput, in_.name() + ": the zip holds " + std::to_string(*rest + 1) +
                                                    " entries: choose one with --entry NAME");
      }
    }
    if (Status s = in_.drain(); !s.ok()) return s;
    if (!ends_whole(in_.tail())) return truncated(in_, "zip", "its central directory");
    return std::size_t{0};
  }

 private:
  static la_ssize_t read_callback(struct archive* archive, void* self, const void** buffer) {
    auto* zip = static_cast<ZipDecoder*>(self);
    zip->in_.consume(zip->in_.size());
    Result<bool> more = zip->in_.refill();
    if (!more.ok()) {
      zip->source_error_ = more.status();
      archive_set_error(archive, EIO, "read failed");
      return -1;
    }
    *buffer = zip->in_.data();
    return static_cast<la_ssize_t>(zip->in_.size());
  }

  // The source's own error, or libarchive's, as kInvalidInput at the bytes read so far.
  Status failed() {
    if (!source_error_.ok()) return source_error_;
    const char* text = archive_error_string(archive_.get());
    return corrupt(in_, "zip", in_.bytes_read(), redact_numbers(text != nullptr ? text : "unreadable archive"));
  }

  Status open() {
    // The sniffed bytes are the first chunk read_callback hands over: it consumes only on its
    // next call, so it starts with what RawInput holds.
    first_ = true;
    if (archive_read_support_format_zip(archive_.get()) != ARCHIVE_OK ||
        archive_read_open(archive_.get(), this, nullptr, &ZipDecoder::first_read, nullptr) != ARCHIVE_OK) {
      return failed();
    }
    std::uint64_t seen = 0;
    for (;;) {
      Result<bool> next = next_file_entry();
      if (!next.ok()) return next.status();
      if (!*next) break;
      ++seen;
      const char* path = archive_entry_pathname(entry_header_);
      if (!entry_ || (path != nullptr && *entry_ == path)) return Status();
    }
    if (entry_) {
      return Status(ErrorCode::kNotFound, in_.name() + ": the zip has no entry '" + redact_numbers(*entry_) +
                                              "' (it has " + std::to_string(seen) + " entries)");
    }
    return Status(ErrorCode::kInvalidInput, in_.name() + ": the zip holds no file entries");
  }

  // The first callback hands over what RawInput already holds (the sniffed bytes).
  static la_ssize_t first_read(struct archive* archive, void* self, const void** buffer) {
    auto* zip = static_cast<ZipDecoder*>(self);
    if (zip->first_) {
      zip->first_ = false;
      *buffer = zip->in_.data();
      return static_cast<la_ssize_t>(zip->in_.size());
    }
    return read_callback(archive, self, buffer);
  }

  // Moves to the next regular-file entry: false at the end of the archive.
  Result<bool> next_file_entry() {
    for (;;) {
      const int ret = archive_read_next_header(archive_.get(), &entry_header_);
      if (ret == ARCHIVE_EOF) return false;
      if (ret < ARCHIVE_WARN) return failed();
      if (archive_entry_filetype(entry_header_) == AE_IFREG) return true;
    }
  }

  Result<std::uint64_t> count_entries() {
    std::uint64_t count = 0;
    for (;;) {
      Result<bool> next = next_file_entry();
      if (!next.ok()) return next.status();
      if (!*next) return count;
      ++count;
    }
  }

  RawInput& in_;
  std::optional<std::string> entry_;
  std::unique_ptr<struct archive, decltype(&archive_read_free)> archive_;
  struct archive_entry* entry_header_ = nullptr;
  Status source_error_;
  bool opened_ = false;
  bool first_ = true;
  bool done_ = false;
};

class DecompressingSource final : public ByteSource {
 public:
  DecompressingSource(std::unique_ptr<ByteSource> source, std::optional<std::string> entry)
      : source_(std::move(source)), entry_(std::move(entry)) {}

  Result<std::size_t> read(char* buffer, std::size_t capacity) override {
    switch (state_) {
      case State::kPlain:
        if (replay_ < head_size_) {
          const std::size_t n = std::min(capacity, head_size_ - replay_);
          std::memcpy(buffer, head_ + replay_, n);
          replay_ += n;
          return n;
        }
        return source_->read(buffer, capacity);
      case State::kDecoding: {
        Result<std::size_t> n = decoder_->decode(buffer, capacity);
        if (!n.ok()) fail(n.status());
        return n;
      }
      case State::kFailed: return failure_;
      case State::kStart: break;
    }
    return start(buffer, capacity);
  }

  const std::string& name() const override { return source_->name(); }
  std::uint64_t line_in_file(std::uint64_t line) const noexcept override { return source_->line_in_file(line); }
  std::optional<CompressedInput> compressed_input() const override {
    if (!input_) return std::nullopt;
    CompressedInput info;
    info.format = detail::compression_name(kind_);
    info.bytes = input_->bytes_read();
    const RawInput::Digest digest = input_->digest();
    info.digest_high = digest.high;
    info.digest_low = digest.low;
    return info;
  }

 private:
  enum class State { kStart, kPlain, kDecoding, kFailed };

  void fail(Status status) {
    state_ = State::kFailed;
    failure_ = std::move(status);
  }

  // Reads the first bytes (into the caller's buffer when it can hold them: no copy for plain
  // text), tells their kind, and reads on as that kind.
  Result<std::size_t> start(char* buffer, std::size_t capacity) {
    const bool in_place = capacity >= detail::kSniffBytes;
    char* first = in_place ? buffer : head_;
    const std::size_t room = in_place ? capacity : detail::kSniffBytes;
    std::size_t got = 0;
    while (got < detail::kSniffBytes) {
      Result<std::size_t> n = source_->read(first + got, room - got);
      if (!n.ok()) {
        fail(n.status());
        return failure_;
      }
      if (*n == 0) break;
      got += *n;
    }
    kind_ = detail::sniff_compression(std::string_view(first, got));
    if (entry_ && kind_ != Compression::kZip) {
      fail(Status(ErrorCode::kInvalidArgument,
                  name() + ": not a zip, so it has no entry '" + redact_numbers(*entry_) + "'"));
      return failure_;
    }
    if (kind_ == Compression::kNone) {
      state_ = State::kPlain;
      if (in_place) return got;
      head_size_ = got;
      return read(buffer, capacity);
    }
    try {
      input_ = std::make_unique<RawInput>(*source_, first, got, kind_ == Compression::kZip);
      switch (kind_) {
        case Compression::kGzip: decoder_ = std::make_unique<GzipDecoder>(*input_); break;
        case Compression::kZstd: decoder_ = std::make_unique<ZstdDecoder>(*input_); break;
        default: decoder_ = std::make_unique<ZipDecoder>(*input_, entry_); break;
      }
    } catch (const std::bad_alloc&) {
      fail(Status(ErrorCode::kInternal, name() + ": out of memory for the decompressor"));
      return failure_;
    }
    state_ = State::kDecoding;
    return read(buffer, capacity);
  }

  std::unique_ptr<ByteSource> source_;
  std::optional<std::string> entry_;
  State state_ = State::kStart;
  Status failure_;
  Compression kind_ = Compression::kNone;
  char head_[detail::kSniffBytes] = {};  // the first bytes, when the first read() was smaller
  std::size_t head_size_ = 0;
  std::size_t replay_ = 0;
  std::unique_ptr<RawInput> input_;
  std::unique_ptr<Decoder> decoder_;
};

}  // namespace

std::unique_ptr<ByteSource> make_decompressing_source(std::unique_ptr<ByteSource> source,
                                                      std::optional<std::string> entry) {
  return std::make_unique<DecompressingSource>(std::move(source), std::move(entry));
}

}  // namespace optout
