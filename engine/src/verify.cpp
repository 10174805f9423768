// optout verify: a released extract read by the filter's own pipeline (filter_pipeline.cpp,
// observe_checked), which writes nothing; this file adds what the filter does not do: the digest
// of every input byte, the rows the lists remove named in a matches file, and the audit record
// that vouches for the extract.
//
// Only blocks with a removed row pay for naming it: such a block is walked again record by record
// (the scanner of csv_scan.hpp, in the parallel stage), and a record inside no kept and no
// rejected span is a removed one. A clean extract costs the filter's scan plus XXH3 (~30 GB/s).
#include "optout/verify.hpp"
#include "optout/pseudonym.hpp"

#include <xxhash.h>

#include <algorithm>
#include <cstring>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "filter_pipeline.hpp"
#include "kernel/csv_scan.hpp"
#include "kernel/filter_kernel.hpp"
#include "optout/audit.hpp"

namespace optout {
namespace {

Status invalid(std::string message) { return Status(ErrorCode::kInvalidArgument, std::move(message)); }

// One line of a matches file: an id value as a one-column CSV record. A value holding a quote, a
// comma, CR or LF, or an empty one, is quoted (RFC 4180, a quote doubled), so that every line
// reads back as one value and no value spans two lines.
void append_id_line(std::string& out, std::string_view value) {
  if (!value.empty() && value.find_first_of("\",\r\n") == std::string_view::npos) {
    out.append(value);
    out += '\n';
    return;
  }
  out += '"';
  for (const char c : value) {
    if (c == '"') out += '"';
    out += c;
  }
  out += "\"\n";
}

// The removed records of the block in one pipeline slot, found in the parallel stage.
struct SlotMatches {
  std::vector<std::uint64_t> ordinals;  // 0-based, among the block's records
  std::string id_lines;                 // with an id column: each one's line, in order
  std::uint64_t found = 0;
  std::size_t missing_id_at = SIZE_MAX;  // a removed record without the id field (offset after skip)

  void clear() {
    ordinals.clear();
    id_lines.clear();
    found = 0;
    missing_id_at = SIZE_MAX;
  }
};

// Hashes every byte in order and, with a matches sink, writes one line per removed row.
class VerifyObserver final : public detail::BlockObserver {
 public:
  VerifyObserver(const VerifyRequest& request, const ByteSource& source, ByteSink* matches)
      : request_(request),
        source_(source),
        input_(source.name()),
        matches_(matches),
        digest_(XXH3_createState(), &XXH3_freeState) {
    XXH3_128bits_reset(digest_.get());
  }

  Status start(std::span<const std::string> names, std::size_t column, std::size_t slots) override {
    slots_.resize(slots);
    if (!request_.id_column) return Status();
    const std::string& wanted = *request_.id_column;
    const std::string shown = "'" + redact_numbers(wanted) + "'";
    const auto count = std::count(names.begin(), names.end(), wanted);
    if (count == 0) {
      // Not resolve_column()'s message: its advice is about the NHS column.
      return Status(ErrorCode::kNotFound, input_ + ": no column named " + shown + " (the id column) in the header");
    }
    if (count > 1) {
      return Status(ErrorCode::kInvalidInput, input_ + ": the header names the id column " + shown + " " +
                                                  std::to_string(count) + " times: which one names a row is ambiguous");
    }
    id_column_ = static_cast<std::size_t>(std::find(names.begin(), names.end(), wanted) - names.begin());
    if (*id_column_ == column) {
      return invalid("the id column " + shown +
                     " is the NHS-number column: a matches file never holds NHS numbers; choose another column");
    }
    return Status();
  }

