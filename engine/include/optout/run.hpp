// A filter run, described once: what to read, where the results go, which column, which lists,
// how fresh the registry must be, the data-quality gate, threads and the audit log, in one
// FilterRequest that run_filter() checks once and carries out. `optout filter`, the C API,
// optout.filter_file and optout.dask.filter_files all build a request and call run_filter(); none
// of them checks, words or orders anything itself.
//
// A run writes to one output (a file, standard output, or a sink the caller owns), or, in parts,
// to a folder of part files: each input file, or each piece of a large one (pieces.hpp), filtered
// apart (here, or on a cluster through a PieceScheduler) and committed together, with one set of
// counts, one gate and one audit record.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "optout/audit.hpp"
#include "optout/export.hpp"
#include "optout/filter.hpp"
#include "optout/index.hpp"
#include "optout/io.hpp"
#include "optout/pieces.hpp"
#include "optout/registry.hpp"
#include "optout/signing.hpp"
#include "optout/status.hpp"

namespace optout {

// An empty path is never "none" nor standard input/output (an unset variable in a cron job would
// send every row to a log): it is kInvalidArgument. "-" is standard input / output.
struct FilterRequest {
  // What to read: paths, "-" for standard input. One path, unless in_parts.
  std::vector<std::string> inputs = {"-"};
  // Instead of inputs: a stream the caller opened (a descriptor, a socket, memory), named by its
  // name() in messages and the audit record. Not with in_parts.
  ByteSource* source = nullptr;

  // Where kept rows go: a path (written atomically), or "-" for standard output; in parts, a
  // folder that must not exist yet, filled with part-00000.csv, part-00001.csv, ... in input order
  // (part-00000.jsonl, ... for JSON Lines).
  std::string output = "-";
  // Instead of output: a stream the caller owns, written as rows are filtered (as standard output
  // is: a failed run leaves what it wrote). Not with in_parts.
  ByteSink* sink = nullptr;
  // Rejected rows (header first): a path, atomically; in parts a folder of parts like output's.
  std::optional<std::string> rejects;
  ByteSink* rejects_sink = nullptr;  // instead of rejects, as sink
  std::optional<std::string> stats;  // the stats JSON, atomically
  std::optional<std::string> audit;  // audit records of this run are appended here

  // How the output and the rejects are compressed. Unset: by each path's suffix
  // (compression_by_suffix(): "x.csv.gz" gzip, "x.csv.zst" zstd), none for standard output and
  // sinks. Set (kNone included), it overrides the suffix for both. run_filter() writes it into the
  // options' output_compression and rejects_compression (what is there is replaced); the level is
  // options.compression_level. Not with in_parts (kInvalidArgument).
  std::optional<Compression> compress;

  // The column, header, delimiter, threads, block and record limits, and the data-quality gate
  // (applied once, over the whole run). digest_output is forced on when audit is set.
  FilterOptions options;
  // The lists to apply (empty: every list), for run_filter(registry, ...). A run given an index
  // applies the index's lists, and request.apply must then be empty.
  std::vector<std::string> apply;
  // The freshness gate: refuse a registry whose data is older than this (OptOutIndex::check_age).
  std::optional<std::int64_t> max_age_seconds;
  // The trust gate: refuse a registry not signed by one of these keys (check_trust()); empty:
  // no check. Edges fill it with read_trusted_keys() (--trust, OPTOUT_TRUST).
  std::vector<PublicKey> trust;
  // The digest pin: refuse a registry whose digest is not this one (check_expected_digest()).
  std::optional<std::string> expect_digest;
  // Sign the run's final audit record ("ok" or "failed") with this key (sign_audit_record()).
  // Requires audit.
  std::shared_ptr<const SecretKey> sign_audit;

  // A run in parts: output (and rejects) are folders; each input is one part, or, when it is
  // larger than piece_bytes, several, cut at record ends (cut_file()).
  bool in_parts = false;
  std::optional<std::uint64_t> piece_bytes;

