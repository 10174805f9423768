// The opt-out registry: named lists of NHS-number stems, built from source files, saved as a
// versioned snapshot, loaded and queried.
//
// Two kinds of list:
//  - deny lists hold opted-out patients (national, type1, objections): a row whose number is in an
//    applied deny list is removed;
//  - allow lists hold patients cleared for a use (the "cleaned list" that NHS England's Check for
//    National Data Opt-outs service returns): with an allow list applied, a row is kept only if its
//    number is in it, so a patient who was never checked is never released.
//
// Each list is a Roaring bitmap of stems (see nhs_number.hpp). The snapshot format is documented in
// README.md ("Snapshot format"); each list's bitmap is stored in CRoaring's portable serialization,
// which Java, Go and Python Roaring libraries read as-is.
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "optout/export.hpp"
#include "optout/nhs_number.hpp"
#include "optout/signing.hpp"
#include "optout/status.hpp"

namespace optout {

namespace detail {
struct RegistryData;    // engine/src/registry_data.hpp
struct RegistryAccess;  // lets engine code reach the bitmaps without exposing CRoaring here
}  // namespace detail

enum class ListKind : std::uint8_t { kDeny = 0, kAllow = 1 };  // values are stored in snapshots

// "deny" or "allow".
OPTOUT_API const char* list_kind_name(ListKind kind) noexcept;

// List names: 1 to 64 bytes of [A-Za-z0-9_.-]. Returns kInvalidArgument naming the problem otherwise.
OPTOUT_API Status validate_list_name(std::string_view name);

// Scope (purpose) names: 1 to 32 bytes of [a-z0-9_-], e.g. "research", "planning", "fdp".
// kInvalidArgument "scope names are 1 to 32 of a-z, 0-9, '_' and '-'" otherwise (never quoting it),
// and "a scope name looks like a number (6 or more digits), not a purpose" for a name that
// redact_numbers() would change (an objections file with its columns swapped).
OPTOUT_API Status validate_scope_name(std::string_view name);

// A 128-bit XXH3 digest. hex() is 32 lower-case hex digits, high half first.
struct OPTOUT_API Digest128 {
  std::uint64_t high = 0;
  std::uint64_t low = 0;
  std::string hex() const;
  friend bool operator==(const Digest128&, const Digest128&) = default;
};

struct ListInfo {
  std::string name;
  ListKind kind = ListKind::kDeny;
  std::uint64_t count = 0;             // distinct stems in the list
  std::uint64_t serialized_bytes = 0;  // size of its portable serialization in the snapshot
  std::uint64_t memory_bytes = 0;      // size of the loaded bitmap in memory
  // The purposes the list applies to (RegistryBuilder::set_scopes), sorted, each once; empty: it
  // applies to every purpose (the snapshot's optional SCOPES section).
  std::vector<std::string> scopes;
};

// The latest creation time a snapshot may carry: 9999-12-31T23:59:59Z. A creation time before
// 1970 or after this cannot be printed as a date or aged without overflow: build() refuses it and
// a snapshot holding one is corrupt.
inline constexpr std::int64_t kLatestCreatedAt = 253402300799;

// ISO 8601 UTC with seconds, e.g. "2026-11-24T18:03:00Z".
OPTOUT_API std::string iso8601_utc(std::int64_t unix_seconds);
// The date alone, "2026-11-24".
OPTOUT_API std::string iso_date_utc(std::int64_t unix_seconds);
// "YYYY-MM-DD" (a real date, 1970-01-01 to 9999-12-31) → its midnight UTC in Unix seconds.
// kInvalidArgument "the as-of date takes YYYY-MM-DD, e.g. 2026-11-24" otherwise.
[[nodiscard]] OPTOUT_API Result<std::int64_t> parse_iso_date(std::string_view text);

// ---- Provenance -------------------------------------------------------------------------------

// One source file that `optout build` read into a list (the snapshot's optional PROVENANCE
// section; RegistryBuilder records it).
struct SourceRecord {
  std::string file;      // base name only: a path may name people or places
  bool removal = false;  // withdrawn from the list (--remove), else added
  std::uint64_t bytes = 0;
  Digest128 xxh3;  // XXH3-128 of the file's bytes
  std::uint64_t lines = 0;
  std::uint64_t numbers = 0;
  friend bool operator==(const SourceRecord&, const SourceRecord&) = default;
};

// Where a list's numbers came from and when the list was issued.
struct ListProvenance {
  std::string list;
  // When the list was issued (--as-of NAME=YYYY-MM-DD, e.g. the check service's reply date):
  // midnight UTC, Unix seconds. nullopt: not given.
  std::optional<std::int64_t> as_of;
  std::vector<SourceRecord> sources;  // in the order they were read, a delta's base's first
  friend bool operator==(const ListProvenance&, const ListProvenance&) = default;
};

// An immutable set of named lists. Cheap to copy (the data is shared); safe to query from any
// number of threads at once.
class OPTOUT_API Registry {
 public:
  Registry();  // no lists, created_at 0
  ~Registry();
  Registry(const Registry&);
  Registry& operator=(const Registry&);
  Registry(Registry&&) noexcept;
  Registry& operator=(Registry&&) noexcept;

