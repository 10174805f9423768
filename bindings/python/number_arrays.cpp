#include "number_arrays.hpp"

#include <cmath>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "optout/nhs_number.hpp"

namespace optout::python {
namespace {

constexpr ParsedNhsNumber kMissing{0, InvalidReason::kEmpty};
constexpr ParsedNhsNumber kSigned{0, InvalidReason::kBadCharacter};

ParsedNhsNumber from_signed(std::int64_t value) noexcept {
  return value < 0 ? kSigned : nhs_number_from_integer(static_cast<std::uint64_t>(value));
}

ParsedNhsNumber from_double(double value) noexcept {
  if (std::isnan(value)) return kMissing;
  // 2^63: larger integral doubles would overflow the conversion (and are far from 10 digits).
  if (!(value >= 0 && value < 9223372036854775808.0) || value != std::floor(value)) {
    return {0, InvalidReason::kBadCharacter};
  }
  return nhs_number_from_integer(static_cast<std::uint64_t>(value));
}

// ---- The two consumers: every element parsed, or its verdict ----------------------------------

// at(i) parses element i; it is called in order, i = 0..n-1, without the GIL.
template <typename ParseAt>
py::tuple parse_all(std::size_t n, ParseAt&& at) {
  py::array_t<std::uint32_t> stems(static_cast<py::ssize_t>(n));
  py::array_t<std::uint8_t> reasons(static_cast<py::ssize_t>(n));
  std::uint32_t* stem = stems.mutable_data();
  std::uint8_t* reason = reasons.mutable_data();
  {
    py::gil_scoped_release release;
    for (std::size_t i = 0; i < n; ++i) {
      const ParsedNhsNumber parsed = at(i);
      stem[i] = parsed.stem;
      reason[i] = static_cast<std::uint8_t>(parsed.reason);
    }
  }
  return py::make_tuple(stems, reasons);
}

// Verdicts by the engine's batch loop (OptOutIndex::classify_each): at(i) parses element i.
template <typename ParseAt>
py::array_t<std::uint8_t> classify_all(const OptOutIndex& index, std::size_t n, ParseAt&& at) {
  py::array_t<std::uint8_t> out(static_cast<py::ssize_t>(n));
  const std::span<std::uint8_t> verdicts(out.mutable_data(), n);
  {
    py::gil_scoped_release release;
    index.classify_each(verdicts, at);
  }
  return out;
}

// ---- Readers: element i of each kind of input ---------------------------------------------------

// A numpy array of a kind whose item size varies ('U', 'S'): C-contiguous, native order.
void check_text_array(const py::array& a, char kind, const char* what) {
  const py::dtype dtype = a.dtype();
  const char order = dtype.byteorder();
  const bool native = order == '=' || order == '|' || (order == '<') == (std::endian::native == std::endian::little);
  if (dtype.kind() != kind || !native) {
    throw py::type_error(std::string("expected a numpy array of ") + what + ", got dtype " +
                         py::str(static_cast<py::object>(dtype)).cast<std::string>());
  }
  if (!(a.flags() & py::array::c_style)) {
    throw py::type_error(std::string("expected a C-contiguous numpy array of ") + what);
  }
}

void append_utf8(std::string& out, char32_t c) {
  if (c < 0x80) {
    out.push_back(static_cast<char>(c));
  } else if (c < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (c >> 6)));
    out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
  } else if (c < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (c >> 12)));
    out.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | ((c >> 18) & 0x07)));
    out.push_back(static_cast<char>(0x80 | ((c >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
  }
}

// numpy 'U': UTF-32 items of a fixed width, encoded to UTF-8 for the parser.
class UnicodeReader {
 public:
  explicit UnicodeReader(const py::array& texts) {
    check_text_array(texts, 'U', "str ('U')");
    n_ = static_cast<std::size_t>(texts.size());
    width_ = static_cast<std::size_t>(texts.itemsize()) / sizeof(char32_t);
    data_ = static_cast<const char32_t*>(texts.data());
  }
  std::size_t size() const { return n_; }
  ParsedNhsNumber operator()(std::size_t i) {
    const char32_t* item = data_ + i * width_;
    std::size_t length = width_;
    while (length > 0 && item[length - 1] == 0) --length;  // numpy pads with NULs
    utf8_.clear();
    for (std::size_t k = 0; k < length; ++k) append_utf8(utf8_, item[k]);
    return parse_nhs_number(utf8_);
  }

 private:
  std::size_t n_ = 0, width_ = 0;
  const char32_t* data_ = nullptr;
  std::string utf8_;
};

// numpy 'S': bytes items of a fixed width.
class BytesReader {
 public:
  explicit BytesReader(const py::array& texts) {
    check_text_array(texts, 'S', "bytes ('S')");
    n_ = static_cast<std::size_t>(texts.size());
    width_ = static_cast<std::size_t>(texts.itemsize());
    data_ = static_cast<const char*>(texts.data());
  }
  std::size_t size() const { return n_; }
  ParsedNhsNumber operator()(std::size_t i) const {
    std::string_view item(data_ + i * width_, width_);
    while (!item.empty() && item.back() == '\0') item.remove_suffix(1);
    return parse_nhs_number(item);
  }

 private:
  std::size_t n_ = 0, width_ = 0;
  const char* data_ = nullptr;
};

std::string type_name(PyObject* object) { return Py_TYPE(object)->tp_name; }

// Python objects. Built with the GIL: text is copied into one buffer (the objects may change once
// the GIL is released), other elements are parsed at once; reading needs no GIL.
class ObjectReader {
 public:
  explicit ObjectReader(const py::handle& sequence) {
    // A 1-D object array is read in place; anything else through the sequence protocol (a list or
    // tuple as it is, other sequences copied once into a list).
    py::object keep;
    PyObject* const* items = nullptr;
    std::size_t n = 0;
    if (py::isinstance<py::array>(sequence)) {
      const auto array = py::reinterpret_borrow<py::array>(sequence);
      if (array.dtype().kind() != 'O' || array.ndim() != 1 || !(array.flags() & py::array::c_style)) {
        throw py::type_error("expected a 1-D C-contiguous numpy array of objects");
      }
      keep = array;
      items = static_cast<PyObject* const*>(array.data());
      n = static_cast<std::size_t>(array.size());
    } else {
      keep = py::reinterpret_steal<py::object>(PySequence_Fast(sequence.ptr(), "expected a sequence of NHS numbers"));
      if (!keep) throw py::error_already_set();
      items = PySequence_Fast_ITEMS(keep.ptr());
      n = static_cast<std::size_t>(PySequence_Fast_GET_SIZE(keep.ptr()));
    }
    elements_.resize(n);
    for (std::size_t i = 0; i < n; ++i) read(i, items[i]);
  }
  std::size_t size() const { return elements_.size(); }
  ParsedNhsNumber operator()(std::size_t i) const {
    const Element& e = elements_[i];
    return e.is_text ? parse_nhs_number(std::string_view(text_).substr(e.offset, e.length)) : e.parsed;
  }

 private:
  struct Element {
    bool is_text = false;
    std::size_t offset = 0, length = 0;  // in text_
    ParsedNhsNumber parsed;              // when not text
  };

  void add_text(std::size_t i, const char* data, Py_ssize_t size) {
    elements_[i] = {true, text_.size(), static_cast<std::size_t>(size), {}};
    text_.append(data, static_cast<std::size_t>(size));
  }
  void set(std::size_t i, ParsedNhsNumber parsed) { elements_[i] = {false, 0, 0, parsed}; }

  void read(std::size_t i, PyObject* item) {
    if (PyUnicode_Check(item)) {
      Py_ssize_t size = 0;
      const char* data = PyUnicode_AsUTF8AndSize(item, &size);
      if (data == nullptr) {  // a lone surrogate: not encodable, and certainly not a digit
        PyErr_Clear();
        set(i, {0, InvalidReason::kBadCharacter});
      } else {
        add_text(i, data, size);
      }
    } else if (PyBytes_Check(item)) {
      add_text(i, PyBytes_AS_STRING(item), PyBytes_GET_SIZE(item));
    } else if (PyByteArray_Check(item)) {
      add_text(i, PyByteArray_AS_STRING(item), PyByteArray_GET_SIZE(item));
    } else if (item == Py_None) {
      set(i, kMissing);
    } else if (PyFloat_Check(item)) {
      set(i, from_double(PyFloat_AS_DOUBLE(item)));
    } else if (!PyBool_Check(item) && (PyLong_Check(item) || PyIndex_Check(item))) {
      if (!PyLong_Check(item)) refuse_narrow_scalar(i, item);
      const auto value = py::reinterpret_steal<py::object>(PyNumber_Index(item));
      if (!value) throw py::error_already_set();
      int overflow = 0;
      const long long v = PyLong_AsLongLongAndOverflow(value.ptr(), &overflow);
      if (v == -1 && PyErr_Occurred()) throw py::error_already_set();
      set(i, overflow > 0 ? ParsedNhsNumber{0, InvalidReason::kWrongLength} : overflow < 0 ? kSigned : from_signed(v));
    } else {
      // The type only: the value may be patient data.
      throw py::type_error("element " + std::to_string(i) + " is of type " + type_name(item) +
                           ": NHS numbers must be str, bytes, int, float or None");
    }
  }

  // A numpy integer scalar of a dtype narrower than 64 bits, refused as its array would be.
  static void refuse_narrow_scalar(std::size_t i, PyObject* item) {
    const py::handle scalar(item);
    if (!py::hasattr(scalar, "dtype")) return;
    if (scalar.attr("dtype").attr("itemsize").cast<py::ssize_t>() >= static_cast<py::ssize_t>(sizeof(std::uint64_t))) {
      return;
    }
    throw py::type_error("element " + std::to_string(i) + " is of type " + type_name(item) +
                         ", too narrow for a 10-digit number: use int, str or a 64-bit numpy integer");
  }

  std::vector<Element> elements_;
  std::string text_;
};

// The dtypes read as numbers: those that hold every 10-digit integer exactly. float32 holds 24
// bits (4016045452 becomes 4016045568, another valid number), int32 and uint32 hold 9 or 10 digits
// at most; a value that reached such a column was already changed, so the array is refused.
enum class ArrayKind { kUint64, kInt64, kFloat64, kUnicode, kBytes, kObjects };

[[noreturn]] void refuse_dtype(const py::dtype& dtype, const char* why) {
  throw py::type_error("NHS numbers cannot come from a numpy array of dtype " +
                       py::str(static_cast<py::object>(dtype)).cast<std::string>() + why +
                       ": use uint64, int64, float64 (integral values) or strings");
}

// The kind of a 1-D array, and the array in the form its reader takes (C-contiguous, native byte
// order): returned as it is when it already is, else converted once by numpy.
std::pair<ArrayKind, py::array> prepared_array(const py::array& a) {
  if (a.ndim() != 1) {
    throw py::type_error("expected a 1-D array of NHS numbers, got " + std::to_string(a.ndim()) + " dimensions");
  }
  const py::dtype dtype = a.dtype();
  const char kind = dtype.kind();
  const auto size = static_cast<std::size_t>(dtype.itemsize());
  ArrayKind out;
  if (kind == 'u' || kind == 'i') {
    if (size != sizeof(std::uint64_t)) refuse_dtype(dtype, " (too narrow for a 10-digit number)");
    out = kind == 'u' ? ArrayKind::kUint64 : ArrayKind::kInt64;
  } else if (kind == 'f') {
    if (size != sizeof(double)) refuse_dtype(dtype, " (not every 10-digit number is exact in it)");
    out = ArrayKind::kFloat64;
  } else if (kind == 'U') {
    out = ArrayKind::kUnicode;
  } else if (kind == 'S') {
    out = ArrayKind::kBytes;
  } else if (kind == 'O') {
    out = ArrayKind::kObjects;
  } else {
    refuse_dtype(dtype, "");
  }
  const char order = dtype.byteorder();
  const bool native = order == '=' || order == '|' || (order == '<') == (std::endian::native == std::endian::little);
  if (native && (a.flags() & py::array::c_style)) return {out, a};
  const py::object native_dtype = native ? static_cast<py::object>(dtype) : dtype.attr("newbyteorder")("=");
  return {out, py::module_::import("numpy").attr("ascontiguousarray")(a, native_dtype).cast<py::array>()};
}

}  // namespace

namespace {

py::tuple parse_prepared(const py::array& numbers) {
  const auto [kind, a] = prepared_array(numbers);
  switch (kind) {
    case ArrayKind::kUint64: return parse_uint64(a);
    case ArrayKind::kInt64: return parse_int64(a);
    case ArrayKind::kFloat64: return parse_float64(a);
    case ArrayKind::kUnicode: return parse_unicode(a);
    case ArrayKind::kBytes: return parse_bytes(a);
    case ArrayKind::kObjects: return parse_objects(a);
  }
  throw py::type_error("unknown array kind");
}

}  // namespace

py::tuple parse_array(const py::array& numbers, const py::object& missing) {
  const py::tuple parsed = parse_prepared(numbers);
  if (missing.is_none()) return parsed;
  const auto is_missing = borrow_array<bool>(missing.cast<py::array>(), 'b', "bool");
  auto stems = parsed[0].cast<py::array_t<std::uint32_t>>();
  auto reasons = parsed[1].cast<py::array_t<std::uint8_t>>();
  if (is_missing.size() != static_cast<std::size_t>(stems.size())) {
    throw py::value_error("numbers and missing differ in length");
  }
  std::uint32_t* stem = stems.mutable_data();
  std::uint8_t* reason = reasons.mutable_data();
  for (std::size_t i = 0; i < is_missing.size(); ++i) {
    if (is_missing[i]) {
      stem[i] = kMissing.stem;
      reason[i] = static_cast<std::uint8_t>(kMissing.reason);
    }
  }
  return parsed;
}

py::array_t<std::uint8_t> classify_array(const OptOutIndex& index, const py::array& numbers) {
  const auto [kind, a] = prepared_array(numbers);
  switch (kind) {
    case ArrayKind::kUint64: return classify_uint64(index, a);
    case ArrayKind::kInt64: return classify_int64(index, a);
    case ArrayKind::kFloat64: return classify_float64(index, a);
    case ArrayKind::kUnicode: return classify_unicode(index, a);
    case ArrayKind::kBytes: return classify_bytes(index, a);
    case ArrayKind::kObjects: return classify_objects(index, a);
  }
  throw py::type_error("unknown array kind");
}

py::tuple parse_uint64(const py::array& numbers) {
  const auto in = borrow_array<std::uint64_t>(numbers, 'u', "uint64");
  return parse_all(in.size(), [&](std::size_t i) { return nhs_number_from_integer(in[i]); });
}
py::tuple parse_int64(const py::array& numbers) {
  const auto in = borrow_array<std::int64_t>(numbers, 'i', "int64");
  return parse_all(in.size(), [&](std::size_t i) { return from_signed(in[i]); });
}
py::tuple parse_float64(const py::array& numbers) {
  const auto in = borrow_array<double>(numbers, 'f', "float64");
  return parse_all(in.size(), [&](std::size_t i) { return from_double(in[i]); });
}
py::tuple parse_unicode(const py::array& texts) {
  UnicodeReader reader(texts);
  return parse_all(reader.size(), reader);
}
py::tuple parse_bytes(const py::array& texts) {
  const BytesReader reader(texts);
  return parse_all(reader.size(), reader);
}
py::tuple parse_objects(const py::handle& sequence) {
  const ObjectReader reader(sequence);
  return parse_all(reader.size(), reader);
}

py::array_t<std::uint8_t> classify_uint64(const OptOutIndex& index, const py::array& numbers) {
  const auto in = borrow_array<std::uint64_t>(numbers, 'u', "uint64");
  return classify_all(index, in.size(), [&](std::size_t i) { return nhs_number_from_integer(in[i]); });
}
py::array_t<std::uint8_t> classify_int64(const OptOutIndex& index, const py::array& numbers) {
  const auto in = borrow_array<std::int64_t>(numbers, 'i', "int64");
  return classify_all(index, in.size(), [&](std::size_t i) { return from_signed(in[i]); });
}
py::array_t<std::uint8_t> classify_float64(const OptOutIndex& index, const py::array& numbers) {
  const auto in = borrow_array<double>(numbers, 'f', "float64");
  return classify_all(index, in.size(), [&](std::size_t i) { return from_double(in[i]); });
}
py::array_t<std::uint8_t> classify_unicode(const OptOutIndex& index, const py::array& texts) {
  UnicodeReader reader(texts);
  return classify_all(index, reader.size(), reader);
}
py::array_t<std::uint8_t> classify_bytes(const OptOutIndex& index, const py::array& texts) {
  const BytesReader reader(texts);
  return classify_all(index, reader.size(), reader);
}
py::array_t<std::uint8_t> classify_objects(const OptOutIndex& index, const py::handle& sequence) {
  const ObjectReader reader(sequence);
  return classify_all(index, reader.size(), reader);
}

}  // namespace optout::python