  // The kernel's kept and rejected spans are whole records, in order, merged when they touch:
  // the gaps between them are exactly the removed records. Only the gaps are walked record by
  // record; a span is only counted (for row numbers), by its LFs when no LF of the block is inside
  // quotes or the span holds no quote, else by the scanner.
  void scanned(const detail::Block& b, std::size_t slot) override {
    SlotMatches& m = slots_[slot];
    m.clear();
    if (matches_ == nullptr || b.removed == 0) return;
    const char* data = b.data.get();
    std::size_t at = b.skip, k = 0, r = 0;
    std::uint64_t ordinal = 0;
    // When every LF of the block ends a record (the kernel counted as many LFs as terminated
    // records), a span's records are its LFs: no need to scan it.
    const bool unterminated = b.at_end && b.size > b.skip && data[b.size - 1] != '\n';
    const bool lines_are_records = b.outcome.lf_count + (unterminated ? 1 : 0) == b.rows;
    while (at < b.size && m.found < b.removed) {
      // The next span, kept or rejected, at or after `at`.
      const bool kept_next = k < b.kept.size() && (r == b.rejected.size() || b.kept[k].begin < b.rejected[r].begin);
      const detail::WriteSpan* next = kept_next ? &b.kept[k] : r < b.rejected.size() ? &b.rejected[r] : nullptr;
      if (next != nullptr && next->begin == at) {
        if (!id_column_) ordinal += records_in(b, at, next->end, lines_are_records);
        at = next->end;
        ++(kept_next ? k : r);
        continue;
      }
      const std::size_t gap_end = next != nullptr ? next->begin : b.size;
      const std::size_t gap = at;
      if (request_.options.format == InputFormat::kJsonLines) {
        // Every line is a record, and the gap's are all removed (no id column for JSON Lines).
        for (std::size_t line = gap; line < gap_end && m.found < b.removed; ++m.found) {
          m.ordinals.push_back(ordinal++);
          const void* lf = std::memchr(data + line, '\n', gap_end - line);
          line = lf == nullptr ? gap_end : static_cast<std::size_t>(static_cast<const char*>(lf) - data) + 1;
        }
        at = gap_end;
        continue;
      }
      (void)detail::scan_records(
          data + gap, gap_end - gap, b.at_end && gap_end == b.size, request_.options.delimiter, id_column_.value_or(0),
          [&](std::size_t begin, std::size_t, std::size_t field_begin, std::size_t field_end, bool has_field) {
            if (!id_column_) {
              m.ordinals.push_back(ordinal++);
            } else if (!has_field) {
              m.missing_id_at = gap + begin - b.skip;
              return false;
            } else {
              append_id_line(m.id_lines, detail::unquote_field(
                                             std::string_view(data + gap + field_begin, field_end - field_begin)));
            }
            ++m.found;
            return true;
          });
      if (m.missing_id_at != SIZE_MAX) return;
      at = gap_end;
    }
  }

  // The records in data[begin, end) of b (whole records: a kept or rejected span).
  std::uint64_t records_in(const detail::Block& b, std::size_t begin, std::size_t end, bool lines_are_records) const {
    const char* data = b.data.get();
    const bool last_unterminated = b.at_end && end == b.size && data[end - 1] != '\n';
    if (lines_are_records || std::memchr(data + begin, '"', end - begin) == nullptr) {
      return detail::count_byte(data + begin, end - begin, '\n') + (last_unterminated ? 1 : 0);
    }
    std::uint64_t n = 0;  // a quoted field may hold LFs: the scanner counts records
    (void)detail::scan_records(data + begin, end - begin, b.at_end && end == b.size, request_.options.delimiter, 0,
                               [&](std::size_t, std::size_t, std::size_t, std::size_t, bool) {
                                 ++n;
                                 return true;
                               });
    return n;
  }

