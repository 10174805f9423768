#include "optout/audit.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <random>
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

// The counts every stats file starts with, in this order (a run's, or a run in pieces' sums).
template <typename Json>
void put_counts(Json& j, const FilterStats& stats) {
  j["rows"] = stats.rows;
  j["kept"] = stats.kept;
  j["removed"] = stats.removed;
  j["rejected"] = stats.rejected;
  j["rejected_by_reason"] = reasons_json(stats);
  j["bytes_in"] = stats.bytes_in;
  j["bytes_out"] = stats.bytes_out;
}

}  // namespace

std::string filter_stats_json(const FilterStats& stats) {
  nlohmann::json j;
  put_counts(j, stats);
  j["seconds"] = stats.seconds;
  j["mb_per_second"] = mb_per_second(stats.bytes_in, stats.seconds);
  j["threads"] = stats.threads;
  return j.dump();
}

std::string new_run_id() {
  // Letters only: hex digits can make a run of 10 digits, which would look like an NHS number.
  std::random_device entropy;
  std::uniform_int_distribution<int> letter(0, 25);
  std::string id(kRunIdLetters, 'a');
  for (char& c : id) c = static_cast<char>('a' + letter(entropy));
  return id;
}

FilterStats add_pieces(const std::vector<PieceAccount>& pieces) {
  FilterStats total;
  const std::string* last_cut_input = nullptr;
  for (const PieceAccount& p : pieces) {
    total.rows += p.stats.rows;
    total.kept += p.stats.kept;
    total.removed += p.stats.removed;
    total.rejected += p.stats.rejected;
    for (std::size_t i = 0; i < std::size(total.rejected_by_reason); ++i) {
      total.rejected_by_reason[i] += p.stats.rejected_by_reason[i];
    }
    total.bytes_out += p.stats.bytes_out;
    total.bytes_rejected += p.stats.bytes_rejected;
    // Each piece of a cut file read the header again before its range: count the header once.
    const bool header_again = p.cut && last_cut_input != nullptr && *last_cut_input == p.input;
    total.bytes_in +=
        header_again && p.stats.bytes_in >= p.header_bytes ? p.stats.bytes_in - p.header_bytes : p.stats.bytes_in;
    last_cut_input = p.cut ? &p.input : nullptr;
    total.threads = std::max(total.threads, p.stats.threads);
  }
  return total;
}