  // Where it came from, for messages and audit records: the path load_registry() was given, the
  // source_name of decode_registry(), "<built>" for RegistryBuilder::build()'s.
  const std::string& source() const noexcept;
  // Seconds since the Unix epoch (UTC) when the snapshot was built, from 0 to kLatestCreatedAt.
  std::int64_t created_at() const noexcept;
  const std::string& description() const noexcept;

  // The lists, sorted by name; list indices below refer to this order.
  const std::vector<ListInfo>& lists() const noexcept;
  // The index of a list, or nullopt when no list has that name.
  std::optional<std::size_t> find_list(std::string_view name) const noexcept;
  // The same, with kNotFound naming the registry, the list (redact_numbers) and the lists there
  // are when none has that name: "reg.optout: no list named 'x' in the registry (it has:
  // national, type1)"; kInvalidArgument
  // (validate_list_name) for a name no list can have.
  [[nodiscard]] Result<std::size_t> require_list(std::string_view name) const;

  // Whether the list at index holds stem. Precondition: index < lists().size(). ~100-200 ns
  // (a Roaring lookup); the filter uses a faster probe structure built from the same bitmaps.
  bool contains(std::size_t index, std::uint32_t stem) const noexcept;
  // out[i] = contains(index, stems[i]) ? 1 : 0. Precondition: out.size() == stems.size().
  void contains_many(std::size_t index, std::span<const std::uint32_t> stems,
                     std::span<std::uint8_t> out) const noexcept;

  // Every stem of a list, ascending, to f. Stops early when f returns false.
  void for_each_stem(std::size_t index, const std::function<bool(std::uint32_t)>& f) const;
  // Every stem of a list, ascending.
  std::vector<std::uint32_t> stems(std::size_t index) const;

  // The sum of the lists' counts (a stem in two lists counts twice).
  std::uint64_t total_count() const noexcept;
  // Every scope some list names (ListInfo::scopes), sorted, each once: the purposes a run may
  // select lists by (policy.hpp).
  std::vector<std::string> purposes() const;
  // Bytes the lists' bitmaps occupy in memory.
  std::uint64_t memory_bytes() const noexcept;
  // XXH3-128 of the snapshot encoding: identical for a registry after build() and after a
  // save/load round trip; any change to lists, description, provenance, created_at or signature
  // changes it.
  const Digest128& digest() const noexcept;

  // Each list's provenance, sorted by list name; a list nothing was recorded for has no entry.
  const std::vector<ListProvenance>& provenance() const noexcept;
  // The provenance of one list, or null.
  const ListProvenance* provenance_of(std::string_view list) const noexcept;
  // When the data of the named lists (empty: every list) dates from: the oldest of each list's
  // as-of date, or created_at() for a list without one. The freshness gate counts from it.
  std::int64_t data_as_of(std::span<const std::string> lists = {}) const;

