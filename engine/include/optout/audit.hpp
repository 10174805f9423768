// Machine-readable accounts of a filter run: the stats JSON (--stats) and the compliance audit
// record (--audit, one JSON line appended per run). Both carry counts, sizes, times and digests;
// never an NHS number or row content.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "optout/export.hpp"
#include "optout/filter.hpp"
#include "optout/index.hpp"
#include "optout/registry.hpp"
#include "optout/signing.hpp"
#include "optout/status.hpp"

namespace optout {

// One part of a run in parts (run_filter() with in_parts, e.g. for optout.dask: a whole file, or a
// byte range of one that cut_file() cut), as its stats and audit record list it.
struct PieceAccount {
  std::string input;         // the file's path
  std::string output;        // the part's file name, e.g. "part-00003.csv"
  bool cut = false;          // a byte range of input; else the whole file
  std::uint64_t offset = 0;  // when cut: as FilePiece
  std::uint64_t length = 0;
  std::uint64_t first_line = 1;
  std::uint64_t header_bytes = 0;  // when cut: the header each piece reads again before its range
  FilterStats stats;               // the piece's filter; output_digest set
};

// What a run was asked to do and with what, besides its FilterStats.
struct RunContext {
  std::string run_id;           // new_run_id(): pairs a run's "committing" record with its end
  std::string input_name;       // "extract.csv" or "<stdin>"
  std::string output_name;      // "clean.csv" or "<stdout>"
  std::int64_t started_at = 0;  // Unix seconds, UTC
  std::int64_t finished_at = 0;
  Digest128 registry_digest;
  std::int64_t registry_created_at = 0;
  std::optional<PublicKey> registry_signer;
  std::vector<std::string> lists_applied;
  std::vector<AppliedList> lists;    // "lists" in the record: name, kind, count, as_of
  std::vector<std::string> inputs;   // a run over many files: each path ("inputs" in the record)
  std::vector<PieceAccount> pieces;  // a run in pieces: each piece ("pieces" in the record)
  // When set, each of the run's records is signed with this key (sign_audit_record()).
  std::shared_ptr<const SecretKey> sign_with;
  // The purpose the lists were chosen by ("purpose" in the record) and the lists it exempted
  // ("exemptions": list, kind, count, as_of, reference); both left out when no purpose.
  std::optional<std::string> purpose;
  std::vector<ExemptedList> exemptions;
  // A run with an impact report (impact.hpp): "impact" in the record holds its grouping columns'
  // names, exact, the report's file name and (with stats) the number of groups; never a value.
  std::vector<std::string> impact_by;
  bool impact_exact = false;
  std::string impact_file;
  // A pseudonymised extract: the SHA-256 of its pseudonym key ("pseudonym_key_sha256"), never the key.
  std::optional<std::string> pseudonym_key_sha256;
};

// What an audit record says of its run (see commit.hpp for the order they are written in).
enum class RunOutcome : int {
  kCommitting = 0,  // every result is complete and about to be put in place
  kOk = 1,          // every result is in place
  kFailed = 2,      // nothing was released (the record names the error code)
};

// A new random run id: kRunIdLetters lower-case letters (about 113 bits; letters only, so that it
// never holds a run of digits that looks like an NHS number).
inline constexpr std::size_t kRunIdLetters = 24;
OPTOUT_API std::string new_run_id();

// The counts of a run in pieces: the sums over pieces (their impact groups too, before any
// disclosure control; the caller checks kImpactGroupsLimit), bytes_in counting each input byte once (a
// cut file's header once), seconds left to the caller.
OPTOUT_API FilterStats add_pieces(const std::vector<PieceAccount>& pieces);

// The stats JSON of a run in pieces: filter_stats_json()'s fields (threads left out) plus
// bytes_rejected and "pieces", one object per piece: input, output, offset/length/first_line for
// a cut file, rows, kept, removed, rejected, output_bytes, output_xxh3_128.
OPTOUT_API std::string pieces_stats_json(const FilterStats& total, const std::vector<PieceAccount>& pieces);

// The stats as one JSON object: rows, kept, removed, rejected, rejected_by_reason (by name),
// bytes_in, bytes_out, seconds, mb_per_second, threads.
OPTOUT_API std::string filter_stats_json(const FilterStats& stats);

// One audit line (JSON, no newline): tool and version, start and end (ISO 8601 UTC), input name and
// bytes, registry digest and created-at, lists applied, the four counts, output name, bytes and
// XXH3-128 digest, the run id, the outcome ("committing", "ok", or "failed" with error, the
// error code's name), and "inputs" / "pieces" when the context has them. stats may be null for a
// run that failed before counting anything.
OPTOUT_API std::string audit_record_json(const RunContext& context, const FilterStats* stats, RunOutcome outcome,
                                         ErrorCode error = ErrorCode::kOk);
// The same with outcome kOk for an ok Status, else kFailed with its code.
OPTOUT_API std::string audit_record_json(const RunContext& context, const FilterStats* stats, const Status& outcome);

// ---- Signed records ---------------------------------------------------------------------------
//
// A signed record is the record's line with one member added at its end: in place of the closing
// brace, ,"signature":{"algorithm":"ed25519","key_id":"…","public_key":"…","value":"…"}}
// (key id, 64 hex digits of public key, 128 of signature). The signature covers the line as it
// was (kind kAuditRecord): remove that suffix, put back the "}", and check. A recipient needs
// only the line and the signer's .pub.

// line (one audit record, no newline) signed with key. Precondition: line is a JSON object ending
// in '}' without a "signature" member. Errors: kInternal (OpenSSL).
[[nodiscard]] OPTOUT_API Result<std::string> sign_audit_record(std::string_view line, const SecretKey& key);

// A record's signature, if it has one.
struct AuditSignature {
  PublicKey key;
  Signature value{};
  std::string signed_line;  // the record as signed (without the signature member)
};
// Reads the signature member a line ends with. nullopt: the line has none. kInvalidInput
// "malformed signature" when it has one not in the form above (the caller adds file and line).
[[nodiscard]] OPTOUT_API Result<std::optional<AuditSignature>> read_audit_signature(std::string_view line);

// The trust rule for a record: a signature that does not verify is kCorruption ("WHERE: audit
// record signature does not verify"); with trusted keys, an unsigned record or one signed by
// another key is kUntrusted; otherwise ok. where names the record, e.g. "audit.jsonl:12".
[[nodiscard]] OPTOUT_API Status check_audit_record(std::string_view where, std::string_view line,
                                                   std::span<const PublicKey> trusted);

}  // namespace optout
