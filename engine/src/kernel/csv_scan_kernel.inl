// The quote-aware CSV scanning kernel. Deliberately without include guard or namespace: it is
// compiled once per instruction set, inside that set's namespace (filter_kernel_isa.inl: the
// filter's baseline and avx2 kernels, OPTOUT_KERNEL_AVX2 defined for the latter; csv_scan.hpp: the
// baseline in optout::detail for the rest of the engine), so the copies never merge at link time
// and an AVX2 copy never runs on a machine without AVX2.

struct ChunkMasks {
  std::uint64_t quote = 0, delim = 0, lf = 0, cr = 0;
};

#if defined(OPTOUT_KERNEL_AVX2)
// One 64-bit mask per byte value c: two 32-byte compares.
inline std::uint64_t byte_mask(__m256i low, __m256i high, __m256i c) noexcept {
  const auto lo = static_cast<std::uint32_t>(_mm256_movemask_epi8(_mm256_cmpeq_epi8(low, c)));
  const auto hi = static_cast<std::uint32_t>(_mm256_movemask_epi8(_mm256_cmpeq_epi8(high, c)));
  return lo | (std::uint64_t{hi} << 32);
}

inline ChunkMasks classify_chunk(const char* p, char delimiter) noexcept {
  const __m256i low = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
  const __m256i high = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + 32));
  return {byte_mask(low, high, _mm256_set1_epi8('"')), byte_mask(low, high, _mm256_set1_epi8(delimiter)),
          byte_mask(low, high, _mm256_set1_epi8('\n')), byte_mask(low, high, _mm256_set1_epi8('\r'))};
}
#elif defined(__SSE2__)
inline ChunkMasks classify_chunk(const char* p, char delimiter) noexcept {
  ChunkMasks m;
  const __m128i q = _mm_set1_epi8('"');
  const __m128i d = _mm_set1_epi8(delimiter);
  const __m128i n = _mm_set1_epi8('\n');
  const __m128i r = _mm_set1_epi8('\r');
  for (int k = 0; k < 4; ++k) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 16 * k));
    const int shift = 16 * k;
    m.quote |= std::uint64_t(std::uint16_t(_mm_movemask_epi8(_mm_cmpeq_epi8(v, q)))) << shift;
    m.delim |= std::uint64_t(std::uint16_t(_mm_movemask_epi8(_mm_cmpeq_epi8(v, d)))) << shift;
    m.lf |= std::uint64_t(std::uint16_t(_mm_movemask_epi8(_mm_cmpeq_epi8(v, n)))) << shift;
    m.cr |= std::uint64_t(std::uint16_t(_mm_movemask_epi8(_mm_cmpeq_epi8(v, r)))) << shift;
  }
  return m;
}
#else
inline ChunkMasks classify_chunk(const char* p, char delimiter) noexcept {
  ChunkMasks m;
  for (int i = 0; i < 64; ++i) {
    const std::uint64_t bit = std::uint64_t{1} << i;
    m.quote |= p[i] == '"' ? bit : 0;
    m.delim |= p[i] == delimiter ? bit : 0;
    m.lf |= p[i] == '\n' ? bit : 0;
    m.cr |= p[i] == '\r' ? bit : 0;
  }
  return m;
}
#endif

// Bit i of the result is the XOR of bits 0..i of x.
inline std::uint64_t prefix_xor(std::uint64_t x) noexcept {
  x ^= x << 1;
  x ^= x << 2;
  x ^= x << 4;
  x ^= x << 8;
  x ^= x << 16;
  x ^= x << 32;
  return x;
}

// Walks the records of a block that starts at a record start. When at_end is false the block must
// end right after a record's LF (last_record_end() cuts it so); when true the last record may lack
// a terminator. For each record, on_record(begin, end, field_begin, field_end, has_field) gets the
// record's bytes [begin, end) (terminator included) and, when the record has a field number
// `column` (0-based), that field's raw bytes [field_begin, field_end) (quotes included, the CR of a
// CRLF terminator excluded); it returns false to stop the scan early. Stops at the first
// malformed record: a misplaced quote, an unterminated quoted field, or a bare CR (a CR outside
// quotes that no LF follows, the input's last byte included when at_end).