  // The key that signed the snapshot (sign_registry()), or nullopt for an unsigned one. A loaded
  // snapshot's signature has been checked against this key: a signature that does not verify is
  // kCorruption at load. Whether the key is trusted is the caller's to ask: check_trust().
  const std::optional<PublicKey>& signer() const noexcept;

 private:
  friend struct detail::RegistryAccess;
  explicit Registry(std::shared_ptr<const detail::RegistryData> data);
  std::shared_ptr<const detail::RegistryData> data_;
};

// ---- Snapshots --------------------------------------------------------------------------------

// The snapshot format version this build writes, and the newest it reads.
inline constexpr std::uint32_t kSnapshotFormatVersion = 1;

// Writes the snapshot atomically: to a temporary file in the same directory, fsync, then rename.
// On error no file is left at path (an earlier file there stays untouched). Errors: kIoError.
[[nodiscard]] OPTOUT_API Status save_registry(const Registry& registry, const std::filesystem::path& path);

// The snapshot encoding of a registry, as save_registry writes it. A signed registry's encoding
// ends with its SIGNATURE section; one loaded from a snapshot that does not re-encode to the bytes
// that were signed (a later writer's optional section, which this build skips) is encoded
// unsigned, since the signature would no longer verify.
OPTOUT_API std::string encode_registry(const Registry& registry);

// Loads a snapshot written by save_registry. Checks magic, format version, sizes and checksum
// first, deserializes each bitmap with bounds checks, then validates each bitmap's structure (keys
// strictly increasing, containers sorted without duplicates, cardinalities that agree), so a
// truncated, corrupted, crafted, foreign or empty file gets an error, never a crash.
// Errors: kIoError (cannot read), kCorruption, kUnsupportedVersion. Messages start with the path.
[[nodiscard]] OPTOUT_API Result<Registry> load_registry(const std::filesystem::path& path);

// The same from bytes in memory; source_name is used in messages (e.g. the path, "<memory>").
[[nodiscard]] OPTOUT_API Result<Registry> decode_registry(std::string_view bytes, std::string_view source_name);

// The registry signed with key: the same lists, description, provenance and created_at, and a
// SIGNATURE section (the snapshot's last) over every byte before it. Its digest is that of the
// signed encoding. Signing a signed registry replaces the signature. Errors: kInternal.
[[nodiscard]] OPTOUT_API Result<Registry> sign_registry(const Registry& registry, const SecretKey& key);

// The trust rule (--trust, OPTOUT_TRUST): with no trusted keys, ok; otherwise kUntrusted unless
// signer is one of them: "SOURCE: unsigned: a registry signed by a trusted key is required" or
// "SOURCE: signed by key <id>, which is not trusted (trusted: <id>, <id>)".
[[nodiscard]] OPTOUT_API Status check_trust(std::string_view source, const std::optional<PublicKey>& signer,
                                            std::span<const PublicKey> trusted);

// The digest pin (--expect-digest): kInvalidArgument unless expected_hex is 32 hex digits (either
// case); kUntrusted "SOURCE: digest <actual> is not the expected <expected>" when it differs.
[[nodiscard]] OPTOUT_API Status check_expected_digest(std::string_view source, const Digest128& digest,
                                                      std::string_view expected_hex);

// ---- Building ---------------------------------------------------------------------------------

struct SourceOptions {
  // false: the first invalid line is an error naming the file, line and reason (never the
  // number). true: invalid lines are skipped and counted.
  bool skip_invalid = false;
};

// What one source file (or text) contributed.
struct SourceStats {
  std::uint64_t lines = 0;      // lines read, blank ones included
  std::uint64_t blank = 0;      // blank lines (ignored)
  std::uint64_t numbers = 0;    // valid numbers read
  std::uint64_t invalid = 0;    // invalid lines skipped (only with skip_invalid)
  std::uint64_t changed = 0;    // stems added to (or, for a removal, withdrawn from) the list
  std::uint64_t unchanged = 0;  // numbers - changed: duplicates, or withdrawals of absent stems
};

// One line of a list source, with its LF if it has one (the last line of a source may not), read as
// RegistryBuilder reads it (below): number says what it holds; blank when it holds only whitespace
// (sources skip such lines). A lone "," is not blank: it is an invalid line whose number is missing
// (kEmpty). bare_cr: the line holds a CR that no LF follows, so the source is malformed (lines end
// with LF or CRLF; a CR ending a source's last line is bare too, as RegistryBuilder reads it).
struct SourceLine {
  ParsedNhsNumber number;
  bool blank = false;
  bool bare_cr = false;
};
OPTOUT_API SourceLine parse_source_line(std::string_view line) noexcept;

// The error for line `line_no` (1-based) of source `source_name` that parse_source_line read as
// `line`: kInvalidInput "NAME:LINE: bare CR (...)" when it holds a bare CR, else OK. Readers of
// list-shaped text other than RegistryBuilder (the CLI's `check` on stdin) fail with it.
OPTOUT_API Status source_line_status(std::string_view source_name, std::uint64_t line_no, const SourceLine& line);

// What an objections file (RegistryBuilder::add_objections) contributed: its data rows, and per
// list it fed ("objections.<scope>", sorted by name) what that list's rows did.
struct ObjectionStats {
  std::uint64_t rows = 0;
  struct PerList {
    std::string list;
    SourceStats stats;
  };
  std::vector<PerList> lists;
};

// The name of the deny list a scope's objections go to: "objections.<scope>".
OPTOUT_API std::string objections_list_name(std::string_view scope);

// Builds a Registry. Not thread-safe; each call parses in parallel internally (oneTBB).
//
// Source text, detected per line: one NHS number in any accepted shape, or the Check for National
// Data Opt-outs service's .dat form (the number followed by one trailing comma, "9434765919,");
// blank lines (only whitespace) are ignored; LF or CRLF endings.
//
// Example:
//   RegistryBuilder b;
//   b.set_description("NDOO 2026-11-24");
//   if (auto s = b.add_source("national", ListKind::kDeny, "ndoo.txt"); !s.ok()) return s.status();
//   auto registry = b.build();
class OPTOUT_API RegistryBuilder {
 public:
  RegistryBuilder();
  // Starts from the lists, description, provenance and scopes of base (for daily deltas).
  explicit RegistryBuilder(const Registry& base);
  ~RegistryBuilder();
  RegistryBuilder(RegistryBuilder&&) noexcept;
  RegistryBuilder& operator=(RegistryBuilder&&) noexcept;
  RegistryBuilder(const RegistryBuilder&) = delete;
  RegistryBuilder& operator=(const RegistryBuilder&) = delete;

