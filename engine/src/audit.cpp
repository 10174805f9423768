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
  if (stats.bytes_out_compressed > 0) j["bytes_out_compressed"] = stats.bytes_out_compressed;        // the file's size
  if (stats.input_compressed_bytes > 0) j["input_compressed_bytes"] = stats.input_compressed_bytes;  // likewise
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
    for (const auto& [key, counts] : p.stats.impact) {
      ImpactCounts& sum = total.impact[key];
      sum.rows += counts.rows;
      sum.kept += counts.kept;
      sum.removed += counts.removed;
      sum.rejected += counts.rejected;
    }
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
    // A whole file's digest; a cut piece reads its file's header again, so its bytes are no file's.
    if (!p.cut && p.stats.input_digest) j["input_xxh3_128"] = p.stats.input_digest->hex();
    if (p.stats.input_compressed_digest) {
      j["input_compressed_bytes"] = p.stats.input_compressed_bytes;
      j["input_compressed_xxh3_128"] = p.stats.input_compressed_digest->hex();
    }
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
  j["registry_signer"] = context.registry_signer ? nlohmann::ordered_json(context.registry_signer->key_id())
                                                 : nlohmann::ordered_json(nullptr);
  j["lists_applied"] = context.lists_applied;
  if (!context.lists.empty()) {
    nlohmann::ordered_json lists = nlohmann::ordered_json::array();
    for (const AppliedList& list : context.lists) {
      nlohmann::ordered_json l;
      l["name"] = list.name;
      l["kind"] = list_kind_name(list.kind);
      l["count"] = list.count;
      l["as_of"] = list.as_of ? nlohmann::ordered_json(iso_date_utc(*list.as_of)) : nlohmann::ordered_json(nullptr);
      lists.push_back(std::move(l));
    }
    j["lists"] = std::move(lists);
  }
  if (context.purpose) {
    j["purpose"] = *context.purpose;
    nlohmann::ordered_json exemptions = nlohmann::ordered_json::array();
    for (const ExemptedList& e : context.exemptions) {
      exemptions.push_back(
          {{"list", e.list},
           {"kind", list_kind_name(e.kind)},
           {"count", e.count},
           {"as_of", e.as_of ? nlohmann::ordered_json(iso_date_utc(*e.as_of)) : nlohmann::ordered_json(nullptr)},
           {"reference", e.reference}});
    }
    j["exemptions"] = std::move(exemptions);
  }
  if (context.pseudonym_key_sha256) j["pseudonym_key_sha256"] = *context.pseudonym_key_sha256;
  if (stats != nullptr) {
    j["input_bytes"] = stats->bytes_in;
    if (stats->input_digest && context.pieces.empty()) j["input_xxh3_128"] = stats->input_digest->hex();
    // A compressed input: input_bytes and input_xxh3_128 are of its decompressed bytes, these of the file.
    if (stats->input_compressed_digest && context.pieces.empty()) {
      j["input_compressed_bytes"] = stats->input_compressed_bytes;
      j["input_compressed_xxh3_128"] = stats->input_compressed_digest->hex();
    }
    j["rows"] = stats->rows;
    j["kept"] = stats->kept;
    j["removed"] = stats->removed;
    j["rejected"] = stats->rejected;
  }
  if (!context.output_name.empty()) put_name(j, "output", context.output_name);
  if (stats != nullptr) {
    j["output_bytes"] = stats->bytes_out;
    if (stats->output_digest) j["output_xxh3_128"] = stats->output_digest->hex();
    // A compressed output: output_bytes and output_xxh3_128 stay over its uncompressed bytes (what
    // verify checks); these are the file's own.
    if (stats->output_compressed_digest) {
      j["output_compressed_bytes"] = stats->bytes_out_compressed;
      j["output_compressed_xxh3_128"] = stats->output_compressed_digest->hex();
    }
    if (!context.pieces.empty()) j["pieces"] = pieces_json(context.pieces);
  }
  if (!context.impact_by.empty()) {  // the impact report: its columns' names and size, no value
    nlohmann::ordered_json impact;
    std::vector<std::string> by;
    for (const std::string& name : context.impact_by) by.push_back(redact_numbers(name));
    put_names(impact, "by", by);
    impact["exact"] = context.impact_exact;
    put_name(impact, "file", context.impact_file);
    if (stats != nullptr) impact["groups"] = stats->impact.size();
    j["impact"] = std::move(impact);
  }
  return dump(j);
}

