// The block scan: one block's records → kept spans, removed and rejected counts. Without include
// guard or namespace, like csv_scan_kernel.inl: filter_kernel_isa.inl includes it, inside each
// instruction set's namespace, after that set's scanner and parser.

// The NHS field's text: without surrounding quotes (the scanner guarantees a field that opens
// with a quote closes with one). An escaped quote inside stays and makes the number invalid.
inline std::string_view field_text(const char* data, std::size_t begin, std::size_t end) {
  if (end - begin >= 2 && data[begin] == '"') return {data + begin + 1, end - begin - 2};
  return {data + begin, end - begin};
}

// The impact report's grouping fields of the record being scanned (scan_records' Extra): each
// wanted field's raw bytes, made into the record's key when the record ends. seen is the number
// of the last field the scan told of: at a record's end, its last field, so a wanted field past
// it is missing (no reset between records).
struct GroupFields {
  static constexpr bool kActive = true;
  std::size_t last = 0;
  const std::int32_t* column_of_field = nullptr;
  WriteSpan found[kImpactColumnsLimit];
  std::size_t seen = 0;

  void field(std::size_t no, std::size_t begin, std::size_t end) noexcept {
    seen = no;
    if (no <= last) {
      const std::int32_t c = column_of_field[no];
      if (c >= 0) found[c] = {begin, end};
    }
  }
  void next_record() noexcept {}
};

// The record's key (KeyBuffer's bytes: each field's length byte then its bytes, kMissingByte for a
// missing field, zero-padded) built straight into head's two words when it fits in kInlineKey
// bytes and every field present can be read 16 bytes at a time inside the block; false otherwise
// (KeyBuffer builds it then, to the same bytes).
inline bool short_key_head(const char* data, std::size_t data_size, const GroupFields& groups,
                           const std::size_t* wanted_fields, std::size_t wanted, KeyHead& head) noexcept {
  __extension__ using Word2 = unsigned __int128;
  Word2 key = 0;
  std::size_t pos = 0;  // bytes used
  for (std::size_t c = 0; c < wanted; ++c) {
    if (wanted_fields[c] > groups.seen) {
      if (pos >= kInlineKey) return false;
      key |= Word2{kMissingByte} << (8 * pos);
      pos += 1;
      continue;
    }
    const WriteSpan f = groups.found[c];
    const std::size_t n = f.end - f.begin;
    if (pos + 1 + n > kInlineKey || f.begin + 16 > data_size) return false;
    Word2 bytes;
    std::memcpy(&bytes, data + f.begin, 16);
    bytes &= (Word2{1} << (8 * n)) - 1;  // n <= 15
    key |= (Word2{n} | (bytes << 8)) << (8 * pos);
    pos += 1 + n;
  }
  head.w0 = static_cast<std::uint64_t>(key);
  head.w1 = static_cast<std::uint64_t>(key >> 64);
  head.hash = short_key_hash(head.w0, head.w1);
  head.size = kInlineKey;
  return true;
}