  void set_description(std::string description);

  // When a list was issued (see ListProvenance::as_of): midnight UTC of its date. build() fails
  // with kNotFound when no list has the name by then. A delta's new date replaces its base's.
  void set_as_of(std::string_view list, std::int64_t as_of);

  // The purposes a list applies to (--scope NAME=research,planning); empty: every purpose. build()
  // fails with kNotFound when no list has the name by then, and kInvalidArgument for a scope
  // name validate_scope_name() refuses or one given twice. A delta keeps its base's scopes; this
  // replaces them. Lists fed by add_objections() are scoped to their scope unless set here.
  void set_scopes(std::string_view list, std::vector<std::string> scopes);

  // Per-request objections (optout build --objections): a CSV file (RFC 4180, LF or CRLF, an
  // optional UTF-8 BOM) whose header names nhs_number and scope, and optionally reference and
  // decided, in any order and no other column. Each row adds its number to the deny list
  // "objections.<scope>" (declared, and scoped to <scope>, when needed). nhs_number is one number
  // in any accepted shape; scope a scope name; reference (may be empty) at most 200 bytes,
  // without control characters or anything that looks like an NHS number (policy.hpp's
  // validate_reference rule); decided (may be empty) a date, YYYY-MM-DD. reference and decided
  // are checked, not stored: the snapshot holds numbers only. Each list the file fed records it
  // in its provenance (lines: the file's data rows; numbers: the rows for that list).
  // Errors: kIoError; kInvalidInput "FILE:LINE: what is wrong" (never the value); as
  // declare_list. On error the builder is unchanged.
  [[nodiscard]] Result<ObjectionStats> add_objections(const std::filesystem::path& path);
  // The same file shape, each row a withdrawn objection: its number is withdrawn from
  // "objections.<scope>", which must exist (kNotFound otherwise).
  [[nodiscard]] Result<ObjectionStats> remove_objections(const std::filesystem::path& path);