std::string audit_record_json(const RunContext& context, const FilterStats* stats, const Status& outcome) {
  return audit_record_json(context, stats, outcome.ok() ? RunOutcome::kOk : RunOutcome::kFailed, outcome.code());
}

// ---- Signed records -------------------------------------------------------------------------------

namespace {

constexpr std::string_view kSignatureOpen = ",\"signature\":{\"algorithm\":\"ed25519\",\"key_id\":\"";
constexpr std::string_view kPublicKeyField = "\",\"public_key\":\"";
constexpr std::string_view kValueField = "\",\"value\":\"";
constexpr std::string_view kSignatureClose = "\"}}";
constexpr std::size_t kSignatureSuffixBytes = kSignatureOpen.size() + kKeyIdHexDigits + kPublicKeyField.size() +
                                              2 * kPublicKeyBytes + kValueField.size() + 2 * kSignatureBytes +
                                              kSignatureClose.size();

std::string trusted_ids(std::span<const PublicKey> trusted) {
  std::string ids;
  for (const PublicKey& k : trusted) ids += (ids.empty() ? "" : ", ") + k.key_id();
  return ids;
}

}  // namespace

Result<std::string> sign_audit_record(std::string_view line, const SecretKey& key) {
  Result<Signature> signature = sign_bytes(key, SignedKind::kAuditRecord, line);
  if (!signature.ok()) return signature.status();
  std::string out(line.substr(0, line.size() - 1));  // without the closing brace
  out += kSignatureOpen;
  out += key.public_key().key_id();
  out += kPublicKeyField;
  out += to_hex(key.public_key().bytes);
  out += kValueField;
  out += to_hex(*signature);
  out += kSignatureClose;
  return out;
}

Result<std::optional<AuditSignature>> read_audit_signature(std::string_view line) {
  const std::size_t at = line.rfind(",\"signature\":");
  if (at == std::string_view::npos) return std::optional<AuditSignature>();
  const Status malformed(ErrorCode::kInvalidInput, "malformed signature");
  if (line.size() - at != kSignatureSuffixBytes) return malformed;
  std::string_view rest = line.substr(at);
  const auto take = [&](std::string_view literal) {
    if (!rest.starts_with(literal)) return false;
    rest.remove_prefix(literal.size());
    return true;
  };
  AuditSignature sig;
  if (!take(kSignatureOpen)) return malformed;
  const std::string_view key_id = rest.substr(0, kKeyIdHexDigits);
  rest.remove_prefix(kKeyIdHexDigits);
  if (!take(kPublicKeyField) || !decode_hex(rest.substr(0, 2 * kPublicKeyBytes), sig.key.bytes)) return malformed;
  rest.remove_prefix(2 * kPublicKeyBytes);
  if (!take(kValueField) || !decode_hex(rest.substr(0, 2 * kSignatureBytes), sig.value)) return malformed;
  rest.remove_prefix(2 * kSignatureBytes);
  if (!take(kSignatureClose) || !rest.empty() || key_id != sig.key.key_id()) return malformed;
  sig.signed_line = std::string(line.substr(0, at)) + "}";
  return std::optional<AuditSignature>(std::move(sig));
}

Status check_audit_record(std::string_view where, std::string_view line, std::span<const PublicKey> trusted) {
  const std::string prefix = std::string(where) + ": ";
  Result<std::optional<AuditSignature>> sig = read_audit_signature(line);
  if (!sig.ok()) return Status(ErrorCode::kInvalidInput, prefix + "audit record has a " + sig.status().message());
  if (!sig->has_value()) {
    if (trusted.empty()) return Status();
    return Status(ErrorCode::kUntrusted, prefix + "audit record is unsigned: a record signed by a trusted key (" +
                                             trusted_ids(trusted) + ") is required");
  }
  const AuditSignature& s = **sig;
  if (!verify_bytes(s.key, SignedKind::kAuditRecord, s.signed_line, s.value)) {
    return Status(ErrorCode::kCorruption, prefix + "audit record signature does not verify (key " + s.key.key_id() +
                                              "): changed after signing");
  }
  if (trusted.empty() || std::find(trusted.begin(), trusted.end(), s.key) != trusted.end()) return Status();
  return Status(ErrorCode::kUntrusted, prefix + "audit record is signed by key " + s.key.key_id() +
                                           ", which is not trusted (trusted: " + trusted_ids(trusted) + ")");
}

}  // namespace optout