  Status delivered(const detail::Block& b, std::size_t slot) override {
    XXH3_128bits_update(digest_.get(), b.data.get(), b.size);
    if (first_) {
      first_ = false;
      lines_before_ = detail::count_byte(b.data.get(), b.skip, '\n');
    }
    if (matches_ != nullptr && b.removed > 0) {
      const SlotMatches& m = slots_[slot];
      if (m.missing_id_at != SIZE_MAX) {
        // The line of the file, as the filter's messages name it (a piece's lines are its file's).
        const std::uint64_t line =
            source_.line_in_file(lines_before_ + 1 + detail::count_byte(b.data.get() + b.skip, m.missing_id_at, '\n'));
        return Status(ErrorCode::kInvalidInput,
                      input_ + ":" + std::to_string(line) +
                          ": a removed row has no id column field (too few fields), so the matches file cannot name "
                          "it; without --id-column rows are named by number");
      }
      if (m.found != b.removed) {
        return Status(ErrorCode::kInternal, input_ + ": verify found " + std::to_string(m.found) +
                                                " removed rows in a block where the filter counts " +
                                                std::to_string(b.removed));
      }
      line_buffer_.clear();
      for (const std::uint64_t ordinal : m.ordinals) {
        line_buffer_ += std::to_string(rows_before_ + ordinal + 1);
        line_buffer_ += '\n';
      }
      const std::string_view span(id_column_ ? m.id_lines : line_buffer_);
      if (Status s = matches_->write(std::span<const std::string_view>(&span, 1)); !s.ok()) return s;
      written_ += m.found;
    }
    rows_before_ += b.rows;
    lines_before_ += b.outcome.lf_count;
    return Status();
  }

  Digest128 digest() const {
    const XXH128_hash_t h = XXH3_128bits_digest(digest_.get());
    return Digest128{h.high64, h.low64};
  }
  std::uint64_t written() const { return written_; }

