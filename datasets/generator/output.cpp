#include "output.hpp"

#include <atomic>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

#include <tbb/parallel_pipeline.h>

namespace optout::gen {

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
      tbb::make_filter<void, Chunk*>(tbb::filter_mode::serial_in_order, [&](tbb::flow_control& fc) -> Chunk* {
        if (next >= job.chunk_count || stop.load()) {
          fc.stop();
          return nullptr;
        }
        auto chunk = pool.take();
        chunk->index = next++;
        return chunk.release();
      }) & tbb::make_filter<Chunk*, Chunk*>(tbb::filter_mode::parallel, [&](Chunk* chunk) {
        if (!stop.load()) job.generate(chunk->index, chunk->bytes);
        return chunk;
      }) & tbb::make_filter<Chunk*, void>(tbb::filter_mode::serial_in_order, [&](Chunk* raw) {
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
