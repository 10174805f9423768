#include "output.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

#include <tbb/parallel_pipeline.h>

namespace optout::gen {

Result<OutputFile> OutputFile::open(const std::string& path) {
  if (path.empty() || path == "-") return OutputFile(STDOUT_FILENO, "", "");
  std::string temp = path + ".tmp-XXXXXX";
  const int fd = ::mkstemp(temp.data());
  if (fd < 0) return Status(ErrorCode::kIoError, path + ": cannot create: " + std::strerror(errno));
  // mkstemp creates 0600; give the file the mode open(2) would have.
  const mode_t mask = ::umask(0);
  ::umask(mask);
  ::fchmod(fd, 0666 & ~mask);
  return OutputFile(fd, path, std::move(temp));
}

OutputFile::OutputFile(int fd, std::string path, std::string temp_path) noexcept
    : fd_(fd), path_(std::move(path)), temp_path_(std::move(temp_path)) {}

OutputFile::OutputFile(OutputFile&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)),
      path_(std::move(other.path_)),
      temp_path_(std::exchange(other.temp_path_, std::string())) {}

OutputFile::~OutputFile() {
  if (!temp_path_.empty()) {
    if (fd_ >= 0) ::close(fd_);
    ::unlink(temp_path_.c_str());
  }
}

Status OutputFile::write(std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd_, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EPIPE) return Status(ErrorCode::kBrokenPipe, "broken pipe");
      const std::string name = path_.empty() ? std::string("<stdout>") : path_;
      return Status(ErrorCode::kIoError, name + ": write failed: " + std::strerror(errno));
    }
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return Status();
}

Status OutputFile::commit() {
  if (temp_path_.empty()) return Status();
  const int fd = std::exchange(fd_, -1);
  if (::close(fd) != 0) return Status(ErrorCode::kIoError, path_ + ": close failed: " + std::strerror(errno));
  if (::rename(temp_path_.c_str(), path_.c_str()) != 0) {
    return Status(ErrorCode::kIoError, path_ + ": rename failed: " + std::strerror(errno));
  }
  temp_path_.clear();
  return Status();
}

namespace {

struct Chunk {
  std::uint64_t index = 0;
  std::string bytes;
};

// Recycles chunk buffers: a chunk of extract rows is megabytes, and freeing it to the OS and
// faulting fresh pages in for every chunk costs more than generating it.
class ChunkPool {
 public:
  std::unique_ptr<Chunk> take() {
    std::lock_guard lock(mutex_);
    if (free_.empty()) return std::make_unique<Chunk>();
    auto chunk = std::move(free_.back());
    free_.pop_back();
    return chunk;
  }
  void give(std::unique_ptr<Chunk> chunk) {
    chunk->bytes.clear();
    std::lock_guard lock(mutex_);
    free_.push_back(std::move(chunk));
  }

 private:
  std::mutex mutex_;
  std::vector<std::unique_ptr<Chunk>> free_;
};

}  // namespace

Status run_ordered(const OrderedChunks& job, std::size_t max_in_flight) {
  ChunkPool pool;
  std::uint64_t next = 0;
  std::atomic<bool> stop{false};
  Status status;
  tbb::parallel_pipeline(
      max_in_flight,
      tbb::make_filter<void, Chunk*>(tbb::filter_mode::serial_in_order,
                                     [&](tbb::flow_control& fc) -> Chunk* {
                                       if (next >= job.chunk_count || stop.load()) {
                                         fc.stop();
                                         return nullptr;
                                       }
                                       auto chunk = pool.take();
                                       chunk->index = next++;
                                       return chunk.release();
                                     }) &
          tbb::make_filter<Chunk*, Chunk*>(tbb::filter_mode::parallel,
                                           [&](Chunk* chunk) {
                                             if (!stop.load()) job.generate(chunk->index, chunk->bytes);
                                             return chunk;
                                           }) &
          tbb::make_filter<Chunk*, void>(tbb::filter_mode::serial_in_order, [&](Chunk* raw) {
            std::unique_ptr<Chunk> chunk(raw);
            if (!stop.load()) {
              bool done = false;
              status = job.consume(chunk->index, chunk->bytes, done);
              if (!status.ok() || done) stop.store(true);
            }
            pool.give(std::move(chunk));
          }));
  return status;
}

}  // namespace optout::gen
