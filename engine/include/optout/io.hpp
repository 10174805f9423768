// Bytes in and out: the sources the engine reads, the sinks it writes, the one read-only file
// helper, and files written so that a failed or killed run never leaves a complete-looking output.
// The lowest layer above status.hpp: it knows files and streams, not CSV or NHS numbers.
#pragma once

#include <sys/stat.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <iosfwd>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "optout/export.hpp"
#include "optout/status.hpp"

namespace optout {

// What a decompressing source (make_decompressing_source) read of its compressed input.
struct CompressedInput {
  const char* format = "";  // "gzip", "zstd" or "zip"
  std::uint64_t bytes = 0;  // compressed bytes read
  // XXH3-128 of those bytes, high half first: the compressed file's digest once read to its end.
  std::uint64_t digest_high = 0;
  std::uint64_t digest_low = 0;
};

// ---- Streams ------------------------------------------------------------------------------------

// Where a run reads from. read() returns the bytes read (0 at end of input) or an error.
class OPTOUT_API ByteSource {
 public:
  virtual ~ByteSource() = default;
  virtual Result<std::size_t> read(char* buffer, std::size_t capacity) = 0;
  // Used in messages, e.g. "extract.csv" or "<stdin>".
  virtual const std::string& name() const = 0;
  // The line of name() that the source's 1-based line `line` is. The same for a whole file; a
  // source that reads a piece of a file after its header (open_piece_source) maps the piece's
  // lines to the file's, so that messages name the line `optout filter` on the file would.
  virtual std::uint64_t line_in_file(std::uint64_t line) const noexcept { return line; }
  // For a source that decompresses (make_decompressing_source) what it read of the compressed
  // input so far; nullopt for one that read plain bytes (or has not read yet).
  virtual std::optional<CompressedInput> compressed_input() const { return std::nullopt; }
};

// Where a run writes. write() writes every span, in order, or returns an error (kBrokenPipe when
// the reader went away, kIoError otherwise).
class OPTOUT_API ByteSink {
 public:
  virtual ~ByteSink() = default;
  virtual Status write(std::span<const std::string_view> spans) = 0;
  virtual const std::string& name() const = 0;
};

// A source over a file descriptor the caller owns (a file, a pipe, a socket).
OPTOUT_API std::unique_ptr<ByteSource> make_fd_source(int fd, std::string name);
// A source that opens and owns the file at path ("-": standard input, named "<stdin>"), through
// make_decompressing_source(): the one function every reader opens its input with. A regular
// file is checked at its end (ReadOnlyFile::check_unchanged): a file changed while it was read is
// kIoError, never a complete-looking input. Errors: kIoError naming the file; then, from read(),
// those of make_decompressing_source().
[[nodiscard]] OPTOUT_API Result<std::unique_ptr<ByteSource>> open_file_source(
    const std::filesystem::path& path, const std::optional<std::string>& entry = std::nullopt);

// A source that reads source's bytes decompressed when its first bytes show gzip (one member or
// several, each CRC-checked; ISA-L), zstd (one frame or several; libzstd) or zip (libarchive; one
// entry, or the one named entry), and passes any other input through untouched, with no copy
// (bzip2, xz and lz4 then fail the readers' text check, check_text_input). Told by content,
// never by name; standard input as well as files. It reads nothing until its first read().
// Memory is fixed-size buffers (at most zstd's 128 MiB window limit), whatever the input. Lines
// of the text are counted by the reader as ever: of the decompressed text.
// entry: the zip entry to read; required when the zip holds more than one file entry.
// read() errors, besides source's own: kInvalidInput "NAME: truncated gzip input: it ends at byte
// N, inside a member" / "NAME: corrupt gzip input at byte N: ..." (N: the compressed offset; the
// same for zstd and zip; a zip must end in its end of central directory record) and "NAME: the
// zip holds K entries: choose one with --entry NAME";
// kNotFound "NAME: the zip has no entry 'X' (it has K entries)"; kInvalidArgument "NAME: not a
// zip, so it has no entry 'X'" when entry is given for input that is not a zip.
// Entry names in messages pass through redact_numbers().
OPTOUT_API std::unique_ptr<ByteSource> make_decompressing_source(std::unique_ptr<ByteSource> source,
                                                                 std::optional<std::string> entry = std::nullopt);
// A sink over a file descriptor the caller owns. When it is a pipe its buffer is enlarged.
OPTOUT_API std::unique_ptr<ByteSink> make_fd_sink(int fd, std::string name);
// A source over a std::istream (kept by reference), and a sink appending to a std::string.
OPTOUT_API std::unique_ptr<ByteSource> make_istream_source(std::istream& in, std::string name);
OPTOUT_API std::unique_ptr<ByteSink> make_string_sink(std::string& out, std::string name);

// ---- Reading files ------------------------------------------------------------------------------

// A file opened read-only (O_CLOEXEC), closed on destruction: the one place the engine opens,
// stats and reads a file by path, so every reader words its errors the same way ("NAME: cannot
// open: ...", "NAME: read failed: ...", "NAME: the file changed while it was read"). Move-only.
class OPTOUT_API ReadOnlyFile {
 public:
  // nonblocking: O_NONBLOCK, so that opening a FIFO without a writer does not wait for one (for
  // readers that refuse anything but a regular file; a stream reader needs blocking reads).
  // Errors: kIoError "PATH: cannot open: why" / "PATH: cannot stat: why".
  [[nodiscard]] static Result<ReadOnlyFile> open(const std::filesystem::path& path, bool nonblocking = false);
  ReadOnlyFile(ReadOnlyFile&& other) noexcept;
  ReadOnlyFile& operator=(ReadOnlyFile&&) = delete;
  ~ReadOnlyFile();

