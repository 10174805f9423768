// Snapshot format v1: the on-disk layout of a Registry, its checksum and its validation.
//
// All integers are little-endian. Offsets are from the start of the file.
//
// Header, 64 bytes:
//    0  magic           8 bytes  "OPTOUTRG"
//    8  format_version  u32      1
//   12  header_size     u32      64
//   16  file_size       u64      the whole file, trailer included
//   24  created_at      i64      Unix seconds, UTC
//   32  section_count   u32
//   36  flags           u32      0 (a set bit is a feature this reader lacks: kUnsupportedVersion)
//   40  reserved        24 bytes zero
//
// Section table, right after the header: section_count entries of 24 bytes:
//    0  type    u32
//    4  flags   u32  bit 0 REQUIRED: a reader that does not know the type refuses the file
//                    (kUnsupportedVersion); without it an unknown section is skipped (room for
//                    optional sections such as a ready-made lookup index). Bits 1-31 are zero in
//                    v1; a reader refuses a section with one set (kUnsupportedVersion).
//    8  offset  u64  8-byte aligned
//   16  length  u64
// Sections lie in table order, without overlap, inside [end of table, file_size - 16); the bytes
// between them (alignment padding) are zero.
//
//   Type 1 DESCRIPTION (REQUIRED, exactly one): UTF-8 text, no terminator.
//   Type 2 LIST (REQUIRED, one per list, in strictly increasing byte order of name):
//      0  kind           u8   0 deny, 1 allow
//      1  reserved       u8   0
//      2  name_length    u16  1..64
//      4  reserved       u32  0
//      8  cardinality    u64  distinct stems in the list
//     16  bitmap_length  u64
//     24  name           name_length bytes of [A-Za-z0-9_.-], then zero padding to a multiple of 8
//      …  bitmap         bitmap_length bytes: CRoaring's portable serialization (the Roaring
//                        format shared by the Java, Go and Python libraries), 8-byte aligned
//      The section's length is exactly 24 + align8(name_length) + bitmap_length.
//   Type 3 PROVENANCE (optional: flags 0; at most one; absent when no list has any): UTF-8 JSON
//      in exactly the form optout writes (no spaces, keys in this order; any other form is
//      corrupt, so that a decode and encode round trip gives the same bytes):
//        {"lists":[{"name":"national","as_of":"2026-11-24","sources":[{"file":"ndoo.dat",
//         "op":"add","bytes":123,"xxh3_128":"<32 hex>","lines":10,"numbers":9}]}]}
//      lists: sorted by name in strictly increasing byte order, each naming a LIST section, none
//      empty (an as_of or at least one source); as_of (absent when not given): a real date,
//      YYYY-MM-DD; sources in the order they were read: file a base name (no '/', not "." or
//      "..", no NUL), op "add" or "remove", bytes, lines and numbers unsigned integers with
//      numbers <= lines, xxh3_128 the file's XXH3-128 as 32 lower-case hex digits, high half
//      first.
//   Type 5 SCOPES (optional: flags 0; at most one; absent when no list has a scope; before
//      SIGNATURE): UTF-8 JSON in exactly the form optout writes (as PROVENANCE):
//        {"lists":[{"name":"national","scopes":["planning","research"]}]}
//      lists: sorted by name in strictly increasing byte order, each naming a LIST section;
//      scopes: at least one, each a scope name ([a-z0-9_-]{1,32}), strictly increasing. A list
//      without an entry applies to every purpose. A reader older than this section skips it
//      (an optional section of an unknown type): it sees every list unscoped, has no --purpose,
//      and applies the lists --apply names or all of them.
//   Type 4 SIGNATURE (optional: flags 0; at most one, and the last section), 112 bytes:
//      0  algorithm   u32       1: Ed25519 (signing.hpp, SignedKind::kRegistry); another value is
//                               kUnsupportedVersion
//      4  reserved    u32       0
//      8  key_id      8 bytes   the first 8 bytes of SHA-256(public_key) (PublicKey::key_id())
//     16  public_key  32 bytes
//     48  signature   64 bytes  over prehash(bytes [0, offset of this section)): the header, the
//                               table (this section's entry included) and every section before it
//      A reader always checks the signature against public_key: one that does not verify is
//      kCorruption. Whether the key is trusted is the caller's question (check_trust()).
//
// Trailer, 16 bytes: XXH3-128 of bytes [0, file_size - 16), high u64 then low u64. This is the
// registry's digest.
//
// Reading checks, in order: size ≥ 80; magic; format_version (0: corrupt, > 1: unsupported);
// header_size; file_size equals the real size; checksum; header flags and reserved bytes; the
// section table (bounds, alignment, overlap, zero padding); each section; then, in parallel, the
// signature (prehash of the signed bytes, then Ed25519) and each bitmap: our
// check of the portable header (cookie, container count), CRoaring's size scan
// (roaring_bitmap_portable_deserialize_size) must account for exactly bitmap_length bytes, the
// bytes are copied into one frozen block, and validate_bitmap() checks the structure, which no
// CRoaring reader checks (all three in roaring_frozen.cpp, the one unit that knows CRoaring's
// container internals):
// keys strictly increasing; array containers 1..4096 values strictly increasing; bitset
// containers whose cardinality is their popcount (> 4096); run containers with ≥ 1 run, runs
// sorted, neither overlapping nor touching, inside 0..65535; each container's header cardinality
// and offset right; the list's cardinality equal to the bitmap's; every stem < 10^9.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "optout/registry.hpp"
#include "optout/status.hpp"
#include "registry_data.hpp"
#include "roaring_build.hpp"

