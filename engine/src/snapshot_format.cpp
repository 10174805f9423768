// Snapshot encoding, decoding and validation of the file layout (snapshot_format.hpp): header,
// section table, sections, checksum, trailer; and the public save_registry / load_registry /
// encode_registry / decode_registry. Each list's bitmap bytes are read by roaring_frozen.cpp, the
// one unit that knows CRoaring's container internals; here they are opaque.
#include "snapshot_format.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include <nlohmann/json.hpp>
#include <tbb/parallel_for.h>
#include <tbb/parallel_invoke.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cstdlib>
#include <cerrno>
#include <cstring>
#include <limits>
#include <new>
#include <optional>
#include <string>
#include <vector>

#include "optout/io.hpp"
#include "optout/signing.hpp"
#include "roaring_build.hpp"
#include "roaring_frozen.hpp"

namespace optout::detail {
namespace {

static_assert(std::endian::native == std::endian::little,
              "snapshot I/O copies little-endian integers as they are in memory");

constexpr std::uint64_t align8(std::uint64_t n) noexcept { return (n + 7) & ~std::uint64_t{7}; }

template <typename T>
T load(const char* p) noexcept {
  T value;
  std::memcpy(&value, p, sizeof value);
  return value;
}

template <typename T>
void store(char* p, T value) noexcept {
  std::memcpy(p, &value, sizeof value);
}

bool all_zero(const char* p, std::uint64_t n) noexcept {
  for (std::uint64_t i = 0; i < n; ++i) {
    if (p[i] != 0) return false;
  }
  return true;
}

// ---- Writing ----------------------------------------------------------------------------------

struct SectionSlot {
  std::uint32_t type;
  std::uint32_t flags;
  std::uint64_t length;
  std::uint64_t offset = 0;
};

// Places the sections after the table, 8-byte aligned; returns the file size.
std::uint64_t lay_out(std::vector<SectionSlot>& slots) noexcept {
  std::uint64_t pos = kSnapshotHeaderBytes + kSectionEntryBytes * slots.size();
  for (SectionSlot& s : slots) {
    s.offset = align8(pos);
    pos = s.offset + s.length;
  }
  return align8(pos) + kSnapshotTrailerBytes;
}

// Writes the header and table into a zero-filled buffer of file_size bytes.
void start_file(char* p, std::int64_t created_at, const std::vector<SectionSlot>& slots,
                std::uint64_t file_size) noexcept {
  std::memcpy(p, kSnapshotMagic, sizeof kSnapshotMagic);
  store<std::uint32_t>(p + 8, kSnapshotVersion);
  store<std::uint32_t>(p + 12, static_cast<std::uint32_t>(kSnapshotHeaderBytes));
  store<std::uint64_t>(p + 16, file_size);
  store<std::int64_t>(p + 24, created_at);
  store<std::uint32_t>(p + 32, static_cast<std::uint32_t>(slots.size()));
  char* entry = p + kSnapshotHeaderBytes;
  for (const SectionSlot& s : slots) {
    store<std::uint32_t>(entry, s.type);
    store<std::uint32_t>(entry + 4, s.flags);
    store<std::uint64_t>(entry + 8, s.offset);
    store<std::uint64_t>(entry + 16, s.length);
    entry += kSectionEntryBytes;
  }
}

// Writes a LIST section's fixed header and padded name; returns where the bitmap goes.
char* write_list_header(char* p, std::string_view name, ListKind kind, std::uint64_t cardinality,
                        std::uint64_t bitmap_length) noexcept {
  p[0] = static_cast<char>(kind);
  store<std::uint16_t>(p + 2, static_cast<std::uint16_t>(name.size()));
  store<std::uint64_t>(p + 8, cardinality);
  store<std::uint64_t>(p + 16, bitmap_length);
  std::memcpy(p + kListHeaderBytes, name.data(), name.size());
  return p + kListHeaderBytes + align8(name.size());
}

// ---- Reading ----------------------------------------------------------------------------------

struct ListEntry {
  std::string_view name;
  ListKind kind;
  std::uint64_t cardinality;
  std::string_view bitmap;
};

// ---- Provenance -------------------------------------------------------------------------------

// Digest128::hex()'s form back: 32 lower-case hex digits, high half first.
std::optional<Digest128> digest_of_hex(std::string_view hex) {
  if (hex.size() != 32) return std::nullopt;
  for (const char c : hex) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return std::nullopt;
  }
  const auto bytes = from_hex<16>(hex);
  if (!bytes) return std::nullopt;
  Digest128 d;
  for (int i = 0; i < 8; ++i) {
    d.high = d.high << 8 | (*bytes)[static_cast<std::size_t>(i)];
    d.low = d.low << 8 | (*bytes)[static_cast<std::size_t>(8 + i)];
  }
  return d;
}

bool is_base_name(std::string_view file) noexcept {
  return !file.empty() && file != "." && file != ".." && file.find('/') == std::string_view::npos &&
         file.find('\0') == std::string_view::npos;
}

// One source record of a PROVENANCE payload; returns the problem or "".
std::string parse_source_record(const nlohmann::json& j, SourceRecord& out) {
  static constexpr const char* kKeys[] = {"file", "op", "bytes", "xxh3_128", "lines", "numbers"};
  if (!j.is_object() || j.size() != std::size(kKeys)) return "a source is not an object of the 6 source fields";
  for (const char* key : kKeys) {
    if (!j.contains(key)) return std::string("a source has no '") + key + "'";
  }
  const auto& file = j["file"];
  if (!file.is_string() || !is_base_name(file.get_ref<const std::string&>())) {
    return "a source's file is not a base name (a non-empty name without '/')";
  }
  out.file = file.get<std::string>();
  const auto& op = j["op"];
  if (!op.is_string() || (op != "add" && op != "remove")) return "a source's op is not \"add\" or \"remove\"";
  out.removal = op == "remove";
  for (const char* key : {"bytes", "lines", "numbers"}) {
    if (!j[key].is_number_unsigned()) return std::string("a source's ") + key + " is not an unsigned integer";
  }
  out.bytes = j["bytes"].get<std::uint64_t>();
  out.lines = j["lines"].get<std::uint64_t>();
  out.numbers = j["numbers"].get<std::uint64_t>();
  if (out.numbers > out.lines) return "a source has more numbers than lines";
  const auto& xxh3 = j["xxh3_128"];
  const std::optional<Digest128> digest =
      xxh3.is_string() ? digest_of_hex(xxh3.get_ref<const std::string&>()) : std::nullopt;
  if (!digest) return "a source's xxh3_128 is not 32 lower-case hex digits";
  out.xxh3 = *digest;
  return {};
}

// One list entry of a PROVENANCE payload; returns the problem or "".
std::string parse_list_provenance(const nlohmann::json& j, const std::vector<ListInfo>& lists, ListProvenance& out) {
  if (!j.is_object()) return "a list entry is not an object";
  const std::size_t keys = j.size();
  if (!j.contains("name") || !j.contains("sources") || keys != (j.contains("as_of") ? 3u : 2u)) {
    return "a list entry does not hold exactly name, sources and an optional as_of";
  }
  const auto& name = j["name"];
  if (!name.is_string()) return "a list entry's name is not a string";
  out.list = name.get<std::string>();
  const auto it = std::lower_bound(lists.begin(), lists.end(), out.list,
                                   [](const ListInfo& info, const std::string& n) { return info.name < n; });
  if (it == lists.end() || it->name != out.list) return "a list entry names no list of the snapshot";
  const std::string label = "list '" + redact_numbers(out.list) + "': ";
  if (j.contains("as_of")) {
    const auto& as_of = j["as_of"];
    Result<std::int64_t> date = as_of.is_string() ? parse_iso_date(as_of.get_ref<const std::string&>())
                                                  : Result<std::int64_t>(Status(ErrorCode::kInvalidArgument, ""));
    if (!date.ok()) return label + "as_of is not a date YYYY-MM-DD";
    out.as_of = *date;
  }
  const auto& sources = j["sources"];
  if (!sources.is_array()) return label + "sources is not an array";
  if (sources.empty() && !out.as_of) return label + "empty entry (no as_of, no source)";
  out.sources.resize(sources.size());
  for (std::size_t i = 0; i < sources.size(); ++i) {
    if (std::string problem = parse_source_record(sources[i], out.sources[i]); !problem.empty()) {
      return label + "source " + std::to_string(i + 1) + ": " + problem;
    }
  }
  return {};
}

}  // namespace

