#include "optout/audit.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <ctime>
#include <nlohmann/json.hpp>

#include "optout/version.hpp"

namespace optout {
namespace {

nlohmann::json reasons_json(const FilterStats& stats) {
  nlohmann::json reasons = nlohmann::json::object();
  for (std::size_t i = 0; i < std::size(stats.rejected_by_reason); ++i) {
    if (stats.rejected_by_reason[i] > 0) reasons[rejected_reason_name(i)] = stats.rejected_by_reason[i];
  }
  return reasons;
}

}  // namespace

std::string iso8601_utc(std::int64_t unix_seconds) {
  const auto t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  char text[32];
  if (gmtime_r(&t, &tm) == nullptr || std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0) {
    return std::string("@").append(std::to_string(unix_seconds));
  }
  return text;
}

std::string filter_stats_json(const FilterStats& stats) {
  nlohmann::json j;
  j["rows"] = stats.rows;
  j["kept"] = stats.kept;
  j["removed"] = stats.removed;
  j["rejected"] = stats.rejected;
  j["rejected_by_reason"] = reasons_json(stats);
  j["bytes_in"] = stats.bytes_in;
  j["bytes_out"] = stats.bytes_out;
  j["seconds"] = stats.seconds;
  j["mb_per_second"] = stats.seconds > 0 ? static_cast<double>(stats.bytes_in) / 1e6 / stats.seconds : 0.0;
  j["threads"] = stats.threads;
  return j.dump();
}

std::string audit_record_json(const RunContext& context, const FilterStats* stats,
                              const Status& outcome) {
  nlohmann::ordered_json j;
  j["tool"] = "optout";
  j["version"] = kVersion;
  j["started_at"] = iso8601_utc(context.started_at);
  j["finished_at"] = iso8601_utc(context.finished_at);
  j["outcome"] = outcome.ok() ? "ok" : "failed";
  if (!outcome.ok()) j["error"] = error_code_name(outcome.code());
  j["input"] = context.input_name;
  j["registry_digest"] = context.registry_digest.hex();
  j["registry_created_at"] = iso8601_utc(context.registry_created_at);
  j["lists_applied"] = context.lists_applied;
  if (stats != nullptr) {
    j["input_bytes"] = stats->bytes_in;
    j["rows"] = stats->rows;
    j["kept"] = stats->kept;
    j["removed"] = stats->removed;
    j["rejected"] = stats->rejected;
    j["output"] = context.output_name;
    j["output_bytes"] = stats->bytes_out;
    if (stats->output_digest) j["output_xxh3_128"] = stats->output_digest->hex();
  }
  // Names come from the command line and may hold any bytes: never fail on bad UTF-8.
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

Status append_line(const std::filesystem::path& path, const std::string& line) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0666);
  if (fd < 0) return Status(ErrorCode::kIoError, path.string() + ": cannot open: " + std::strerror(errno));
  const std::string record = line + "\n";
  const ssize_t n = ::write(fd, record.data(), record.size());
  const int write_errno = errno;
  const bool closed = ::close(fd) == 0;
  if (n != static_cast<ssize_t>(record.size())) {
    return Status(ErrorCode::kIoError, path.string() + ": write failed: " +
                                           (n < 0 ? std::strerror(write_errno) : "short write"));
  }
  if (!closed) return Status(ErrorCode::kIoError, path.string() + ": close failed: " + std::strerror(errno));
  return Status();
}

std::optional<std::int64_t> parse_max_age(std::string_view text) noexcept {
  if (text.size() < 2 || text.size() > 10) return std::nullopt;
  const std::string_view digits = text.substr(0, text.size() - 1);
  if (digits.find_first_not_of("0123456789") != std::string_view::npos) return std::nullopt;
  std::int64_t n = 0;
  (void)std::from_chars(digits.data(), digits.data() + digits.size(), n);  // 9 digits fit
  if (text.back() == 'h') return n * 3600;
  if (text.back() == 'd') return n * 86400;
  return std::nullopt;
}

Status check_registry_age(const Registry& registry, std::int64_t max_age_seconds, std::int64_t now) {
  const std::int64_t age = now - registry.created_at();
  if (age <= max_age_seconds) return Status();
  return Status(ErrorCode::kStaleRegistry,
                "the registry was built " + iso8601_utc(registry.created_at()) + ", " +
                    std::to_string(age / 3600) + " h ago, older than the limit of " +
                    std::to_string(max_age_seconds / 3600) + " h");
}

}  // namespace optout