  // Creates an empty list, or checks that an existing one has this kind.
  // Errors: kInvalidArgument (bad name, or the list exists with the other kind).
  [[nodiscard]] Status declare_list(std::string_view name, ListKind kind);

  // Adds stems to a list, declaring it if needed. Every stem must satisfy is_valid_stem().
  // Errors: as declare_list; kInvalidArgument naming the index of the first invalid stem.
  [[nodiscard]] Result<SourceStats> add_stems(std::string_view name, ListKind kind,
                                              std::span<const std::uint32_t> stems);
  // Withdraws stems from an existing list. Errors: kNotFound (no such list), kInvalidArgument.
  [[nodiscard]] Result<SourceStats> remove_stems(std::string_view name, std::span<const std::uint32_t> stems);

  // Parses a source file and adds its numbers to a list (declaring it if needed). The file's base
  // name, size, XXH3-128 and counts are recorded in the list's provenance (add_text records
  // source_name's base name and the text's digest).
  // Errors: kIoError, kInvalidInput ("ndoo.txt:17: wrong check digit"), as declare_list.
  // On error the builder is unchanged.
  [[nodiscard]] Result<SourceStats> add_source(std::string_view name, ListKind kind, const std::filesystem::path& path,
                                               SourceOptions options = {});
  // Parses a source file and withdraws its numbers from an existing list.
  [[nodiscard]] Result<SourceStats> remove_source(std::string_view name, const std::filesystem::path& path,
                                                  SourceOptions options = {});
  // add_source over text in memory; source_name is used in messages.
  [[nodiscard]] Result<SourceStats> add_text(std::string_view name, ListKind kind, std::string_view text,
                                             std::string_view source_name, SourceOptions options = {});

  // The registry, stamped with created_at (default: the clock, UTC). The builder is left empty.
  // Errors: kInvalidArgument for a created_at outside 0..kLatestCreatedAt.
  [[nodiscard]] Result<Registry> build(std::optional<std::int64_t> created_at = std::nullopt);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// ---- Comparing --------------------------------------------------------------------------------

// How one list changed between two registries.
struct ListDiff {
  std::string name;
  std::optional<ListKind> old_kind;  // nullopt: the list is new
  std::optional<ListKind> new_kind;  // nullopt: the list was dropped
  std::uint64_t added = 0;           // stems in new but not in old
  std::uint64_t withdrawn = 0;       // stems in old but not in new
  // Each side's scopes (ListInfo::scopes; empty for a side without the list): a scope change
  // when they differ.
  std::vector<std::string> old_scopes;
  std::vector<std::string> new_scopes;
};

// Per list (the union of both registries' names, sorted), what was added and withdrawn.
OPTOUT_API std::vector<ListDiff> diff_registries(const Registry& older, const Registry& newer);

// The stems added to / withdrawn from one list, ascending. A list missing on one side counts as
// empty there. Errors: kNotFound when neither registry has the list.
struct ListChanges {
  std::vector<std::uint32_t> added;
  std::vector<std::uint32_t> withdrawn;
};
[[nodiscard]] OPTOUT_API Result<ListChanges> list_changes(const Registry& older, const Registry& newer,
                                                          std::string_view name);

}  // namespace optout