  int fd() const noexcept { return fd_; }
  const std::string& name() const noexcept { return name_; }
  bool is_regular() const noexcept { return S_ISREG(opened_.st_mode); }
  // The size at open (regular files; 0 for pipes and devices).
  std::uint64_t size() const noexcept { return static_cast<std::uint64_t>(opened_.st_size); }
  // kIoError "NAME: Is a directory" / "NAME: not a regular file" unless it is a regular file (the
  // only kind with a size to bound a read by).
  [[nodiscard]] Status require_regular() const;
  // Reads up to capacity bytes from the current position (a pipe's or device's too); 0 at the end.
  [[nodiscard]] Result<std::size_t> read(char* buffer, std::size_t capacity) const;
  // Reads up to size bytes at offset; fewer only at the end of the file. Errors: kIoError.
  [[nodiscard]] Result<std::size_t> read_at(char* buffer, std::size_t size, std::uint64_t offset) const;
  // Reads exactly size bytes at offset; a short read is changed_while_read().
  [[nodiscard]] Status read_exactly(char* buffer, std::size_t size, std::uint64_t offset) const;
  // kIoError changed_while_read() when fstat shows another file, size or modification time than
  // at open (to the kernel's timestamp granularity): bytes read may mix two versions of the file.
  [[nodiscard]] Status check_unchanged() const;
  Status changed_while_read() const;

 private:
  ReadOnlyFile(int fd, std::string name, const struct stat& opened);
  int fd_;
  std::string name_;
  struct stat opened_ {};
};

// ---- Writing files ------------------------------------------------------------------------------

// An output file written to a temporary file in the same directory (".NAME.tmp-XXXXXX") and
// renamed over NAME only by commit(). Destroying it before commit() removes the temporary file,
// so NAME is either absent, its old self, or complete. A NAME that exists and is not a regular
// file (/dev/null, /dev/stdout, a FIFO) is written in place instead, since renaming over it would
// replace the device. Move-only; not thread-safe.
class OPTOUT_API AtomicFile {
 public:
  // Errors: kInvalidArgument for an empty path (never taken as standard output); kIoError naming
  // the directory (missing, not writable).
  [[nodiscard]] static Result<AtomicFile> create(const std::filesystem::path& path);