template <typename OnRecord>
ScanOutcome scan_records(const char* data, std::size_t size, bool at_end, char delimiter, std::size_t column,
                         OnRecord&& on_record) {
  ScanOutcome outcome;
  std::size_t record_begin = 0;
  std::size_t field_no = 0;
  std::size_t field_begin = 0;
  std::size_t field_end = 0;
  std::uint64_t inside_carry = 0;       // all-ones when the previous chunk ended inside quotes
  std::uint64_t field_start_carry = 1;  // the byte before the chunk ended a field (block start: yes)
  std::uint64_t close_carry = 0;        // the chunk's previous byte was a closing quote

  alignas(64) char tail[64];
  for (std::size_t base = 0; base < size; base += 64) {
    const std::size_t avail = size - base;
    const char* p = data + base;
    std::uint64_t valid = ~std::uint64_t{0};
    if (avail < 64) {
      std::memset(tail, 0, sizeof tail);
      std::memcpy(tail, p, avail);
      p = tail;
      valid = (std::uint64_t{1} << avail) - 1;
    }
    const ChunkMasks m = classify_chunk(p, delimiter);
    std::uint64_t delims = m.delim;
    std::uint64_t ends = m.lf;
    std::uint64_t bad_open = 0;
    std::uint64_t bad_close = 0;
    std::uint64_t outside = ~std::uint64_t{0};
    if ((m.quote | inside_carry | close_carry) != 0) {
      const std::uint64_t inside = prefix_xor(m.quote) ^ inside_carry;
      inside_carry = std::uint64_t(std::int64_t(inside) >> 63);
      outside = ~inside;
      delims &= ~inside;
      ends &= ~inside;
      // LFs inside quoted fields count as lines too (record ends are counted as they are walked).
      // Rare, so std::popcount's libgcc call (baseline x86-64 has no POPCNT) costs nothing.
      if ((m.lf & inside & valid) != 0) outcome.lf_count += std::popcount(m.lf & inside & valid);

      // Quote checks. A byte past the data counts as the end of input, where a closing quote may
      // stand; the byte after the chunk is looked at directly.
      std::uint64_t next_ok_bit63 = 1;  // what may follow a closing quote at bit 63
      if (avail > 64) {
        const char c = data[base + 64];
        next_ok_bit63 = (c == delimiter || c == '\n' || c == '\r' || c == '"') ? 1 : 0;
      }
      const std::uint64_t opens = m.quote & inside;
      const std::uint64_t closes = m.quote & ~inside;
      const std::uint64_t after_boundary = ((delims | ends) << 1) | field_start_carry;
      const std::uint64_t after_close = (closes << 1) | close_carry;
      close_carry = closes >> 63;
      const std::uint64_t past_end = ~valid;
      const std::uint64_t may_follow_close =
          ((m.delim | m.lf | m.cr | m.quote | past_end) >> 1) | (next_ok_bit63 << 63);
      bad_open = opens & ~(after_boundary | after_close) & valid;
      bad_close = closes & ~may_follow_close & valid;
    }
    // A CR outside quotes must be the CR of a CRLF. Every chunk pays for the CR mask, a shift and
    // a mask (CRLF files have a CR in every record); only a CR that no LF follows within the chunk
    // takes the branch: a bare CR, or one at bit 63 (one chunk per ~line length of a CRLF file),
    // whose LF must be the next chunk's first byte. Past the block's end is the end of input when
    // at_end (a CR there is bare; the tail past the data is zeros); a block that is not the last
    // ends right after an LF, so no CR ends it.
    std::uint64_t bare_cr = m.cr & ~(m.lf >> 1);
    if (bare_cr != 0) {
      std::uint64_t lf_after_bit63 = at_end ? 0 : 1;
      if (avail > 64) lf_after_bit63 = data[base + 64] == '\n' ? 1 : 0;
      bare_cr &= outside & ~(lf_after_bit63 << 63);
    }
    const std::uint64_t bad = bad_open | bad_close | bare_cr;
    // Outside quotes every delimiter and LF is structural (the common, quote-free chunk).
    field_start_carry = ((delims | ends) >> 63) & 1;

    std::uint64_t events = (delims | ends) & valid;
    if (bad != 0) events &= (std::uint64_t{1} << std::countr_zero(bad)) - 1;
    while (events != 0) {
      if (field_no > column) {
        // Past the NHS field: skip to this record's end, dropping the delimiters before it.
        const std::uint64_t pending_ends = events & ends;
        if (pending_ends == 0) break;
        events &= ~((pending_ends & (~pending_ends + 1)) - 1);
      }
      const int bit = std::countr_zero(events);
      events &= events - 1;
      const std::size_t pos = base + static_cast<std::size_t>(bit);
      if ((ends >> bit) & 1) {
        ++outcome.lf_count;
        if (field_no == column) {
          field_end = pos;
          if (field_end > field_begin && data[field_end - 1] == '\r') --field_end;
        }
        if (!on_record(record_begin, pos + 1, field_begin, field_end, field_no >= column)) {
          return outcome;
        }
        record_begin = pos + 1;
        field_no = 0;
        field_begin = record_begin;
      } else {
        ++field_no;
        if (field_no == column) {
          field_begin = pos + 1;
        } else if (field_no == column + 1) {
          field_end = pos;
        }
      }
    }
    if (bad != 0) {
      const std::uint64_t first = bad & (~bad + 1);
      // Each bit is one byte: a CR, or a quote (bad_open, bad_close).
      outcome.error = (bare_cr & first)    ? ScanError::kBareCr
                      : (bad_open & first) ? ScanError::kQuoteInUnquotedField
                                           : ScanError::kTextAfterClosingQuote;
      outcome.error_record_begin = record_begin;
      return outcome;
    }
  }
  if (record_begin < size) {
    if (!at_end || inside_carry != 0) {
      outcome.error = ScanError::kUnterminatedQuote;
      outcome.error_record_begin = record_begin;
      return outcome;
    }
    if (field_no == column) field_end = size;  // a CR cannot end the input (a bare CR)
    (void)on_record(record_begin, size, field_begin, field_end, field_no >= column);
  }
  return outcome;
}

