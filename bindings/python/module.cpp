// optout._engine: the C++ engine for Python. A thin layer: every rule (parsing, lookup, CSV,
// outputs, audit) is the engine's; this file converts arguments and results, releases the GIL
// around the engine's work, and turns a failed Status into the exception class that
// optout/errors.py keeps for its ErrorCode, with the engine's message unchanged.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "number_arrays.hpp"
#include "optout/optout.hpp"

namespace optout::python {
namespace {

// A failed Status on its way out; the translator registered below raises it as a Python exception.
struct StatusError {
  Status status;
};

[[noreturn]] void raise_status(Status status) { throw StatusError{std::move(status)}; }

template <typename T>
T take(Result<T> result) {
  if (!result.ok()) raise_status(result.status());
  return std::move(result).value();
}

// A registry and the path it was loaded from (messages and audit records name it).
struct LoadedRegistry {
  Registry registry;
  std::string path;
};

py::dict stats_dict(const FilterStats& stats) {
  py::dict reasons;
  for (std::size_t i = 0; i < std::size(stats.rejected_by_reason); ++i) {
    if (stats.rejected_by_reason[i] > 0) reasons[rejected_reason_name(i)] = stats.rejected_by_reason[i];
  }
  py::dict d;
  d["rows"] = stats.rows;
  d["kept"] = stats.kept;
  d["removed"] = stats.removed;
  d["rejected"] = stats.rejected;
  d["rejected_by_reason"] = reasons;
  d["bytes_in"] = stats.bytes_in;
  d["bytes_out"] = stats.bytes_out;
  d["bytes_rejected"] = stats.bytes_rejected;
  d["seconds"] = stats.seconds;
  d["threads"] = stats.threads;
  d["output_digest"] = stats.output_digest ? py::object(py::str(stats.output_digest->hex())) : py::object(py::none());
  return d;
}

// A uint8 array of Verdict values, written without the GIL.
template <typename Fill>
py::array_t<std::uint8_t> verdict_array(std::size_t n, Fill&& fill) {
  static_assert(sizeof(Verdict) == sizeof(std::uint8_t));
  py::array_t<std::uint8_t> out(static_cast<py::ssize_t>(n));
  const std::span<Verdict> verdicts(reinterpret_cast<Verdict*>(out.mutable_data()), n);
  {
    py::gil_scoped_release release;
    fill(verdicts);
  }
  return out;
}

// The parsed form numbers take between parse_* and the lookups: two arrays of one length.
std::pair<std::span<const std::uint32_t>, std::span<const std::uint8_t>> parsed_spans(const py::array& stems,
                                                                                       const py::array& reasons) {
  const auto s = borrow_array<std::uint32_t>(stems, 'u', "uint32");
  const auto r = borrow_array<std::uint8_t>(reasons, 'u', "uint8");
  if (s.size() != r.size()) throw py::value_error("stems and reasons differ in length");
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (r[i] == static_cast<std::uint8_t>(InvalidReason::kNone) && !is_valid_stem(s[i])) {
      throw py::value_error("stems[" + std::to_string(i) + "] is not a valid stem");
    }
    if (r[i] > static_cast<std::uint8_t>(InvalidReason::kWrongCheckDigit)) {
      throw py::value_error("reasons[" + std::to_string(i) + "] is not an InvalidReason value");
    }
  }
  return {s, r};
}

FilterJob make_job(const FilterOptions& options, std::string output, std::string rejects,
                   std::string stats, std::string audit) {
  FilterJob job;
  job.options = options;
  job.output = std::move(output);
  job.rejects = std::move(rejects);
  job.stats = std::move(stats);
  job.audit = std::move(audit);
  return job;
}

}  // namespace
}  // namespace optout::python

