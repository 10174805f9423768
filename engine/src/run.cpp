// A filter run from its request: the one check of the request, then one output or a folder of
// parts, committed by the one commit protocol (commit.hpp), so that a failed or killed run leaves
// nothing that looks complete.
#include "optout/run.hpp"

#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "optout/commit.hpp"
#include "optout/pieces.hpp"
#include "optout/pseudonym.hpp"

#include "decompress.hpp"
#include "filter_pipeline.hpp"

namespace optout {
namespace {

Status invalid(std::string message) { return Status(ErrorCode::kInvalidArgument, std::move(message)); }

Status empty_path(const char* what, const char* instead) {
  return invalid(std::string("an empty ") + what + " path: give a file name" + instead);
}

// What a run reads from, as messages and the audit record name it.
std::string input_name(const FilterRequest& request) {
  if (request.source != nullptr) return request.source->name();
  if (request.inputs.size() == 1) return request.inputs[0] == "-" ? "<stdin>" : request.inputs[0];
  return std::to_string(request.inputs.size()) + " files";
}

// Everything that can be checked before a file is touched: a run that cannot go ahead leaves
// nothing, not even an audit record.
// The options a one-output run filters with: the request's, with the compression of the output
// and the rejects decided by FilterRequest::compress, else by their paths' suffixes.
FilterOptions run_options(const FilterRequest& request) {
  FilterOptions options = request.options;
  auto codec = [&](const std::string* path) {
    if (request.compress) return *request.compress;
    return path != nullptr && *path != "-" ? compression_by_suffix(*path) : Compression::kNone;
  };
  options.output_compression = codec(request.sink == nullptr ? &request.output : nullptr);
  options.rejects_compression = codec(request.rejects ? &*request.rejects : nullptr);
  options.digest_output = options.digest_output || request.audit.has_value();
  if (request.impact) options.impact_by = request.impact_by;  // a part's task carries its own
  return options;
}

// The options a run in parts validates: the request's, with the impact report's columns.
FilterOptions parts_options(const FilterRequest& request) {
  FilterOptions options = request.options;
  if (request.impact) options.impact_by = request.impact_by;
  return options;
}

// The impact report's own rules: its path and its columns need each other.
Status check_impact_request(const FilterRequest& request) {
  if (request.impact && request.impact->empty()) return empty_path("impact report", "");
  if (request.impact && request.impact_by.empty()) return invalid("an impact report needs the columns to group by");
  if (!request.impact && !request.impact_by.empty()) return invalid("grouping columns need an impact report to write");
  if (!request.impact && request.impact_exact) return invalid("exact counts need an impact report");
  if (request.impact && (request.pseudonym_key || request.options.tokens)) return impact_with_tokens();
  return Status();
}

// The context's account of the impact report (audit record).
void set_impact_context(RunContext& context, const FilterRequest& request) {
  if (!request.impact) return;
  context.impact_by = request.impact_by;
  context.impact_exact = request.impact_exact;
  context.impact_file = *request.impact;
}

std::string impact_bytes(const FilterRequest& request, const FilterStats& stats) {
  return impact_report(stats.impact, request.impact_by, request.impact_exact, impact_format_by_suffix(*request.impact));
}

// ---- Pseudonymised extracts (pseudonym.hpp) ------------------------------------------------------

// The key file is an input: not empty, and no output names it.
Status check_pseudonym_key_path(const FilterRequest& request, std::vector<std::string> inputs,
                                std::span<const std::string> outputs) {
  if (!request.pseudonym_key) {
    // A task carries the key's path, never a set: a run in parts given only a set could not send it.
    if (request.in_parts && request.options.tokens) {
      return invalid("a run in parts takes its pseudonym key as a path (pseudonym_key), which its tasks carry");
    }
    return Status();
  }
  if (request.pseudonym_key->empty()) return empty_path("pseudonym key", "");
  inputs.push_back(*request.pseudonym_key);
  return check_distinct_files(inputs, outputs);
}

// The request with its token set: the key read, the set from this process's cache or made.
Result<FilterRequest> with_tokens(const OptOutIndex& index, const FilterRequest& request,
                                  const std::string* expected_sha256 = nullptr) {
  FilterRequest with = request;
  if (!request.pseudonym_key || request.options.tokens) return with;
  Result<PseudonymKey> key = PseudonymKey::read(*request.pseudonym_key);
  if (!key.ok()) return key.status();
  if (expected_sha256 != nullptr && key->sha256_hex() != *expected_sha256) {
    return Status(ErrorCode::kInvalidInput,
                  *request.pseudonym_key + ": the pseudonym key changed after the run started");
  }
  Result<std::shared_ptr<const TokenSet>> tokens = TokenSet::cached(index, *key);
  if (!tokens.ok()) return tokens.status();
  with.options.tokens = std::move(tokens).value();
  return with;
}

Status check_request(const OptOutIndex& index, const FilterRequest& request) {
  if (request.in_parts &&
      ((request.compress && *request.compress != Compression::kNone) || request.options.compression_level ||
       request.options.output_compression != Compression::kNone ||
       request.options.rejects_compression != Compression::kNone)) {
    return invalid("a run in parts writes uncompressed parts: compress a one-output run");
  }
  if (Status s = check_impact_request(request); !s.ok()) return s;
  if (Status s = validate_filter_options(request.in_parts ? parts_options(request) : run_options(request)); !s.ok()) {
    return s;
  }
  if (!request.apply.empty()) {
    return invalid("a run given an index applies the index's lists: leave the request's lists empty");
  }
  if (request.purpose || !request.exemptions.empty()) {
    return invalid("a run given an index applies the index's lists: leave the request's purpose and exemptions empty");
  }
  if (request.source == nullptr) {
    if (request.inputs.empty()) return invalid("no input: give a file name, or \"-\" for standard input");
    for (const std::string& input : request.inputs) {
      if (input.empty()) return empty_path("input", ", or \"-\" for standard input");
    }
  }
  if (request.sink == nullptr && request.output.empty()) return empty_path("output", ", or \"-\" for standard output");
  if (request.rejects && request.rejects->empty()) return empty_path("rejects", "");
  if (request.stats && request.stats->empty()) return empty_path("stats", "");
  if (request.audit && request.audit->empty()) return empty_path("audit", "");
  if (request.rejects && request.rejects_sink != nullptr)
    return invalid("rejected rows go to a path or a sink, not both");
  if (request.piece_bytes && !request.in_parts) return invalid("a piece size needs a run in parts");
  if (request.piece_bytes && *request.piece_bytes == 0) return invalid("the piece size must be at least 1 byte");
  if (request.in_parts) {
    if (request.source != nullptr || request.sink != nullptr || request.rejects_sink != nullptr) {
      return invalid("a run in parts reads and writes files, not streams");
    }
    for (const std::string& input : request.inputs) {
      if (input == "-") return invalid("a run in parts reads files, not standard input");
    }
    if (request.output == "-") return invalid("a run in parts writes a folder, not standard output");
  } else if (request.source == nullptr && request.inputs.size() != 1) {
    return invalid("a run reads one input; more than one needs a run in parts (an output folder)");
  }

  std::vector<std::string> inputs;
  if (request.source != nullptr) {
    inputs.push_back(request.source->name());
  } else {
    inputs = request.inputs;
  }
  inputs.push_back(index.registry_source());
  std::vector<std::string> outputs;
  if (request.sink == nullptr) outputs.push_back(request.output);
  for (const std::optional<std::string>* path : {&request.rejects, &request.stats, &request.audit, &request.impact}) {
    if (*path) outputs.push_back(**path);
  }
  if (Status s = check_distinct_files(inputs, outputs); !s.ok()) return s;
  if (request.sign_audit && !request.audit) return invalid("signing the audit record needs an audit log");
  if (Status s = check_pseudonym_key_path(request, inputs, outputs); !s.ok()) return s;
  // Which registry: signed by a trusted key, the pinned digest, fresh enough.
  if (Status s = check_trust(index.registry_source(), index.registry_signer(), request.trust); !s.ok()) return s;
  if (request.expect_digest) {
    if (Status s = check_expected_digest(index.registry_source(), index.registry_digest(), *request.expect_digest);
        !s.ok()) {
      return s;
    }
  }
  if (request.max_age_seconds) return index.check_age(*request.max_age_seconds, std::time(nullptr));
  return Status();
}

// What the audit records of a run say of it before it starts.
RunContext start_context(const OptOutIndex& index, const FilterRequest& request) {
  RunContext context;
  context.run_id = new_run_id();
  context.started_at = std::time(nullptr);
  context.finished_at = context.started_at;
  context.registry_digest = index.registry_digest();
  context.registry_created_at = index.registry_created_at();
  context.registry_signer = index.registry_signer();
  context.lists_applied = index.applied_lists();
  context.lists = index.applied_list_facts();
  context.purpose = index.purpose();
  context.exemptions = index.exempted_lists();
  context.sign_with = request.sign_audit;
  context.input_name = input_name(request);
  if (request.options.tokens) context.pseudonym_key_sha256 = request.options.tokens->key_sha256();
  context.output_name = request.sink != nullptr ? request.sink->name()
                        : request.output == "-" ? "<stdout>"
                                                : request.output;
  set_impact_context(context, request);
  return context;
}

// ---- One output ---------------------------------------------------------------------------------

Result<RunResult> run_to_one_output(const OptOutIndex& index, const FilterRequest& request) {
  RunContext context = start_context(index, request);
  Commit commit;
  commit.audit = request.audit;

  std::unique_ptr<ByteSource> opened;
  ByteSource* source = request.source;
  if (source == nullptr) {
    Result<std::unique_ptr<ByteSource>> file = open_file_source(request.inputs[0], request.options.entry);
    if (!file.ok()) return abandon_run(commit, context, nullptr, file.status());
    opened = std::move(file).value();
    source = opened.get();
  }

  // Side results first, the output (the release) last: see commit.hpp. An output that cannot be
  // opened fails the run before anything is written, with its "failed" record all the same.
  std::vector<std::unique_ptr<StagedResult>> staged;
  std::optional<Destination> output;
  ByteSink* sink = request.sink;
  if (sink == nullptr) {
    Result<Destination> destination = Destination::open(request.output);
    if (!destination.ok()) return abandon_run(commit, context, nullptr, destination.status());
    output.emplace(std::move(destination).value());
    sink = &output->sink();
  }
  std::optional<AtomicFile> rejects;
  if (request.rejects) {
    Result<AtomicFile> file = AtomicFile::create(*request.rejects);
    if (!file.ok()) return abandon_run(commit, context, nullptr, file.status());
    rejects.emplace(std::move(file).value());
  }
  std::optional<AtomicFile> stats_file;
  if (request.stats) {
    Result<AtomicFile> file = AtomicFile::create(*request.stats);
    if (!file.ok()) return abandon_run(commit, context, nullptr, file.status());
    stats_file.emplace(std::move(file).value());
  }
  std::optional<AtomicFile> impact_file;
  if (request.impact) {
    Result<AtomicFile> file = AtomicFile::create(*request.impact);
    if (!file.ok()) return abandon_run(commit, context, nullptr, file.status());
    impact_file.emplace(std::move(file).value());
  }
  for (AtomicFile* file :
       {rejects ? &*rejects : nullptr, stats_file ? &*stats_file : nullptr, impact_file ? &*impact_file : nullptr}) {
    if (file == nullptr) continue;
    staged.push_back(staged_file(*file));
    commit.side.push_back(staged.back().get());
  }
  if (AtomicFile* file = output ? output->file() : nullptr) {
    staged.push_back(staged_file(*file));
    commit.output = staged.back().get();
  }

  const FilterOptions options = run_options(request);
  ByteSink* rejects_sink = rejects ? &rejects->sink() : request.rejects_sink;
  Result<FilterStats> stats = detail::filter_checked(*source, *sink, rejects_sink, index, options);
  context.finished_at = std::time(nullptr);
  // A failed run (the reader of standard output going away included: "broken pipe") puts nothing
  // in place and says "failed".
  if (!stats.ok()) return abandon_run(commit, context, nullptr, stats.status());
  if (const std::optional<CompressedInput> compressed = source->compressed_input()) {
    stats->input_compressed_digest = Digest128{compressed->digest_high, compressed->digest_low};
    stats->input_compressed_bytes = compressed->bytes;
  }
  RunResult result;
  result.stats = *stats;
  result.stats_json = filter_stats_json(*stats);
  if (stats_file) {
    if (Status s = stats_file->write_all(result.stats_json + "\n"); !s.ok()) {
      return abandon_run(commit, context, &*stats, s);
    }
  }
  if (impact_file) {
    if (Status s = impact_file->write_all(impact_bytes(request, *stats)); !s.ok()) {
      return abandon_run(commit, context, &*stats, s);
    }
  }
  if (Status s = commit_run(commit, context, *stats); !s.ok()) return s;
  return result;
}

// ---- A run in parts -----------------------------------------------------------------------------

// part-00000.csv, or part-00000.jsonl for JSON Lines.
std::string part_name(std::size_t i, InputFormat format) {
  char name[32];
  std::snprintf(name, sizeof name, "part-%05zu.%s", i, format == InputFormat::kJsonLines ? "jsonl" : "csv");
  return name;
}

// The tasks of a run in parts: each input whole, or cut into pieces when larger than piece_bytes.
Result<std::vector<PieceTask>> plan_tasks(const OptOutIndex& index, const FilterRequest& request,
                                          const std::filesystem::path& output_folder,
                                          const std::optional<std::filesystem::path>& rejects_folder) {
  FilterOptions options = request.options;
  options.progress = {};
  options.digest_output = true;       // each part's digest goes into the run's audit record
  options.max_rejected_rows.reset();  // the gate applies once, over the whole run
  options.max_rejected_fraction.reset();
  if (request.impact) options.impact_by = request.impact_by;
  std::vector<PieceTask> tasks;
  const auto add = [&](PieceTask task) {
    const std::string name = part_name(tasks.size(), request.options.format);
    task.output = (output_folder / name).string();
    if (rejects_folder) task.rejects = (*rejects_folder / name).string();
    task.options = options;
    task.registry_digest = index.registry_digest();
    if (request.options.tokens) {
      task.pseudonym_key = request.pseudonym_key;
      task.pseudonym_key_sha256 = request.options.tokens->key_sha256();
    }
    tasks.push_back(std::move(task));
  };
  for (const std::string& input : request.inputs) {
    std::error_code error;
    const std::uintmax_t size = std::filesystem::file_size(input, error);
    // A file that cannot be sized is filtered whole: its filter says what is wrong with it. So is a
    // compressed file: it cannot be cut at byte offsets (cut_file refuses it).
    bool whole_file = !request.piece_bytes || error || size <= *request.piece_bytes;
    if (!whole_file) {
      Result<detail::Compression> kind = detail::sniff_file(input);
      if (!kind.ok()) return kind.status();
      whole_file = *kind != detail::Compression::kNone;
    }
    if (whole_file) {
      PieceTask whole;
      whole.input = input;
      add(std::move(whole));
      continue;
    }
    Result<FilePieces> cut = cut_file(input, request.options, *request.piece_bytes);
    if (!cut.ok()) return cut.status();
    for (const FilePiece& piece : cut->pieces) {
      PieceTask task;
      task.input = input;
      task.cut = true;
      task.header = cut->header;
      task.header_lines = cut->header_lines;
      task.file_bytes = cut->file_bytes;
      task.piece = piece;
      add(std::move(task));
    }
  }
  return tasks;
}

// Every part file is there, whole, and nothing else is in the folder: a task's temporary file that
// a killed worker left is removed. Errors: kIoError "PART: expected N bytes, found M" (or "none").
Status check_parts(const std::filesystem::path& folder, std::span<const std::string> parts,
                   std::span<const std::uint64_t> sizes) {
  std::set<std::string> expected;
  for (const std::string& part : parts) expected.insert(std::filesystem::path(part).filename().string());
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator(folder, error)) {
    if (expected.count(entry.path().filename().string()) == 0) std::filesystem::remove(entry.path(), error);
  }
  for (std::size_t i = 0; i < parts.size(); ++i) {
    const std::uintmax_t size = std::filesystem::file_size(parts[i], error);
    if (error || size != sizes[i]) {
      return Status(ErrorCode::kIoError, parts[i] + ": expected " + std::to_string(sizes[i]) + " bytes, found " +
                                             (error ? std::string("none") : std::to_string(size)));
    }
  }
  return Status();
}

Status run_here(const OptOutIndex& index, std::span<const PieceTask> tasks, std::span<FilterStats> results) {
  for (std::size_t i = 0; i < tasks.size(); ++i) {
    Result<FilterStats> stats = run_piece(index, tasks[i]);
    if (!stats.ok()) return stats.status();
    results[i] = *stats;
  }
  return Status();
}

Result<RunResult> run_in_parts(const OptOutIndex& index, const FilterRequest& request,
                               const PieceScheduler& scheduler) {
  const auto started = std::chrono::steady_clock::now();
  RunContext context = start_context(index, request);
  context.inputs = request.inputs;
  Commit commit;
  commit.audit = request.audit;

  Result<std::unique_ptr<StagedDirectory>> output = StagedDirectory::create(request.output);
  if (!output.ok()) return abandon_run(commit, context, nullptr, output.status());
  commit.output = output->get();
  std::unique_ptr<StagedDirectory> rejects;
  if (request.rejects) {
    Result<std::unique_ptr<StagedDirectory>> folder = StagedDirectory::create(*request.rejects);
    if (!folder.ok()) return abandon_run(commit, context, nullptr, folder.status());
    rejects = std::move(folder).value();
    commit.side.push_back(rejects.get());
  }
  std::optional<std::filesystem::path> rejects_folder;
  if (rejects) rejects_folder = rejects->temp_path();
  Result<std::vector<PieceTask>> tasks = plan_tasks(index, request, (*output)->temp_path(), rejects_folder);
  if (!tasks.ok()) return abandon_run(commit, context, nullptr, tasks.status());

  std::vector<FilterStats> results(tasks->size());
  Status ran = scheduler ? scheduler(*tasks, results) : run_here(index, *tasks, results);
  context.finished_at = std::time(nullptr);
  if (!ran.ok()) return abandon_run(commit, context, nullptr, ran);

  std::vector<std::string> outputs;
  std::vector<std::uint64_t> output_sizes;
  std::vector<std::string> rejected;
  std::vector<std::uint64_t> rejected_sizes;
  for (std::size_t i = 0; i < tasks->size(); ++i) {
    const PieceTask& task = (*tasks)[i];
    outputs.push_back(task.output);
    output_sizes.push_back(results[i].bytes_out);
    if (task.rejects) {
      rejected.push_back(*task.rejects);
      rejected_sizes.push_back(results[i].bytes_rejected);
    }
    PieceAccount account;
    account.input = task.input;
    account.output = std::filesystem::path(task.output).filename().string();
    account.cut = task.cut;
    if (task.cut) {
      account.offset = task.piece.offset;
      account.length = task.piece.length;
      account.first_line = task.piece.first_line;
      account.header_bytes = task.header.size();
    }
    account.stats = results[i];
    context.pieces.push_back(std::move(account));
  }
  Status checked = check_parts((*output)->temp_path(), outputs, output_sizes);
  if (checked.ok() && rejects) checked = check_parts(rejects->temp_path(), rejected, rejected_sizes);
  if (!checked.ok()) return abandon_run(commit, context, nullptr, checked);

  RunResult result;
  result.stats = add_pieces(context.pieces);
  result.stats.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  if (Status s = check_rejected(result.stats.rows, result.stats.rejected, request.options, context.input_name);
      !s.ok()) {
    return abandon_run(commit, context, &result.stats, s);
  }
  // The impact report: the parts' groups summed (add_pieces) before any suppression.
  std::optional<AtomicFile> impact_file;
  std::unique_ptr<StagedResult> staged_impact;
  std::vector<StagedResult*> after_stats;
  if (request.impact) {
    if (result.stats.impact.size() > kImpactGroupsLimit) {
      return abandon_run(commit, context, &result.stats, impact_limit_error(context.input_name, request.impact_by));
    }
    Result<AtomicFile> file = AtomicFile::create(*request.impact);
    if (!file.ok()) return abandon_run(commit, context, &result.stats, file.status());
    impact_file.emplace(std::move(file).value());
    if (Status s = impact_file->write_all(impact_bytes(request, result.stats)); !s.ok()) {
      return abandon_run(commit, context, &result.stats, s);
    }
    staged_impact = staged_file(*impact_file);
    after_stats.push_back(staged_impact.get());
  }
  Result<std::string> json =
      commit_pieces(context, result.stats.seconds, **output, rejects.get(), request.stats, request.audit, after_stats);
  if (!json.ok()) return json.status();
  result.stats_json = std::move(json).value();
  result.pieces = std::move(context.pieces);
  return result;
}

// ---- Tasks as bytes -----------------------------------------------------------------------------

using Json = nlohmann::json;

// Paths and headers may hold any bytes: carried as binary, never as (UTF-8) strings.
Json bytes_of(std::string_view text) { return Json::binary(std::vector<std::uint8_t>(text.begin(), text.end())); }
std::string text_of(const Json& j) {
  const auto& bytes = j.get_binary();
  return std::string(bytes.begin(), bytes.end());
}

Json impact_by_json(const std::vector<std::string>& by) {
  Json names = Json::array();
  for (const std::string& name : by) names.push_back(bytes_of(name));
  return names;
}

// A run's groups as bytes: [[values (binary or null)...], kept, removed, rejected] each.
Json impact_json(const ImpactGroups& groups) {
  Json list = Json::array();
  for (const auto& [key, counts] : groups) {
    Json values = Json::array();
    for (const std::optional<std::string>& value : key) values.push_back(value ? bytes_of(*value) : Json(nullptr));
    list.push_back(Json::array({std::move(values), counts.kept, counts.removed, counts.rejected}));
  }
  return list;
}

ImpactGroups impact_from(const Json& j) {
  ImpactGroups groups;
  for (const Json& g : j) {
    ImpactKey key;
    for (const Json& value : g.at(0)) {
      key.push_back(value.is_null() ? std::nullopt : std::optional<std::string>(text_of(value)));
    }
    ImpactCounts counts;
    counts.kept = g.at(1).get<std::uint64_t>();
    counts.removed = g.at(2).get<std::uint64_t>();
    counts.rejected = g.at(3).get<std::uint64_t>();
    counts.rows = counts.kept + counts.removed + counts.rejected;
    groups.emplace(std::move(key), counts);
  }
  return groups;
}

Json options_json(const FilterOptions& o) {
  return Json{{"column_name", bytes_of(o.column_name)},
              {"column_index", o.column_index ? Json(*o.column_index) : Json(nullptr)},
              {"has_header", o.has_header},
              {"format", static_cast<unsigned>(o.format)},
              {"delimiter", static_cast<unsigned char>(o.delimiter)},
              {"threads", o.threads},
              {"block_bytes", o.block_bytes},
              {"max_record_bytes", o.max_record_bytes},
              {"digest_output", o.digest_output},
              {"entry", o.entry ? bytes_of(*o.entry) : Json(nullptr)},
              {"impact_by", impact_by_json(o.impact_by)}};
}

FilterOptions options_from(const Json& j) {
  FilterOptions o;
  o.column_name = text_of(j.at("column_name"));
  if (!j.at("column_index").is_null()) o.column_index = j.at("column_index").get<std::size_t>();
  o.has_header = j.at("has_header").get<bool>();
  o.format = static_cast<InputFormat>(j.at("format").get<unsigned>());
  o.delimiter = static_cast<char>(j.at("delimiter").get<unsigned char>());
  o.threads = j.at("threads").get<unsigned>();
  o.block_bytes = j.at("block_bytes").get<std::size_t>();
  o.max_record_bytes = j.at("max_record_bytes").get<std::size_t>();
  o.digest_output = j.at("digest_output").get<bool>();
  if (!j.at("entry").is_null()) o.entry = text_of(j.at("entry"));
  if (j.contains("impact_by")) {
    for (const Json& name : j.at("impact_by")) o.impact_by.push_back(text_of(name));
  }
  return o;
}

std::string to_bytes(const Json& j) {
  const std::vector<std::uint8_t> packed = Json::to_msgpack(j);
  return std::string(packed.begin(), packed.end());
}

}  // namespace

