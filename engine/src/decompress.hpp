// Compressed input, told by its first bytes (never by its name): gzip through ISA-L's inflate,
// zstd through libzstd, zip through libarchive. make_decompressing_source() (io.hpp) wraps any
// source; open_file_source() wraps every file and standard input with it, so every reader (filter,
// numbers, verify, the C API and Python) decompresses in this one place.
#pragma once

#include <cstddef>
#include <filesystem>
#include <string_view>

#include "optout/status.hpp"

namespace optout::detail {

enum class Compression { kNone, kGzip, kZstd, kZip };

// Bytes enough to tell every kind sniff_compression() and check_text_input() know.
inline constexpr std::size_t kSniffBytes = 8;

// The kind of compressed stream first_bytes start, kNone for anything else (plain text, or a kind
// that is refused rather than decompressed: bzip2, xz, lz4).
Compression sniff_compression(std::string_view first_bytes) noexcept;

// "gzip", "zstd", "zip"; "none".
const char* compression_name(Compression kind) noexcept;

// The kind of the regular file at path by its first bytes; kNone for plain text and for what is
// not a regular file. Errors: ReadOnlyFile's (kIoError: cannot open, read failed).
Result<Compression> sniff_file(const std::filesystem::path& path);

}  // namespace optout::detail