namespace optout::detail {

inline constexpr char kSnapshotMagic[8] = {'O', 'P', 'T', 'O', 'U', 'T', 'R', 'G'};
inline constexpr std::uint32_t kSnapshotVersion = kSnapshotFormatVersion;
inline constexpr std::uint64_t kSnapshotHeaderBytes = 64;
inline constexpr std::uint64_t kSectionEntryBytes = 24;
inline constexpr std::uint64_t kSnapshotTrailerBytes = 16;
inline constexpr std::uint64_t kListHeaderBytes = 24;

inline constexpr std::uint32_t kSectionDescription = 1;
inline constexpr std::uint32_t kSectionList = 2;
inline constexpr std::uint32_t kSectionProvenance = 3;
inline constexpr std::uint32_t kSectionSignature = 4;
inline constexpr std::uint32_t kSectionScopes = 5;
inline constexpr std::uint32_t kSectionRequired = 1;  // section flags bit 0
inline constexpr std::uint64_t kSignatureSectionBytes = 112;
inline constexpr std::uint32_t kSignatureEd25519 = 1;

// One section to assemble: its table type and flags, and its payload bytes.
struct SnapshotSection {
  std::uint32_t type = 0;
  std::uint32_t flags = 0;
  std::string payload;
};

// A snapshot of arbitrary sections laid out as above (8-byte aligned, zero padded, checksummed).
// encode_snapshot() uses the same layout; tests use this to craft files the encoder never writes.
std::string assemble_snapshot(std::int64_t created_at, std::span<const SnapshotSection> sections);

// The payload of a LIST section over ready-made bitmap bytes (not checked).
std::string list_section_payload(std::string_view name, ListKind kind, std::uint64_t cardinality,
                                 std::string_view bitmap);

// The payload of a PROVENANCE section: the canonical JSON above. Precondition: strings are valid
// UTF-8. Throws std::bad_alloc.
std::string provenance_payload(std::span<const ListProvenance> provenance);

// Parses and validates a PROVENANCE payload against the lists of the snapshot (sorted by name).
// Returns the problem (no file name, no quoted bytes but known list names) or an empty string.
std::string parse_provenance(std::string_view payload, const std::vector<ListInfo>& lists,
                             std::vector<ListProvenance>& out);

// The payload of a SCOPES section: the canonical JSON above, for the lists with scopes (none:
// the empty string, and no section is written).
std::string scopes_payload(const std::vector<ListInfo>& lists);

// Parses and validates a SCOPES payload against the lists of the snapshot (sorted by name) and
// stores each list's scopes in scopes[i]. Returns the problem or an empty string.
std::string parse_scopes(std::string_view payload, const std::vector<ListInfo>& lists,
                         std::vector<std::vector<std::string>>& scopes);

// The payload of a SIGNATURE section (algorithm 1, the key id of key).
std::string signature_section_payload(const PublicKey& key, const Signature& signature);

// XXH3-128 of bytes, as the trailer stores it.
Digest128 snapshot_checksum(std::string_view bytes) noexcept;

// Recomputes the trailer of a snapshot whose other bytes were edited (for tests).
// Precondition: bytes.size() >= kSnapshotTrailerBytes.
void rewrite_trailer(std::string& bytes) noexcept;

// Snapshot bytes in a (huge-page backed) buffer.
struct SnapshotBytes {
  LargeBuffer data;
  std::size_t size = 0;
  std::string_view view() const noexcept { return {data.get(), size}; }
};

// The snapshot bytes of a registry's data, as save_registry writes them: a PROVENANCE section when
// data.provenance is not empty, and data.signer's SIGNATURE section last, when the signature
// verifies over the bytes before it (it does for a registry sign_registry() made and for one
// decoded from its bytes; a registry decoded from a snapshot laid out otherwise, e.g. with an
// optional section of a later writer, loses its signature). Throws std::bad_alloc.
SnapshotBytes encode_snapshot(const RegistryData& data);
// The same with the SIGNATURE section of signer and signature (signer null: none) whatever data
// holds; sign_registry() encodes with a zero signature, signs the bytes before it, then patches
// it in. The section then starts at size - kSnapshotTrailerBytes - kSignatureSectionBytes.
SnapshotBytes encode_snapshot(const RegistryData& data, const PublicKey* signer, const Signature& signature);

// The first checks of decode_snapshot, on the first 64 bytes of a file of size bytes (header may
// be shorter when the file is): size, magic, version, header size, and the header's file_size
// equal to size. load_registry() makes them before it allocates a buffer of the file's size.
// Errors: kCorruption, kUnsupportedVersion; messages start with source_name.
Status check_snapshot_header(std::string_view header, std::uint64_t size, std::string_view source_name);

// Parses and fully validates a snapshot; messages start with source_name. The digest is the
// trailer. Errors: kCorruption, kUnsupportedVersion, kInternal (out of memory).
Result<std::shared_ptr<const RegistryData>> decode_snapshot(std::string_view bytes, std::string_view source_name);

// Fills in a list's count, serialized_bytes and memory_bytes from its bitmap.
void describe_list(ListInfo& info, const roaring_bitmap_t* bitmap) noexcept;

// True when text is well-formed UTF-8 (no overlong forms, surrogates or values over U+10FFFF).
bool is_valid_utf8(std::string_view text) noexcept;

}  // namespace optout::detail
