// optout._engine: the C++ engine for Python. A thin layer: every rule (parsing, lookup, CSV,
// outputs, audit) is the engine's; this file converts arguments and results, releases the GIL
// around the engine's work, and turns a failed Status into the exception class that
// optout/errors.py keeps for its ErrorCode, with the engine's message unchanged.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <charconv>
#include <cstdint>
#include <ctime>
#include <limits>
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

// A path argument as the OS takes it: str (undecodable bytes as surrogate escapes, as os.fsdecode
// makes them), bytes or os.PathLike, converted by os.fsencode. Every path any function takes comes
// through here once, at the module boundary. ValueError for an embedded NUL byte (as open() raises:
// the OS would read a shorter path), TypeError naming the argument for anything else.
std::string fs_path(const py::handle& value, const char* argument) {
  py::object encoded;
  try {
    encoded = py::module_::import("os").attr("fsencode")(value);
  } catch (py::error_already_set& e) {
    if (!e.matches(PyExc_TypeError)) throw;
    throw py::type_error(std::string(argument) + ": expected a path (str, bytes or os.PathLike), got " +
                         Py_TYPE(value.ptr())->tp_name);
  }
  std::string path = encoded.cast<std::string>();
  if (path.find('\0') != std::string::npos) throw py::value_error(std::string(argument) + ": embedded null byte");
  return path;
}

// A path (or a message naming one) back as str, undecodable bytes as surrogate escapes: the
// os.fsdecode of fs_path(), so a name round-trips.
py::str fs_text(const std::string& bytes) {
  PyObject* text = PyUnicode_DecodeUTF8(bytes.data(), static_cast<Py_ssize_t>(bytes.size()), "surrogateescape");
  if (text == nullptr) throw py::error_already_set();
  return py::reinterpret_steal<py::str>(text);
}

// A Python int (or other integer: numpy's, anything with __index__) for an unsigned option. A
// value the type cannot hold (negative, or too large) becomes the type's largest, which the
// engine's validate_filter_options refuses with its own kInvalidArgument message: the range rules
// are the engine's, and no value wraps around into an accepted one.
template <typename T>
T saturated(const py::handle& value, const char* option) {
  if (PyBool_Check(value.ptr()) || !PyIndex_Check(value.ptr())) {
    throw py::type_error(std::string(option) + " must be an int, got " + Py_TYPE(value.ptr())->tp_name);
  }
  const auto integer = py::reinterpret_steal<py::object>(PyNumber_Index(value.ptr()));
  if (!integer) throw py::error_already_set();
  int overflow = 0;
  const long long v = PyLong_AsLongLongAndOverflow(integer.ptr(), &overflow);
  if (v == -1 && PyErr_Occurred()) throw py::error_already_set();
  if (overflow > 0) {  // more than a long long: maybe still an unsigned 64-bit value
    const unsigned long long u = PyLong_AsUnsignedLongLong(integer.ptr());
    if (PyErr_Occurred()) {
      PyErr_Clear();
      return std::numeric_limits<T>::max();
    }
    return u > std::numeric_limits<T>::max() ? std::numeric_limits<T>::max() : static_cast<T>(u);
  }
  if (overflow < 0 || v < 0) return std::numeric_limits<T>::max();
  const auto u = static_cast<unsigned long long>(v);
  return u > std::numeric_limits<T>::max() ? std::numeric_limits<T>::max() : static_cast<T>(u);
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
    if (r[i] > static_cast<std::uint8_t>(kLastInvalidReason)) {
      throw py::value_error("reasons[" + std::to_string(i) + "] is not an InvalidReason value");
    }
  }
  return {s, r};
}

