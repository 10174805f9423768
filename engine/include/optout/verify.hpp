// `optout verify`, the release gate: reads a released extract by the filter's own rules (the
// same CSV reading, column, header, delimiter, limits and verdicts, at the filter's speed) and
// says whether it is clean: no row that the applied lists remove and no row whose NHS number is
// missing or invalid. It writes nothing but, when asked, the matches file: one line per row that
// the registry now removes (an --id-column value, or the 1-based data-row number; never an NHS
// number), so that a recipient can delete rows of patients who opted out after the release.
//
// With an audit log, the extract must be vouched for: its XXH3-128 must equal the output digest
// of an "ok" record of that log whose registry digest is the registry's, and, with trusted keys,
// that record must be signed by one of them.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "optout/export.hpp"
#include "optout/filter.hpp"
#include "optout/index.hpp"
#include "optout/io.hpp"
#include "optout/registry.hpp"
#include "optout/run.hpp"
#include "optout/signing.hpp"
#include "optout/status.hpp"

namespace optout {

struct VerifyRequest {
  // What to read: a path, "-" for standard input; or a stream the caller opened.
  std::string input = "-";
  ByteSource* source = nullptr;
  // The column, header, delimiter, threads and limits, as a filter run takes them. The
  // data-quality gate does not apply (any rejected row fails verification): leave it unset.
  FilterOptions options;
  // The lists to apply (empty: every list), for run_verify(registry, ...); as FilterRequest.
  std::vector<std::string> apply;
  // The registry's trust and pin, as FilterRequest; trust also applies to the audit record.
  std::vector<PublicKey> trust;
  std::optional<std::string> expect_digest;
  // An audit log (JSON Lines, as --audit appends) that must hold a record vouching for input.
  std::optional<std::string> audit;
  // Where to write the rows the lists remove, one line each, in input order, atomically (a path,
  // put in place only when the whole verification succeeds; "-": standard output, written once at
  // the end). Must not name the input, the registry or the audit log.
  std::optional<std::string> matches;
  // Name each match by this column's value instead of its 1-based data-row number. The column is
  // named as the header names it (exact, after unquoting); the value is written unquoted, as a
  // one-column CSV record: quoted (a quote doubled) when it holds a quote, comma, CR or LF, or is
  // empty, so that each line is one value. Requires matches and a header; never the NHS column.
  // The column must not hold NHS numbers under another name: verify cannot tell.
  std::optional<std::string> id_column;
  // Lists by purpose less exemptions, for run_verify(registry, ...); as FilterRequest.
  std::optional<std::string> purpose;
  std::vector<Exemption> exemptions;
  // A pseudonymised extract (pseudonym.hpp): the column holds tokens made with the key in this
  // file (read as FilterRequest::pseudonym_key; an input: the matches file must not name it). With
  // an audit log, the vouching record must name the same key ("pseudonym_key_sha256"); without a
  // key, a record that names one does not vouch.
  std::optional<std::string> pseudonym_key;
};

// The audit record that vouched for an extract.
struct AuditVouch {
  std::string log;                           // the audit log's path
  std::uint64_t line = 0;                    // 1-based line of the record
  std::string run_id;                        // the run that produced the extract
  std::string finished_at;                   // its "finished_at"
  std::string output_name;                   // its "output"
  std::optional<std::string> signer_key_id;  // the record's signer, when signed
};

struct VerifyResult {
  // rows; kept: clean rows; removed: rows the applied lists remove; rejected (by reason): rows
  // whose number is missing or invalid. bytes_in: the extract's size.
  FilterStats stats;
  Digest128 input_digest;  // XXH3-128 of the extract's bytes
  std::optional<AuditVouch> audit;
  std::uint64_t matches_written = 0;
  bool clean() const noexcept { return stats.removed == 0 && stats.rejected == 0; }
};

// Verifies request.input against index's lists (request.apply must be empty).
// First the request is checked (options, paths, the matches file naming no input, registry or
// audit log; trust, digest pin), then the audit log is read, then the extract, in one pass of the
// filter's pipeline (its reader, scanner, column rule, limits and verdicts; as fast, plus XXH3).
// A malformed extract (bad CSV, a record over the limit) is an error as in filter(), in its
// words; rows that are removed or rejected are not errors: they are counted and clean() is false.
// The vouching record is an "outcome":"ok" record whose "output_xxh3_128" (or a piece's, for a
// part of a run in parts) is input_digest and whose "registry_digest" is index's; the first such
// record (in log order) whose signature check_audit_record() accepts vouches.
// Errors: kInvalidArgument (the request; also an id column that is the NHS column); kNotFound (no
// such NHS or id column); kInvalidInput (the id column named twice; a removed row without an id
// field, naming its line; "AUDIT:LINE: not a JSON object" for a malformed audit line, never
// quoting it); kUntrusted (the registry's signer or digest; "RELEASED: no record of AUDIT vouches
// for it (...)"; "RELEASED: AUDIT:LINE (run ID) released it with another registry than REGISTRY";
// no digest in either, as 32 hex digits may hold a run of 10 decimal ones; a record unsigned or
// signed by an untrusted key when trust is given); kCorruption (a record's signature does not
// verify); kIoError; those of filter() but kDataQuality. A failed run leaves no matches file (an
// earlier one at that path stays as it was).
[[nodiscard]] OPTOUT_API Result<VerifyResult> run_verify(const OptOutIndex& index, const VerifyRequest& request);
// The same, first building the index of registry with request.apply.
[[nodiscard]] OPTOUT_API Result<VerifyResult> run_verify(const Registry& registry, const VerifyRequest& request);

// The result as one JSON object: clean, rows, kept, removed, rejected, rejected_by_reason,
// bytes_in, input_xxh3_128, matches_written, and "audit" (log, line, run_id, finished_at, output,
// signer) when vouched for.
OPTOUT_API std::string verify_result_json(const VerifyResult& result);

}  // namespace optout