std::string encode_piece_task(const PieceTask& task) {
  Json j{{"input", bytes_of(task.input)},
         {"cut", task.cut},
         {"header", bytes_of(task.header)},
         {"header_lines", task.header_lines},
         {"file_bytes", task.file_bytes},
         {"offset", task.piece.offset},
         {"length", task.piece.length},
         {"first_line", task.piece.first_line},
         {"output", bytes_of(task.output)},
         {"rejects", task.rejects ? bytes_of(*task.rejects) : Json(nullptr)},
         {"options", options_json(task.options)},
         {"registry_digest", Json::array({task.registry_digest.high, task.registry_digest.low})}};
  if (task.pseudonym_key) {
    j["pseudonym_key"] = bytes_of(*task.pseudonym_key);
    j["pseudonym_key_sha256"] = task.pseudonym_key_sha256;
  }
  return to_bytes(j);
}

Result<PieceTask> decode_piece_task(std::string_view bytes) {
  try {
    const Json j = Json::from_msgpack(bytes.begin(), bytes.end());
    PieceTask task;
    task.input = text_of(j.at("input"));
    task.cut = j.at("cut").get<bool>();
    task.header = text_of(j.at("header"));
    task.header_lines = j.at("header_lines").get<std::uint64_t>();
    task.file_bytes = j.at("file_bytes").get<std::uint64_t>();
    task.piece = {j.at("offset").get<std::uint64_t>(), j.at("length").get<std::uint64_t>(),
                  j.at("first_line").get<std::uint64_t>()};
    task.output = text_of(j.at("output"));
    if (!j.at("rejects").is_null()) task.rejects = text_of(j.at("rejects"));
    task.options = options_from(j.at("options"));
    task.registry_digest = {j.at("registry_digest").at(0).get<std::uint64_t>(),
                            j.at("registry_digest").at(1).get<std::uint64_t>()};
    if (j.contains("pseudonym_key")) {
      task.pseudonym_key = text_of(j.at("pseudonym_key"));
      task.pseudonym_key_sha256 = j.at("pseudonym_key_sha256").get<std::string>();
    }
    return task;
  } catch (const Json::exception&) {
    return invalid("not a piece task of this version of optout");
  }
}