namespace {

// Whether text is well-formed UTF-8 (no overlong forms, surrogates or code points past U+10FFFF).
bool valid_utf8(std::string_view text) noexcept {
  for (std::size_t i = 0; i < text.size();) {
    const auto b = static_cast<unsigned char>(text[i]);
    std::size_t n = 0;
    unsigned char low = 0x80, high = 0xBF;  // the range of the second byte
    if (b < 0x80) {
      ++i;
      continue;
    } else if (b >= 0xC2 && b <= 0xDF) {
      n = 1;
    } else if (b >= 0xE0 && b <= 0xEF) {
      n = 2;
      if (b == 0xE0) low = 0xA0;
      if (b == 0xED) high = 0x9F;
    } else if (b >= 0xF0 && b <= 0xF4) {
      n = 3;
      if (b == 0xF0) low = 0x90;
      if (b == 0xF4) high = 0x8F;
    } else {
      return false;
    }
    if (text.size() - i <= n) return false;
    for (std::size_t k = 1; k <= n; ++k) {
      const auto c = static_cast<unsigned char>(text[i + k]);
      if (k == 1 ? (c < low || c > high) : (c < 0x80 || c > 0xBF)) return false;
    }
    i += n + 1;
  }
  return true;
}

std::string hex_bytes(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string hex;
  hex.reserve(bytes.size() * 2);
  for (const char c : bytes) {
    hex += kDigits[static_cast<unsigned char>(c) >> 4];
    hex += kDigits[static_cast<unsigned char>(c) & 15];
  }
  return hex;
}

// File names are bytes; JSON strings are Unicode. A name that is valid UTF-8 is written as it is.
// One that is not is written twice: under key, readable, each byte that is not valid UTF-8 shown as
// U+FFFD (dump() replaces them); and exactly, its bytes in lower-case hex, under key + "_hex",
// which is there only then. So a record is always valid JSON and loses no name.
void put_name(nlohmann::ordered_json& j, const std::string& key, const std::string& name) {
  j[key] = name;
  if (!valid_utf8(name)) j[key + "_hex"] = hex_bytes(name);
}

// A list of names: under key + "_hex" (only when some name is not UTF-8), each name's hex or null.
void put_names(nlohmann::ordered_json& j, const std::string& key, const std::vector<std::string>& names) {
  j[key] = names;
  if (std::all_of(names.begin(), names.end(), [](const std::string& n) { return valid_utf8(n); })) return;
  nlohmann::ordered_json hex = nlohmann::ordered_json::array();
  for (const std::string& n : names) {
    hex.push_back(valid_utf8(n) ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(hex_bytes(n)));
  }
  j[key + "_hex"] = std::move(hex);
}

nlohmann::ordered_json pieces_json(const std::vector<PieceAccount>& pieces) {
  nlohmann::ordered_json list = nlohmann::ordered_json::array();
  for (const PieceAccount& p : pieces) {
    nlohmann::ordered_json j;
    put_name(j, "input", p.input);
    put_name(j, "output", p.output);
    if (p.cut) {
      j["offset"] = p.offset;
      j["length"] = p.length;
      j["first_line"] = p.first_line;
    }
    j["rows"] = p.stats.rows;
    j["kept"] = p.stats.kept;
    j["removed"] = p.stats.removed;
    j["rejected"] = p.stats.rejected;
    j["output_bytes"] = p.stats.bytes_out;
    j["output_xxh3_128"] =
        p.stats.output_digest ? nlohmann::ordered_json(p.stats.output_digest->hex()) : nlohmann::ordered_json(nullptr);
    list.push_back(std::move(j));
  }
  return list;
}

// Names come from the command line and may hold any bytes: never fail on bad UTF-8 (put_name()
// has written each such name's bytes in hex beside it).
std::string dump(const nlohmann::ordered_json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace

std::string pieces_stats_json(const FilterStats& total, const std::vector<PieceAccount>& pieces) {
  nlohmann::ordered_json j;
  put_counts(j, total);
  j["bytes_rejected"] = total.bytes_rejected;
  j["seconds"] = total.seconds;
  j["mb_per_second"] = mb_per_second(total.bytes_in, total.seconds);
  j["pieces"] = pieces_json(pieces);
  return dump(j);
}

std::string audit_record_json(const RunContext& context, const FilterStats* stats, RunOutcome outcome,
                              ErrorCode error) {
  nlohmann::ordered_json j;
  j["tool"] = "optout";
  j["version"] = kVersion;
  if (!context.run_id.empty()) j["run_id"] = context.run_id;
  j["started_at"] = iso8601_utc(context.started_at);
  j["finished_at"] = iso8601_utc(context.finished_at);
  j["outcome"] = outcome == RunOutcome::kCommitting ? "committing" : outcome == RunOutcome::kOk ? "ok" : "failed";
  if (outcome == RunOutcome::kFailed) {
    j["error"] = error_code_name(error == ErrorCode::kOk ? ErrorCode::kInternal : error);
  }
  put_name(j, "input", context.input_name);
  if (!context.inputs.empty()) put_names(j, "inputs", context.inputs);
  j["registry_digest"] = context.registry_digest.hex();
  j["registry_created_at"] = iso8601_utc(context.registry_created_at);
  j["lists_applied"] = context.lists_applied;
  if (stats != nullptr) {
    j["input_bytes"] = stats->bytes_in;
    j["rows"] = stats->rows;
    j["kept"] = stats->kept;
    j["removed"] = stats->removed;
    j["rejected"] = stats->rejected;
  }
  if (!context.output_name.empty()) put_name(j, "output", context.output_name);
  if (stats != nullptr) {
    j["output_bytes"] = stats->bytes_out;
    if (stats->output_digest) j["output_xxh3_128"] = stats->output_digest->hex();
    if (!context.pieces.empty()) j["pieces"] = pieces_json(context.pieces);
  }
  return dump(j);
}

std::string audit_record_json(const RunContext& context, const FilterStats* stats, const Status& outcome) {
  return audit_record_json(context, stats, outcome.ok() ? RunOutcome::kOk : RunOutcome::kFailed, outcome.code());
}

}  // namespace optout
