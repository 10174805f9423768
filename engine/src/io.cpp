// File-descriptor I/O for the filter, and atomically replaced output files.
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <climits>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <istream>
#include <iterator>
#include <optional>
#include <random>
#include <utility>
#include <vector>

#include "optout/io.hpp"
#include "tuning.hpp"

namespace optout {
namespace {

std::string errno_text(int error) { return std::strerror(error); }

void enlarge_pipe(int fd) {
  struct stat st {};
  if (fstat(fd, &st) == 0 && S_ISFIFO(st.st_mode)) {
    // Best effort: a smaller pipe still works, only with more wake-ups.
    (void)fcntl(fd, F_SETPIPE_SZ, detail::kPipeBufferBytes);
  }
}

class FdSource final : public ByteSource {
 public:
  FdSource(int fd, std::string name) : fd_(fd), name_(std::move(name)) { enlarge_pipe(fd_); }
  Result<std::size_t> read(char* buffer, std::size_t capacity) override {
    for (;;) {
      const ssize_t n = ::read(fd_, buffer, capacity);
      if (n >= 0) return static_cast<std::size_t>(n);
      if (errno == EINTR) continue;
      return Status(ErrorCode::kIoError, name_ + ": read failed: " + errno_text(errno));
    }
  }
  const std::string& name() const override { return name_; }

 private:
  int fd_;
  std::string name_;
};

// A ReadOnlyFile read from start to end. A regular file is checked at its end: the bytes read
// must be the size it had when opened, and fstat must still show that size and modification time.
// A file cut short or appended to while it was read would otherwise pass as complete, its last
// record possibly cut off mid-field (issue 15.5). Pipes and devices cannot be checked this way.
class FileSource final : public ByteSource {
 public:
  explicit FileSource(ReadOnlyFile file) : file_(std::move(file)), source_(file_.fd(), file_.name()) {}
  Result<std::size_t> read(char* buffer, std::size_t capacity) override {
    Result<std::size_t> n = source_.read(buffer, capacity);
    if (!n.ok() || !file_.is_regular()) return n;
    read_ += *n;
    if (*n > 0 && read_ <= file_.size()) return n;
    // At the end (or past the size seen at open: the file grew).
    if (read_ != file_.size()) return file_.changed_while_read();
    if (Status s = file_.check_unchanged(); !s.ok()) return s;
    return n;
  }
  const std::string& name() const override { return file_.name(); }

 private:
  ReadOnlyFile file_;
  FdSource source_;
  std::uint64_t read_ = 0;
};

// The write offset of a regular file, where writeback can be started early; nullopt otherwise.
std::optional<std::uint64_t> regular_file_offset(int fd) {
  struct stat st {};
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) return std::nullopt;
  const off_t at = ::lseek(fd, 0, SEEK_CUR);
  if (at < 0) return std::nullopt;
  return static_cast<std::uint64_t>(at);
}

class FdSink final : public ByteSink {
 public:
  FdSink(int fd, std::string name) : fd_(fd), name_(std::move(name)) {
    enlarge_pipe(fd_);
    if (const std::optional<std::uint64_t> at = regular_file_offset(fd_)) {
      early_writeback_ = true;
      written_to_ = writeback_from_ = *at;
    }
  }
  Status write(std::span<const std::string_view> spans) override {
    std::vector<iovec> iov;
    iov.reserve(std::min(spans.size(), detail::kMaxIovecs));
    std::size_t next = 0;
    while (next < spans.size()) {
      iov.clear();
      while (next < spans.size() && iov.size() < detail::kMaxIovecs) {
        const std::string_view span = spans[next++];
        if (!span.empty()) iov.push_back({const_cast<char*>(span.data()), span.size()});
      }
      if (Status s = write_all(iov); !s.ok()) return s;
    }
    start_writeback();
    return Status();
  }
  const std::string& name() const override { return name_; }

