// The block scan: one block's records → kept spans, removed and rejected counts. Without include
// guard or namespace, like csv_scan_kernel.inl: filter_kernel_isa.inl includes it, inside each
// instruction set's namespace, after that set's scanner and parser.

// The NHS field's text: without surrounding quotes (the scanner guarantees a field that opens
// with a quote closes with one). An escaped quote inside stays and makes the number invalid.
inline std::string_view field_text(const char* data, std::size_t begin, std::size_t end) {
  if (end - begin >= 2 && data[begin] == '"') return {data + begin + 1, end - begin - 2};
  return {data + begin, end - begin};
}

// The impact report's group key of one record, found from the record's own bytes once the scan
// has delivered it (the scan itself walks only to the NHS field, as the plain filter's does). The
// wanted fields come as runs of adjacent fields (ImpactColumns::runs), and the key holds each
// run's raw span, from its first field's first byte to its last field's last (delimiters and
// quotes included, the CR of a CRLF excluded; a record that ends inside the run gives the span of
// the fields it has), as KeyBuffer's bytes: length byte then bytes, kMissingByte for a run the
// record lacks, zero-padded. merge_impact_tables() cuts the spans back into fields. Against
// walking every field up to the last grouping one inside the scan and building the key field by
// field, this (with the table's one-line slots) took the report's extra instructions from about
// 520 to 250 a row (callgrind, the whole process on 500 000 rows of the end-to-end extract; the
// plain filter's are about 590, the registry's load included).
class GroupKey {
 public:
  explicit GroupKey(const ImpactColumns& impact)
      : runs_(impact.runs.data()), run_count_(impact.runs.size()), ends_(impact.last + 1) {
    const ImpactColumns::Run& run = impact.runs.front();
    one_run_ = run_count_ == 1;
    first_ = run.first;
    last_ = run.last;
  }

  // The key of record [begin, end) of data (data_size bytes), a whole record that the scan has
  // checked (so its quotes pair up, and a quote's parity from the record's start tells whether a
  // delimiter is inside a quoted field). long_key: the whole key when head.size > kInlineKey.
  OPTOUT_ALWAYS_INLINE void find(const char* data, std::size_t data_size, std::size_t begin, std::size_t end,
                                 char delimiter, KeyHead& head, const char*& long_key) {
    if (!one_run_ || !short_key(data, data_size, begin, end, delimiter, head)) {
      long_key = walk(data, data_size, begin, end, delimiter, head);
    }
  }

