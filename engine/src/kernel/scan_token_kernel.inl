// The block scan of a pseudonymised extract: as scan_block (scan_block_kernel.inl), but the field
// is a token (kernel/token_probe.hpp): parsed and its table slot prefetched a batch ahead, then
// looked up (a candidate's whole token compared), then the index's bit of the stem found, prefetched,
// and the one verdict rule (verdict_of). Without include guard or namespace: filter_kernel_isa.inl
// includes it after scan_block_kernel.inl, inside each instruction set's namespace.
void scan_token_block(Block& b, const IndexBits* index, const TokenTable& tokens, const FilterOptions& options,
                      std::size_t column, bool keep_rejected) {
  struct Pending {
    std::size_t begin, end;
    TokenKey key;
    bool has_field;
  };
  Pending batch[kProbeBatch];
  ParsedNhsNumber parsed[kProbeBatch];
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
    // Three passes, each prefetching what the next reads: the slots (prefetched as the batch was
    // parsed) give candidate entries; the entries' tokens and stems give the stems; the stems'
    // bits give the verdicts.
    std::uint64_t entry[kProbeBatch];
    for (std::size_t i = 0; i < pending; ++i) {
      const Pending& r = batch[i];
      entry[i] = r.has_field && r.key.reason == InvalidReason::kNone ? tokens.candidate(r.key) : TokenTable::kNoEntry;
      if (entry[i] != TokenTable::kNoEntry) tokens.prefetch_entry(entry[i]);
    }
    for (std::size_t i = 0; i < pending; ++i) {
      const Pending& r = batch[i];
      if (r.has_field && r.key.reason == InvalidReason::kNone) {
        parsed[i] = {tokens.resolve(r.key, entry[i]), InvalidReason::kNone};
        index->prefetch(parsed[i].stem);
      } else {
        parsed[i] = {0, r.key.reason};
      }
    }
    for (std::size_t i = 0; i < pending; ++i) {
      const Pending& r = batch[i];
      const Verdict verdict = r.has_field ? verdict_of(parsed[i], index) : Verdict::kRejected;
      if (verdict == Verdict::kRejected) {
        ++b.rejected_by_reason[r.has_field ? static_cast<std::size_t>(parsed[i].reason) : kMissingField];
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
                             r.key = has_field ? parse_token_key(field_text(data, field_begin, field_end)) : TokenKey{};
                             if (r.key.reason == InvalidReason::kNone) tokens.prefetch(r.key.head);
                             if (pending == kProbeBatch) settle();
                             ++b.rows;
                             return true;
                           });
  settle();
  if (run_end != run_begin) b.kept.push_back({b.skip + run_begin, b.skip + run_end});
}