 private:
  Status write_all(std::vector<iovec>& iov) {
    std::size_t first = 0;
    while (first < iov.size()) {
      const ssize_t n = ::writev(fd_, iov.data() + first, static_cast<int>(iov.size() - first));
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno == EPIPE) return Status(ErrorCode::kBrokenPipe, name_ + ": reader went away");
        return Status(ErrorCode::kIoError, name_ + ": write failed: " + errno_text(errno));
      }
      auto left = static_cast<std::size_t>(n);
      written_to_ += left;
      while (first < iov.size() && left >= iov[first].iov_len) left -= iov[first++].iov_len;
      if (left > 0) {
        iov[first].iov_base = static_cast<char*>(iov[first].iov_base) + left;
        iov[first].iov_len -= left;
      }
    }
    return Status();
  }

  // Hands each kWritebackBytes written to the disk at once (tuning.hpp says why). Only a hint:
  // a failure here changes nothing the writes and close() do not already report.
  void start_writeback() {
    if (!early_writeback_ || written_to_ - writeback_from_ < detail::kWritebackBytes) return;
    (void)::sync_file_range(fd_, static_cast<off_t>(writeback_from_), static_cast<off_t>(written_to_ - writeback_from_),
                            SYNC_FILE_RANGE_WRITE);
    writeback_from_ = written_to_;
  }

  int fd_;
  std::string name_;
  bool early_writeback_ = false;
  std::uint64_t written_to_ = 0;      // the file offset after the last write
  std::uint64_t writeback_from_ = 0;  // where the bytes not yet handed to the disk start
};

class IstreamSource final : public ByteSource {
 public:
  IstreamSource(std::istream& in, std::string name) : in_(in), name_(std::move(name)) {}
  Result<std::size_t> read(char* buffer, std::size_t capacity) override {
    in_.read(buffer, static_cast<std::streamsize>(capacity));
    if (in_.bad()) return Status(ErrorCode::kIoError, name_ + ": read failed");
    return static_cast<std::size_t>(in_.gcount());
  }
  const std::string& name() const override { return name_; }

 private:
  std::istream& in_;
  std::string name_;
};

class StringSink final : public ByteSink {
 public:
  StringSink(std::string& out, std::string name) : out_(out), name_(std::move(name)) {}
  Status write(std::span<const std::string_view> spans) override {
    for (std::string_view span : spans) out_.append(span);
    return Status();
  }
  const std::string& name() const override { return name_; }

 private:
  std::string& out_;
  std::string name_;
};

}  // namespace

std::unique_ptr<ByteSource> make_fd_source(int fd, std::string name) {
  return std::make_unique<FdSource>(fd, std::move(name));
}
Result<std::unique_ptr<ByteSource>> open_file_source(const std::filesystem::path& path,
                                                     const std::optional<std::string>& entry) {
  if (path == "-") return make_decompressing_source(make_fd_source(STDIN_FILENO, "<stdin>"), entry);
  Result<ReadOnlyFile> file = ReadOnlyFile::open(path);
  if (!file.ok()) return file.status();
  return make_decompressing_source(std::make_unique<FileSource>(std::move(file).value()), entry);
}

// ---- ReadOnlyFile ---------------------------------------------------------------------------------

Result<ReadOnlyFile> ReadOnlyFile::open(const std::filesystem::path& path, bool nonblocking) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | (nonblocking ? O_NONBLOCK : 0));
  if (fd < 0) return Status(ErrorCode::kIoError, path.string() + ": cannot open: " + errno_text(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const int error = errno;
    ::close(fd);
    return Status(ErrorCode::kIoError, path.string() + ": cannot stat: " + errno_text(error));
  }
  return ReadOnlyFile(fd, path.string(), st);
}

ReadOnlyFile::ReadOnlyFile(int fd, std::string name, const struct stat& opened)
    : fd_(fd), name_(std::move(name)), opened_(opened) {}
ReadOnlyFile::ReadOnlyFile(ReadOnlyFile&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)), name_(std::move(other.name_)), opened_(other.opened_) {}
ReadOnlyFile::~ReadOnlyFile() {
  if (fd_ >= 0) ::close(fd_);
}