 private:
  const VerifyRequest& request_;
  const ByteSource& source_;
  const std::string& input_;
  ByteSink* matches_;
  std::unique_ptr<XXH3_state_t, decltype(&XXH3_freeState)> digest_;
  std::optional<std::size_t> id_column_;
  std::vector<SlotMatches> slots_;
  bool first_ = true;
  std::uint64_t rows_before_ = 0;
  std::uint64_t lines_before_ = 0;
  std::uint64_t written_ = 0;
  std::string line_buffer_;
};

// ---- Trust ----------------------------------------------------------------------------------------

Status check_registry_trust(const OptOutIndex& index, const VerifyRequest& request) {
  if (Status s = check_trust(index.registry_source(), index.registry_signer(), request.trust); !s.ok()) return s;
  if (request.expect_digest) {
    return check_expected_digest(index.registry_source(), index.registry_digest(), *request.expect_digest);
  }
  return Status();
}
Status check_record(const std::string& where, std::string_view line, std::span<const PublicKey> trust) {
  return check_audit_record(where, line, trust);
}
// The key id of the record's signer; nullopt for an unsigned record.
Result<std::optional<std::string>> signer_of(const std::string& where, std::string_view line) {
  Result<std::optional<AuditSignature>> signature = read_audit_signature(line);
  if (!signature.ok()) return Status(signature.code(), where + ": " + signature.status().message());
  if (!*signature) return std::optional<std::string>();
  return std::optional<std::string>((*signature)->key.key_id());
}

// ---- The audit log ------------------------------------------------------------------------------

struct AuditLine {
  std::uint64_t number = 0;
  std::string text;
  nlohmann::json record;
};

// Every line of the log, each a JSON object. Errors: kIoError (cannot read); kInvalidInput
// "AUDIT:LINE: not a JSON object" (never quoting the line).
Result<std::vector<AuditLine>> read_audit_log(const std::string& path) {
  Result<ReadOnlyFile> file = ReadOnlyFile::open(path);
  if (!file.ok()) return file.status();
  std::string bytes;
  std::string chunk(std::size_t{1} << 16, '\0');
  for (;;) {
    Result<std::size_t> n = file->read(chunk.data(), chunk.size());
    if (!n.ok()) return n.status();
    if (*n == 0) break;
    bytes.append(chunk.data(), *n);
  }
  std::vector<AuditLine> lines;
  std::size_t at = 0;
  for (std::uint64_t number = 1; at < bytes.size(); ++number) {
    const std::size_t end = std::min(bytes.find('\n', at), bytes.size());
    AuditLine line;
    line.number = number;
    line.text = bytes.substr(at, end - at);
    at = end + 1;
    line.record = nlohmann::json::parse(line.text, nullptr, false);
    if (line.record.is_discarded() || !line.record.is_object()) {
      return Status(ErrorCode::kInvalidInput, path + ":" + std::to_string(number) + ": not a JSON object");
    }
    lines.push_back(std::move(line));
  }
  return lines;
}

// The string member key of an object, or "".
std::string string_of(const nlohmann::json& object, const char* key) {
  const auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : std::string();
}

// The output name under which record released bytes of digest hex: the run's output, or the part
// of a run in parts; nullopt when it released no such bytes.
std::optional<std::string> released_as(const nlohmann::json& record, const std::string& hex) {
  if (string_of(record, "outcome") != "ok") return std::nullopt;
  if (string_of(record, "output_xxh3_128") == hex) return string_of(record, "output");
  const auto pieces = record.find("pieces");
  if (pieces == record.end() || !pieces->is_array()) return std::nullopt;
  for (const nlohmann::json& piece : *pieces) {
    if (piece.is_object() && string_of(piece, "output_xxh3_128") == hex) return string_of(piece, "output");
  }
  return std::nullopt;
}

// The record of lines that vouches for an extract of digest `digest` filtered with index's
// registry, its signature checked against trust.
Result<AuditVouch> find_vouch(const std::string& log, const std::vector<AuditLine>& lines, const std::string& input,
                              const Digest128& digest, const OptOutIndex& index, std::span<const PublicKey> trust,
                              const std::string& key_sha256) {
  const std::string hex = digest.hex();
  const std::string registry = index.registry_digest().hex();
  const AuditLine* other_registry = nullptr;
  const AuditLine* other_key = nullptr;
  std::optional<Status> refused;
  for (const AuditLine& line : lines) {
    const std::optional<std::string> output = released_as(line.record, hex);
    if (!output) continue;
    if (string_of(line.record, "registry_digest") != registry) {
      if (other_registry == nullptr) other_registry = &line;
      continue;
    }
    // A pseudonymised release is vouched for only under its own key (none: "").
    if (string_of(line.record, "pseudonym_key_sha256") != key_sha256) {
      if (other_key == nullptr) other_key = &line;
      continue;
    }
    const std::string where = log + ":" + std::to_string(line.number);
    Status checked = check_record(where, line.text, trust);
    // A forged or malformed signature: never look past it. An unsigned or untrusted record: maybe
    // another record of the same release is signed by a trusted key.
    if (!checked.ok() && checked.code() != ErrorCode::kUntrusted) return checked;
    if (!checked.ok()) {
      if (!refused) refused = std::move(checked);
      continue;
    }
    AuditVouch vouch;
    vouch.log = log;
    vouch.line = line.number;
    vouch.run_id = string_of(line.record, "run_id");
    vouch.finished_at = string_of(line.record, "finished_at");
    vouch.output_name = *output;
    Result<std::optional<std::string>> signer = signer_of(where, line.text);
    if (!signer.ok()) return signer.status();
    vouch.signer_key_id = std::move(signer).value();
    return vouch;
  }
  if (refused) return *refused;
  // No digest in these messages: 32 hex digits may hold a run of 10 decimal ones, which would look
  // like an NHS number on stderr (verify --json, without --audit, shows the extract's digest).
  if (other_key != nullptr) {
    const std::string run = string_of(other_key->record, "run_id");
    return Status(ErrorCode::kUntrusted, input + ": " + log + ":" + std::to_string(other_key->number) +
                                             (run.empty() ? "" : " (run " + run + ")") + " released it " +
                                             (key_sha256.empty() ? "pseudonymised: give its pseudonym key"
                                                                 : "with another pseudonym key, or none"));
  }
  if (other_registry != nullptr) {
    const std::string run = string_of(other_registry->record, "run_id");
    return Status(ErrorCode::kUntrusted, input + ": " + log + ":" + std::to_string(other_registry->number) +
                                             (run.empty() ? "" : " (run " + run + ")") +
                                             " released it with another registry than " + index.registry_source());
  }
  return Status(ErrorCode::kUntrusted, input + ": no record of " + log +
                                           " vouches for it (no \"ok\" record has its XXH3-128 as output digest)");
}

// ---- The request --------------------------------------------------------------------------------

Status check_request(const OptOutIndex& index, const VerifyRequest& request) {
  if (Status s = validate_filter_options(request.options); !s.ok()) return s;
  if (request.options.max_rejected_rows || request.options.max_rejected_fraction) {
    return invalid("verify has no rejected-row limit: any rejected row fails it");
  }
  if (!request.apply.empty()) {
    return invalid("a verification given an index applies the index's lists: leave the request's lists empty");
  }
  if (request.purpose || !request.exemptions.empty()) {
    return invalid(
        "a verification given an index applies the index's lists: leave the request's purpose and exemptions empty");
  }
  if (request.source == nullptr && request.input.empty()) {
    return invalid("an empty input path: give a file name, or \"-\" for standard input");
  }
  if (request.audit && request.audit->empty()) return invalid("an empty audit path: give a file name");
  if (request.matches && request.matches->empty()) {
    return invalid("an empty matches path: give a file name, or \"-\" for standard output");
  }
  if (request.id_column) {
    if (!request.matches) return invalid("an id column names the rows of a matches file: give one too");
    if (request.id_column->empty()) return invalid("an empty id column name");
    // JSON Lines rows are named by their number: an id key would need a second JSON reader here.
    if (request.options.format == InputFormat::kJsonLines) {
      return invalid("JSON Lines rows are named by their line number: drop the id column");
    }
    if (!request.options.has_header) return invalid("an id column name needs a header");
    if (*request.id_column == request.options.column_name) {
      return invalid("the id column '" + redact_numbers(*request.id_column) +
                     "' is the NHS-number column: a matches file never holds NHS numbers; choose another column");
    }
  }
  std::vector<std::string> inputs = {request.source != nullptr ? request.source->name() : request.input,
                                     index.registry_source()};
  if (request.audit) inputs.push_back(*request.audit);
  if (request.pseudonym_key) {
    if (request.pseudonym_key->empty()) return invalid("an empty pseudonym key path: give a file name");
    inputs.push_back(*request.pseudonym_key);
  }
  std::vector<std::string> outputs;
  if (request.matches) outputs.push_back(*request.matches);
  if (Status s = check_distinct_files(inputs, outputs); !s.ok()) return s;
  return check_registry_trust(index, request);
}

}  // namespace

Result<VerifyResult> run_verify(const OptOutIndex& index, const VerifyRequest& given) {
  if (Status s = check_request(index, given); !s.ok()) return s;
  // A pseudonymised extract: the key read and the token set taken (pseudonym.hpp), as a filter run does.
  VerifyRequest with_tokens;
  const bool wants_tokens = given.pseudonym_key && !given.options.tokens;
  if (wants_tokens) {
    Result<PseudonymKey> key = PseudonymKey::read(*given.pseudonym_key);
    if (!key.ok()) return key.status();
    Result<std::shared_ptr<const TokenSet>> tokens = TokenSet::cached(index, *key);
    if (!tokens.ok()) return tokens.status();
    with_tokens = given;
    with_tokens.options.tokens = std::move(tokens).value();
  }
  const VerifyRequest& request = wants_tokens ? with_tokens : given;
  const std::string key_sha256 = request.options.tokens ? request.options.tokens->key_sha256() : "";
  // A malformed log fails before the extract is read.
  std::vector<AuditLine> audit_lines;
  if (request.audit) {
    Result<std::vector<AuditLine>> read = read_audit_log(*request.audit);
    if (!read.ok()) return read.status();
    audit_lines = std::move(read).value();
  }

  std::unique_ptr<ByteSource> opened;
  ByteSource* source = request.source;
  if (source == nullptr) {
    Result<std::unique_ptr<ByteSource>> file = open_file_source(request.input, request.options.entry);
    if (!file.ok()) return file.status();
    opened = std::move(file).value();
    source = opened.get();
  }
  // Matches go to a temporary file put in place at the end, or, for standard output, to memory
  // written out at the end: a failed verification writes none.
  std::optional<AtomicFile> matches_file;
  std::string matches_text;
  std::unique_ptr<ByteSink> matches_memory;
  ByteSink* matches = nullptr;
  if (request.matches && *request.matches == "-") {
    matches_memory = make_string_sink(matches_text, "<stdout>");
    matches = matches_memory.get();
  } else if (request.matches) {
    Result<AtomicFile> file = AtomicFile::create(*request.matches);
    if (!file.ok()) return file.status();
    matches_file.emplace(std::move(file).value());
    matches = &matches_file->sink();
  }

  const std::string& input = source->name();
  VerifyObserver observer(request, *source, matches);
  Result<FilterStats> stats = detail::observe_checked(*source, index, request.options, observer);
  if (!stats.ok()) return stats.status();

  VerifyResult result;
  result.stats = *stats;
  result.input_digest = observer.digest();
  result.matches_written = observer.written();
  if (request.audit) {
    Result<AuditVouch> vouch =
        find_vouch(*request.audit, audit_lines, input, result.input_digest, index, request.trust, key_sha256);
    if (!vouch.ok()) return vouch.status();
    result.audit = std::move(vouch).value();
  }
  if (matches_file) {
    if (Status s = matches_file->commit(); !s.ok()) return s;
  } else if (matches_memory) {
    Result<Destination> out = Destination::open("-");
    if (!out.ok()) return out.status();
    const std::string_view text(matches_text);
    if (Status s = out->sink().write(std::span<const std::string_view>(&text, 1)); !s.ok()) return s;
  }
  return result;
}

Result<VerifyResult> run_verify(const Registry& registry, const VerifyRequest& request) {
  Result<OptOutIndex> index =
      OptOutIndex::create(registry, ListSelection{request.apply, request.purpose, request.exemptions});
  if (!index.ok()) return index.status();
  VerifyRequest with_index = request;
  with_index.apply.clear();
  with_index.purpose.reset();
  with_index.exemptions.clear();
  return run_verify(*index, with_index);
}

std::string verify_result_json(const VerifyResult& result) {
  const FilterStats& s = result.stats;
  nlohmann::ordered_json j;
  j["clean"] = result.clean();
  j["rows"] = s.rows;
  j["kept"] = s.kept;
  j["removed"] = s.removed;
  j["rejected"] = s.rejected;
  nlohmann::ordered_json reasons = nlohmann::ordered_json::object();
  for (std::size_t i = 0; i < std::size(s.rejected_by_reason); ++i) {
    if (s.rejected_by_reason[i] > 0) reasons[rejected_reason_name(i)] = s.rejected_by_reason[i];
  }
  j["rejected_by_reason"] = std::move(reasons);
  j["bytes_in"] = s.bytes_in;
  j["input_xxh3_128"] = result.input_digest.hex();
  j["matches_written"] = result.matches_written;
  if (result.audit) {
    const AuditVouch& a = *result.audit;
    nlohmann::ordered_json audit;
    audit["log"] = a.log;
    audit["line"] = a.line;
    audit["run_id"] = a.run_id;
    audit["finished_at"] = a.finished_at;
    audit["output"] = a.output_name;
    audit["signer"] = a.signer_key_id ? nlohmann::ordered_json(*a.signer_key_id) : nlohmann::ordered_json(nullptr);
    j["audit"] = std::move(audit);
  }
  // Paths may hold any bytes: never fail on bad UTF-8.
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace optout