std::string encode_piece_stats(const FilterStats& s) {
  Json j;
  j["rows"] = s.rows;
  j["kept"] = s.kept;
  j["removed"] = s.removed;
  j["rejected"] = s.rejected;
  j["bytes_in"] = s.bytes_in;
  j["bytes_out"] = s.bytes_out;
  j["bytes_rejected"] = s.bytes_rejected;
  j["seconds"] = s.seconds;
  j["threads"] = s.threads;
  j["rejected_by_reason"] =
      std::vector<std::uint64_t>(std::begin(s.rejected_by_reason), std::end(s.rejected_by_reason));
  j["output_digest"] = s.output_digest ? Json::array({s.output_digest->high, s.output_digest->low}) : Json(nullptr);
  j["input_digest"] = s.input_digest ? Json::array({s.input_digest->high, s.input_digest->low}) : Json(nullptr);
  j["input_compressed_digest"] = s.input_compressed_digest
                                     ? Json::array({s.input_compressed_digest->high, s.input_compressed_digest->low})
                                     : Json(nullptr);
  j["input_compressed_bytes"] = s.input_compressed_bytes;
  if (!s.impact.empty()) j["impact"] = impact_json(s.impact);
  return to_bytes(j);
}

Result<FilterStats> decode_piece_stats(std::string_view bytes) {
  try {
    const Json j = Json::from_msgpack(bytes.begin(), bytes.end());
    FilterStats s;
    s.rows = j.at("rows").get<std::uint64_t>();
    s.kept = j.at("kept").get<std::uint64_t>();
    s.removed = j.at("removed").get<std::uint64_t>();
    s.rejected = j.at("rejected").get<std::uint64_t>();
    s.bytes_in = j.at("bytes_in").get<std::uint64_t>();
    s.bytes_out = j.at("bytes_out").get<std::uint64_t>();
    s.bytes_rejected = j.at("bytes_rejected").get<std::uint64_t>();
    s.seconds = j.at("seconds").get<double>();
    s.threads = j.at("threads").get<unsigned>();
    const auto reasons = j.at("rejected_by_reason").get<std::vector<std::uint64_t>>();
    if (reasons.size() != std::size(s.rejected_by_reason)) return invalid("not the counts of a piece");
    std::copy(reasons.begin(), reasons.end(), std::begin(s.rejected_by_reason));
    if (!j.at("output_digest").is_null()) {
      s.output_digest =
          Digest128{j["output_digest"].at(0).get<std::uint64_t>(), j["output_digest"].at(1).get<std::uint64_t>()};
    }
    if (!j.at("input_digest").is_null()) {
      s.input_digest =
          Digest128{j["input_digest"].at(0).get<std::uint64_t>(), j["input_digest"].at(1).get<std::uint64_t>()};
    }
    if (!j.at("input_compressed_digest").is_null()) {
      s.input_compressed_digest = Digest128{j["input_compressed_digest"].at(0).get<std::uint64_t>(),
                                            j["input_compressed_digest"].at(1).get<std::uint64_t>()};
    }
    s.input_compressed_bytes = j.at("input_compressed_bytes").get<std::uint64_t>();
    if (j.contains("impact")) s.impact = impact_from(j.at("impact"));
    return s;
  } catch (const Json::exception&) {
    return invalid("not the counts of a piece of this version of optout");
  }
}