Status ReadOnlyFile::require_regular() const {
  if (S_ISDIR(opened_.st_mode)) return Status(ErrorCode::kIoError, name_ + ": " + errno_text(EISDIR));
  if (!S_ISREG(opened_.st_mode)) return Status(ErrorCode::kIoError, name_ + ": not a regular file");
  return Status();
}

Result<std::size_t> ReadOnlyFile::read(char* buffer, std::size_t capacity) const {
  for (;;) {
    const ssize_t n = ::read(fd_, buffer, capacity);
    if (n >= 0) return static_cast<std::size_t>(n);
    if (errno != EINTR) return Status(ErrorCode::kIoError, name_ + ": read failed: " + errno_text(errno));
  }
}

Result<std::size_t> ReadOnlyFile::read_at(char* buffer, std::size_t size, std::uint64_t offset) const {
  std::size_t done = 0;
  while (done < size) {
    const ssize_t n = ::pread(fd_, buffer + done, size - done, static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Status(ErrorCode::kIoError, name_ + ": read failed: " + errno_text(errno));
    if (n == 0) break;
    done += static_cast<std::size_t>(n);
  }
  return done;
}

Status ReadOnlyFile::read_exactly(char* buffer, std::size_t size, std::uint64_t offset) const {
  Result<std::size_t> n = read_at(buffer, size, offset);
  if (!n.ok()) return n.status();
  return *n == size ? Status() : changed_while_read();
}

Status ReadOnlyFile::check_unchanged() const {
  struct stat st {};
  if (::fstat(fd_, &st) != 0) return Status(ErrorCode::kIoError, name_ + ": cannot stat: " + errno_text(errno));
  if (st.st_dev != opened_.st_dev || st.st_ino != opened_.st_ino || st.st_size != opened_.st_size ||
      st.st_mtim.tv_sec != opened_.st_mtim.tv_sec || st.st_mtim.tv_nsec != opened_.st_mtim.tv_nsec) {
    return changed_while_read();
  }
  return Status();
}

Status ReadOnlyFile::changed_while_read() const {
  return Status(ErrorCode::kIoError, name_ + ": the file changed while it was read");
}

std::unique_ptr<ByteSink> make_fd_sink(int fd, std::string name) {
  return std::make_unique<FdSink>(fd, std::move(name));
}
std::unique_ptr<ByteSource> make_istream_source(std::istream& in, std::string name) {
  return std::make_unique<IstreamSource>(in, std::move(name));
}
std::unique_ptr<ByteSink> make_string_sink(std::string& out, std::string name) {
  return std::make_unique<StringSink>(out, std::move(name));
}

// ---- AtomicFile -------------------------------------------------------------------------------

namespace {

// The temporary files of live AtomicFiles, for remove_uncommitted_files() in a signal handler,
// which may neither allocate nor lock: fixed storage, a slot per file, claimed and freed atomically.
struct UncommittedFile {
  enum State : int { kFree, kFilling, kHeld };
  std::atomic<int> state{kFree};
  char path[PATH_MAX];
};
UncommittedFile uncommitted_files[detail::kTrackedTemporaryFiles];

// The slot now holding path, or -1 when none is free or the path does not fit (the file is then
// only removed by its AtomicFile, not on a signal).
int track_uncommitted(const std::filesystem::path& path) noexcept {
  const std::string& text = path.native();
  if (text.size() >= PATH_MAX) return -1;
  for (std::size_t i = 0; i < std::size(uncommitted_files); ++i) {
    UncommittedFile& slot = uncommitted_files[i];
    int expected = UncommittedFile::kFree;
    if (slot.state.compare_exchange_strong(expected, UncommittedFile::kFilling)) {
      std::memcpy(slot.path, text.c_str(), text.size() + 1);
      slot.state.store(UncommittedFile::kHeld);
      return static_cast<int>(i);
    }
  }
  return -1;
}

void untrack_uncommitted(int slot) noexcept {
  if (slot >= 0) uncommitted_files[slot].state.store(UncommittedFile::kFree);
}

}  // namespace

void remove_uncommitted_files() noexcept {
  for (UncommittedFile& slot : uncommitted_files) {
    if (slot.state.load() == UncommittedFile::kHeld) (void)::unlink(slot.path);
  }
}

struct AtomicFile::Impl {
  std::filesystem::path final_path;
  std::filesystem::path temp_path;
  int fd = -1;
  int tracking_slot = -1;
  bool committed = false;
  bool failure_reported = false;  // a failed commit() already said what became of temp_path
  std::unique_ptr<ByteSink> sink;

  std::string removed_or_left();

  ~Impl() {
    if (fd >= 0) ::close(fd);
    // Untracked only once gone: a signal in between finds nothing left to remove, never a file left.
    if (!committed && !temp_path.empty()) ::unlink(temp_path.c_str());
    untrack_uncommitted(tracking_slot);
  }
};

AtomicFile::AtomicFile(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
AtomicFile::AtomicFile(AtomicFile&&) noexcept = default;
AtomicFile& AtomicFile::operator=(AtomicFile&&) noexcept = default;
AtomicFile::~AtomicFile() = default;

Result<AtomicFile> AtomicFile::create(const std::filesystem::path& path) {
  if (path.empty()) return Status(ErrorCode::kInvalidArgument, "an empty output path: give a file name");
  auto impl = std::make_unique<Impl>();
  impl->final_path = path;
  // A device or a FIFO (/dev/null, /dev/stdout, a named pipe) is written in place: renaming a
  // regular file over it would replace the device itself.
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0 && !S_ISREG(st.st_mode)) {
    if (S_ISDIR(st.st_mode)) return Status(ErrorCode::kIoError, path.string() + ": is a directory");
    const int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
    if (fd < 0) return Status(ErrorCode::kIoError, path.string() + ": cannot open: " + errno_text(errno));
    impl->fd = fd;
    impl->sink = make_fd_sink(fd, path.string());
    return AtomicFile(std::move(impl));
  }
  const std::filesystem::path dir = path.has_parent_path() ? path.parent_path() : ".";
  std::random_device entropy;
  for (int attempt = 0; attempt < 100; ++attempt) {
    char suffix[16];
    std::snprintf(suffix, sizeof suffix, "%08x", entropy());
    std::filesystem::path temp = dir / std::string(".").append(path.filename().string()).append(".tmp-").append(suffix);
    // 0666 less the umask, like any other new file (mkstemp would force 0600).
    const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd >= 0) {
      impl->fd = fd;
      impl->tracking_slot = track_uncommitted(temp);
      impl->temp_path = std::move(temp);
      impl->sink = make_fd_sink(fd, path.string());
      return AtomicFile(std::move(impl));
    }
    if (errno != EEXIST) {
      return Status(ErrorCode::kIoError, path.string() + ": cannot create: " + errno_text(errno));
    }
  }
  return Status(ErrorCode::kIoError, path.string() + ": cannot create a temporary file");
}