 private:
  // One run whose span lies in the record's first 64 bytes, after no quote, at most 15 bytes:
  // its key built straight into head's two words. False otherwise.
  OPTOUT_ALWAYS_INLINE bool short_key(const char* data, std::size_t data_size, std::size_t begin, std::size_t end,
                                      char delimiter, KeyHead& head) const noexcept {
    if (data_size - begin < 80) return false;  // the window, and 16 bytes from a span in it
    const ChunkMasks m = classify_chunk(data + begin, delimiter);
    std::uint64_t delims = m.delim;
    if (end - begin < 64) delims &= (std::uint64_t{1} << (end - begin)) - 1;
    // The span: after delimiter number first_ (counting from 1), up to delimiter last_ + 1.
    std::uint64_t rest = delims;
    std::size_t span_begin = 0;
    if (first_ > 0) {
      for (std::size_t i = 1; i < first_; ++i) rest &= rest - 1;
      span_begin = static_cast<std::size_t>(std::countr_zero(rest)) + 1;  // 65 once rest is 0
      rest &= rest - 1;
    }
    for (std::size_t i = first_; i < last_; ++i) rest &= rest - 1;
    std::size_t span_end;
    if (rest != 0) {
      span_end = static_cast<std::size_t>(std::countr_zero(rest));
    } else if (end - begin <= 63 && static_cast<std::size_t>(std::popcount(delims)) == last_) {
      span_end = end - begin;  // the run ends the record: up to its terminator
      if (data[begin + span_end - 1] == '\n') {
        --span_end;
        if (span_end > span_begin && data[begin + span_end - 1] == '\r') --span_end;
      }
    } else {
      return false;
    }
    const std::size_t n = span_end - span_begin;
    // (span_end < 64 here; n wraps past kInlineKey when the span would start after its end.)
    if (n > kInlineKey - 1 || (m.quote & ((std::uint64_t{1} << span_end) - 1)) != 0) {
      return false;
    }
    const char* span = data + begin + span_begin;
#if defined(__SSE2__)
    const __m128i bytes = _mm_loadu_si128(reinterpret_cast<const __m128i*>(span));
    const __m128i keep = _mm_cmpgt_epi8(_mm_set1_epi8(static_cast<char>(n)),
                                        _mm_setr_epi8(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15));
    const __m128i key =
        _mm_or_si128(_mm_slli_si128(_mm_and_si128(bytes, keep), 1), _mm_cvtsi32_si128(static_cast<int>(n)));
    head.w0 = static_cast<std::uint64_t>(_mm_cvtsi128_si64(key));
    head.w1 = static_cast<std::uint64_t>(_mm_cvtsi128_si64(_mm_unpackhi_epi64(key, key)));
#else
    unsigned char key[kInlineKey] = {};
    key[0] = static_cast<unsigned char>(n);
    std::memcpy(key + 1, span, n);
    std::memcpy(&head.w0, key, 8);
    std::memcpy(&head.w1, key + 8, 8);
#endif
    head.hash = short_key_hash(head.w0, head.w1);
    head.size = kInlineKey;
    return true;
  }

  // Any record: its fields up to the last wanted one, 64 bytes at a time (a window past the data
  // read from a copy), quotes followed from the record's start; the key built in key_.
  const char* walk(const char* data, std::size_t data_size, std::size_t begin, std::size_t end, char delimiter,
                   KeyHead& head) {
    const std::size_t last = ends_.size() - 1;
    std::size_t seen = 0;            // fields found: ends_[0, seen)
    std::uint64_t inside_carry = 0;  // all-ones when the previous window ended inside quotes
    for (std::size_t pos = begin; pos < end && seen <= last; pos += 64) {
      const char* p = data + pos;
      alignas(64) char tail[64];
      if (data_size - pos < 64) {
        std::memset(tail, 0, sizeof tail);
        std::memcpy(tail, p, data_size - pos);
        p = tail;
      }
      const ChunkMasks m = classify_chunk(p, delimiter);
      std::uint64_t delims = m.delim;
      if ((m.quote | inside_carry) != 0) {
        const std::uint64_t inside = prefix_xor(m.quote) ^ inside_carry;
        inside_carry = std::uint64_t(std::int64_t(inside) >> 63);
        delims &= ~inside;
      }
      if (end - pos < 64) delims &= (std::uint64_t{1} << (end - pos)) - 1;
      for (; delims != 0 && seen <= last; delims &= delims - 1) {
        ends_[seen++] = pos + static_cast<std::size_t>(std::countr_zero(delims));
      }
    }
    if (seen <= last) {
      // The record's last field ends at its terminator (LF, or CRLF), or at the input's end.
      const std::size_t field_begin = seen == 0 ? begin : ends_[seen - 1] + 1;
      std::size_t field_end = end;
      if (field_end > field_begin && data[field_end - 1] == '\n') {
        --field_end;
        if (field_end > field_begin && data[field_end - 1] == '\r') --field_end;
      }
      ends_[seen++] = field_end;
    }
    key_.clear();
    for (std::size_t r = 0; r < run_count_; ++r) {
      const ImpactColumns::Run& run = runs_[r];
      if (run.first >= seen) {
        key_.add_missing();
        continue;
      }
      const std::size_t span_begin = run.first == 0 ? begin : ends_[run.first - 1] + 1;
      const std::size_t span_end = ends_[std::min(run.last, seen - 1)];
      key_.add(data + span_begin, span_end - span_begin, span_begin + 16 <= data_size);
    }
    const char* key = key_.finish();
    head = key_head(key, key_.size());
    return key;
  }