PYBIND11_MODULE(_engine, m) {
  using namespace optout;
  using namespace optout::python;

  m.doc() = "optout's C++ engine; use the `optout` package, which wraps this module.";
  m.attr("VERSION") = kVersion;

  py::register_exception_translator([](std::exception_ptr error) {
    try {
      if (error) std::rethrow_exception(error);
    } catch (const StatusError& e) {
      const py::object exception = py::module_::import("optout.errors")
                                       .attr("from_status")(static_cast<int>(e.status.code()), e.status.message());
      PyErr_SetObject(reinterpret_cast<PyObject*>(Py_TYPE(exception.ptr())), exception.ptr());
    }
  });

  std::vector<std::string> invalid_reasons;
  for (int i = 0; i <= static_cast<int>(InvalidReason::kWrongCheckDigit); ++i) {
    invalid_reasons.emplace_back(invalid_reason_text(static_cast<InvalidReason>(i)));
  }
  m.attr("INVALID_REASONS") = invalid_reasons;
  std::vector<std::string> rejected_reasons;
  // rejected_by_reason's slots in use: "missing field", then the InvalidReason values.
  for (std::size_t i = 0; i <= static_cast<std::size_t>(InvalidReason::kWrongCheckDigit); ++i) {
    rejected_reasons.emplace_back(rejected_reason_name(i));
  }
  m.attr("REJECTED_REASONS") = rejected_reasons;
  std::vector<std::string> error_codes;
  for (int i = 0; i <= static_cast<int>(ErrorCode::kInternal); ++i) {
    error_codes.emplace_back(error_code_name(static_cast<ErrorCode>(i)));
  }
  m.attr("ERROR_CODE_NAMES") = error_codes;

  // ---- Parsing ------------------------------------------------------------------------------
  m.def("parse_uint64", &parse_uint64, py::arg("numbers").noconvert());
  m.def("parse_int64", &parse_int64, py::arg("numbers").noconvert());
  m.def("parse_float64", &parse_float64, py::arg("numbers").noconvert());
  m.def("parse_unicode", &parse_unicode, py::arg("texts").noconvert());
  m.def("parse_bytes", &parse_bytes, py::arg("texts").noconvert());
  m.def("parse_objects", &parse_objects, py::arg("sequence"));
  m.def("format_nhs_number", [](std::uint32_t stem) {
    if (!is_valid_stem(stem)) throw py::value_error("not a valid stem");
    return format_nhs_number(stem);
  });

  // ---- Registry -----------------------------------------------------------------------------
  py::class_<LoadedRegistry, std::shared_ptr<LoadedRegistry>>(m, "Registry")
      .def_static("load", [](const std::string& path) {
        Result<Registry> loaded = [&] {
          py::gil_scoped_release release;
          return load_registry(path);
        }();
        return std::make_shared<LoadedRegistry>(LoadedRegistry{take(std::move(loaded)), path});
      }, py::arg("path"))
      .def_property_readonly("path", [](const LoadedRegistry& r) { return r.path; })
      .def_property_readonly("created_at", [](const LoadedRegistry& r) { return r.registry.created_at(); })
      .def_property_readonly("description", [](const LoadedRegistry& r) { return r.registry.description(); })
      .def_property_readonly("digest", [](const LoadedRegistry& r) { return r.registry.digest().hex(); })
      .def_property_readonly("total_count", [](const LoadedRegistry& r) { return r.registry.total_count(); })
      .def_property_readonly("memory_bytes", [](const LoadedRegistry& r) { return r.registry.memory_bytes(); })
      .def_property_readonly("lists", [](const LoadedRegistry& r) {
        py::list lists;
        for (const ListInfo& info : r.registry.lists()) {
          lists.append(py::make_tuple(info.name, list_kind_name(info.kind), info.count, info.serialized_bytes,
                                      info.memory_bytes));
        }
        return lists;
      })
      .def("find_list", [](const LoadedRegistry& r, const std::string& name) { return r.registry.find_list(name); })
      // out[i]: the list holds a valid numbers[i] (parsed as stems/reasons).
      .def("contains_parsed", [](const LoadedRegistry& r, std::size_t list, const py::array& stems,
                                 const py::array& reasons) {
        if (list >= r.registry.lists().size()) throw py::index_error("no list at that index");
        const auto [s, why] = parsed_spans(stems, reasons);
        py::array_t<bool> out(static_cast<py::ssize_t>(s.size()));
        bool* found = out.mutable_data();
        {
          py::gil_scoped_release release;
          std::vector<std::uint8_t> in_list(s.size());
          r.registry.contains_many(list, s, in_list);
          for (std::size_t i = 0; i < s.size(); ++i) {
            found[i] = in_list[i] != 0 && why[i] == static_cast<std::uint8_t>(InvalidReason::kNone);
          }
        }
        return out;
      }, py::arg("list"), py::arg("stems").noconvert(), py::arg("reasons").noconvert())
      // As `optout filter --max-age`: kStaleRegistry naming the registry's path.
      .def("check_age", [](const LoadedRegistry& r, std::int64_t max_age_seconds, std::int64_t now) {
        if (Status s = check_registry_age(r.registry, max_age_seconds, now); !s.ok()) {
          raise_status(Status(s.code(), r.path + ": " + s.message()));
        }
      }, py::arg("max_age_seconds"), py::arg("now"));

  // ---- Lookup index -------------------------------------------------------------------------
  py::class_<OptOutIndex>(m, "Index")
      .def(py::init([](const LoadedRegistry& r, const std::vector<std::string>& apply) {
        Result<OptOutIndex> index = [&] {
          py::gil_scoped_release release;
          return OptOutIndex::create(r.registry, apply);
        }();
        // As the CLI says it: the registry's path first.
        if (!index.ok()) raise_status(Status(index.code(), r.path + ": " + index.status().message()));
        return std::make_unique<OptOutIndex>(std::move(index).value());
      }), py::arg("registry"), py::arg("apply"))
      .def_property_readonly("applied_lists", &OptOutIndex::applied_lists)
      // Verdicts for 10-digit integers, read in place.
      .def("classify_uint64", &classify_uint64, py::arg("numbers").noconvert())
      .def("classify_int64", &classify_int64, py::arg("numbers").noconvert())
      .def("classify_float64", &classify_float64, py::arg("numbers").noconvert())
      .def("classify_unicode", &classify_unicode, py::arg("texts").noconvert())
      .def("classify_bytes", &classify_bytes, py::arg("texts").noconvert())
      .def("classify_objects", &classify_objects, py::arg("sequence"))
      .def("classify_parsed", [](const OptOutIndex& index, const py::array& stems, const py::array& reasons) {
        const auto [s, why] = parsed_spans(stems, reasons);
        return verdict_array(s.size(), [&](std::span<Verdict> out) {
          for (std::size_t i = 0; i < s.size(); ++i) {
            out[i] = index.verdict(ParsedNhsNumber{s[i], static_cast<InvalidReason>(why[i])});
          }
        });
      }, py::arg("stems").noconvert(), py::arg("reasons").noconvert());

  // ---- Filtering files ----------------------------------------------------------------------
  py::class_<FilterOptions>(m, "FilterOptions")
      .def(py::init<>())
      .def_readwrite("column_name", &FilterOptions::column_name)
      .def_readwrite("column_index", &FilterOptions::column_index)
      .def_readwrite("has_header", &FilterOptions::has_header)
      .def_property("delimiter",
                    [](const FilterOptions& o) { return static_cast<int>(static_cast<unsigned char>(o.delimiter)); },
                    [](FilterOptions& o, int byte) {
                      if (byte < 0 || byte > 255) throw py::value_error("the delimiter is one byte (0-255)");
                      o.delimiter = static_cast<char>(byte);
                    })
      .def_readwrite("threads", &FilterOptions::threads)
      .def_readwrite("block_bytes", &FilterOptions::block_bytes)
      .def_readwrite("max_record_bytes", &FilterOptions::max_record_bytes)
      .def_readwrite("max_rejected_rows", &FilterOptions::max_rejected_rows)
      .def_readwrite("max_rejected_fraction", &FilterOptions::max_rejected_fraction)
      .def_readwrite("digest_output", &FilterOptions::digest_output);
  // The CLI's text forms of --max-age and --max-rejected, parsed by the engine: None / False when
  // the text is not one (the Python layer words the error with its own argument's name).
  m.def("parse_max_age", [](std::string_view text) { return parse_max_age(text); }, py::arg("text"));
  m.def("parse_max_rejected", [](std::string_view text, FilterOptions& options) {
    return parse_max_rejected(text, options);
  }, py::arg("text"), py::arg("options"));

  m.def("filter_file", [](const LoadedRegistry& r, const OptOutIndex& index, const FilterOptions& options,
                          std::string input, std::string output, std::string rejects, std::string stats,
                          std::string audit) {
    FilterJob job = make_job(options, std::move(output), std::move(rejects), std::move(stats), std::move(audit));
    job.input = std::move(input);
    Result<FilterStats> result = [&] {
      py::gil_scoped_release release;
      return run_filter_job(r.registry, index, job);
    }();
    return stats_dict(take(std::move(result)));
  }, py::arg("registry"), py::arg("index"), py::arg("options"), py::arg("input"), py::arg("output"),
     py::arg("rejects"), py::arg("stats"), py::arg("audit"));

  // ---- Pieces of one large file -------------------------------------------------------------
  m.def("cut_file", [](const std::string& path, const FilterOptions& options, std::uint64_t target_bytes) {
    Result<FilePieces> cut = [&] {
      py::gil_scoped_release release;
      return cut_file(path, options, target_bytes);
    }();
    const FilePieces file = take(std::move(cut));
    py::list pieces;
    for (const FilePiece& piece : file.pieces) pieces.append(py::make_tuple(piece.offset, piece.length, piece.first_line));
    return py::make_tuple(py::bytes(file.header), file.header_lines, file.file_bytes, pieces);
  }, py::arg("path"), py::arg("options"), py::arg("target_bytes"));

  m.def("filter_piece", [](const LoadedRegistry& r, const OptOutIndex& index, const FilterOptions& options,
                           const std::string& path, const py::bytes& header, std::uint64_t header_lines,
                           std::uint64_t file_bytes, std::uint64_t offset, std::uint64_t length,
                           std::uint64_t first_line, std::string output, std::string rejects) {
    FilePieces file;
    file.path = path;
    file.header = header;
    file.header_lines = header_lines;
    file.file_bytes = file_bytes;
    file.pieces.push_back({offset, length, first_line});
    const FilterJob job = make_job(options, std::move(output), std::move(rejects), "", "");
    Result<FilterStats> result = [&] {
      py::gil_scoped_release release;
      return run_piece_job(r.registry, index, file, 0, job);
    }();
    return stats_dict(take(std::move(result)));
  }, py::arg("registry"), py::arg("index"), py::arg("options"), py::arg("path"), py::arg("header"),
     py::arg("header_lines"), py::arg("file_bytes"), py::arg("offset"), py::arg("length"), py::arg("first_line"),
     py::arg("output"), py::arg("rejects"));

  // ---- Audit --------------------------------------------------------------------------------
  // One audit line for a run the caller put together (e.g. from pieces): counts is None for a run
  // that failed before counting, else a dict with rows, kept, removed, rejected, bytes_in and
  // bytes_out; error_code 0 for success.
  m.def("audit_record_json", [](const std::string& input, const std::string& output, std::int64_t started_at,
                                std::int64_t finished_at, const LoadedRegistry& r,
                                const std::vector<std::string>& lists_applied, const py::object& counts,
                                int error_code) {
    if (error_code < 0 || error_code > static_cast<int>(ErrorCode::kInternal)) throw py::value_error("unknown error code");
    RunContext context;
    context.input_name = input;
    context.output_name = output;
    context.started_at = started_at;
    context.finished_at = finished_at;
    context.registry_digest = r.registry.digest();
    context.registry_created_at = r.registry.created_at();
    context.lists_applied = lists_applied;
    std::optional<FilterStats> stats;
    if (!counts.is_none()) {
      const auto d = counts.cast<py::dict>();
      stats.emplace();
      stats->rows = d["rows"].cast<std::uint64_t>();
      stats->kept = d["kept"].cast<std::uint64_t>();
      stats->removed = d["removed"].cast<std::uint64_t>();
      stats->rejected = d["rejected"].cast<std::uint64_t>();
      stats->bytes_in = d["bytes_in"].cast<std::uint64_t>();
      stats->bytes_out = d["bytes_out"].cast<std::uint64_t>();
    }
    const Status outcome = error_code == 0 ? Status() : Status(static_cast<ErrorCode>(error_code), "failed");
    return audit_record_json(context, stats ? &*stats : nullptr, outcome);
  }, py::arg("input"), py::arg("output"), py::arg("started_at"), py::arg("finished_at"), py::arg("registry"),
     py::arg("lists_applied"), py::arg("counts"), py::arg("error_code"));

  m.def("append_line", [](const std::string& path, const std::string& line) {
    if (Status s = append_line(path, line); !s.ok()) raise_status(s);
  }, py::arg("path"), py::arg("line"));
  m.def("iso8601_utc", &iso8601_utc, py::arg("unix_seconds"));
}