int AtomicFile::fd() const noexcept { return impl_->fd; }

const std::filesystem::path& AtomicFile::temp_path() const noexcept { return impl_->temp_path; }

Status AtomicFile::discard() {
  Impl& f = *impl_;
  if (f.committed || f.failure_reported) return Status();
  if (f.fd >= 0) {
    ::close(f.fd);
    f.fd = -1;
  }
  if (f.temp_path.empty()) return Status();
  if (::unlink(f.temp_path.c_str()) != 0 && errno != ENOENT) {
    return Status(ErrorCode::kIoError, f.final_path.string() + ": its temporary file " + f.temp_path.string() +
                                           " could not be removed: " + errno_text(errno));
  }
  f.temp_path.clear();
  untrack_uncommitted(f.tracking_slot);
  f.tracking_slot = -1;
  return Status();
}

Status AtomicFile::take_back() {
  Impl& f = *impl_;
  if (!f.committed || f.temp_path.empty()) return Status();  // nothing renamed into place
  if (::unlink(f.final_path.c_str()) != 0 && errno != ENOENT) {
    return Status(ErrorCode::kIoError, f.final_path.string() + ": could not be removed: " + errno_text(errno));
  }
  f.temp_path.clear();
  return Status();
}

ByteSink& AtomicFile::sink() noexcept { return *impl_->sink; }