  const ImpactColumns::Run* runs_;
  std::size_t run_count_;
  bool one_run_ = false;
  std::size_t first_ = 0, last_ = 0;  // the run, when one
  std::vector<std::size_t> ends_;     // walk(): where each field up to the last wanted one ends
  KeyBuffer key_;
};

// scan_block (below) that also counts each record's group in b.impact (the table of the thread):
// the record's key is built as the record is parsed (GroupKey) and its slot prefetched, then looked
// up, its row counted, in settle() before the verdicts, as the NHS probe is (a long key is looked up
// at once); its verdict is counted only when the record is removed or rejected (count_verdict).
// The deferred lookup: BM_FilterImpactBlock, 9 interleaved repetitions, 1.55 against 1.62 times the
// plain scan's ns_per_row (1.44 with find_short, which skips the long-key checks). A group past
// the limit stops the scan and sets b.impact_overflow.
void scan_block_impact(Block& b, const IndexBits* index, const FilterOptions& options, std::size_t column,
                       bool keep_rejected, const ImpactColumns& impact) {
  struct Pending {
    std::size_t begin, end;
    ParsedNhsNumber parsed;
    bool has_field;
    std::uint32_t group;  // kDeferred: a short key, looked up in settle()
    KeyHead head;
  };
  constexpr std::uint32_t kDeferred = kNoGroup - 1;
  GroupKey groups(impact);
  ImpactTable& table = *b.impact;
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
    for (std::size_t i = 0; i < pending; ++i) {
      Pending& r = batch[i];
      if (r.group != kDeferred) continue;
      r.group = table.find_short(r.head);
      if (r.group == kNoGroup) {  // the run fails
        b.impact_overflow = true;
        pending = 0;
        return;
      }
    }
    for (std::size_t i = 0; i < pending; ++i) {
      const Pending& r = batch[i];
      const Verdict verdict = r.has_field ? verdict_of(r.parsed, index) : Verdict::kRejected;
      if (verdict == Verdict::kRejected) {
        table.count_verdict(r.group, verdict);
        ++b.rejected_by_reason[r.has_field ? static_cast<std::size_t>(r.parsed.reason) : kMissingField];
        if (keep_rejected) append_span(b.rejected, b.skip + r.begin, b.skip + r.end);
      } else if (verdict == Verdict::kRemoved) {
        table.count_verdict(r.group, verdict);
        ++b.removed;
      } else if (index == nullptr) {
        ++b.kept_rows;
        b.stems.push_back(r.parsed.stem);
      } else {
        ++b.kept_rows;
        keep(r.begin, r.end);
      }
    }
    pending = 0;
  };

  const std::size_t max_record = options.max_record_bytes;
  const std::size_t data_size = b.size - b.skip;
  b.outcome = scan_records(data, data_size, b.at_end, options.delimiter, column,
                           [&](std::size_t begin, std::size_t end, std::size_t field_begin, std::size_t field_end,
                               bool has_field) OPTOUT_ALWAYS_INLINE {
                             if (end - begin > max_record) {
                               b.long_record_begin = begin;
                               return false;
                             }
                             Pending& r = batch[pending];
                             const char* long_key = nullptr;
                             groups.find(data, data_size, begin, end, options.delimiter, r.head, long_key);
                             if (long_key == nullptr) {
                               table.prefetch(r.head.hash);
                               r.group = kDeferred;
                             } else {
                               r.group = table.find(r.head, long_key);
                               if (r.group == kNoGroup) {  // the run fails
                                 b.impact_overflow = true;
                                 return false;
                               }
                             }
                             ++pending;
                             r.begin = begin;
                             r.end = end;
                             r.has_field = has_field;
                             r.parsed = has_field ? parse_nhs_number_inline(field_text(data, field_begin, field_end))
                                                  : ParsedNhsNumber{};
                             if (index != nullptr && r.parsed.valid()) index->prefetch(r.parsed.stem);
                             if (pending == kProbeBatch) {
                               settle();
                               if (b.impact_overflow) return false;
                             }
                             ++b.rows;
                             return true;
                           });
  settle();
  if (run_end != run_begin) b.kept.push_back({b.skip + run_begin, b.skip + run_end});
}

