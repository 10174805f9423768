// Files written so that a failed or killed run never leaves a complete-looking output.
#pragma once

#include <filesystem>
#include <memory>
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
  // Errors: kIoError naming the directory (missing, not writable).
  [[nodiscard]] static Result<AtomicFile> create(const std::filesystem::path& path);

  AtomicFile(AtomicFile&&) noexcept;
  AtomicFile& operator=(AtomicFile&&) noexcept;
  ~AtomicFile();

  int fd() const noexcept;
  // A sink over fd(), named after the final path.
  ByteSink& sink() noexcept;
  // Writes all of bytes (for small files: stats, lists of numbers).
  [[nodiscard]] Status write_all(std::string_view bytes);
  // Closes and renames into place; with durable, fsyncs the file and its directory first.
  [[nodiscard]] Status commit(bool durable = false);

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
// commit()), or standard output for "" or "-". Move-only; not thread-safe.
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

 private:
  struct Impl;
  explicit Destination(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace optout
