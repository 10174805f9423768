// NHS numbers from numpy arrays and Python sequences: each element parsed by the engine's own
// parser (parse_nhs_number for text, nhs_number_from_integer for integers), then, for verdicts,
// looked up with OptOutIndex::verdict. The GIL is released while the engine works.
//
// For each kind of input there are two functions: parse_KIND returns (stems: uint32 array,
// reasons: uint8 array of InvalidReason values; an invalid element has stem 0) and
// classify_KIND returns the filter's verdicts (uint8 Verdict values), without the stems.
// The array kinds read their input in place: they take only a C-contiguous array of exactly their
// dtype in native byte order (parse_array / classify_array convert a strided or byte-swapped one
// once, and refuse the dtypes that cannot hold NHS numbers) and raise TypeError otherwise.
//
//   uint64, int64  10-digit integers (one leading zero implied, for CHI numbers: below 10^8 is
//                  kWrongLength, 0 is kAllZeros); a negative int64 is kBadCharacter (a sign)
//   float64        NaN is missing (kEmpty, as an empty CSV field); an integral value in [0, 2^63)
//                  is parsed as an integer; any other value (fraction, negative, infinite) is
//                  kBadCharacter
//   unicode        numpy 'U' arrays (UTF-32); trailing NULs are padding, as numpy reads them
//   bytes          numpy 'S' arrays, the same
//   objects        a list, tuple, 1-D numpy object array or other sequence whose elements are
//                  str, bytes or bytearray (text), int or a numpy integer (an integer), float (as
//                  float64), or None (missing: kEmpty); TypeError names the first other
//                  element's position and type (never its value)
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <bit>
#include <cstdint>
#include <span>
#include <string>

#include "optout/filter.hpp"

namespace optout::python {

namespace py = pybind11;

// The input's elements as a span, without a copy. TypeError when a is not a C-contiguous array of
// T's kind and size in native byte order; `what` names the expected dtype in the message.
template <typename T>
std::span<const T> borrow_array(const py::array& a, char kind, const char* what) {
  const py::dtype dtype = a.dtype();
  const char order = dtype.byteorder();
  const bool native = order == '=' || order == '|' || (order == '<') == (std::endian::native == std::endian::little);
  if (dtype.kind() != kind || dtype.itemsize() != static_cast<py::ssize_t>(sizeof(T)) || !native) {
    throw py::type_error(std::string("expected a numpy array of ") + what + ", got dtype " +
                         py::str(static_cast<py::object>(dtype)).cast<std::string>());
  }
  if (!(a.flags() & py::array::c_style)) {
    throw py::type_error(std::string("expected a C-contiguous numpy array of ") + what);
  }
  return {static_cast<const T*>(a.data()), static_cast<std::size_t>(a.size())};
}

// Any 1-D numpy array: the function of its kind below, after one conversion to a C-contiguous
// native-order array when it is not one. The one place that decides which dtypes hold NHS
// numbers: uint64, int64, float64, 'U', 'S' and object. Every dtype that cannot hold every 10-digit
// integer exactly (float16/32, (u)int8..32) is a TypeError, as bool, complex and dates are.
// missing: None, or a bool array as long as numbers, true where the value is missing (a pandas
// mask): those elements are kEmpty, as an empty CSV field, whatever numbers holds there.
py::tuple parse_array(const py::array& numbers, const py::object& missing);
py::array_t<std::uint8_t> classify_array(const OptOutIndex& index, const py::array& numbers);

py::tuple parse_uint64(const py::array& numbers);
py::tuple parse_int64(const py::array& numbers);
py::tuple parse_float64(const py::array& numbers);
py::tuple parse_unicode(const py::array& texts);
py::tuple parse_bytes(const py::array& texts);
py::tuple parse_objects(const py::handle& sequence);

py::array_t<std::uint8_t> classify_uint64(const OptOutIndex& index, const py::array& numbers);
py::array_t<std::uint8_t> classify_int64(const OptOutIndex& index, const py::array& numbers);
py::array_t<std::uint8_t> classify_float64(const OptOutIndex& index, const py::array& numbers);
py::array_t<std::uint8_t> classify_unicode(const OptOutIndex& index, const py::array& texts);
py::array_t<std::uint8_t> classify_bytes(const OptOutIndex& index, const py::array& texts);
py::array_t<std::uint8_t> classify_objects(const OptOutIndex& index, const py::handle& sequence);

}  // namespace optout::python
