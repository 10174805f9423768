// The block scan: one block's records → kept spans, removed and rejected counts. Without include
// guard or namespace, like csv_scan_kernel.inl: filter_kernel_isa.inl includes it, inside each
// instruction set's namespace, after that set's scanner and parser.

// The NHS field's text: without surrounding quotes (the scanner guarantees a field that opens
// with a quote closes with one). An escaped quote inside stays and makes the number invalid.
inline std::string_view field_text(const char* data, std::size_t begin, std::size_t end) {
  if (end - begin >= 2 && data[begin] == '"') return {data + begin + 1, end - begin - 2};
  return {data + begin, end - begin};
}

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