Result<FilterStats> run_piece(const OptOutIndex& index, const PieceTask& task) {
  if (!(index.registry_digest() == task.registry_digest)) {
    return Status(ErrorCode::kInvalidInput,
                  index.registry_source() + ": the registry changed after the run started (digest " +
                      index.registry_digest().hex() + ", expected " + task.registry_digest.hex() + ")");
  }
  std::unique_ptr<ByteSource> source;
  FilePieces file;  // the piece's source reads its header: it lives as long as the source
  if (task.cut) {
    file.path = task.input;
    file.header = task.header;
    file.header_lines = task.header_lines;
    file.file_bytes = task.file_bytes;
    file.pieces.push_back(task.piece);
    Result<std::unique_ptr<ByteSource>> opened = open_piece_source(file, 0);
    if (!opened.ok()) return opened.status();
    source = std::move(opened).value();
  } else {
    Result<std::unique_ptr<ByteSource>> opened = open_file_source(task.input, task.options.entry);
    if (!opened.ok()) return opened.status();
    source = std::move(opened).value();
  }
  FilterRequest request;
  request.source = source.get();
  request.output = task.output;
  request.rejects = task.rejects;
  request.options = task.options;
  request.pseudonym_key = task.pseudonym_key;
  if (Status s = check_request(index, request); !s.ok()) return s;
  Result<FilterRequest> tokens = with_tokens(index, request, &task.pseudonym_key_sha256);
  if (!tokens.ok()) return tokens.status();
  Result<RunResult> ran = run_to_one_output(index, *tokens);
  if (!ran.ok()) return ran.status();
  return ran->stats;
}

Result<RunResult> run_filter(const OptOutIndex& index, const FilterRequest& request, const PieceScheduler& scheduler) {
  if (Status s = check_request(index, request); !s.ok()) return s;
  if (request.pseudonym_key) {
    Result<FilterRequest> tokens = with_tokens(index, request);
    if (!tokens.ok()) return tokens.status();
    return tokens->in_parts ? run_in_parts(index, *tokens, scheduler) : run_to_one_output(index, *tokens);
  }
  return request.in_parts ? run_in_parts(index, request, scheduler) : run_to_one_output(index, request);
}

Result<RunResult> run_filter(const Registry& registry, const FilterRequest& request, const PieceScheduler& scheduler) {
  Result<OptOutIndex> index =
      OptOutIndex::create(registry, ListSelection{request.apply, request.purpose, request.exemptions});
  if (!index.ok()) return index.status();
  FilterRequest with_index = request;
  with_index.apply.clear();
  with_index.purpose.reset();
  with_index.exemptions.clear();
  return run_filter(*index, with_index, scheduler);
}

}  // namespace optout
