// The block scan of a pseudonymised extract: as scan_block (scan_block_kernel.inl), but the field
// is a token (kernel/token_probe.hpp): parsed and its table slot prefetched a batch ahead, then
// looked up (a candidate's whole token compared), and the one verdict rule (verdict_of) given the
// table's listed stem for a match. Without include guard or namespace: filter_kernel_isa.inl
// includes it after scan_block_kernel.inl, inside each instruction set's namespace.
#if defined(OPTOUT_KERNEL_AVX2)
// 16 hex digits (checked) → their 8 bytes, the first in the low byte (token_word's order): each
// digit's nibble (its low 4 bits, plus 9 for a letter, whose bit 6 is set), then pairs of nibbles
// joined by one multiply-add and packed.
inline std::uint64_t hex16_word(const char* p) noexcept {
  const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  const __m128i letter = _mm_cmpeq_epi8(_mm_and_si128(v, _mm_set1_epi8(0x40)), _mm_set1_epi8(0x40));
  const __m128i nibbles = _mm_add_epi8(_mm_and_si128(v, _mm_set1_epi8(0x0F)), _mm_and_si128(letter, _mm_set1_epi8(9)));
  const __m128i bytes = _mm_maddubs_epi16(nibbles, _mm_set1_epi16(0x0110));
  return static_cast<std::uint64_t>(_mm_cvtsi128_si64(_mm_packus_epi16(bytes, bytes)));
}

// Whether the 32 bytes at p are hex digits (either case).
inline bool hex32_valid(const char* p) noexcept {
  const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
  const __m256i lower = _mm256_or_si256(v, _mm256_set1_epi8(0x20));
  const __m256i digit = _mm256_and_si256(_mm256_cmpgt_epi8(v, _mm256_set1_epi8('0' - 1)),
                                         _mm256_cmpgt_epi8(_mm256_set1_epi8('9' + 1), v));
  const __m256i alpha = _mm256_and_si256(_mm256_cmpgt_epi8(lower, _mm256_set1_epi8('a' - 1)),
                                         _mm256_cmpgt_epi8(_mm256_set1_epi8('f' + 1), lower));
  return _mm256_movemask_epi8(_mm256_or_si256(digit, alpha)) == -1;
}

// parse_token_key (token_probe.hpp), its common case (64 hex digits, nothing around them) with
// AVX2: the same key.
inline TokenKey kernel_token_key(std::string_view text) noexcept {
  if (text.size() != kTokenHexDigits || !hex32_valid(text.data()) || !hex32_valid(text.data() + 32)) {
    return parse_token_key(text);
  }
  TokenKey key;
  key.head = hex16_word(text.data());
  key.tag = hex16_word(text.data() + 16);
  key.hex = text.data();
  key.reason = InvalidReason::kNone;
  return key;
}
#else
inline TokenKey kernel_token_key(std::string_view text) noexcept { return parse_token_key(text); }
#endif

void scan_token_block(Block& b, const IndexBits* index, const TokenTable& tokens, const FilterOptions& options,
                      std::size_t column, bool keep_rejected) {
  struct Pending {
    std::size_t begin, end;
    TokenKey key;
    bool has_field;
  };
  Pending batch[kProbeBatch];
  std::size_t pending = 0;
  const char* data = b.data.get() + b.skip;

  std::size_t run_begin = 0, run_end = 0;  // the current run of touching kept records
  auto keep = [&](std::size_t begin, std::size_t end) OPTOUT_ALWAYS_INLINE {
    if (begin != run_end) {
      if (run_end != run_begin) b.kept.push_back({b.skip + run_begin, b.skip + run_end});
      run_begin = begin;
    }
    run_end = end;
  };
  auto settle = [&]() OPTOUT_ALWAYS_INLINE {
    // Two passes, the first prefetching what the second reads: the slots (prefetched as the batch
    // was parsed) give candidate entries; the entries' whole tokens decide the matches.
    std::uint64_t entry[kProbeBatch];
    for (std::size_t i = 0; i < pending; ++i) {
      const Pending& r = batch[i];
      entry[i] = r.has_field && r.key.reason == InvalidReason::kNone ? tokens.candidate(r.key) : TokenTable::kNoEntry;
      if (entry[i] != TokenTable::kNoEntry) tokens.prefetch_entry(entry[i]);
    }
    for (std::size_t i = 0; i < pending; ++i) {
      const Pending& r = batch[i];
      const ParsedNhsNumber parsed = r.has_field && r.key.reason == InvalidReason::kNone
                                         ? ParsedNhsNumber{tokens.resolve(r.key, entry[i]), InvalidReason::kNone}
                                         : ParsedNhsNumber{0, r.key.reason};
      const Verdict verdict = r.has_field ? verdict_of(parsed, index) : Verdict::kRejected;
      if (verdict == Verdict::kRejected) {
        ++b.rejected_by_reason[r.has_field ? static_cast<std::size_t>(parsed.reason) : kMissingField];
        if (keep_rejected) append_span(b.rejected, b.skip + r.begin, b.skip + r.end);
      } else if (verdict == Verdict::kRemoved) {
        ++b.removed;
      } else {
        ++b.kept_rows;
        keep(r.begin, r.end);
      }
    }
    pending = 0;
  };

  const std::size_t max_record = options.max_record_bytes;
  b.outcome = scan_records(
      data, b.size - b.skip, b.at_end, options.delimiter, column,
      [&](std::size_t begin, std::size_t end, std::size_t field_begin, std::size_t field_end, bool has_field)
          OPTOUT_ALWAYS_INLINE {
            if (end - begin > max_record) {
              b.long_record_begin = begin;
              return false;
            }
            Pending& r = batch[pending++];
            r.begin = begin;
            r.end = end;
            r.has_field = has_field;
            r.key = has_field ? kernel_token_key(field_text(data, field_begin, field_end)) : TokenKey{};
            if (r.key.reason == InvalidReason::kNone) tokens.prefetch(r.key.head);
            if (pending == kProbeBatch) settle();
            ++b.rows;
            return true;
          });
  settle();
  if (run_end != run_begin) b.kept.push_back({b.skip + run_begin, b.skip + run_end});
}