Status AtomicFile::write_all(std::string_view bytes) {
  const std::string_view spans[] = {bytes};
  return impl_->sink->write(spans);
}

// The end of a message about a failed commit: what became of the temporary file, which a later
// discard() then need not report again.
std::string AtomicFile::Impl::removed_or_left() {
  if (temp_path.empty()) return "";
  std::string end;
  if (::unlink(temp_path.c_str()) == 0 || errno == ENOENT) {
    end = "; its temporary file was removed";
  } else {
    end = "; its temporary file " + temp_path.string() + " could not be removed: " + errno_text(errno);
  }
  failure_reported = true;
  return end;
}

Status AtomicFile::commit(bool durable) {
  Impl& f = *impl_;
  const std::string name = f.final_path.string();
  if (f.fd < 0) return Status(ErrorCode::kIoError, name + ": already committed or discarded");
  if (durable && !f.temp_path.empty() && ::fsync(f.fd) != 0) {
    const std::string why = errno_text(errno);
    return Status(ErrorCode::kIoError, name + ": sync failed: " + why + f.removed_or_left());
  }
  const int fd = f.fd;
  f.fd = -1;
  if (::close(fd) != 0) {
    const std::string why = errno_text(errno);
    return Status(ErrorCode::kIoError, name + ": close failed: " + why + f.removed_or_left());
  }
  if (f.temp_path.empty()) {  // written in place (not a regular file)
    f.committed = true;
    return Status();
  }
  if (::rename(f.temp_path.c_str(), f.final_path.c_str()) != 0) {
    const std::string why = errno_text(errno);
    return Status(ErrorCode::kIoError, name + ": rename failed: " + why + f.removed_or_left());
  }
  f.committed = true;
  untrack_uncommitted(f.tracking_slot);
  f.tracking_slot = -1;
  if (durable) {
    const std::filesystem::path dir = f.final_path.has_parent_path() ? f.final_path.parent_path() : ".";
    const int dir_fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir_fd >= 0) {
      (void)::fsync(dir_fd);
      ::close(dir_fd);
    }
  }
  return Status();
}

// ---- Destination ------------------------------------------------------------------------------

struct Destination::Impl {
  std::optional<AtomicFile> file;
  std::unique_ptr<ByteSink> standard_output;
  std::string name;
};

