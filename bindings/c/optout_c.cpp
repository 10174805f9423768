// The C API (include/optout.h) over the C++ engine. Every entry point runs its body through
// guarded(): a Status becomes a status code and a message, and an exception (a bug, or memory
// exhausted) becomes OPTOUT_E_INTERNAL, so nothing C++ crosses into C.
#include "optout.h"

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <exception>
#include <memory>
#include <new>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "optout/filter.hpp"
#include "optout/index.hpp"
#include "optout/io.hpp"
#include "optout/list_export.hpp"
#include "optout/registry.hpp"
#include "optout/run.hpp"
#include "optout/signing.hpp"
#include "optout/status.hpp"
#include "optout/verify.hpp"
#include "optout/version.hpp"

struct optout_registry {
  optout::Registry registry;  // knows its file (source()): no output may replace it
};

struct optout_index {
  optout::OptOutIndex index;  // knows its registry's file, digest and age: the registry may be freed first
};

namespace {

using optout::ErrorCode;

// The C codes mirror the engine's.
static_assert(OPTOUT_E_INVALID_ARGUMENT == static_cast<int>(ErrorCode::kInvalidArgument));
static_assert(OPTOUT_E_IO == static_cast<int>(ErrorCode::kIoError));
static_assert(OPTOUT_E_CORRUPTION == static_cast<int>(ErrorCode::kCorruption));
static_assert(OPTOUT_E_UNSUPPORTED_VERSION == static_cast<int>(ErrorCode::kUnsupportedVersion));
static_assert(OPTOUT_E_NOT_FOUND == static_cast<int>(ErrorCode::kNotFound));
static_assert(OPTOUT_E_INVALID_INPUT == static_cast<int>(ErrorCode::kInvalidInput));
static_assert(OPTOUT_E_LIMIT_EXCEEDED == static_cast<int>(ErrorCode::kLimitExceeded));
static_assert(OPTOUT_E_BROKEN_PIPE == static_cast<int>(ErrorCode::kBrokenPipe));
static_assert(OPTOUT_E_STALE_REGISTRY == static_cast<int>(ErrorCode::kStaleRegistry));
static_assert(OPTOUT_E_DATA_QUALITY == static_cast<int>(ErrorCode::kDataQuality));
static_assert(OPTOUT_E_INTERNAL == static_cast<int>(ErrorCode::kInternal));
static_assert(OPTOUT_E_UNTRUSTED == static_cast<int>(ErrorCode::kUntrusted));
static_assert(OPTOUT_VERDICT_KEPT == static_cast<int>(optout::Verdict::kKept));
static_assert(OPTOUT_VERDICT_REMOVED == static_cast<int>(optout::Verdict::kRemoved));
static_assert(OPTOUT_VERDICT_REJECTED == static_cast<int>(optout::Verdict::kRejected));
static_assert(OPTOUT_LIST_DENY == static_cast<int>(optout::ListKind::kDeny));
static_assert(OPTOUT_LIST_ALLOW == static_cast<int>(optout::ListKind::kAllow));
static_assert(OPTOUT_EXPORT_ROARING == static_cast<int>(optout::NumbersFormat::kRoaring));
static_assert(OPTOUT_EXPORT_TEXT == static_cast<int>(optout::NumbersFormat::kText));
static_assert(OPTOUT_EXPORT_MESH == static_cast<int>(optout::NumbersFormat::kMesh));
static_assert(OPTOUT_REJECTED_REASONS == std::extent_v<decltype(optout::FilterStats::rejected_by_reason)>);
static_assert(OPTOUT_DIGEST_HEX_BYTES == 32 + 1);
static_assert(OPTOUT_KEY_ID_BYTES == optout::kKeyIdHexDigits + 1);

// The layouts of the versioned structs a caller may pass: a caller built against an older header
// passes a smaller size, and the fields appended since are not read. optout_filter_options v1 ends
// with audit_path; v2 appends trust_paths, trust_count, expect_digest and sign_key_path; v3 format;
// v4 entry, compress and compression_level; v5 the impact report; v6 pseudonym_key_path.
// optout_verify_options v1 ends with id_column; v2 appends format; v3 entry; v4 pseudonym_key_path.
// optout_filter_stats v1 ends with output_digest; v2 appends the compressed sizes.
constexpr std::size_t kOptionsV1Bytes = offsetof(optout_filter_options, trust_paths);
constexpr std::size_t kOptionsV2Bytes = offsetof(optout_filter_options, format);
constexpr std::size_t kOptionsV3Bytes = offsetof(optout_filter_options, entry);
constexpr std::size_t kOptionsV4Bytes = offsetof(optout_filter_options, impact_path);
constexpr std::size_t kOptionsV5Bytes = offsetof(optout_filter_options, pseudonym_key_path);  // v5: the impact report
constexpr std::size_t kStatsV1Bytes = offsetof(optout_filter_stats, bytes_out_compressed);
constexpr std::size_t kStatsV2Bytes = offsetof(optout_filter_stats, input_compressed_bytes) + sizeof(std::uint64_t);
constexpr std::size_t kVerifyOptionsV1Bytes = offsetof(optout_verify_options, format);
constexpr std::size_t kVerifyOptionsV2Bytes = offsetof(optout_verify_options, entry);
constexpr std::size_t kVerifyOptionsV3Bytes = offsetof(optout_verify_options, entry) + sizeof(const char*);
constexpr std::size_t kOptionsV6Bytes = offsetof(optout_filter_options, pseudonym_key_path) + sizeof(const char*);
constexpr std::size_t kVerifyOptionsV4Bytes = offsetof(optout_verify_options, pseudonym_key_path) + sizeof(const char*);
constexpr std::size_t kVerifyResultV1Bytes = sizeof(optout_verify_result);

// The outcome of an entry point's body.
struct Outcome {
  optout_status code = OPTOUT_OK;
  std::string message;