// ---- Shared helpers ---------------------------------------------------------------------------

Digest128 snapshot_checksum(std::string_view bytes) noexcept {
  const XXH128_hash_t h = XXH3_128bits(bytes.data(), bytes.size());
  return Digest128{h.high64, h.low64};
}

void rewrite_trailer(std::string& bytes) noexcept {
  const std::size_t body = bytes.size() - kSnapshotTrailerBytes;
  const Digest128 digest = snapshot_checksum(std::string_view(bytes).substr(0, body));
  store<std::uint64_t>(bytes.data() + body, digest.high);
  store<std::uint64_t>(bytes.data() + body + 8, digest.low);
}

bool is_valid_utf8(std::string_view text) noexcept {
  const auto* s = reinterpret_cast<const unsigned char*>(text.data());
  const std::size_t n = text.size();
  std::size_t i = 0;
  while (i < n) {
    const unsigned c = s[i];
    if (c < 0x80) {
      ++i;
      continue;
    }
    std::size_t len;
    std::uint32_t cp;
    if (c >= 0xC2 && c <= 0xDF) {
      len = 2;
      cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
      len = 3;
      cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      len = 4;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (n - i < len) return false;
    for (std::size_t j = 1; j < len; ++j) {
      if ((s[i + j] & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (s[i + j] & 0x3F);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) || (cp >= 0xD800 && cp <= 0xDFFF)) {
      return false;
    }
    i += len;
  }
  return true;
}

void describe_list(ListInfo& info, const roaring_bitmap_t* bitmap) noexcept {
  info.count = roaring_bitmap_get_cardinality(bitmap);
  info.serialized_bytes = roaring_bitmap_portable_size_in_bytes(bitmap);
  info.memory_bytes = bitmap_memory_bytes(bitmap);
}

std::string assemble_snapshot(std::int64_t created_at, std::span<const SnapshotSection> sections) {
  std::vector<SectionSlot> slots;
  slots.reserve(sections.size());
  for (const SnapshotSection& s : sections) slots.push_back({s.type, s.flags, s.payload.size()});
  const std::uint64_t file_size = lay_out(slots);
  std::string out(file_size, '\0');
  start_file(out.data(), created_at, slots, file_size);
  for (std::size_t i = 0; i < sections.size(); ++i) {
    std::memcpy(out.data() + slots[i].offset, sections[i].payload.data(), sections[i].payload.size());
  }
  rewrite_trailer(out);
  return out;
}

std::string list_section_payload(std::string_view name, ListKind kind, std::uint64_t cardinality,
                                 std::string_view bitmap) {
  std::string out(kListHeaderBytes + align8(name.size()) + bitmap.size(), '\0');
  char* at = write_list_header(out.data(), name, kind, cardinality, bitmap.size());
  std::memcpy(at, bitmap.data(), bitmap.size());
  return out;
}

std::string provenance_payload(std::span<const ListProvenance> provenance) {
  nlohmann::ordered_json lists = nlohmann::ordered_json::array();
  for (const ListProvenance& p : provenance) {
    nlohmann::ordered_json entry = {{"name", p.list}};
    if (p.as_of) entry["as_of"] = iso_date_utc(*p.as_of);
    nlohmann::ordered_json sources = nlohmann::ordered_json::array();
    for (const SourceRecord& r : p.sources) {
      sources.push_back({{"file", r.file},
                         {"op", r.removal ? "remove" : "add"},
                         {"bytes", r.bytes},
                         {"xxh3_128", r.xxh3.hex()},
                         {"lines", r.lines},
                         {"numbers", r.numbers}});
    }
    entry["sources"] = std::move(sources);
    lists.push_back(std::move(entry));
  }
  const nlohmann::ordered_json doc = {{"lists", std::move(lists)}};
  // replace: a name that is not valid UTF-8 (the builder never records one) cannot throw here.
  return doc.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

std::string parse_provenance(std::string_view payload, const std::vector<ListInfo>& lists,
                             std::vector<ListProvenance>& out) {
  out.clear();
  const nlohmann::json doc = nlohmann::json::parse(payload, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return "not JSON (or not UTF-8)";
  if (!doc.is_object() || doc.size() != 1 || !doc.contains("lists") || !doc["lists"].is_array()) {
    return "not an object holding only a 'lists' array";
  }
  const auto& entries = doc["lists"];
  if (entries.empty()) return "no list entry";
  out.resize(entries.size());
  for (std::size_t i = 0; i < entries.size(); ++i) {
    if (std::string problem = parse_list_provenance(entries[i], lists, out[i]); !problem.empty()) return problem;
    if (i > 0 && !(out[i - 1].list < out[i].list)) {
      return "list '" + redact_numbers(out[i].list) + "': list entries not in strictly increasing name order";
    }
  }
  if (provenance_payload(out) != payload) return "not in the canonical form optout writes";
  return {};
}

std::string scopes_payload(const std::vector<ListInfo>& lists) {
  nlohmann::ordered_json entries = nlohmann::ordered_json::array();
  for (const ListInfo& info : lists) {
    if (info.scopes.empty()) continue;
    entries.push_back({{"name", info.name}, {"scopes", info.scopes}});
  }
  if (entries.empty()) return {};
  const nlohmann::ordered_json doc = {{"lists", std::move(entries)}};
  return doc.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

std::string parse_scopes(std::string_view payload, const std::vector<ListInfo>& lists,
                         std::vector<std::vector<std::string>>& scopes) {
  scopes.assign(lists.size(), {});
  const nlohmann::json doc = nlohmann::json::parse(payload, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return "not JSON (or not UTF-8)";
  if (!doc.is_object() || doc.size() != 1 || !doc.contains("lists") || !doc["lists"].is_array()) {
    return "not an object holding only a 'lists' array";
  }
  const auto& entries = doc["lists"];
  if (entries.empty()) return "no list entry";
  std::vector<ListInfo> named(lists.size());
  for (std::size_t i = 0; i < lists.size(); ++i) named[i].name = lists[i].name;
  std::string previous;
  for (std::size_t e = 0; e < entries.size(); ++e) {
    const auto& entry = entries[e];
    if (!entry.is_object() || entry.size() != 2 || !entry.contains("name") || !entry["name"].is_string() ||
        !entry.contains("scopes") || !entry["scopes"].is_array()) {
      return "a list entry does not hold exactly name and scopes";
    }
    const std::string name = entry["name"].get<std::string>();
    const auto it = std::lower_bound(lists.begin(), lists.end(), name,
                                     [](const ListInfo& info, const std::string& n) { return info.name < n; });
    if (it == lists.end() || it->name != name) return "an entry for a list the snapshot does not hold";
    if (e > 0 && !(previous < name)) {
      return "list '" + redact_numbers(name) + "': list entries not in strictly increasing name order";
    }
    previous = name;
    std::vector<std::string>& out = scopes[static_cast<std::size_t>(it - lists.begin())];
    if (entry["scopes"].empty()) return "list '" + redact_numbers(name) + "': no scope";
    for (const auto& scope : entry["scopes"]) {
      if (!scope.is_string() || !validate_scope_name(scope.get<std::string>()).ok()) {
        return "list '" + redact_numbers(name) + "': a scope that is not a scope name";
      }
      if (!out.empty() && !(out.back() < scope.get<std::string>())) {
        return "list '" + redact_numbers(name) + "': scopes not in strictly increasing order";
      }
      out.push_back(scope.get<std::string>());
    }
    named[static_cast<std::size_t>(it - lists.begin())].scopes = out;
  }
  if (scopes_payload(named) != payload) return "not in the canonical form optout writes";
  return {};
}

std::string signature_section_payload(const PublicKey& key, const Signature& signature) {
  std::string out(kSignatureSectionBytes, '\0');
  store<std::uint32_t>(out.data(), kSignatureEd25519);
  const std::optional<std::array<std::uint8_t, 8>> id = from_hex<8>(key.key_id());
  std::memcpy(out.data() + 8, id->data(), id->size());
  std::memcpy(out.data() + 16, key.bytes.data(), key.bytes.size());
  std::memcpy(out.data() + 48, signature.data(), signature.size());
  return out;
}

SnapshotBytes encode_snapshot(const RegistryData& data) {
  if (!data.signer) return encode_snapshot(data, nullptr, data.signature);
  SnapshotBytes bytes = encode_snapshot(data, &*data.signer, data.signature);
  // A snapshot that sign_registry() made, or that was loaded from one, encodes to the bytes that
  // were signed. One that does not (loaded from a later writer's file with an optional section
  // this build skips, or laid out otherwise) would carry a signature that no longer verifies:
  // it is encoded unsigned instead.
  const std::size_t section = bytes.size - kSnapshotTrailerBytes - kSignatureSectionBytes;
  if (verify_prehash(*data.signer, SignedKind::kRegistry, prehash(bytes.view().substr(0, section)), data.signature)) {
    return bytes;
  }
  return encode_snapshot(data, nullptr, data.signature);
}

SnapshotBytes encode_snapshot(const RegistryData& data, const PublicKey* signer, const Signature& signature) {
  const std::size_t list_count = data.lists.size();
  std::vector<SectionSlot> slots;
  slots.reserve(4 + list_count);
  slots.push_back({kSectionDescription, kSectionRequired, data.description.size()});
  std::vector<std::uint64_t> bitmap_bytes(list_count);
  for (std::size_t i = 0; i < list_count; ++i) {
    bitmap_bytes[i] = roaring_bitmap_portable_size_in_bytes(data.bitmaps[i].get());
    slots.push_back(
        {kSectionList, kSectionRequired, kListHeaderBytes + align8(data.lists[i].name.size()) + bitmap_bytes[i]});
  }
  const std::string provenance = data.provenance.empty() ? std::string() : provenance_payload(data.provenance);
  if (!data.provenance.empty()) slots.push_back({kSectionProvenance, 0, provenance.size()});
  const std::string scopes = scopes_payload(data.lists);
  if (!scopes.empty()) slots.push_back({kSectionScopes, 0, scopes.size()});
  const std::string signature_payload =
      signer != nullptr ? signature_section_payload(*signer, signature) : std::string();
  if (signer != nullptr) slots.push_back({kSectionSignature, 0, kSignatureSectionBytes});
  const std::uint64_t file_size = lay_out(slots);
  SnapshotBytes out;
  out.data.reset(allocate_large(file_size));
  if (!out.data) throw std::bad_alloc();
  out.size = file_size;
  char* const p = out.data.get();
  std::memset(p, 0, file_size);
  start_file(p, data.created_at, slots, file_size);
  std::memcpy(p + slots[0].offset, data.description.data(), data.description.size());
  tbb::parallel_for(std::size_t{0}, list_count, [&](std::size_t i) {
    const roaring_bitmap_t* bitmap = data.bitmaps[i].get();
    char* at = write_list_header(p + slots[1 + i].offset, data.lists[i].name, data.lists[i].kind,
                                 roaring_bitmap_get_cardinality(bitmap), bitmap_bytes[i]);
    (void)roaring_bitmap_portable_serialize(bitmap, at);  // writes exactly bitmap_bytes[i]
  });
  std::size_t next = 1 + list_count;
  if (!data.provenance.empty()) std::memcpy(p + slots[next++].offset, provenance.data(), provenance.size());
  if (!scopes.empty()) std::memcpy(p + slots[next++].offset, scopes.data(), scopes.size());
  if (signer != nullptr) std::memcpy(p + slots[next].offset, signature_payload.data(), signature_payload.size());
  const std::uint64_t body = file_size - kSnapshotTrailerBytes;
  const Digest128 digest = snapshot_checksum(std::string_view(p, body));
  store<std::uint64_t>(p + body, digest.high);
  store<std::uint64_t>(p + body + 8, digest.low);
  return out;
}

Status check_snapshot_header(std::string_view header, std::uint64_t size, std::string_view source_name) {
  const auto fail = [&](ErrorCode code, const std::string& what) {
    return Status(code, std::string(source_name) + ": " + what);
  };
  const char* p = header.data();
  if (size < kSnapshotHeaderBytes + kSnapshotTrailerBytes || header.size() < kSnapshotHeaderBytes) {
    return fail(ErrorCode::kCorruption, "truncated (" + std::to_string(size) + " bytes)");
  }
  if (std::memcmp(p, kSnapshotMagic, sizeof kSnapshotMagic) != 0) {
    return fail(ErrorCode::kCorruption, "not an optout registry snapshot");
  }
  const auto version = load<std::uint32_t>(p + 8);
  if (version == 0) return fail(ErrorCode::kCorruption, "format version 0 is invalid");
  if (version > kSnapshotVersion) {
    return fail(ErrorCode::kUnsupportedVersion, "format version " + std::to_string(version) +
                                                    " is newer than this build reads (" +
                                                    std::to_string(kSnapshotVersion) + ")");
  }
  if (load<std::uint32_t>(p + 12) != kSnapshotHeaderBytes) {
    return fail(ErrorCode::kCorruption, "header size is not 64");
  }
  if (load<std::uint64_t>(p + 16) != size) {
    return fail(ErrorCode::kCorruption, "file size in the header disagrees with the real size (" +
                                            std::to_string(size) + " bytes): truncated or extended");
  }
  return Status();
}

Result<std::shared_ptr<const RegistryData>> decode_snapshot(std::string_view bytes, std::string_view source_name) {
  const auto fail = [&](ErrorCode code, const std::string& what) {
    return Status(code, std::string(source_name) + ": " + what);
  };
  const char* p = bytes.data();
  const std::uint64_t size = bytes.size();
  if (Status s = check_snapshot_header(bytes, size, source_name); !s.ok()) return s;
  const std::uint64_t body_end = size - kSnapshotTrailerBytes;
  const Digest128 digest{load<std::uint64_t>(p + body_end), load<std::uint64_t>(p + body_end + 8)};
  if (snapshot_checksum(bytes.substr(0, body_end)) != digest) {
    return fail(ErrorCode::kCorruption, "checksum mismatch");
  }
  if (load<std::uint32_t>(p + 36) != 0) {
    return fail(ErrorCode::kUnsupportedVersion, "header flags not known to this build");
  }
  if (!all_zero(p + 40, kSnapshotHeaderBytes - 40)) {
    return fail(ErrorCode::kCorruption, "reserved header bytes are not zero");
  }
  const std::uint64_t section_count = load<std::uint32_t>(p + 32);
  const std::uint64_t table_end = kSnapshotHeaderBytes + kSectionEntryBytes * section_count;
  if (table_end > body_end) {
    return fail(ErrorCode::kCorruption, "section table runs past the end of the file");
  }

  auto data = std::make_shared<RegistryData>();
  data->source = std::string(source_name);
  data->created_at = load<std::int64_t>(p + 24);
  if (data->created_at < 0 || data->created_at > kLatestCreatedAt) {
    return fail(ErrorCode::kCorruption, "creation time out of range (before 1970 or after 9999)");
  }
  data->digest = digest;
  bool have_description = false;
  std::optional<std::string_view> provenance;
  std::string provenance_where;
  std::optional<std::string_view> scopes;
  std::string scopes_where;
  std::uint64_t signed_end = 0;  // the offset of the SIGNATURE section, when there is one
  std::vector<ListEntry> lists;
  std::uint64_t previous_end = table_end;
  for (std::uint64_t i = 0; i < section_count; ++i) {
    const char* entry = p + kSnapshotHeaderBytes + kSectionEntryBytes * i;
    const auto type = load<std::uint32_t>(entry);
    const auto flags = load<std::uint32_t>(entry + 4);
    const auto offset = load<std::uint64_t>(entry + 8);
    const auto length = load<std::uint64_t>(entry + 16);
    const std::string where = "section " + std::to_string(i) + ": ";
    if (offset % 8 != 0) return fail(ErrorCode::kCorruption, where + "offset not 8-byte aligned");
    if (offset < previous_end) {
      return fail(ErrorCode::kCorruption, where + "overlaps the section table or the previous section");
    }
    if (offset > body_end || length > body_end - offset) {
      return fail(ErrorCode::kCorruption, where + "runs past the end of the file");
    }
    if (!all_zero(p + previous_end, offset - previous_end)) {
      return fail(ErrorCode::kCorruption, where + "padding before it is not zero");
    }
    previous_end = offset + length;
    if ((flags & ~kSectionRequired) != 0) {
      return fail(ErrorCode::kUnsupportedVersion, where + "flags not known to this build");
    }
    const std::string_view payload = bytes.substr(offset, length);
    if (type == kSectionScopes) {
      if ((flags & kSectionRequired) != 0) {
        return fail(ErrorCode::kCorruption, where + "scopes section marked required (it is optional)");
      }
      if (scopes) return fail(ErrorCode::kCorruption, where + "a second scopes section");
      scopes = payload;
      scopes_where = where;
      continue;
    }
    if (type == kSectionProvenance || type == kSectionSignature) {
      const bool is_signature = type == kSectionSignature;
      const char* what = is_signature ? "signature" : "provenance";
      if ((flags & kSectionRequired) != 0) {
        return fail(ErrorCode::kCorruption, where + what + " section marked required (it is optional)");
      }
      if (!is_signature) {
        if (provenance) return fail(ErrorCode::kCorruption, where + "a second provenance section");
        provenance = payload;
        provenance_where = where;
        continue;
      }
      if (length < 8) return fail(ErrorCode::kCorruption, where + "signature section too short");
      if (const auto algorithm = load<std::uint32_t>(payload.data()); algorithm != kSignatureEd25519) {
        return fail(ErrorCode::kUnsupportedVersion,
                    where + "signature algorithm " + std::to_string(algorithm) + " is not known to this build");
      }
      if (length != kSignatureSectionBytes) {
        return fail(ErrorCode::kCorruption, where + "signature section of " + std::to_string(length) +
                                                " bytes (an Ed25519 one has " + std::to_string(kSignatureSectionBytes) +
                                                ")");
      }
      if (i + 1 != section_count) return fail(ErrorCode::kCorruption, where + "signature section is not the last");
      if (load<std::uint32_t>(payload.data() + 4) != 0) {
        return fail(ErrorCode::kCorruption, where + "reserved signature bytes are not zero");
      }
      PublicKey key;
      std::memcpy(key.bytes.data(), payload.data() + 16, key.bytes.size());
      const std::optional<std::array<std::uint8_t, 8>> id = from_hex<8>(key.key_id());
      if (std::memcmp(id->data(), payload.data() + 8, id->size()) != 0) {
        return fail(ErrorCode::kCorruption, where + "the signature's key id is not that of its public key");
      }
      data->signer = key;
      std::memcpy(data->signature.data(), payload.data() + 48, data->signature.size());
      signed_end = offset;
      continue;
    }
    if (type != kSectionDescription && type != kSectionList) {
      if ((flags & kSectionRequired) != 0) {
        return fail(ErrorCode::kUnsupportedVersion,
                    where + "required section of type " + std::to_string(type) + " is not known to this build");
      }
      continue;  // an optional section of a later writer
    }
    if ((flags & kSectionRequired) == 0) {
      return fail(ErrorCode::kCorruption, where + "not marked required");
    }
    if (type == kSectionDescription) {
      if (have_description) return fail(ErrorCode::kCorruption, where + "a second description");
      if (!is_valid_utf8(payload)) {
        return fail(ErrorCode::kCorruption, where + "description is not valid UTF-8");
      }
      have_description = true;
      data->description = std::string(payload);
      continue;
    }
    // LIST
    if (length < kListHeaderBytes) return fail(ErrorCode::kCorruption, where + "list section too short");
    const auto kind = static_cast<std::uint8_t>(payload[0]);
    if (kind > 1) return fail(ErrorCode::kCorruption, where + "unknown list kind");
    if (payload[1] != 0 || load<std::uint32_t>(payload.data() + 4) != 0) {
      return fail(ErrorCode::kCorruption, where + "reserved list bytes are not zero");
    }
    const std::uint64_t name_length = load<std::uint16_t>(payload.data() + 2);
    const auto cardinality = load<std::uint64_t>(payload.data() + 8);
    const auto bitmap_length = load<std::uint64_t>(payload.data() + 16);
    const std::uint64_t fixed = kListHeaderBytes + align8(name_length);
    if (fixed > length || bitmap_length != length - fixed) {
      return fail(ErrorCode::kCorruption, where + "list lengths do not add up");
    }
    const std::string_view name = payload.substr(kListHeaderBytes, name_length);
    if (Status s = validate_list_name(name); !s.ok()) return fail(ErrorCode::kCorruption, where + s.message());
    if (!all_zero(payload.data() + kListHeaderBytes + name_length, align8(name_length) - name_length)) {
      return fail(ErrorCode::kCorruption, where + "list name padding is not zero");
    }
    if (!lists.empty() && !(lists.back().name < name)) {
      return fail(ErrorCode::kCorruption,
                  "list '" + redact_numbers(name) + "': lists not in strictly increasing name order");
    }
    lists.push_back({name, static_cast<ListKind>(kind), cardinality, payload.substr(fixed)});
  }
  if (!all_zero(p + previous_end, body_end - previous_end)) {
    return fail(ErrorCode::kCorruption, "padding after the last section is not zero");
  }
  if (!have_description) return fail(ErrorCode::kCorruption, "no description section");

  if (provenance) {
    std::vector<ListInfo> names(lists.size());
    for (std::size_t i = 0; i < lists.size(); ++i) names[i].name = std::string(lists[i].name);
    if (std::string problem = parse_provenance(*provenance, names, data->provenance); !problem.empty()) {
      return fail(ErrorCode::kCorruption, provenance_where + "provenance: " + problem);
    }
  }

  std::vector<std::vector<std::string>> list_scopes(lists.size());
  if (scopes) {
    std::vector<ListInfo> names(lists.size());
    for (std::size_t i = 0; i < lists.size(); ++i) names[i].name = std::string(lists[i].name);
    if (std::string problem = parse_scopes(*scopes, names, list_scopes); !problem.empty()) {
      return fail(ErrorCode::kCorruption, scopes_where + "scopes: " + problem);
    }
  }

  // The signature and the bitmaps, in parallel (and the prehash across its chunks, the bitmaps
  // across lists and containers inside validate_bitmap).
  data->lists.resize(lists.size());
  data->bitmaps.resize(lists.size());
  std::vector<std::string> problems(lists.size());
  bool signature_verifies = true;
  tbb::parallel_invoke(
      [&] {
        if (!data->signer) return;
        const std::array<std::uint8_t, 32> hash = prehash(bytes.substr(0, signed_end));
        signature_verifies = verify_prehash(*data->signer, SignedKind::kRegistry, hash, data->signature);
      },
      [&] {
        tbb::parallel_for(std::size_t{0}, lists.size(), [&](std::size_t i) {
          problems[i] = read_bitmap(lists[i].bitmap, lists[i].cardinality, data->bitmaps[i]);
          if (!problems[i].empty()) return;
          ListInfo& info = data->lists[i];
          info.name = std::string(lists[i].name);
          info.kind = lists[i].kind;
          info.scopes = std::move(list_scopes[i]);
          describe_list(info, data->bitmaps[i].get());
        });
      });
  if (!signature_verifies) {
    return fail(ErrorCode::kCorruption,
                "signature does not verify (key " + data->signer->key_id() + "): changed after signing");
  }
  for (std::size_t i = 0; i < lists.size(); ++i) {
    if (!problems[i].empty()) {
      return fail(ErrorCode::kCorruption, "list '" + redact_numbers(lists[i].name) + "': " + problems[i]);
    }
  }
  return std::shared_ptr<const RegistryData>(std::move(data));
}

}  // namespace optout::detail

// ---- Public API -------------------------------------------------------------------------------

namespace optout {

std::string encode_registry(const Registry& registry) {
  return std::string(detail::encode_snapshot(detail::RegistryAccess::data(registry)).view());
}

Result<Registry> decode_registry(std::string_view bytes, std::string_view source_name) {
  try {
    auto data = detail::decode_snapshot(bytes, source_name);
    if (!data.ok()) return data.status();
    return detail::RegistryAccess::make(std::move(data).value());
  } catch (const std::bad_alloc&) {
    return Status(ErrorCode::kInternal, std::string(source_name) + ": out of memory");
  }
}

Result<Registry> load_registry(const std::filesystem::path& path) {
  const std::string name = path.string();
  // Nonblocking: opening a FIFO without a writer would otherwise wait for one; it is refused below.
  Result<ReadOnlyFile> opened = ReadOnlyFile::open(path, /*nonblocking=*/true);
  if (!opened.ok()) return opened.status();
  const ReadOnlyFile& file = *opened;
  try {
    // Only a regular file has a size to bound the read by: a device (/dev/zero), a FIFO or a
    // directory would be read without limit, or block (issue 10.9).
    if (Status s = file.require_regular(); !s.ok()) return s;
    const std::uint64_t size = file.size();
    // The header first: a file that is not a snapshot, or whose header disagrees with its size, is
    // refused before a buffer of its size is allocated.
    char header[detail::kSnapshotHeaderBytes];
    Result<std::size_t> got = file.read_at(header, sizeof header, 0);
    if (!got.ok()) return got.status();
    if (Status s = detail::check_snapshot_header(std::string_view(header, *got), size, name); !s.ok()) return s;
    if (size > std::numeric_limits<std::size_t>::max() - 1) throw std::bad_alloc();
    // One buffer of the header's file size plus one byte, to notice growth since the fstat.
    const auto capacity = static_cast<std::size_t>(size) + 1;
    detail::LargeBuffer buffer(detail::allocate_large(capacity));
    if (!buffer) throw std::bad_alloc();
    got = file.read_at(buffer.get(), capacity, 0);
    if (!got.ok()) return got.status();
    return decode_registry(std::string_view(buffer.get(), *got), name);
  } catch (const std::bad_alloc&) {
    return Status(ErrorCode::kInternal, name + ": out of memory");
  }
}

Result<Registry> sign_registry(const Registry& registry, const SecretKey& key) {
  try {
    const detail::RegistryData& data = detail::RegistryAccess::data(registry);
    detail::SnapshotBytes bytes = detail::encode_snapshot(data, &key.public_key(), Signature{});
    const std::size_t section = bytes.size - detail::kSnapshotTrailerBytes - detail::kSignatureSectionBytes;
    const std::array<std::uint8_t, 32> hash = prehash(bytes.view().substr(0, section));
    Result<Signature> signature = sign_prehash(key, SignedKind::kRegistry, hash);
    if (!signature.ok()) return signature.status();
    std::memcpy(bytes.data.get() + section + 48, signature->data(), signature->size());
    const Digest128 digest =
        detail::snapshot_checksum(bytes.view().substr(0, bytes.size - detail::kSnapshotTrailerBytes));
    std::memcpy(bytes.data.get() + bytes.size - detail::kSnapshotTrailerBytes, &digest.high, 8);
    std::memcpy(bytes.data.get() + bytes.size - detail::kSnapshotTrailerBytes + 8, &digest.low, 8);
    // Decoding gives the loaded form (frozen bitmaps) and checks the signature once more.
    Result<Registry> signed_registry = decode_registry(bytes.view(), registry.source());
    if (!signed_registry.ok()) return Status(ErrorCode::kInternal, signed_registry.status().message());
    return signed_registry;
  } catch (const std::bad_alloc&) {
    return Status(ErrorCode::kInternal, registry.source() + ": out of memory signing");
  }
}

Status save_registry(const Registry& registry, const std::filesystem::path& path) {
  try {
    const detail::SnapshotBytes bytes = detail::encode_snapshot(detail::RegistryAccess::data(registry));
    auto file = AtomicFile::create(path);
    if (!file.ok()) return file.status();
    if (Status s = file->write_all(bytes.view()); !s.ok()) return s;
    return file->commit(/*durable=*/true);
  } catch (const std::bad_alloc&) {
    return Status(ErrorCode::kInternal, path.string() + ": out of memory");
  }
}

}  // namespace optout