// The plain filter's scan (no impact report; scan_block_impact above is it with the groups, kept
// in step by hand: making both one template cost this one 7 % more CPU, perf stat -r 5 on the
// 5 M-row extract, 1 thread, 443 and 427 ms against 470 and 468 ms).
//
// Classifies every record of a block. Parses a batch ahead of probing so that each probe's cache
// miss is already under way (tuning.hpp: kProbeBatch). Without an index (collect mode) the valid
// stems are gathered instead, and every valid record counts as kept.
void scan_block(Block& b, const IndexBits* index, const FilterOptions& options, std::size_t column,
                bool keep_rejected) {
  struct Pending {
    std::size_t begin, end;
    ParsedNhsNumber parsed;
    bool has_field;
  };
  Pending batch[kProbeBatch];
  std::size_t pending = 0;
  const char* data = b.data.get() + b.skip;

  // The kept records as one run of touching records, appended to b.kept when a gap ends it: a
  // local pair instead of b.kept.back() keeps the common case in registers.
  std::size_t run_begin = 0, run_end = 0;
  auto keep = [&](std::size_t begin, std::size_t end) OPTOUT_ALWAYS_INLINE {
    if (begin != run_end) {
      if (run_end != run_begin) b.kept.push_back({b.skip + run_begin, b.skip + run_end});
      run_begin = begin;
    }
    run_end = end;
  };
  // Inlined by force: GCC otherwise calls these once a row, which costs more than their bodies.
  auto settle = [&]() OPTOUT_ALWAYS_INLINE {
    for (std::size_t i = 0; i < pending; ++i) {
      const Pending& r = batch[i];
      const Verdict verdict = r.has_field ? verdict_of(r.parsed, index) : Verdict::kRejected;
      if (verdict == Verdict::kRejected) {
        ++b.rejected_by_reason[r.has_field ? static_cast<std::size_t>(r.parsed.reason) : kMissingField];
        if (keep_rejected) append_span(b.rejected, b.skip + r.begin, b.skip + r.end);
      } else if (verdict == Verdict::kRemoved) {
        ++b.removed;
      } else if (index == nullptr) {
        ++b.kept_rows;
        b.stems.push_back(r.parsed.stem);
      } else {
        ++b.kept_rows;
        keep(r.begin, r.end);
      }
    }
    pending = 0;
  };

  const std::size_t max_record = options.max_record_bytes;
  b.outcome = scan_records(data, b.size - b.skip, b.at_end, options.delimiter, column,
                           [&](std::size_t begin, std::size_t end, std::size_t field_begin, std::size_t field_end,
                               bool has_field) OPTOUT_ALWAYS_INLINE {
                             if (end - begin > max_record) {
                               b.long_record_begin = begin;
                               return false;
                             }
                             Pending& r = batch[pending++];
                             r.begin = begin;
                             r.end = end;
                             r.has_field = has_field;
                             r.parsed = has_field ? parse_nhs_number_inline(field_text(data, field_begin, field_end))
                                                  : ParsedNhsNumber{};
                             if (index != nullptr && r.parsed.valid()) index->prefetch(r.parsed.stem);
                             if (pending == kProbeBatch) settle();
                             ++b.rows;
                             return true;
                           });
  settle();
  if (run_end != run_begin) b.kept.push_back({b.skip + run_begin, b.skip + run_end});
}