FilterJob make_job(const FilterOptions& options, std::string output, std::optional<std::string> rejects,
                   std::optional<std::string> stats, std::optional<std::string> audit) {
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
      // A message may name a file whose name is not UTF-8: decoded as the path was encoded.
      const py::object exception = py::module_::import("optout.errors")
                                       .attr("from_status")(static_cast<int>(e.status.code()), fs_text(e.status.message()));
      PyErr_SetObject(reinterpret_cast<PyObject*>(Py_TYPE(exception.ptr())), exception.ptr());
    }
  });

  std::vector<std::string> invalid_reasons;
  for (int i = 0; i <= static_cast<int>(kLastInvalidReason); ++i) {
    invalid_reasons.emplace_back(invalid_reason_text(static_cast<InvalidReason>(i)));
  }
  m.attr("INVALID_REASONS") = invalid_reasons;
  std::vector<std::string> rejected_reasons;
  // rejected_by_reason's slots in use: "missing field", then the InvalidReason values.
  for (std::size_t i = 0; i <= static_cast<std::size_t>(kLastInvalidReason); ++i) {
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
  m.def("parse_array", &parse_array, py::arg("numbers"));
  // The path conversion every path argument goes through, for the Python modules' own file work
  // (optout.dask): a str, undecodable bytes as surrogate escapes; TypeError / ValueError as above.
  m.def("fs_path", [](const py::object& value, const std::string& argument) {
    return fs_text(fs_path(value, argument.c_str()));
  }, py::arg("value"), py::arg("argument"));
  m.def("format_nhs_number", [](std::uint32_t stem) {
    if (!is_valid_stem(stem)) throw py::value_error("not a valid stem");
    return format_nhs_number(stem);
  });

  // ---- Registry -----------------------------------------------------------------------------
  py::class_<LoadedRegistry, std::shared_ptr<LoadedRegistry>>(m, "Registry")
      .def_static("load", [](const py::object& path_arg) {
        const std::string path = fs_path(path_arg, "path");
        Result<Registry> loaded = [&] {
          py::gil_scoped_release release;
          return load_registry(path);
        }();
        return std::make_shared<LoadedRegistry>(LoadedRegistry{take(std::move(loaded)), path});
      }, py::arg("path"))
      .def_property_readonly("path", [](const LoadedRegistry& r) { return fs_text(r.path); })
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
      .def("classify_array", &classify_array, py::arg("numbers"))
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
      .def_property("column_index", [](const FilterOptions& o) { return o.column_index; },
                    [](FilterOptions& o, const py::object& v) { o.column_index = saturated<std::size_t>(v, "column_index"); })
      .def_readwrite("has_header", &FilterOptions::has_header)
      .def_property("delimiter",
                    [](const FilterOptions& o) { return static_cast<int>(static_cast<unsigned char>(o.delimiter)); },
                    [](FilterOptions& o, int byte) {
                      if (byte < 0 || byte > 255) throw py::value_error("the delimiter is one byte (0-255)");
                      o.delimiter = static_cast<char>(byte);
                    })
      .def_property("threads", [](const FilterOptions& o) { return o.threads; },
                    [](FilterOptions& o, const py::object& v) { o.threads = saturated<unsigned>(v, "threads"); })
      .def_property("block_bytes", [](const FilterOptions& o) { return o.block_bytes; },
                    [](FilterOptions& o, const py::object& v) { o.block_bytes = saturated<std::size_t>(v, "block_size"); })
      .def_property("max_record_bytes", [](const FilterOptions& o) { return o.max_record_bytes; },
                    [](FilterOptions& o, const py::object& v) {
                      o.max_record_bytes = saturated<std::size_t>(v, "max_record_bytes");
                    })
      .def_property("max_rejected_rows", [](const FilterOptions& o) { return o.max_rejected_rows; },
                    [](FilterOptions& o, const py::object& v) {
                      if (v.is_none()) {
                        o.max_rejected_rows.reset();
                      } else if (PyIndex_Check(v.ptr()) && v < py::int_(0)) {
                        throw py::value_error("max_rejected cannot be negative");  // not "no limit"
                      } else {
                        o.max_rejected_rows = saturated<std::uint64_t>(v, "max_rejected");
                      }
                    })
      .def_readwrite("max_rejected_fraction", &FilterOptions::max_rejected_fraction)
      .def_readwrite("digest_output", &FilterOptions::digest_output);
  // The CLI's text forms of --max-age and --max-rejected, parsed by the engine: None / False when
  // the text is not one (the Python layer words the error with its own argument's name).
  m.def("parse_max_age", [](std::string_view text) { return parse_max_age(text); }, py::arg("text"));
  m.def("parse_max_rejected", [](std::string_view text, FilterOptions& options) {
    return parse_max_rejected(text, options);
  }, py::arg("text"), py::arg("options"));
  // The engine's column rule for a frame's labels (as text): the position, or the engine's error.
  m.def("check_rejected", [](std::uint64_t rows, std::uint64_t rejected, const FilterOptions& options,
                             const py::object& input) {
    if (Status s = check_rejected(rows, rejected, options, fs_path(input, "input")); !s.ok()) raise_status(s);
  }, py::arg("rows"), py::arg("rejected"), py::arg("options"), py::arg("input"),
        "The engine's data-quality gate over counts (a run over pieces): raises DataQualityError.");
  m.def("resolve_column", [](const std::vector<std::string>& names, const std::string& column,
                             const std::string& source) {
    FilterOptions options;
    options.column_name = column;
    if (Status s = validate_filter_options(options); !s.ok()) raise_status(s);
    return take(resolve_column(names, options, source));
  }, py::arg("names"), py::arg("column"), py::arg("source"));

  // input and output: paths ("" reaches the engine as it is); rejects, stats, audit: a path or None.
  m.def("filter_file", [](const LoadedRegistry& r, const OptOutIndex& index, const FilterOptions& options,
                          const py::object& input, const py::object& output, const py::object& rejects,
                          const py::object& stats, const py::object& audit) {
    const auto optional_path = [](const py::object& value, const char* argument) {
      return value.is_none() ? std::nullopt : std::optional<std::string>(fs_path(value, argument));
    };
    FilterJob job = make_job(options, fs_path(output, "output"), optional_path(rejects, "rejects"),
                             optional_path(stats, "stats"), optional_path(audit, "audit"));
    job.input = fs_path(input, "input");
    job.registry_path = r.path;
    Result<FilterStats> result = [&] {
      py::gil_scoped_release release;
      return run_filter_job(r.registry, index, job);
    }();
    return stats_dict(take(std::move(result)));
  }, py::arg("registry"), py::arg("index"), py::arg("options"), py::arg("input"), py::arg("output"),
     py::arg("rejects"), py::arg("stats"), py::arg("audit"));

  // ---- Pieces of one large file -------------------------------------------------------------
  m.def("cut_file", [](const py::object& path_arg, const FilterOptions& options, std::uint64_t target_bytes) {
    const std::string path = fs_path(path_arg, "path");
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
                           const py::object& path, const py::bytes& header, std::uint64_t header_lines,
                           std::uint64_t file_bytes, std::uint64_t offset, std::uint64_t length,
                           std::uint64_t first_line, const py::object& output_arg, const py::object& rejects_arg) {
    FilePieces file;
    file.path = fs_path(path, "path");
    std::string output = fs_path(output_arg, "output");
    std::optional<std::string> rejects;
    if (!rejects_arg.is_none()) rejects = fs_path(rejects_arg, "rejects");
    file.header = header;
    file.header_lines = header_lines;
    file.file_bytes = file_bytes;
    file.pieces.push_back({offset, length, first_line});
    const FilterJob job = make_job(options, std::move(output), std::move(rejects), std::nullopt, std::nullopt);
    Result<FilterStats> result = [&] {
      py::gil_scoped_release release;
      return run_piece_job(r.registry, index, file, 0, job);
    }();
    return stats_dict(take(std::move(result)));
  }, py::arg("registry"), py::arg("index"), py::arg("options"), py::arg("path"), py::arg("header"),
     py::arg("header_lines"), py::arg("file_bytes"), py::arg("offset"), py::arg("length"), py::arg("first_line"),
     py::arg("output"), py::arg("rejects"));

  // ---- Committing a run in pieces (optout.dask) ------------------------------------------------
  // The engine's commit protocol (commit.hpp) for a run whose pieces were filtered elsewhere: this
  // only converts the pieces' results back into the engine's accounts.
  py::class_<StagedDirectory>(m, "StagedDirectory")
      .def(py::init([](const py::object& path) {
        return take(StagedDirectory::create(fs_path(path, "output_dir")));
      }), py::arg("path"))
      .def_property_readonly("temp_path", [](const StagedDirectory& d) { return fs_text(d.temp_path().string()); })
      .def("discard", [](StagedDirectory& d) {
        if (Status s = d.discard(); !s.ok()) raise_status(s);
      });

  const auto run_context = [](const LoadedRegistry& r, const std::vector<std::string>& lists,
                              const py::object& input_name, const py::list& inputs, const std::string& output,
                              std::int64_t started_at) {
    RunContext context;
    context.run_id = new_run_id();
    context.input_name = fs_path(input_name, "input");
    for (const py::handle input : inputs) context.inputs.push_back(fs_path(input, "inputs"));
    context.output_name = output;
    context.started_at = started_at;
    context.finished_at = std::time(nullptr);
    context.registry_digest = r.registry.digest();
    context.registry_created_at = r.registry.created_at();
    context.lists_applied = lists;
    return context;
  };
  const auto optional_path = [](const py::object& value, const char* argument) {
    return value.is_none() ? std::nullopt : std::optional<std::string>(fs_path(value, argument));
  };

  // pieces: (input, output file name, offset, length, first_line, header_bytes, stats dict from
  // filter_file / filter_piece) per piece, offset None for a whole file. Returns the stats JSON.
  m.def("commit_pieces", [run_context, optional_path](
                             const LoadedRegistry& r, const std::vector<std::string>& lists,
                             const py::object& input_name, const py::list& inputs, std::int64_t started_at,
                             double seconds, const py::list& pieces, StagedDirectory& output,
                             StagedDirectory* rejects, const py::object& stats, const py::object& audit) {
    RunContext context = run_context(r, lists, input_name, inputs, output.name(), started_at);
    for (const py::handle item : pieces) {
      const auto t = item.cast<py::tuple>();
      PieceAccount p;
      p.input = fs_path(t[0], "input");
      p.output = fs_path(t[1], "output");
      p.cut = !t[2].is_none();
      if (p.cut) {
        p.offset = t[2].cast<std::uint64_t>();
        p.length = t[3].cast<std::uint64_t>();
        p.first_line = t[4].cast<std::uint64_t>();
        p.header_bytes = t[5].cast<std::uint64_t>();
      }
      const auto d = t[6].cast<py::dict>();
      p.stats.rows = d["rows"].cast<std::uint64_t>();
      p.stats.kept = d["kept"].cast<std::uint64_t>();
      p.stats.removed = d["removed"].cast<std::uint64_t>();
      p.stats.rejected = d["rejected"].cast<std::uint64_t>();
      for (const auto& [name, n] : d["rejected_by_reason"].cast<py::dict>()) {
        for (std::size_t i = 0; i < std::size(p.stats.rejected_by_reason); ++i) {
          if (name.cast<std::string>() == rejected_reason_name(i)) p.stats.rejected_by_reason[i] = n.cast<std::uint64_t>();
        }
      }
      p.stats.bytes_in = d["bytes_in"].cast<std::uint64_t>();
      p.stats.bytes_out = d["bytes_out"].cast<std::uint64_t>();
      p.stats.bytes_rejected = d["bytes_rejected"].cast<std::uint64_t>();
      p.stats.threads = d["threads"].cast<unsigned>();
      if (!d["output_digest"].is_none()) {
        const std::string hex = d["output_digest"].cast<std::string>();
        Digest128 digest;
        if (hex.size() != 32 ||
            std::from_chars(hex.data(), hex.data() + 16, digest.high, 16).ptr != hex.data() + 16 ||
            std::from_chars(hex.data() + 16, hex.data() + 32, digest.low, 16).ptr != hex.data() + 32) {
          throw py::value_error("output_digest: not 32 hex digits");
        }
        p.stats.output_digest = digest;
      }
      context.pieces.push_back(std::move(p));
    }
    const std::optional<std::string> stats_path = optional_path(stats, "stats");
    const std::optional<std::string> audit_path = optional_path(audit, "audit");
    Result<std::string> json = [&] {
      py::gil_scoped_release release;
      return commit_pieces(context, seconds, output, rejects, stats_path, audit_path);
    }();
    return take(std::move(json));
  }, py::arg("registry"), py::arg("lists"), py::arg("input_name"), py::arg("inputs"), py::arg("started_at"),
     py::arg("seconds"), py::arg("pieces"), py::arg("output"), py::arg("rejects").none(true), py::arg("stats"),
     py::arg("audit"));

  // A run in pieces that failed before its commit: removes the staged folders, appends the
  // "failed" record with error_code; returns the message of what could not be removed or
  // recorded ("" when all went well).
  m.def("abandon_pieces", [run_context, optional_path](
                              const LoadedRegistry& r, const std::vector<std::string>& lists,
                              const py::object& input_name, const py::list& inputs, std::int64_t started_at,
                              const py::object& output_name, StagedDirectory* output, StagedDirectory* rejects,
                              const py::object& audit, int error_code) {
    if (error_code <= 0 || error_code > static_cast<int>(ErrorCode::kInternal)) throw py::value_error("unknown error code");
    const RunContext context = run_context(r, lists, input_name, inputs, fs_path(output_name, "output_dir"), started_at);
    Commit commit;
    commit.output = output;
    if (rejects != nullptr) commit.side.push_back(rejects);
    commit.audit = optional_path(audit, "audit");
    const Status error(static_cast<ErrorCode>(error_code), "");
    const Status s = [&] {
      py::gil_scoped_release release;
      return abandon_run(commit, context, nullptr, error);
    }();
    // The notes abandon_run adds, without the leading "; ".
    return fs_text(s.message().size() > 2 ? s.message().substr(2) : std::string());
  }, py::arg("registry"), py::arg("lists"), py::arg("input_name"), py::arg("inputs"), py::arg("started_at"),
     py::arg("output_name"), py::arg("output").none(true), py::arg("rejects").none(true), py::arg("audit"),
     py::arg("error_code"));

  m.def("append_line", [](const py::object& path, const std::string& line) {
    if (Status s = append_line(fs_path(path, "path"), line); !s.ok()) raise_status(s);
  }, py::arg("path"), py::arg("line"));
  m.def("iso8601_utc", &iso8601_utc, py::arg("unix_seconds"));
}