Destination::Destination(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Destination::Destination(Destination&&) noexcept = default;
Destination& Destination::operator=(Destination&&) noexcept = default;
Destination::~Destination() = default;

Result<Destination> Destination::open(const std::string& path) {
  auto impl = std::make_unique<Impl>();
  if (path.empty()) {
    return Status(ErrorCode::kInvalidArgument, "an empty output path: give a file name, or \"-\" for standard output");
  }
  if (path == "-") {
    impl->name = "<stdout>";
    impl->standard_output = make_fd_sink(STDOUT_FILENO, impl->name);
    return Destination(std::move(impl));
  }
  Result<AtomicFile> file = AtomicFile::create(path);
  if (!file.ok()) return file.status();
  impl->file.emplace(std::move(file).value());
  impl->name = path;
  return Destination(std::move(impl));
}

ByteSink& Destination::sink() noexcept { return impl_->file ? impl_->file->sink() : *impl_->standard_output; }
const std::string& Destination::name() const noexcept { return impl_->name; }
bool Destination::is_stdout() const noexcept { return !impl_->file; }
Status Destination::commit() { return impl_->file ? impl_->file->commit() : Status(); }
AtomicFile* Destination::file() noexcept { return impl_->file ? &*impl_->file : nullptr; }

// ---- Outputs apart from each other and from the inputs ----------------------------------------

namespace {

// A path as check_distinct_files() compares it.
struct NamedFile {
  std::string text;                // as given
  std::filesystem::path resolved;  // weakly_canonical, or the path as given when that fails
  bool exists = false;
  bool device = false;  // a character device: /dev/null, a terminal
  dev_t dev = 0;
  ino_t ino = 0;
};

NamedFile identify(const std::string& text) {
  NamedFile id;
  id.text = text;
  std::error_code error;
  // Absolute first: weakly_canonical leaves a relative path that does not exist relative.
  const std::filesystem::path absolute = std::filesystem::absolute(text, error).lexically_normal();
  id.resolved = std::filesystem::weakly_canonical(absolute, error);
  if (error) id.resolved = absolute;
  struct stat st {};
  if (::stat(text.c_str(), &st) == 0) {
    id.exists = true;
    id.device = S_ISCHR(st.st_mode);
    id.dev = st.st_dev;
    id.ino = st.st_ino;
  }
  return id;
}

bool same_file(const NamedFile& a, const NamedFile& b) {
  if (a.device || b.device) return false;
  if (a.exists && b.exists) return a.dev == b.dev && a.ino == b.ino;
  return a.resolved == b.resolved;
}

}  // namespace

Status check_distinct_files(std::span<const std::string> inputs, std::span<const std::string> outputs) {
  std::vector<NamedFile> ins;
  std::vector<NamedFile> outs;
  for (const std::string& path : inputs) {
    if (path.empty()) return Status(ErrorCode::kInvalidArgument, "an empty input path: give a file name");
    if (path != "-") ins.push_back(identify(path));
  }
  for (const std::string& path : outputs) {
    if (path.empty()) return Status(ErrorCode::kInvalidArgument, "an empty output path: give a file name");
    if (path == "-") continue;
    NamedFile out = identify(path);
    const auto clash = [&](const NamedFile& other, const char* what) {
      const std::string names =
          out.text == other.text ? out.text + " is given twice" : other.text + " and " + out.text + " are one file";
      return Status(ErrorCode::kInvalidArgument, redact_numbers(names + ": an output would overwrite " + what));
    };
    for (const NamedFile& in : ins) {
      if (same_file(in, out)) return clash(in, "an input");
    }
    for (const NamedFile& earlier : outs) {
      if (same_file(earlier, out)) return clash(earlier, "another output");
    }
    outs.push_back(std::move(out));
  }
  return Status();
}

namespace {

// Writes all of bytes at the end of fd (O_APPEND); false with errno on failure, or EIO for a
// write that makes no progress.
bool write_fully(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t n = ::write(fd, bytes.data(), bytes.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      if (n == 0) errno = EIO;
      return false;
    }
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

}  // namespace

Status append_line(const std::filesystem::path& path, const std::string& line) {
  const std::string name = path.string();
  if (name.empty()) return Status(ErrorCode::kInvalidArgument, "an empty audit path: give a file name");
  const int fd = ::open(path.c_str(), O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0666);
  if (fd < 0) return Status(ErrorCode::kIoError, name + ": cannot open: " + std::strerror(errno));
  // Every appender holds the lock from reading the old size to a truncation back to it: without
  // it, a failed append could truncate away a record another run appended meanwhile.
  while (::flock(fd, LOCK_EX) != 0) {
    if (errno == EINTR) continue;
    const std::string why = std::strerror(errno);
    ::close(fd);
    return Status(ErrorCode::kIoError, name + ": cannot lock: " + why);
  }
  std::string record;
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const std::string why = std::strerror(errno);
    ::close(fd);
    return Status(ErrorCode::kIoError, name + ": cannot stat: " + why);
  }
  char last = '\n';
  if (st.st_size > 0 && ::pread(fd, &last, 1, st.st_size - 1) != 1) last = '\n';
  if (last != '\n') record += '\n';  // a torn line before: start a line of our own
  record += line;
  record += '\n';
  Status status;
  if (!write_fully(fd, record)) {
    status = Status(ErrorCode::kIoError, name + ": write failed: " + std::strerror(errno));
    if (::ftruncate(fd, st.st_size) != 0) {
      status = Status(ErrorCode::kIoError, status.message() +
                                               "; a partial record is left, it could not be "
                                               "truncated back: " +
                                               std::strerror(errno));
    }
  }
  if (::close(fd) != 0 && status.ok()) {  // closing also releases the lock
    status = Status(ErrorCode::kIoError, name + ": close failed: " + std::strerror(errno));
  }
  return status;
}

}  // namespace optout