// Classifies every record of a block. Parses a batch ahead of probing so that each probe's cache
// miss is already under way (tuning.hpp: kProbeBatch). Without an index (collect mode) the valid
// stems are gathered instead, and every valid record counts as kept. kImpact: each record's group
// is counted too, in b.impact (a table per slot); a group past the limit stops the scan and sets
// b.impact_overflow.
template <bool kImpact>
void scan_block_with(Block& b, const IndexBits* index, const FilterOptions& options, std::size_t column,
                     bool keep_rejected, const ImpactColumns* impact) {
  struct Pending {
    std::size_t begin, end;
    ParsedNhsNumber parsed;
    bool has_field;
  };
  GroupFields groups;
  KeyBuffer key;
  std::size_t wanted = 0;
  const std::size_t* wanted_fields = nullptr;
  if constexpr (kImpact) {
    groups.column_of_field = impact->column_of_field.data();
    groups.last = impact->last;
    wanted = impact->fields.size();
    wanted_fields = impact->fields.data();
  }
  // kImpact: a batch twice as long (the groups are looked up in settle() too): perf stat -r 5, the
  // 5 M-row extract on 1 thread, about 3 % less task-clock than kProbeBatch (16 was slower).
  constexpr std::size_t kBatch = kImpact ? 2 * kProbeBatch : kProbeBatch;
  Pending batch[kBatch];
  std::uint32_t batch_groups[kImpact ? kBatch : 1];  // kImpact: each pending record's group
  // kImpact: a short key's lookup waits for settle() (its group kDeferredGroup until then), which
  // prefetches the groups of the batch before looking them up; a long key is looked up at once.
  // (Prefetching the slot when the hash is known too cost more than it saved: perf stat -r 5 on
  // the 5 M-row extract, 1 thread, 677 against 650 ms task-clock.)
  KeyHead batch_heads[kImpact ? kBatch : 1];
  constexpr std::uint32_t kDeferredGroup = kNoGroup - 1;
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
    if constexpr (kImpact) {
      for (std::size_t i = 0; i < pending; ++i) {
        if (batch_groups[i] == kDeferredGroup) b.impact->prefetch_group(batch_heads[i].hash);
      }
      for (std::size_t i = 0; i < pending; ++i) {
        if (batch_groups[i] != kDeferredGroup) continue;
        batch_groups[i] = b.impact->find(batch_heads[i], nullptr);
        if (batch_groups[i] == kNoGroup) {  // the run fails: nothing of this block is counted
          b.impact_overflow = true;
          pending = 0;
          return;
        }
      }
    }
    for (std::size_t i = 0; i < pending; ++i) {
      const Pending& r = batch[i];
      const Verdict verdict = r.has_field ? verdict_of(r.parsed, index) : Verdict::kRejected;
      if constexpr (kImpact) b.impact->count(batch_groups[i], static_cast<unsigned>(verdict));
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
  const std::size_t data_size = b.size - b.skip;
  auto on_record = [&](std::size_t begin, std::size_t end, std::size_t field_begin, std::size_t field_end,
                       bool has_field) OPTOUT_ALWAYS_INLINE {
    if (end - begin > max_record) {
      b.long_record_begin = begin;
      return false;
    }
    if constexpr (kImpact) {
      KeyHead& head = batch_heads[pending];
      if (short_key_head(data, data_size, groups, wanted_fields, wanted, head)) {
        batch_groups[pending] = kDeferredGroup;
      } else {
        key.clear();
        for (std::size_t c = 0; c < wanted; ++c) {
          if (wanted_fields[c] > groups.seen) {
            key.add_missing();
          } else {
            const WriteSpan f = groups.found[c];
            key.add(data + f.begin, f.end - f.begin, f.begin + 16 <= data_size);
          }
        }
        const char* long_key = key.finish();
        head = key_head(long_key, key.size());
        const std::uint32_t group = b.impact->find(head, long_key);
        if (group == kNoGroup) {
          b.impact_overflow = true;
          return false;
        }
        batch_groups[pending] = group;
      }
    }
    Pending& r = batch[pending++];
    r.begin = begin;
    r.end = end;
    r.has_field = has_field;
    r.parsed = has_field ? parse_nhs_number_inline(field_text(data, field_begin, field_end)) : ParsedNhsNumber{};
    if (index != nullptr && r.parsed.valid()) index->prefetch(r.parsed.stem);
    if (pending == kBatch) {
      settle();
      if constexpr (kImpact) {
        if (b.impact_overflow) return false;
      }
    }
    ++b.rows;
    return true;
  };
  if constexpr (kImpact) {
    b.outcome = scan_records(data, b.size - b.skip, b.at_end, options.delimiter, column, on_record, groups);
  } else {
    b.outcome = scan_records(data, b.size - b.skip, b.at_end, options.delimiter, column, on_record);
  }
  settle();
  if (run_end != run_begin) b.kept.push_back({b.skip + run_begin, b.skip + run_end});
}

void scan_block_impact(Block& b, const IndexBits* index, const FilterOptions& options, std::size_t column,
                       bool keep_rejected, const ImpactColumns& impact) {
  scan_block_with<true>(b, index, options, column, keep_rejected, &impact);
}

// The plain filter's scan (no impact report). It is scan_block_with<true> without the groups,
// written out on its own because instantiating it from that template cost the hot path 7 % more
// CPU (perf stat -r 5, the 5 M-row extract on 1 thread: 443 and 427 ms against 470 and 468 ms),
// found after the impact report was merged; keep the two in step.
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
