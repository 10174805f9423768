// Files written so that a failed or killed run never leaves a complete-looking output.
#pragma once

#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "optout/export.hpp"
#include "optout/filter.hpp"
#include "optout/status.hpp"

namespace optout {

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