  // Lists by purpose (policy.hpp, select_lists()), for run_filter(registry, ...): every list
  // scoped to it and every unscoped list, less the exempted ones; not with apply. A run given an
  // index applies the index's selection (OptOutIndex::create(registry, selection)): leave both
  // empty. Both go into the audit record.
  std::optional<std::string> purpose;
  std::vector<Exemption> exemptions;
  // The impact report (impact.hpp): per group of impact_by's columns (FilterOptions::impact_by's
  // rules; run_filter() sets options.impact_by from it), the four counts, written to this path
  // (JSON when it ends in ".json", else CSV) with disclosure control unless impact_exact, and
  // committed with the run's other results (after the stats, before the output); a run in parts
  // sums its parts' groups first. impact and impact_by need each other (kInvalidArgument);
  // impact_exact needs impact. The audit record says which columns, exact or not, and how many
  // groups.
  std::optional<std::string> impact;
  std::vector<std::string> impact_by;
  bool impact_exact = false;
  // A pseudonymised extract (pseudonym.hpp): the column holds tokens made with the key in this
  // file. The run reads the key (PseudonymKey::read's errors, before anything is written), takes
  // the token set of its index from the process's cache or makes it (TokenSet::cached), and
  // records the key's SHA-256 in its audit records ("pseudonym_key_sha256"). The key file counts as
  // an input: no output may name it.
  std::optional<std::string> pseudonym_key;
};

// What a run did: the counts (for a run in parts, summed over the parts, seconds the wall time),
// and each part's account (in parts only).
struct RunResult {
  FilterStats stats;
  std::vector<PieceAccount> pieces;
  std::string stats_json;  // what the stats file holds (without its newline)
};

// One part of a run in parts, as a worker filters it: an input file, or a piece of one.
struct PieceTask {
  std::string input;
  bool cut = false;    // a piece of input (then the fields below); else all of it
  std::string header;  // when cut: the file's header record, read before the piece
  std::uint64_t header_lines = 0;
  std::uint64_t file_bytes = 0;
  FilePiece piece;
  std::string output;  // the part file (in the staged folder)
  std::optional<std::string> rejects;
  FilterOptions options;      // the request's, without progress; digest_output on
  Digest128 registry_digest;  // the run's registry: a worker with another one refuses
  // A pseudonymised extract: the key file and its SHA-256 (a worker whose key file differs
  // refuses); the worker reads it and takes its token set from its process's cache. Not the key.
  std::optional<std::string> pseudonym_key;
  std::string pseudonym_key_sha256;
};

// A task as bytes, to send to another process or machine, and back; the engine's own format.
OPTOUT_API std::string encode_piece_task(const PieceTask& task);
[[nodiscard]] OPTOUT_API Result<PieceTask> decode_piece_task(std::string_view bytes);
// A part's counts as bytes, and back (what a worker returns).
OPTOUT_API std::string encode_piece_stats(const FilterStats& stats);
[[nodiscard]] OPTOUT_API Result<FilterStats> decode_piece_stats(std::string_view bytes);

// Filters one part: task.input (or its piece) into task.output (and task.rejects), atomically.
// Messages name the input file's lines, as `optout filter` on the whole file would.
// Errors: kInvalidInput "SOURCE: the registry changed after the run started (...)" when index's
// registry is not the task's; those of open_piece_source() and filter().
[[nodiscard]] OPTOUT_API Result<FilterStats> run_piece(const OptOutIndex& index, const PieceTask& task);

// Runs every task, anywhere, and fills results[i] with task i's stats. Returns ok, or the error
// of the first failing task in task order (a later piece may fail only because an earlier one is
// malformed). The engine runs them here, one after another, when a request has no scheduler;
// optout.dask sends them to workers.
using PieceScheduler = std::function<Status(std::span<const PieceTask> tasks, std::span<FilterStats> results)>;

// Carries out a request with index's lists (request.apply must be empty).
//
// First the request is checked, before anything is read or written: its options, no empty path,
// no output naming an input, the registry or another output (check_distinct_files), the
// registry's signer (request.trust), digest (request.expect_digest) and age
// (request.max_age_seconds). Then the outputs are written under temporary names
// and made to appear by commit_run() (commit.hpp): audit "committing", rejects and stats, the
// output, audit "ok". A run that fails after its check (an input that cannot be opened, a bad
// row, the gate, a failed piece) leaves none of them and appends one "failed" record naming the
// error code.
//
// Errors: kInvalidArgument (the request: nothing is written, not even an audit record);
// kStaleRegistry and kUntrusted (likewise); those of open_file_source(), filter() and run_piece() (kBrokenPipe
// when standard output's reader went away, recorded as "broken pipe": the caller decides how to
// end, e.g. by raising SIGPIPE); kDataQuality; kIoError naming the file for the outputs and the
// commit ("NAME: already exists" for a folder of parts that exists).
[[nodiscard]] OPTOUT_API Result<RunResult> run_filter(const OptOutIndex& index, const FilterRequest& request,
                                                      const PieceScheduler& scheduler = {});

// The same, first building the index of registry with request.apply (OptOutIndex::create's errors).
[[nodiscard]] OPTOUT_API Result<RunResult> run_filter(const Registry& registry, const FilterRequest& request,
                                                      const PieceScheduler& scheduler = {});

}  // namespace optout