// The number of bytes equal to c in [data, data + size).
inline std::size_t count_byte(const char* data, std::size_t size, char c) noexcept {
  std::size_t count = 0;
  std::size_t i = 0;
#if defined(OPTOUT_KERNEL_AVX2)
  const __m256i needle = _mm256_set1_epi8(c);
  for (; size - i >= 64; i += 64) {
    const __m256i low = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(data + i));
    const __m256i high = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(data + i + 32));
    count += static_cast<std::size_t>(std::popcount(byte_mask(low, high, needle)));
  }
#elif defined(__SSE2__)
  const __m128i needle = _mm_set1_epi8(c);
  const __m128i zero = _mm_setzero_si128();
  while (size - i >= 16) {
    // Byte counters overflow after 255 rounds: fold them into 64-bit sums before that (baseline
    // x86-64 has no POPCNT instruction).
    const std::size_t rounds = std::min<std::size_t>((size - i) / 16, 255);
    __m128i acc = _mm_setzero_si128();
    for (std::size_t r = 0; r < rounds; ++r, i += 16) {
      const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(data + i));
      acc = _mm_sub_epi8(acc, _mm_cmpeq_epi8(v, needle));
    }
    const __m128i sums = _mm_sad_epu8(acc, zero);
    count += static_cast<std::size_t>(_mm_cvtsi128_si64(sums)) +
             static_cast<std::size_t>(_mm_cvtsi128_si64(_mm_unpackhi_epi64(sums, sums)));
  }
#endif
  for (; i < size; ++i) count += data[i] == c;
  return count;
}

// The offset just past the last LF in [data, data + size) that ends a record, given that data
// starts at a record start; 0 when there is none (the block holds no complete record). The one
// function that finds where to cut input at a record end: the pipeline's blocks (through
// FilterKernel::last_record_end) and the pieces of a cut file.
inline std::size_t last_record_end(const char* data, std::size_t size) noexcept {
  // Quotes before a position tell whether it is inside a quoted field: an LF after an even number
  // of quotes ends a record. Count them all, then walk back from the end to the last such LF.
  std::size_t quotes = count_byte(data, size, '"');
  for (std::size_t i = size; i > 0; --i) {
    const char c = data[i - 1];
    if (c == '"') {
      --quotes;
    } else if (c == '\n' && (quotes & 1) == 0) {
      return i;
    }
  }
  return 0;
}
