#include "lists.hpp"

#include <algorithm>
#include <string>

#include "optout/nhs_number.hpp"

namespace optout::gen {
namespace {

// 65 536 patients per chunk: ~0.7 MB of list text at most, a few ms of work, and enough chunks
// (900 for 60 M patients) to keep every core busy to the end.
constexpr std::uint64_t kPatientsPerChunk = 1 << 16;

std::size_t line_bytes(const LineStyle& style) {
  return 10 + (style.format == ListFormat::kDat ? 1 : 0) + (style.crlf ? 2 : 1);
}

void append_line(std::string& out, std::uint32_t stem, const LineStyle& style) {
  char line[16];
  std::size_t n = format_nhs_number(stem, line);
  if (style.format == ListFormat::kDat) line[n++] = ',';
  if (style.crlf) line[n++] = '\r';
  line[n++] = '\n';
  out.append(line, n);
}

// Writes the numbers of the patients in [0, limit) for which select(k) holds, in patient order,
// stopping after `count` numbers when count is set.
template <typename Select>
Status write_selected(const Population& population, Select select, std::uint64_t limit,
                      std::optional<std::uint64_t> count, const LineStyle& style, ByteSink& out,
                      std::size_t max_in_flight) {
  const std::size_t bytes_per_line = line_bytes(style);
  std::uint64_t written = 0;
  OrderedChunks job;
  job.chunk_count = (limit + kPatientsPerChunk - 1) / kPatientsPerChunk;
  job.generate = [&](std::uint64_t chunk, std::string& bytes) {
    const std::uint64_t first = chunk * kPatientsPerChunk;
    const std::uint64_t last = std::min(limit, first + kPatientsPerChunk);
    for (std::uint64_t k = first; k < last; ++k) {
      if (select(k)) append_line(bytes, population.stem(k), style);
    }
  };
  job.consume = [&](std::uint64_t, std::string_view bytes, bool& done) {
    std::uint64_t lines = bytes.size() / bytes_per_line;
    if (count) {
      lines = std::min(lines, *count - written);
      done = written + lines == *count;
    }
    written += lines;
    return write_bytes(out, bytes.substr(0, lines * bytes_per_line));
  };
  if (count == std::uint64_t{0}) return Status();
  Status status = run_ordered(job, max_in_flight);
  if (!status.ok()) return status;
  if (count && written < *count) {
    return Status(ErrorCode::kInvalidArgument, "only " + std::to_string(written) + " patients of " +
                                                   std::to_string(limit) +
                                                   " qualify; raise the rate or the population");
  }
  return Status();
}

}  // namespace

PopulationOptions options_for_count(PopulationOptions options, ListKind kind, std::uint64_t count) {
  double& rate = kind == ListKind::kNational ? options.national_rate : options.type1_rate;
  const double needed = static_cast<double>(count) / static_cast<double>(options.size);
  if (needed > rate) rate = std::min(1.0, needed);
  return options;
}

Status write_list(const Population& population, const ListOptions& options, ByteSink& out, std::size_t max_in_flight) {
  const std::uint64_t limit = options.count ? Population::kMaxSize : population.size();
  if (options.kind == ListKind::kNational) {
    return write_selected(
        population, [&](std::uint64_t k) { return population.national(k); }, limit, options.count, options.style, out,
        max_in_flight);
  }
  return write_selected(
      population, [&](std::uint64_t k) { return population.type1(k); }, limit, options.count, options.style, out,
      max_in_flight);
}

Status write_allow(const Population& population, std::uint64_t patients, const LineStyle& style, ByteSink& out,
                   std::size_t max_in_flight) {
  if (patients > population.size()) {
    return Status(ErrorCode::kInvalidArgument, "--patients exceeds the population");
  }
  return write_selected(
      population, [&](std::uint64_t k) { return !population.national(k); }, patients, std::nullopt, style, out,
      max_in_flight);
}

}  // namespace optout::gen