  Outcome() = default;
  Outcome(optout_status c, std::string m) : code(c), message(std::move(m)) {}
  Outcome(const optout::Status& s)  // NOLINT(google-explicit-constructor)
      : code(static_cast<optout_status>(s.code())), message(s.message()) {}
};

Outcome null_argument(const char* function, const char* argument) {
  return {OPTOUT_E_NULL_ARGUMENT, std::string(function) + ": " + argument + " is NULL"};
}

// Copies prefix + text into error (cut to fit, never inside a UTF-8 sequence). Never throws.
optout_status report(optout_error* error, optout_status code, std::string_view prefix, std::string_view text) noexcept {
  if (error == nullptr) return code;
  error->code = code;
  constexpr std::size_t kRoom = OPTOUT_ERROR_MESSAGE_BYTES - 1;
  std::size_t used = 0;
  for (const std::string_view piece : {prefix, text}) {
    std::size_t take = std::min(piece.size(), kRoom - used);
    if (take < piece.size()) {
      while (take > 0 && (static_cast<unsigned char>(piece[take]) & 0xC0) == 0x80) --take;
    }
    std::memcpy(error->message + used, piece.data(), take);
    used += take;
    if (take < piece.size()) break;
  }
  error->message[used] = '\0';
  return code;
}

template <typename Body>
optout_status guarded(optout_error* error, Body&& body) noexcept {
  try {
    const Outcome outcome = body();
    return report(error, outcome.code, "", outcome.message);
  } catch (const std::bad_alloc&) {
    return report(error, OPTOUT_E_INTERNAL, "internal error: ", "out of memory");
  } catch (const std::exception& e) {
    return report(error, OPTOUT_E_INTERNAL, "internal error: ", e.what());
  } catch (...) {
    return report(error, OPTOUT_E_INTERNAL, "internal error: ", "unknown exception");
  }
}

// The format named (NULL: CSV), by the engine's parse_input_format().
Outcome to_format(const char* format, optout::FilterOptions& out) {
  if (format == nullptr) return {};
  optout::Result<optout::InputFormat> parsed = optout::parse_input_format(format);
  if (!parsed.ok()) return {OPTOUT_E_INVALID_ARGUMENT, parsed.status().message()};
  out.format = *parsed;
  return {};
}

// The engine's request for the C options (paths aside), or why not. The engine checks the values.
Outcome to_request(const optout_filter_options& in, optout::FilterRequest& request) {
  if (in.size < kOptionsV1Bytes) {
    return {OPTOUT_E_BAD_STRUCT_SIZE,
            "options.size is " + std::to_string(in.size) + "; call optout_filter_options_init first"};
  }
  optout::FilterOptions& out = request.options;
  if (in.max_age_seconds >= 0) request.max_age_seconds = in.max_age_seconds;
  out.column_name = in.column_name != nullptr ? in.column_name : "";
  if (in.column_index > 0) out.column_index = in.column_index;  // 0: by name
  out.has_header = in.has_header != 0;
  out.delimiter = in.delimiter;
  out.threads = in.threads;
  out.block_bytes = in.block_bytes > 0 ? in.block_bytes : optout::kDefaultBlockBytes;
  out.max_record_bytes = in.max_record_bytes > 0 ? in.max_record_bytes : optout::kDefaultMaxRecordBytes;
  if (in.max_rejected_rows >= 0) out.max_rejected_rows = static_cast<std::uint64_t>(in.max_rejected_rows);
  if (!(in.max_rejected_fraction < 0)) out.max_rejected_fraction = in.max_rejected_fraction;  // NaN: refused
  if (in.size >= kOptionsV4Bytes) {
    if (in.entry != nullptr) out.entry = in.entry;
    if (in.compress != nullptr) {
      optout::Result<optout::Compression> codec = optout::parse_compression(in.compress);
      if (!codec.ok()) return codec.status();
      request.compress = *codec;
    }
    if (in.compression_level >= 0) out.compression_level = in.compression_level;
  }
  return to_format(in.size >= kOptionsV3Bytes ? in.format : nullptr, out);
}

// The C strings paths[0 .. count-1] (count 0: none, paths may be NULL), or why not.
Outcome string_list(const char* function, const char* argument, const char* const* paths, std::size_t count,
                    std::vector<std::string>& out) {
  if (count > 0 && paths == nullptr) return null_argument(function, argument);
  for (std::size_t i = 0; i < count; ++i) {
    if (paths[i] == nullptr) {
      return {OPTOUT_E_NULL_ARGUMENT, std::string(function) + ": " + argument + "[" + std::to_string(i) + "] is NULL"};
    }
    out.emplace_back(paths[i]);
  }
  return {};
}

// The engine's trusted keys for paths (none: OPTOUT_TRUST), read by read_trusted_keys().
Outcome trusted_keys(const char* function, const char* const* paths, std::size_t count,
                     std::vector<optout::PublicKey>& out) {
  std::vector<std::string> list;
  if (Outcome o = string_list(function, "trust_paths", paths, count, list); o.code != OPTOUT_OK) return o;
  optout::Result<std::vector<optout::PublicKey>> keys = optout::read_trusted_keys(list);
  if (!keys.ok()) return keys.status();
  out = std::move(keys).value();
  return {};
}

// The trust, pin and signing key of a filter request from the options' v2 fields (an older
// caller's options have none: OPTOUT_TRUST still applies, as it does to `optout filter`).
// The v5 fields: the impact report, as the engine's request takes it (its rules are the engine's).
Outcome to_request_impact(const optout_filter_options& in, optout::FilterRequest& request) {
  if (in.size < kOptionsV5Bytes) return {};
  if (in.impact_path != nullptr) request.impact = in.impact_path;
  if (in.impact_by_count > 0 && in.impact_by == nullptr) return null_argument("optout_filter_file", "impact_by");
  for (std::size_t i = 0; i < in.impact_by_count; ++i) {
    if (in.impact_by[i] == nullptr) return null_argument("optout_filter_file", "impact_by");
    request.impact_by.push_back(in.impact_by[i]);
  }
  request.impact_exact = in.impact_exact != 0;
  return {};
}

Outcome to_request_keys(const char* function, const optout_filter_options& in, optout::FilterRequest& request) {
  const bool v2 = in.size >= kOptionsV2Bytes;
  if (Outcome o = trusted_keys(function, v2 ? in.trust_paths : nullptr, v2 ? in.trust_count : 0, request.trust);
      o.code != OPTOUT_OK) {
    return o;
  }
  // v5: a pseudonymised extract's key file (NULL: none; "" the engine refuses).
  if (in.size >= kOptionsV6Bytes && in.pseudonym_key_path != nullptr) request.pseudonym_key = in.pseudonym_key_path;
  if (!v2) return {};
  if (in.expect_digest != nullptr) request.expect_digest = in.expect_digest;
  if (in.sign_key_path != nullptr) {
    optout::Result<optout::SecretKey> key = optout::read_secret_key(in.sign_key_path);
    if (!key.ok()) return key.status();
    request.sign_audit = std::make_shared<const optout::SecretKey>(std::move(key).value());
  }
  return {};
}

Outcome check_stats_size(const optout_filter_stats* stats) {
  if (stats != nullptr && stats->size < kStatsV1Bytes) {
    return {OPTOUT_E_BAD_STRUCT_SIZE,
            "stats.size is " + std::to_string(stats->size) + "; call optout_filter_stats_init first"};
  }
  return {};
}

void copy_stats(const optout::FilterStats& in, optout_filter_stats* out) {
  if (out == nullptr) return;
  out->rows = in.rows;
  out->kept = in.kept;
  out->removed = in.removed;
  out->rejected = in.rejected;
  std::copy(std::begin(in.rejected_by_reason), std::end(in.rejected_by_reason), out->rejected_by_reason);
  out->bytes_in = in.bytes_in;
  out->bytes_out = in.bytes_out;
  out->bytes_rejected = in.bytes_rejected;
  out->seconds = in.seconds;
  out->threads = in.threads;
  const std::string digest = in.output_digest ? in.output_digest->hex() : std::string();
  std::memcpy(out->output_digest, digest.c_str(), digest.size() + 1);
  if (out->size >= kStatsV2Bytes) {
    out->bytes_out_compressed = in.bytes_out_compressed;
    out->input_compressed_bytes = in.input_compressed_bytes;
  }
}
}  // namespace

