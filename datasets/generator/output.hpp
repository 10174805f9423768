// Output for optout-gen: ordered parallel generation into one of the engine's sinks (the file
// itself is the engine's Destination: a temporary file renamed into place on commit, or stdout).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "optout/io.hpp"
#include "optout/status.hpp"

namespace optout::gen {

// Writes all of bytes to sink as one span: the generators produce one buffer at a time, and a
// ByteSink takes a list of spans. Errors: as the sink's (kIoError; kBrokenPipe when the reader
// of standard output went away).
[[nodiscard]] inline Status write_bytes(ByteSink& sink, std::string_view bytes) {
  const std::string_view spans[] = {bytes};
  return sink.write(spans);
}

// Generates chunks 0, 1, 2, ... in parallel and hands them to a consumer strictly in order, so the
// output is the same whatever the number of threads. At most max_in_flight chunks exist at once.
struct OrderedChunks {
  std::uint64_t chunk_count = 0;  // the chunks that may be generated (fewer if consume stops)
  // Fills out (empty on entry, capacity kept from earlier use) with chunk `index`. Runs
  // concurrently for different chunks, so it may only read shared state.
  std::function<void(std::uint64_t index, std::string& out)> generate;
  // Receives each chunk in index order, on one thread at a time; sets done to stop early.
  std::function<Status(std::uint64_t index, std::string_view bytes, bool& done)> consume;
};

// Runs the job; returns the first error from consume. Uses the calling thread's TBB arena.
[[nodiscard]] Status run_ordered(const OrderedChunks& job, std::size_t max_in_flight);

}  // namespace optout::gen
