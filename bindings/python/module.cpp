// optout._engine: the C++ engine for Python. A thin layer: every rule (parsing, lookup, CSV,
// outputs, audit) is the engine's; this file converts arguments and results, releases the GIL
// around the engine's work, and turns a failed Status into the exception class that
// optout/errors.py keeps for its ErrorCode, with the engine's message unchanged.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
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
#include "optout/signing.hpp"
#include "optout/verify.hpp"

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

// The row counts of stats: rows, kept, removed, rejected, rejected_by_reason (the engine's names,
// non-zero counts only).
py::dict counts_dict(const FilterStats& stats) {
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
  return d;
}

py::dict stats_dict(const FilterStats& stats) {
  py::dict d = counts_dict(stats);
  d["bytes_in"] = stats.bytes_in;
  d["bytes_out"] = stats.bytes_out;
  d["bytes_rejected"] = stats.bytes_rejected;
  d["seconds"] = stats.seconds;
  d["mb_per_second"] = mb_per_second(stats.bytes_in, stats.seconds);
  d["threads"] = stats.threads;
  d["output_digest"] = stats.output_digest ? py::object(py::str(stats.output_digest->hex())) : py::object(py::none());
  // A compressed output's and input's sizes as files, as the stats file has them (only when compressed).
  if (stats.bytes_out_compressed > 0) d["bytes_out_compressed"] = stats.bytes_out_compressed;
  if (stats.input_compressed_bytes > 0) d["input_compressed_bytes"] = stats.input_compressed_bytes;
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

// The counts of a batch of rows with these verdicts and InvalidReasons, as the filter counts a
// file's rows: each row kept, removed or rejected, a rejected one under its reason.
// The engine's count of a frame's verdicts (count_verdicts), over uint8 arrays read in place.
FilterStats tally_verdicts(const py::array& verdicts, const py::array& reasons) {
  return take(count_verdicts(borrow_array<std::uint8_t>(verdicts, 'u', "uint8"),
                             borrow_array<std::uint8_t>(reasons, 'u', "uint8")));
}

// A Python scheduler for a run in parts: called with the tasks (bytes, the engine's encoding) and
// returning each task's counts (bytes, from Index.run_piece on a worker). A Python exception it
// raises is kept, to be raised again once the engine has recorded the run as failed with its code.
class PythonScheduler {
 public:
  explicit PythonScheduler(py::object schedule) : schedule_(std::move(schedule)) {}

  Status operator()(std::span<const PieceTask> tasks, std::span<FilterStats> results) {
    py::gil_scoped_acquire acquire;
    try {
      py::list encoded;
      for (const PieceTask& task : tasks) encoded.append(py::bytes(encode_piece_task(task)));
      const py::list returned = schedule_(encoded);
      if (returned.size() != tasks.size()) throw py::value_error("the scheduler returned another number of results");
      for (std::size_t i = 0; i < tasks.size(); ++i) {
        Result<FilterStats> stats = decode_piece_stats(returned[i].cast<std::string>());
        if (!stats.ok()) return stats.status();
        results[i] = *stats;
      }
      return Status();
    } catch (py::error_already_set& e) {
      // The error code the failed record names: the optout error's own, an OSError's I/O error,
      // an internal error for anything else.
      ErrorCode code = ErrorCode::kInternal;
      const py::object value = e.value();
      const py::object errors = py::module_::import("optout.errors");
      if (py::isinstance(value, errors.attr("Error")) && !value.attr("code").is_none()) {
        code = static_cast<ErrorCode>(value.attr("code").cast<int>());
      } else if (e.matches(PyExc_OSError)) {
        code = ErrorCode::kIoError;
      }
      // As a message naming a file that is not UTF-8 was decoded: surrogate escapes back to bytes.
      message_ = py::str(value).attr("encode")("utf-8", "surrogateescape").cast<std::string>();
      error_ = std::move(e);
      return Status(code, message_);
    }
  }

  // After a failed run: raises the scheduler's exception again, with what the engine added to its
  // message (what could not be removed or recorded) as a note. Returns when there is none.
  void raise_kept(const Status& status) {
    if (!error_) return;
    py::error_already_set error = std::move(*error_);
    error_.reset();
    if (status.message().size() > message_.size() + 2 && status.message().starts_with(message_)) {
      error.value().attr("add_note")(fs_text(status.message().substr(message_.size() + 2)));
    }
    throw error;
  }

 private:
  py::object schedule_;
  std::optional<py::error_already_set> error_;
  std::string message_;
};

// The trusted keys of a run, as read_trusted_keys() read them (on the client: OPTOUT_TRUST is the
// client's). Pickled as the keys' bytes, so that Dask tasks carry the client's keys to workers.
struct TrustedKeys {
  std::vector<PublicKey> keys;
};

// A secret key read by read_secret_key(), shared with the requests that sign with it. Never
// pickled: signing happens where the audit record is written, on the client.
struct SecretKeyHandle {
  std::shared_ptr<const SecretKey> key;
};

// The trusted keys for paths (None or empty: OPTOUT_TRUST), read by the engine.
TrustedKeys trusted_keys(const py::object& paths) {
  std::vector<std::string> list;
  if (!paths.is_none()) {
    for (const py::handle path : paths) list.push_back(fs_path(path, "trust"));
  }
  return TrustedKeys{take(read_trusted_keys(list))};
}

// A list's provenance as a dict: list, as_of ("YYYY-MM-DD" or None) and sources (file, op, bytes,
// xxh3_128, lines, numbers), the names the snapshot's PROVENANCE section uses.
py::dict provenance_dict(const ListProvenance& p) {
  py::list sources;
  for (const SourceRecord& source : p.sources) {
    py::dict d;
    d["file"] = fs_text(source.file);
    d["op"] = source.removal ? "remove" : "add";
    d["bytes"] = source.bytes;
    d["xxh3_128"] = source.xxh3.hex();
    d["lines"] = source.lines;
    d["numbers"] = source.numbers;
    sources.append(d);
  }
  py::dict d;
  d["list"] = p.list;
  d["as_of"] = p.as_of ? py::object(py::str(iso_date_utc(*p.as_of))) : py::object(py::none());
  d["sources"] = sources;
  return d;
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
      const py::object exception =
          py::module_::import("optout.errors")
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
  // Every code (the last is kUntrusted): errors.py keeps one exception class per code.
  for (int i = 0; i <= static_cast<int>(ErrorCode::kUntrusted); ++i) {
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
  m.def("parse_array", &parse_array, py::arg("numbers"), py::arg("missing") = py::none());
  // The path conversion every path argument goes through, for the Python modules' own file work
  // (optout.dask): a str, undecodable bytes as surrogate escapes; TypeError / ValueError as above.
  m.def(
      "fs_path",
      [](const py::object& value, const std::string& argument) { return fs_text(fs_path(value, argument.c_str())); },
      py::arg("value"), py::arg("argument"));
  m.def("format_nhs_number", [](std::uint32_t stem) {
    if (!is_valid_stem(stem)) throw py::value_error("not a valid stem");
    return format_nhs_number(stem);
  });

  // ---- Keys ---------------------------------------------------------------------------------
  py::class_<TrustedKeys>(m, "TrustedKeys")
      .def_property_readonly("key_ids",
                             [](const TrustedKeys& t) {
                               std::vector<std::string> ids;
                               for (const PublicKey& key : t.keys) ids.push_back(key.key_id());
                               return ids;
                             })
      .def(py::pickle(
          [](const TrustedKeys& t) {
            py::list keys;
            for (const PublicKey& key : t.keys) {
              keys.append(py::bytes(reinterpret_cast<const char*>(key.bytes.data()), key.bytes.size()));
            }
            return keys;
          },
          [](const py::list& keys) {
            TrustedKeys t;
            for (const py::handle item : keys) {
              const std::string bytes = item.cast<std::string>();
              PublicKey key;
              if (bytes.size() != key.bytes.size()) throw py::value_error("a pickled public key of the wrong size");
              std::copy(bytes.begin(), bytes.end(), key.bytes.begin());
              t.keys.push_back(key);
            }
            return t;
          }));
  py::class_<SecretKeyHandle>(m, "SecretKey")
      .def_property_readonly("key_id", [](const SecretKeyHandle& k) { return k.key->public_key().key_id(); })
      .def("__reduce__", [](const SecretKeyHandle&) -> py::object {
        throw py::type_error("a secret key is not pickled: sign on the process that writes the audit log");
      });
  // read_trusted_keys(paths or None): the engine's reading of --trust / OPTOUT_TRUST.
  m.def("read_trusted_keys", &trusted_keys, py::arg("paths"));
  m.def(
      "read_secret_key",
      [](const py::object& path) {
        return SecretKeyHandle{std::make_shared<const SecretKey>(take(read_secret_key(fs_path(path, "sign"))))};
      },
      py::arg("path"));
  // `optout keygen -o NAME`: the new key's id.
  m.def(
      "write_key_pair", [](const py::object& name) { return take(write_key_pair(fs_path(name, "name"))).key_id(); },
      py::arg("name"));
  // check_audit_record(where, line, trusted): the engine's rule for one audit record; returns the
  // signer's key id, or None for an unsigned record (accepted only without trusted keys).
  m.def(
      "check_audit_record",
      [](const std::string& where, const std::string& line, const TrustedKeys& trusted) -> py::object {
        if (Status s = check_audit_record(where, line, trusted.keys); !s.ok()) raise_status(s);
        Result<std::optional<AuditSignature>> signature = read_audit_signature(line);
        if (!signature.ok()) raise_status(signature.status());
        return *signature ? py::object(py::str((*signature)->key.key_id())) : py::object(py::none());
      },
      py::arg("where"), py::arg("line"), py::arg("trusted"));

  // ---- Registry -----------------------------------------------------------------------------
  py::class_<Registry, std::shared_ptr<Registry>>(m, "Registry")
      .def_static(
          "load",
          [](const py::object& path_arg) {
            const std::string path = fs_path(path_arg, "path");
            Result<Registry> loaded = [&] {
              py::gil_scoped_release release;
              return load_registry(path);
            }();
            return std::make_shared<Registry>(take(std::move(loaded)));
          },
          py::arg("path"))
      .def_property_readonly("path", [](const Registry& r) { return fs_text(r.source()); })
      .def_property_readonly("created_at", [](const Registry& r) { return r.created_at(); })
      .def_property_readonly("description", [](const Registry& r) { return r.description(); })
      .def_property_readonly("digest", [](const Registry& r) { return r.digest().hex(); })
      .def_property_readonly("total_count", [](const Registry& r) { return r.total_count(); })
      .def_property_readonly("memory_bytes", [](const Registry& r) { return r.memory_bytes(); })
      .def_property_readonly("purposes", [](const Registry& r) { return r.purposes(); })
      .def_property_readonly(
          "lists",
          [](const Registry& r) {
            py::list lists;
            for (const ListInfo& info : r.lists()) {
              lists.append(py::make_tuple(info.name, list_kind_name(info.kind), info.count, info.serialized_bytes,
                                          info.memory_bytes, py::tuple(py::cast(info.scopes))));
            }
            return lists;
          })
      .def("find_list", [](const Registry& r, const std::string& name) { return r.find_list(name); })
      .def("require_list", [](const Registry& r, const std::string& name) { return take(r.require_list(name)); })
      // out[i]: the list holds a valid numbers[i] (parsed as stems/reasons).
      .def(
          "contains_parsed",
          [](const Registry& r, std::size_t list, const py::array& stems, const py::array& reasons) {
            if (list >= r.lists().size()) throw py::index_error("no list at that index");
            const auto [s, why] = parsed_spans(stems, reasons);
            py::array_t<bool> out(static_cast<py::ssize_t>(s.size()));
            bool* found = out.mutable_data();
            {
              py::gil_scoped_release release;
              std::vector<std::uint8_t> in_list(s.size());
              r.contains_many(list, s, in_list);
              for (std::size_t i = 0; i < s.size(); ++i) {
                found[i] = in_list[i] != 0 && why[i] == static_cast<std::uint8_t>(InvalidReason::kNone);
              }
            }
            return out;
          },
          py::arg("list"), py::arg("stems").noconvert(), py::arg("reasons").noconvert())
      .def_property_readonly("signer",
                             [](const Registry& r) {
                               return r.signer() ? py::object(py::str(r.signer()->key_id())) : py::object(py::none());
                             })
      .def_property_readonly("provenance",
                             [](const Registry& r) {
                               py::list out;
                               for (const ListProvenance& p : r.provenance()) out.append(provenance_dict(p));
                               return out;
                             })
      // The engine's trust rule and digest pin, as `--trust` and `--expect-digest` apply them.
      .def(
          "check_trust",
          [](const Registry& r, const TrustedKeys& trusted) {
            if (Status s = check_trust(r.source(), r.signer(), trusted.keys); !s.ok()) raise_status(s);
          },
          py::arg("trusted"))
      .def(
          "check_expected_digest",
          [](const Registry& r, const std::string& expected) {
            if (Status s = check_expected_digest(r.source(), r.digest(), expected); !s.ok()) raise_status(s);
          },
          py::arg("expected"))
      // The engine's freshness gate, as `optout filter --max-age` applies it.
      .def(
          "check_age",
          [](const Registry& r, std::int64_t max_age_seconds, std::int64_t now) {
            if (Status s = check_registry_age(r.source(), r.created_at(), r.data_as_of(), max_age_seconds, now);
                !s.ok())
              raise_status(s);
          },
          py::arg("max_age_seconds"), py::arg("now"));

  // ---- Lookup index -------------------------------------------------------------------------
  py::class_<OptOutIndex> index_class(m, "Index");
  index_class
      .def(py::init([](const Registry& r, const std::vector<std::string>& apply) {
             Result<OptOutIndex> index = [&] {
               py::gil_scoped_release release;
               return OptOutIndex::create(r, apply);
             }();
             return std::make_unique<OptOutIndex>(take(std::move(index)));
           }),
           py::arg("registry"), py::arg("apply"))
      // Lists by purpose less exemptions ("LIST=REFERENCE" each): the engine's select_lists().
      .def(py::init([](const Registry& r, const std::vector<std::string>& apply,
                       const std::optional<std::string>& purpose, const std::vector<std::string>& exemptions) {
             ListSelection selection{apply, purpose, {}};
             for (const std::string& text : exemptions) selection.exemptions.push_back(take(parse_exemption(text)));
             Result<OptOutIndex> index = [&] {
               py::gil_scoped_release release;
               return OptOutIndex::create(r, selection);
             }();
             return std::make_unique<OptOutIndex>(take(std::move(index)));
           }),
           py::arg("registry"), py::arg("apply"), py::arg("purpose"), py::arg("exemptions"))
      .def_property_readonly("applied_lists", &OptOutIndex::applied_lists)
      .def_property_readonly("purpose", &OptOutIndex::purpose)
      .def_property_readonly(
          "exempted_lists",
          [](const OptOutIndex& index) {
            py::list out;
            for (const ExemptedList& e : index.exempted_lists()) {
              out.append(py::make_tuple(e.list, list_kind_name(e.kind), e.count,
                                        e.as_of ? py::cast(iso_date_utc(*e.as_of)) : py::none(), e.reference));
            }
            return out;
          })
      // Verdicts for 10-digit integers, read in place.
      .def("classify_uint64", &classify_uint64, py::arg("numbers").noconvert())
      .def("classify_int64", &classify_int64, py::arg("numbers").noconvert())
      .def("classify_float64", &classify_float64, py::arg("numbers").noconvert())
      .def("classify_unicode", &classify_unicode, py::arg("texts").noconvert())
      .def("classify_bytes", &classify_bytes, py::arg("texts").noconvert())
      .def("classify_objects", &classify_objects, py::arg("sequence"))
      .def("classify_array", &classify_array, py::arg("numbers"))
      .def(
          "classify_parsed",
          [](const OptOutIndex& index, const py::array& stems, const py::array& reasons) {
            const auto [s, why] = parsed_spans(stems, reasons);
            return verdict_array(s.size(), [&](std::span<Verdict> out) {
              for (std::size_t i = 0; i < s.size(); ++i) {
                out[i] = index.verdict(ParsedNhsNumber{s[i], static_cast<InvalidReason>(why[i])});
              }
            });
          },
          py::arg("stems").noconvert(), py::arg("reasons").noconvert());

  // ---- Filtering files ----------------------------------------------------------------------
  py::class_<FilterOptions>(m, "FilterOptions")
      .def(py::init<>())
      .def_readwrite("column_name", &FilterOptions::column_name)
      .def_property(
          "column_index", [](const FilterOptions& o) { return o.column_index; },
          [](FilterOptions& o, const py::object& v) {
            if (v.is_none()) {
              o.column_index.reset();
            } else {
              o.column_index = saturated<std::size_t>(v, "column_index");
            }
          })
      .def_readwrite("has_header", &FilterOptions::has_header)
      // A zip input's entry (None: the zip must hold one file).
      .def_readwrite("entry", &FilterOptions::entry)
      // None: the codec's default; the engine checks the range for the codec in use.
      .def_property(
          "compression_level", [](const FilterOptions& o) { return o.compression_level; },
          [](FilterOptions& o, const py::object& v) {
            if (v.is_none()) {
              o.compression_level.reset();
            } else {
              o.compression_level = saturated<int>(v, "level");
            }
          })
      // The engine's format rule: "csv" or "jsonl" (parse_input_format).
      .def_property(
          "format", [](const FilterOptions& o) { return o.format == InputFormat::kJsonLines ? "jsonl" : "csv"; },
          [](FilterOptions& o, const py::object& text) {
            if (!py::isinstance<py::str>(text)) throw py::type_error("format: 'csv' or 'jsonl'");
            o.format = take(parse_input_format(text.cast<std::string>()));
          })
      // The engine's delimiter rule: one byte, or "tab" (str or bytes).
      .def_property(
          "delimiter", [](const FilterOptions& o) { return static_cast<int>(static_cast<unsigned char>(o.delimiter)); },
          [](FilterOptions& o, const py::object& text) {
            if (!py::isinstance<py::str>(text) && !py::isinstance<py::bytes>(text)) {
              throw py::type_error("delimiter: one byte (str or bytes), or 'tab'");
            }
            o.delimiter = take(parse_delimiter(text.cast<std::string>()));
          })
      .def_property(
          "threads", [](const FilterOptions& o) { return o.threads; },
          [](FilterOptions& o, const py::object& v) { o.threads = saturated<unsigned>(v, "threads"); })
      .def_property(
          "block_bytes", [](const FilterOptions& o) { return o.block_bytes; },
          [](FilterOptions& o, const py::object& v) { o.block_bytes = saturated<std::size_t>(v, "block_size"); })
      .def_property(
          "max_record_bytes", [](const FilterOptions& o) { return o.max_record_bytes; },
          [](FilterOptions& o, const py::object& v) {
            o.max_record_bytes = saturated<std::size_t>(v, "max_record_bytes");
          })
      // A row count (int) or the CLI's text form ("250", "0.5%"), parsed by the engine.
      .def(
          "set_max_rejected",
          [](FilterOptions& o, const py::object& v) {
            if (py::isinstance<py::str>(v)) {
              if (Status s = parse_max_rejected(v.cast<std::string>(), o); !s.ok()) raise_status(s);
            } else if (PyIndex_Check(v.ptr()) && !PyBool_Check(v.ptr()) && v < py::int_(0)) {
              // Not "no limit": a count the engine's unsigned type cannot hold.
              raise_status(Status(ErrorCode::kInvalidArgument, "max_rejected cannot be negative"));
            } else {
              o.max_rejected_rows = saturated<std::uint64_t>(v, "max_rejected");
            }
          },
          py::arg("value"));

  // The CLI's text form of --max-age ("36h", "7d"), parsed by the engine, in seconds.
  m.def(
      "parse_max_age",
      [](std::string_view text) {
        Result<std::int64_t> seconds = parse_max_age(text);
        if (!seconds.ok()) raise_status(seconds.status());
        return *seconds;
      },
      py::arg("text"));
  // Counting rows by verdict, for pandas and Dask frames: tally_verdicts(verdicts, reasons) -> the
  // batch's counts (bytes, as run_piece returns them); add_counts([counts, ...]) -> the sums, as
  // filter_file's stats dict names them (rows, kept, removed, rejected, rejected_by_reason).
  m.def(
      "tally_verdicts",
      [](const py::array& verdicts, const py::array& reasons) {
        return py::bytes(encode_piece_stats(tally_verdicts(verdicts, reasons)));
      },
      py::arg("verdicts").noconvert(), py::arg("reasons").noconvert());
  m.def(
      "add_counts",
      [](const py::list& tallies) {
        std::vector<PieceAccount> parts(tallies.size());
        for (std::size_t i = 0; i < parts.size(); ++i)
          parts[i].stats = take(decode_piece_stats(tallies[i].cast<std::string>()));
        return counts_dict(add_pieces(parts));
      },
      py::arg("tallies"));
  // add_verify_counts([counts, ...]) -> add_counts' sums plus bytes_in: optout.dask.verify_files'
  // totals over its files (each file's bytes once, as add_pieces counts whole files).
  m.def(
      "add_verify_counts",
      [](const py::list& tallies) {
        std::vector<PieceAccount> parts(tallies.size());
        for (std::size_t i = 0; i < parts.size(); ++i)
          parts[i].stats = take(decode_piece_stats(tallies[i].cast<std::string>()));
        const FilterStats total = add_pieces(parts);
        py::dict d = counts_dict(total);
        d["bytes_in"] = total.bytes_in;
        return d;
      },
      py::arg("tallies"));
  // The engine's column rule for a frame's labels (as text): the position, or the engine's error.
  m.def(
      "resolve_column",
      [](const std::vector<std::string>& names, const std::string& column, const std::string& source) {
        FilterOptions options;
        options.column_name = column;
        if (Status s = validate_filter_options(options); !s.ok()) raise_status(s);
        return take(resolve_column(names, options, source));
      },
      py::arg("names"), py::arg("column"), py::arg("source"));

  // The one request type of a run (run.hpp); paths go through fs_path.
  const auto optional_path = [](const py::object& value, const char* argument) {
    return value.is_none() ? std::nullopt : std::optional<std::string>(fs_path(value, argument));
  };
  py::class_<FilterRequest>(m, "FilterRequest")
      .def(py::init([optional_path](const py::list& inputs, const py::object& output, const py::object& rejects,
                                    const py::object& stats, const py::object& audit, const FilterOptions& options,
                                    std::optional<std::int64_t> max_age_seconds, bool in_parts,
                                    const py::object& piece_bytes, const TrustedKeys& trust,
                                    std::optional<std::string> expect_digest, const SecretKeyHandle* sign) {
             FilterRequest request;
             request.inputs.clear();
             for (const py::handle input : inputs) request.inputs.push_back(fs_path(input, "input"));
             request.output = fs_path(output, in_parts ? "output_dir" : "output");
             request.rejects = optional_path(rejects, in_parts ? "rejects_dir" : "rejects");
             request.stats = optional_path(stats, "stats");
             request.audit = optional_path(audit, "audit");
             request.options = options;
             request.max_age_seconds = max_age_seconds;
             request.in_parts = in_parts;
             request.trust = trust.keys;
             request.expect_digest = std::move(expect_digest);
             if (sign != nullptr) request.sign_audit = sign->key;
             if (!piece_bytes.is_none()) {
               // A negative size as 0, which the engine refuses ("the piece size must be at least 1
               // byte"); saturating it would ask for pieces too large to cut anything.
               const auto bytes = saturated<std::uint64_t>(piece_bytes, "piece_bytes");
               request.piece_bytes = piece_bytes < py::int_(0) ? 0 : bytes;
             }
             return request;
           }),
           py::arg("inputs"), py::arg("output"), py::arg("rejects"), py::arg("stats"), py::arg("audit"),
           py::arg("options"), py::arg("max_age_seconds"), py::arg("in_parts"), py::arg("piece_bytes"),
           py::arg("trust"), py::arg("expect_digest"), py::arg("sign").none(true))
      // The output's compression: None (by suffix), or the engine's names ("gzip", "zstd", "none").
      .def_property(
          "compress",
          [](const FilterRequest& r) {
            return r.compress ? py::object(py::str(compression_name(*r.compress))) : py::none();
          },
          [](FilterRequest& r, const py::object& v) {
            if (v.is_none()) {
              r.compress.reset();
            } else {
              if (!py::isinstance<py::str>(v)) throw py::type_error("compress: 'gzip', 'zstd' or 'none'");
              r.compress = take(parse_compression(v.cast<std::string>()));
            }
          })
      // The impact report (FilterRequest::impact, impact_by, impact_exact); the rules are the engine's.
      .def(
          "set_impact",
          [optional_path](FilterRequest& request, const py::object& path, const std::vector<std::string>& by,
                          bool exact) {
            request.impact = optional_path(path, "impact");
            request.impact_by = by;
            request.impact_exact = exact;
          },
          py::arg("path"), py::arg("by"), py::arg("exact"));

  // The impact report of rows decided elsewhere (a data frame's verdicts): counted, suppressed and
  // written by the engine (count_impact, impact_report). keys[c][i]: row i's value in column c
  // (None: missing). Returns the report's text, CSV or JSON.
  m.def(
      "impact_report",
      [](const py::array_t<std::uint8_t, py::array::c_style | py::array::forcecast>& verdicts,
         const std::vector<std::vector<std::optional<std::string>>>& keys, const std::vector<std::string>& by,
         bool exact, bool json) {
        const std::span<const std::uint8_t> v(verdicts.data(), static_cast<std::size_t>(verdicts.size()));
        Result<ImpactGroups> groups = count_impact(v, keys, by);
        if (!groups.ok()) raise_status(groups.status());
        return impact_report(*groups, by, exact, json ? ImpactFormat::kJson : ImpactFormat::kCsv);
      },
      py::arg("verdicts"), py::arg("keys"), py::arg("by"), py::arg("exact"), py::arg("json"));
  // The engine's rules for grouping columns, for a frame's (column: the NHS-number column's label).
  m.def(
      "check_impact_by",
      [](const std::string& column, const std::vector<std::string>& by) {
        FilterOptions options;
        options.column_name = column;
        options.impact_by = by;
        if (Status s = validate_filter_options(options); !s.ok()) raise_status(s);
      },
      py::arg("column"), py::arg("by"));

  // The request of `optout verify` (verify.hpp); paths go through fs_path.
  py::class_<VerifyRequest>(m, "VerifyRequest")
      .def(py::init([optional_path](const py::object& input, const FilterOptions& options, const TrustedKeys& trust,
                                    std::optional<std::string> expect_digest, const py::object& audit,
                                    const py::object& matches, std::optional<std::string> id_column) {
             VerifyRequest request;
             request.input = fs_path(input, "input");
             request.options = options;
             request.trust = trust.keys;
             request.expect_digest = std::move(expect_digest);
             request.audit = optional_path(audit, "audit");
             request.matches = optional_path(matches, "matches");
             request.id_column = std::move(id_column);
             return request;
           }),
           py::arg("input"), py::arg("options"), py::arg("trust"), py::arg("expect_digest"), py::arg("audit"),
           py::arg("matches"), py::arg("id_column"));

  // A folder filled under a temporary name and renamed into place (commit.hpp), for optout.dask's
  // folder of matches files: StagedDirectory(path) (kIoError "NAME: already exists"), .temp_path,
  // .put_in_place(), .discard().
  py::class_<StagedDirectory>(m, "StagedDirectory")
      .def(py::init([](const py::object& path) { return take(StagedDirectory::create(fs_path(path, "path"))); }),
           py::arg("path"))
      .def_property_readonly("temp_path", [](const StagedDirectory& d) { return fs_text(d.temp_path().string()); })
      .def("put_in_place",
           [](StagedDirectory& d) {
             if (Status s = d.put_in_place(); !s.ok()) raise_status(s);
           })
      .def("discard", [](StagedDirectory& d) {
        if (Status s = d.discard(); !s.ok()) raise_status(s);
      });

  // Index.run(request, scheduler=None) -> (stats dict, stats JSON text). Index.run_piece(task) ->
  // the part's counts, on a worker.
  index_class
      .def(
          "check_age",
          [](const OptOutIndex& index, std::int64_t max_age_seconds, std::int64_t now) {
            if (Status s = index.check_age(max_age_seconds, now); !s.ok()) raise_status(s);
          },
          py::arg("max_age_seconds"), py::arg("now"))
      .def_property_readonly("registry_digest", [](const OptOutIndex& index) { return index.registry_digest().hex(); })
      .def(
          "run",
          [](const OptOutIndex& index, const FilterRequest& request, const py::object& schedule) {
            std::optional<PythonScheduler> python;
            PieceScheduler scheduler;
            if (!schedule.is_none()) {
              python.emplace(schedule);
              scheduler = [&python](std::span<const PieceTask> tasks, std::span<FilterStats> results) {
                return (*python)(tasks, results);
              };
            }
            Result<RunResult> ran = [&] {
              py::gil_scoped_release release;
              return run_filter(index, request, scheduler);
            }();
            if (!ran.ok()) {
              if (python) python->raise_kept(ran.status());
              raise_status(ran.status());
            }
            return py::make_tuple(stats_dict(ran->stats), ran->stats_json);
          },
          py::arg("request"), py::arg("scheduler") = py::none())
      // Index.verify(request) -> (verify_result_json text, the counts as run_piece returns them).
      // A file that is not clean is a result; the engine's errors raise.
      .def(
          "verify",
          [](const OptOutIndex& index, const VerifyRequest& request) {
            Result<VerifyResult> verified = [&] {
              py::gil_scoped_release release;
              return run_verify(index, request);
            }();
            const VerifyResult result = take(std::move(verified));
            return py::make_tuple(verify_result_json(result), py::bytes(encode_piece_stats(result.stats)));
          },
          py::arg("request"))
      .def(
          "run_piece",
          [](const OptOutIndex& index, const py::bytes& encoded) {
            const PieceTask task = take(decode_piece_task(encoded.cast<std::string>()));
            Result<FilterStats> stats = [&] {
              py::gil_scoped_release release;
              return run_piece(index, task);
            }();
            return py::bytes(encode_piece_stats(take(std::move(stats))));
          },
          py::arg("task"));

  // Which input and part a task is, for the .piece of an error: input, output (the part's file
  // name) and, for a cut file, offset, length and first_line.
  m.def(
      "piece_task_info",
      [](const py::bytes& encoded) {
        const PieceTask task = take(decode_piece_task(encoded.cast<std::string>()));
        py::dict d;
        d["input"] = fs_text(task.input);
        d["output"] = fs_text(std::filesystem::path(task.output).filename().string());
        if (task.cut) {
          d["offset"] = task.piece.offset;
          d["length"] = task.piece.length;
          d["first_line"] = task.piece.first_line;
        }
        return d;
      },
      py::arg("task"));
  m.def("iso8601_utc", &iso8601_utc, py::arg("unix_seconds"));

  // Pseudonymised extracts (pseudonym.hpp): a request's pseudonym key file, set after it is made
  // (None: the column holds NHS numbers). The engine reads the key, never Python.
  const auto key_property = [](auto cls) {
    using Request = typename decltype(cls)::type;
    cls.def_property(
        "pseudonym_key",
        [](const Request& r) {
          return r.pseudonym_key ? py::object(py::str(*r.pseudonym_key)) : py::object(py::none());
        },
        [](Request& r, const py::object& path) {
          r.pseudonym_key = path.is_none() ? std::nullopt : std::optional<std::string>(fs_path(path, "pseudonym_key"));
        });
  };
  key_property(py::reinterpret_borrow<py::class_<FilterRequest>>(m.attr("FilterRequest")));
  key_property(py::reinterpret_borrow<py::class_<VerifyRequest>>(m.attr("VerifyRequest")));

  // A column of tokens (optout.pandas with pseudonym_key): (verdicts, reasons) as uint8 arrays, by
  // TokenSet::parse and the index's verdict, the set from this process's cache. A str or bytes
  // value is read as a CSV field's text; None (a missing value) is "empty"; anything else (a
  // number) "bad character".
  index_class.def(
      "classify_tokens",
      [](const OptOutIndex& index, const py::sequence& values, const py::object& key_path) {
        const PseudonymKey key = take(PseudonymKey::read(fs_path(key_path, "pseudonym_key")));
        const std::shared_ptr<const TokenSet> tokens = take(TokenSet::cached(index, key));
        const auto n = static_cast<std::size_t>(py::len(values));
        py::array_t<std::uint8_t> verdicts(static_cast<py::ssize_t>(n)), reasons(static_cast<py::ssize_t>(n));
        std::uint8_t* v = verdicts.mutable_data();
        std::uint8_t* r = reasons.mutable_data();
        for (std::size_t i = 0; i < n; ++i) {
          const py::object value = values[i];
          ParsedNhsNumber parsed{0, InvalidReason::kBadCharacter};
          if (value.is_none()) {
            parsed.reason = InvalidReason::kEmpty;
          } else if (py::isinstance<py::str>(value)) {
            parsed = tokens->parse(value.cast<std::string>());
          } else if (py::isinstance<py::bytes>(value)) {
            parsed = tokens->parse(std::string(value.cast<py::bytes>()));
          }
          v[i] = static_cast<std::uint8_t>(index.verdict(parsed));
          r[i] = static_cast<std::uint8_t>(parsed.reason);
        }
        return py::make_tuple(verdicts, reasons);
      },
      py::arg("values"), py::arg("pseudonym_key"));
  // The process's cached token set (TokenSet::cached): dropped, its memory freed (260 MB for 5 M
  // numbers) once no run holds it; the next pseudonymised run hashes the registry again. True when
  // there was one.
  m.def("clear_token_cache", [] { return TokenSet::clear_cache(); });
}