extern "C" {

const char* optout_status_name(optout_status status) {
  switch (status) {
    case OPTOUT_OK: return "ok";
    case OPTOUT_E_NULL_ARGUMENT: return "null argument";
    case OPTOUT_E_BAD_STRUCT_SIZE: return "bad struct size";
    default: break;
  }
  if (status > OPTOUT_OK && status <= OPTOUT_E_UNTRUSTED) {
    return optout::error_code_name(static_cast<ErrorCode>(status));
  }
  return "unknown status";
}

const char* optout_version(void) { return optout::kVersion; }

// ---- Registry ---------------------------------------------------------------------------------

optout_status optout_registry_open(const char* path, optout_registry** registry, optout_error* error) {
  return guarded(error, [&]() -> Outcome {
    if (registry == nullptr) return null_argument("optout_registry_open", "registry");
    *registry = nullptr;
    if (path == nullptr) return null_argument("optout_registry_open", "path");
    optout::Result<optout::Registry> loaded = optout::load_registry(path);
    if (!loaded.ok()) return loaded.status();
    *registry = new optout_registry{std::move(loaded).value()};
    return {};
  });
}

void optout_registry_free(optout_registry* registry) { delete registry; }

optout_status optout_registry_list_count(const optout_registry* registry, size_t* count, optout_error* error) {
  return guarded(error, [&]() -> Outcome {
    if (registry == nullptr) return null_argument("optout_registry_list_count", "registry");
    if (count == nullptr) return null_argument("optout_registry_list_count", "count");
    *count = registry->registry.lists().size();
    return {};
  });
}

optout_status optout_registry_list(const optout_registry* registry, size_t index, optout_list_info* info,
                                   optout_error* error) {
  return guarded(error, [&]() -> Outcome {
    if (registry == nullptr) return null_argument("optout_registry_list", "registry");
    if (info == nullptr) return null_argument("optout_registry_list", "info");
    const std::vector<optout::ListInfo>& lists = registry->registry.lists();
    if (index >= lists.size()) {
      return {OPTOUT_E_INVALID_ARGUMENT, "optout_registry_list: index " + std::to_string(index) +
                                             " is out of range (the registry has " + std::to_string(lists.size()) +
                                             " lists)"};
    }
    const optout::ListInfo& list = lists[index];
    info->name = list.name.c_str();
    info->kind = static_cast<optout_list_kind>(list.kind);
    info->count = list.count;
    info->serialized_bytes = list.serialized_bytes;
    info->memory_bytes = list.memory_bytes;
    return {};
  });
}

optout_status optout_registry_list_scopes(const optout_registry* registry, size_t index, char* buffer, size_t capacity,
                                          size_t* needed, optout_error* error) {
  return guarded(error, [&]() -> Outcome {
    if (registry == nullptr) return null_argument("optout_registry_list_scopes", "registry");
    if (buffer == nullptr && capacity > 0) return null_argument("optout_registry_list_scopes", "buffer");
    const std::vector<optout::ListInfo>& lists = registry->registry.lists();
    if (index >= lists.size()) {
      return {OPTOUT_E_INVALID_ARGUMENT, "optout_registry_list_scopes: index " + std::to_string(index) +
                                             " is out of range (the registry has " + std::to_string(lists.size()) +
                                             " lists)"};
    }
    std::string text;
    for (const std::string& scope : lists[index].scopes) text += (text.empty() ? "" : ",") + scope;
    if (needed != nullptr) *needed = text.size() + 1;
    if (capacity < text.size() + 1) {
      return {OPTOUT_E_INVALID_ARGUMENT, "optout_registry_list_scopes: the buffer holds " + std::to_string(capacity) +
                                             " bytes, the scopes need " + std::to_string(text.size() + 1)};
    }
    std::memcpy(buffer, text.c_str(), text.size() + 1);
    return {};
  });
}

optout_status optout_registry_find_list(const optout_registry* registry, const char* name, size_t* index,
                                        optout_error* error) {
  return guarded(error, [&]() -> Outcome {
    if (registry == nullptr) return null_argument("optout_registry_find_list", "registry");
    if (name == nullptr) return null_argument("optout_registry_find_list", "name");
    if (index == nullptr) return null_argument("optout_registry_find_list", "index");
    const optout::Result<std::size_t> found = registry->registry.require_list(name);
    if (!found.ok()) return found.status();  // the engine's message, which redacts the name
    *index = *found;
    return {};
  });
}

optout_status optout_registry_digest(const optout_registry* registry, char* hex, optout_error* error) {
  return guarded(error, [&]() -> Outcome {
    if (registry == nullptr) return null_argument("optout_registry_digest", "registry");
    if (hex == nullptr) return null_argument("optout_registry_digest", "hex");
    const std::string text = registry->registry.digest().hex();
    std::memcpy(hex, text.c_str(), text.size() + 1);
    return {};
  });
}

optout_status optout_registry_created_at(const optout_registry* registry, int64_t* unix_seconds, optout_error* error) {
  return guarded(error, [&]() -> Outcome {
    if (registry == nullptr) return null_argument("optout_registry_created_at", "registry");
    if (unix_seconds == nullptr) return null_argument("optout_registry_created_at", "unix_seconds");
    *unix_seconds = registry->registry.created_at();
    return {};
  });
}

optout_status optout_registry_description(const optout_registry* registry, const char** description,
                                          optout_error* error) {
  return guarded(error, [&]() -> Outcome {
    if (registry == nullptr) return null_argument("optout_registry_description", "registry");
    if (description == nullptr) return null_argument("optout_registry_description", "description");
    *description = registry->registry.description().c_str();
    return {};
  });
}

optout_status optout_registry_signer(const optout_registry* registry, char* key_id, optout_error* error) {
  return guarded(error, [&]() -> Outcome {
    if (registry == nullptr) return null_argument("optout_registry_signer", "registry");
    if (key_id == nullptr) return null_argument("optout_registry_signer", "key_id");
    const std::optional<optout::PublicKey>& signer = registry->registry.signer();
    const std::string text = signer ? signer->key_id() : std::string();
    std::memcpy(key_id, text.c_str(), text.size() + 1);
    return {};
  });
}

optout_status optout_registry_check_trust(const optout_registry* registry, const char* const* trust_paths,
                                          size_t trust_count, optout_error* error) {
  return guarded(error, [&]() -> Outcome {
    if (registry == nullptr) return null_argument("optout_registry_check_trust", "registry");
    std::vector<optout::PublicKey> trusted;
    if (Outcome o = trusted_keys("optout_registry_check_trust", trust_paths, trust_count, trusted);
        o.code != OPTOUT_OK) {
      return o;
    }
    return optout::check_trust(registry->registry.source(), registry->registry.signer(), trusted);
  });
}

optout_status optout_registry_check_digest(const optout_registry* registry, const char* expected_hex,
                                           optout_error* error) {
  return guarded(error, [&]() -> Outcome {
    if (registry == nullptr) return null_argument("optout_registry_check_digest", "registry");
    if (expected_hex == nullptr) return null_argument("optout_registry_check_digest", "expected_hex");
    return optout::check_expected_digest(registry->registry.source(), registry->registry.digest(), expected_hex);
  });
}

// ---- Index and lookups ------------------------------------------------------------------------

optout_status optout_index_create(const optout_registry* registry, const char* const* names, size_t name_count,
                                  optout_index** index, optout_error* error) {
  return guarded(error, [&]() -> Outcome {
    if (index == nullptr) return null_argument("optout_index_create", "index");
    *index = nullptr;
    if (registry == nullptr) return null_argument("optout_index_create", "registry");
    if (name_count > 0 && names == nullptr) return null_argument("optout_index_create", "names");
    std::vector<std::string> apply;
    apply.reserve(name_count);
    for (std::size_t i = 0; i < name_count; ++i) {
      if (names[i] == nullptr) {
        return {OPTOUT_E_NULL_ARGUMENT, "optout_index_create: names[" + std::to_string(i) + "] is NULL"};
      }
      apply.emplace_back(names[i]);
    }
    optout::Result<optout::OptOutIndex> made = optout::OptOutIndex::create(registry->registry, apply);
    if (!made.ok()) return made.status();
    *index = new optout_index{std::move(made).value()};
    return {};
  });
}

optout_status optout_index_create_for_purpose(const optout_registry* registry, const char* purpose,
                                              const char* const* exemptions, size_t exemption_count,
                                              optout_index** index, optout_error* error) {
  return guarded(error, [&]() -> Outcome {
    if (index == nullptr) return null_argument("optout_index_create_for_purpose", "index");
    *index = nullptr;
    if (registry == nullptr) return null_argument("optout_index_create_for_purpose", "registry");
    if (purpose == nullptr) return null_argument("optout_index_create_for_purpose", "purpose");
    if (exemption_count > 0 && exemptions == nullptr) {
      return null_argument("optout_index_create_for_purpose", "exemptions");
    }
    optout::ListSelection selection;
    selection.purpose = purpose;
    for (std::size_t i = 0; i < exemption_count; ++i) {
      if (exemptions[i] == nullptr) {
        return {OPTOUT_E_NULL_ARGUMENT,
                "optout_index_create_for_purpose: exemptions[" + std::to_string(i) + "] is NULL"};
      }
      optout::Result<optout::Exemption> exemption = optout::parse_exemption(exemptions[i]);
      if (!exemption.ok()) return exemption.status();
      selection.exemptions.push_back(std::move(exemption).value());
    }
    optout::Result<optout::OptOutIndex> made = optout::OptOutIndex::create(registry->registry, selection);
    if (!made.ok()) return made.status();
    *index = new optout_index{std::move(made).value()};
    return {};
  });
}

void optout_index_free(optout_index* index) { delete index; }

optout_status optout_index_classify_numbers(const optout_index* index, const uint64_t* numbers, size_t count,
                                            uint8_t* verdicts, optout_error* error) {
  return guarded(error, [&]() -> Outcome {
    if (index == nullptr) return null_argument("optout_index_classify_numbers", "index");
    if (count > 0 && numbers == nullptr) return null_argument("optout_index_classify_numbers", "numbers");
    if (count > 0 && verdicts == nullptr) return null_argument("optout_index_classify_numbers", "verdicts");
    index->index.classify_each(std::span<std::uint8_t>(verdicts, count),
                               [&](std::size_t i) { return optout::nhs_number_from_integer(numbers[i]); });
    return {};
  });
}

optout_status optout_index_classify_text(const optout_index* index, const char* const* texts, const size_t* lengths,
                                         size_t count, uint8_t* verdicts, optout_error* error) {
  return guarded(error, [&]() -> Outcome {
    if (index == nullptr) return null_argument("optout_index_classify_text", "index");
    if (count > 0 && texts == nullptr) return null_argument("optout_index_classify_text", "texts");
    if (count > 0 && verdicts == nullptr) return null_argument("optout_index_classify_text", "verdicts");
    for (std::size_t i = 0; i < count; ++i) {
      if (texts[i] == nullptr) {
        return {OPTOUT_E_NULL_ARGUMENT, "optout_index_classify_text: texts[" + std::to_string(i) + "] is NULL"};
      }
    }
    index->index.classify_each(std::span<std::uint8_t>(verdicts, count), [&](std::size_t i) {
      return optout::parse_nhs_number(lengths != nullptr ? std::string_view(texts[i], lengths[i])
                                                         : std::string_view(texts[i]));
    });
    return {};
  });
}

// ---- Filtering --------------------------------------------------------------------------------

void optout_filter_options_init(optout_filter_options* options) {
  if (options == nullptr) return;
  *options = optout_filter_options{};
  options->size = sizeof(optout_filter_options);
  options->has_header = 1;
  options->delimiter = ',';
  options->block_bytes = optout::kDefaultBlockBytes;
  options->max_record_bytes = optout::kDefaultMaxRecordBytes;
  options->max_rejected_rows = -1;
  options->max_rejected_fraction = -1;
  options->max_age_seconds = -1;
  options->compression_level = -1;
}

void optout_filter_stats_init(optout_filter_stats* stats) {
  if (stats == nullptr) return;
  *stats = optout_filter_stats{};
  stats->size = sizeof(optout_filter_stats);
}

const char* optout_rejected_reason_name(size_t reason) { return optout::rejected_reason_name(reason); }

optout_status optout_filter_file(const optout_index* index, const char* input_path, const char* output_path,
                                 const optout_filter_options* options, optout_filter_stats* stats,
                                 optout_error* error) {
  return guarded(error, [&]() -> Outcome {
    if (index == nullptr) return null_argument("optout_filter_file", "index");
    if (input_path == nullptr) return null_argument("optout_filter_file", "input_path");
    if (options == nullptr) return null_argument("optout_filter_file", "options");
    if (Outcome o = check_stats_size(stats); o.code != OPTOUT_OK) return o;
    optout::FilterRequest request;
    if (Outcome o = to_request(*options, request); o.code != OPTOUT_OK) return o;
    request.inputs = {input_path};
    request.output = output_path != nullptr ? output_path : "-";
    // NULL: none; "" is a path the engine refuses (never "none").
    if (options->rejects_path != nullptr) request.rejects = options->rejects_path;
    if (options->stats_path != nullptr) request.stats = options->stats_path;
    if (options->audit_path != nullptr) request.audit = options->audit_path;
    if (Outcome o = to_request_keys("optout_filter_file", *options, request); o.code != OPTOUT_OK) return o;
    if (Outcome o = to_request_impact(*options, request); o.code != OPTOUT_OK) return o;
    optout::Result<optout::RunResult> result = optout::run_filter(index->index, request);
    if (!result.ok()) return result.status();
    copy_stats(result->stats, stats);
    return {};
  });
}

optout_status optout_filter_fd(const optout_index* index, int input_fd, int output_fd, int rejects_fd,
                               const optout_filter_options* options, optout_filter_stats* stats, optout_error* error) {
  return guarded(error, [&]() -> Outcome {
    if (index == nullptr) return null_argument("optout_filter_fd", "index");
    if (options == nullptr) return null_argument("optout_filter_fd", "options");
    if (Outcome o = check_stats_size(stats); o.code != OPTOUT_OK) return o;
    optout::FilterRequest request;
    if (Outcome o = to_request(*options, request); o.code != OPTOUT_OK) return o;
    if (options->rejects_path != nullptr || options->stats_path != nullptr || options->audit_path != nullptr) {
      return {OPTOUT_E_INVALID_ARGUMENT,
              "optout_filter_fd writes no files: rejects_path, stats_path and audit_path must be NULL "
              "(use rejects_fd, the stats it returns, or optout_filter_file)"};
    }
    if (options->size >= kOptionsV5Bytes && options->impact_path != nullptr) {
      return {OPTOUT_E_INVALID_ARGUMENT,
              "optout_filter_fd writes no files: impact_path must be NULL "
              "(use optout_filter_file for an impact report)"};
    }
    if (input_fd < 0 || output_fd < 0) {
      return {OPTOUT_E_INVALID_ARGUMENT, "optout_filter_fd: input_fd and output_fd must be open descriptors"};
    }
    if (Outcome o = to_request_keys("optout_filter_fd", *options, request); o.code != OPTOUT_OK) return o;
    // Decompressed as open_file_source() does for files and standard input (gzip, zstd, zip).
    std::unique_ptr<optout::ByteSource> in =
        optout::make_decompressing_source(optout::make_fd_source(input_fd, "<fd " + std::to_string(input_fd) + ">"));
    std::unique_ptr<optout::ByteSink> out = optout::make_fd_sink(output_fd, "<fd " + std::to_string(output_fd) + ">");
    std::unique_ptr<optout::ByteSink> rejects;
    if (rejects_fd >= 0) rejects = optout::make_fd_sink(rejects_fd, "<fd " + std::to_string(rejects_fd) + ">");
    request.source = in.get();
    request.sink = out.get();
    request.rejects_sink = rejects.get();
    optout::Result<optout::RunResult> result = optout::run_filter(index->index, request);
    if (!result.ok()) return result.status();
    copy_stats(result->stats, stats);
    return {};
  });
}

// ---- Verify -----------------------------------------------------------------------------------

void optout_verify_options_init(optout_verify_options* options) {
  if (options == nullptr) return;
  *options = optout_verify_options{};
  options->size = sizeof(optout_verify_options);
  options->has_header = 1;
  options->delimiter = ',';
  options->block_bytes = optout::kDefaultBlockBytes;
  options->max_record_bytes = optout::kDefaultMaxRecordBytes;
}

void optout_verify_result_init(optout_verify_result* result) {
  if (result == nullptr) return;
  *result = optout_verify_result{};
  result->size = sizeof(optout_verify_result);
}

optout_status optout_verify_file(const optout_index* index, const char* input_path,
                                 const optout_verify_options* options, optout_verify_result* result,
                                 optout_error* error) {
  return guarded(error, [&]() -> Outcome {
    if (index == nullptr) return null_argument("optout_verify_file", "index");
    if (input_path == nullptr) return null_argument("optout_verify_file", "input_path");
    if (options == nullptr) return null_argument("optout_verify_file", "options");
    if (result == nullptr) return null_argument("optout_verify_file", "result");
    if (options->size < kVerifyOptionsV1Bytes) {
      return {OPTOUT_E_BAD_STRUCT_SIZE,
              "options.size is " + std::to_string(options->size) + "; call optout_verify_options_init first"};
    }
    if (result->size < kVerifyResultV1Bytes) {
      return {OPTOUT_E_BAD_STRUCT_SIZE,
              "result.size is " + std::to_string(result->size) + "; call optout_verify_result_init first"};
    }
    optout::VerifyRequest request;
    request.input = input_path;
    optout::FilterOptions& out = request.options;
    out.column_name = options->column_name != nullptr ? options->column_name : "";
    if (options->column_index > 0) out.column_index = options->column_index;  // 0: by name
    out.has_header = options->has_header != 0;
    out.delimiter = options->delimiter;
    out.threads = options->threads;
    out.block_bytes = options->block_bytes > 0 ? options->block_bytes : optout::kDefaultBlockBytes;
    out.max_record_bytes = options->max_record_bytes > 0 ? options->max_record_bytes : optout::kDefaultMaxRecordBytes;
    if (Outcome o = to_format(options->size >= kVerifyOptionsV2Bytes ? options->format : nullptr, out);
        o.code != OPTOUT_OK) {
      return o;
    }
    if (options->size >= kVerifyOptionsV3Bytes && options->entry != nullptr) out.entry = options->entry;
    if (Outcome o = trusted_keys("optout_verify_file", options->trust_paths, options->trust_count, request.trust);
        o.code != OPTOUT_OK) {
      return o;
    }
    // NULL: none; "" is a path or value the engine refuses (never "none").
    if (options->expect_digest != nullptr) request.expect_digest = options->expect_digest;
    if (options->audit_path != nullptr) request.audit = options->audit_path;
    if (options->matches_path != nullptr) request.matches = options->matches_path;
    if (options->id_column != nullptr) request.id_column = options->id_column;
    if (options->size >= kVerifyOptionsV4Bytes && options->pseudonym_key_path != nullptr) {
      request.pseudonym_key = options->pseudonym_key_path;
    }
    optout::Result<optout::VerifyResult> verified = optout::run_verify(index->index, request);
    if (!verified.ok()) return verified.status();
    const optout::FilterStats& stats = verified->stats;
    result->clean = verified->clean() ? 1 : 0;
    result->rows = stats.rows;
    result->kept = stats.kept;
    result->removed = stats.removed;
    result->rejected = stats.rejected;
    std::copy(std::begin(stats.rejected_by_reason), std::end(stats.rejected_by_reason), result->rejected_by_reason);
    result->bytes_in = stats.bytes_in;
    const std::string digest = verified->input_digest.hex();
    std::memcpy(result->input_digest, digest.c_str(), digest.size() + 1);
    result->matches_written = verified->matches_written;
    result->audit_line = verified->audit ? verified->audit->line : 0;
    const std::string signer =
        verified->audit && verified->audit->signer_key_id ? *verified->audit->signer_key_id : std::string();
    if (signer.size() >= sizeof result->audit_signer) {
      return {OPTOUT_E_INTERNAL, "optout_verify_file: a signer key id of " + std::to_string(signer.size()) + " bytes"};
    }
    std::memcpy(result->audit_signer, signer.c_str(), signer.size() + 1);
    return {};
  });
}

// ---- Export -----------------------------------------------------------------------------------

optout_status optout_registry_export_list(const optout_registry* registry, const char* name,
                                          optout_export_format format, const char* output_path, uint64_t* count,
                                          optout_error* error) {
  return guarded(error, [&]() -> Outcome {
    if (registry == nullptr) return null_argument("optout_registry_export_list", "registry");
    if (name == nullptr) return null_argument("optout_registry_export_list", "name");
    if (format != OPTOUT_EXPORT_ROARING && format != OPTOUT_EXPORT_TEXT && format != OPTOUT_EXPORT_MESH) {
      return {OPTOUT_E_INVALID_ARGUMENT,
              "optout_registry_export_list: unknown format " + std::to_string(static_cast<int>(format))};
    }
    const std::string inputs[] = {registry->registry.source()};
    const std::string outputs[] = {output_path != nullptr ? output_path : "-"};
    if (optout::Status s = optout::check_distinct_files(inputs, outputs); !s.ok()) return s;
    optout::Result<optout::Destination> out = optout::Destination::open(outputs[0]);
    if (!out.ok()) return out.status();
    optout::Result<optout::ListExportStats> written =
        optout::export_list(registry->registry, name, static_cast<optout::NumbersFormat>(format), out->sink());
    if (!written.ok()) return written.status();
    if (optout::Status s = out->commit(); !s.ok()) return s;
    if (count != nullptr) *count = written->count;
    return {};
  });
}

}  // extern "C"