  AtomicFile(AtomicFile&&) noexcept;
  AtomicFile& operator=(AtomicFile&&) noexcept;
  ~AtomicFile();

  int fd() const noexcept;
  // A sink over fd(), named after the final path.
  ByteSink& sink() noexcept;
  // Writes all of bytes (for small files: stats, lists of numbers).
  [[nodiscard]] Status write_all(std::string_view bytes);
  // Closes and renames into place; with durable, fsyncs the file and its directory first. When
  // that fails the temporary file is removed and the message says so, or names it when it could
  // not be removed ("clean.csv: rename failed: Permission denied; its temporary file
  // out/.clean.csv.tmp-1a2b3c4d could not be removed: Permission denied").
  [[nodiscard]] Status commit(bool durable = false);
  // Before commit(): closes and removes the temporary file. Errors: kIoError naming the file
  // left behind.
  [[nodiscard]] Status discard();
  // After commit(): removes the file put in place (a run rolled back after a later step failed);
  // nothing to do for a file written in place. Errors: kIoError naming the file left behind.
  [[nodiscard]] Status take_back();
  // The temporary file's path; empty for a file written in place.
  const std::filesystem::path& temp_path() const noexcept;

 private:
  struct Impl;
  explicit AtomicFile(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Removes the temporary file of every AtomicFile in the process that is neither committed nor
// destroyed, and nothing else. Async-signal-safe (atomic loads and unlink() only): for a program's
// SIGINT / SIGTERM / SIGHUP handler, so that an interrupted run leaves no temporary files behind.
// A later commit() of such a file fails. SIGKILL cannot be caught: its temporary files stay (hidden,
// named .NAME.tmp-XXXXXXXX, never NAME itself).
OPTOUT_API void remove_uncommitted_files() noexcept;

// Where a run's main output goes: a file, written through an AtomicFile (so it appears only on
// commit()), or standard output for "-" (only "-": an empty path, e.g. from an unset variable, is
// kInvalidArgument, never standard output). Move-only; not thread-safe.
class OPTOUT_API Destination {
 public:
  // Errors: as AtomicFile::create.
  [[nodiscard]] static Result<Destination> open(const std::string& path);
  Destination(Destination&&) noexcept;
  Destination& operator=(Destination&&) noexcept;
  ~Destination();

  ByteSink& sink() noexcept;
  // The path, or "<stdout>".
  const std::string& name() const noexcept;
  bool is_stdout() const noexcept;
  // Puts a file in place; nothing to do for standard output.
  [[nodiscard]] Status commit();
  // The file behind it; null for standard output.
  AtomicFile* file() noexcept;

 private:
  struct Impl;
  explicit Destination(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Appends line + '\n' to path, all or nothing: under an exclusive flock() (which every optout
// appender takes, so concurrent runs never interleave or truncate each other's records), a newline
// first when the file does not end in one (a line torn by a crash or an older writer then stays a
// line of its own), and on a failed or short write the file is truncated back to its old size.
// Errors: kInvalidArgument for an empty path; kIoError naming the file (and saying when it could
// not be truncated back).
[[nodiscard]] OPTOUT_API Status append_line(const std::filesystem::path& path, const std::string& line);

// The rule that no output overwrites an input or another output, for every command and binding:
// kInvalidArgument when two of outputs, or an output and an input, name one file: the same path
// once resolved (std::filesystem::weakly_canonical: ".", "..", symbolic links), or the same
// device and inode when both exist (hard links). "-" (standard input or output) is not a file and
// never collides, nor does an output that is a character device (/dev/null, a terminal), which
// may be given more than once. An empty path is kInvalidArgument too ("an empty output path: give
// a file name"): never "none", never standard input or output. The message names the two paths,
// e.g. "clean.csv and ./clean.csv are one file: an output would overwrite another output".
// Cost: a stat() and a path resolution per path.
[[nodiscard]] OPTOUT_API Status check_distinct_files(std::span<const std::string> inputs,
                                                     std::span<const std::string> outputs);

}  // namespace optout
