/* optout.h: the C API of optout, for programs that link C (and for other languages' foreign-function
 * interfaces). A thin layer over the C++ engine (optout::engine): the same rules, the same speed, the
 * same accounting as the `optout` tool.
 *
 *   optout_registry *registry = NULL;
 *   optout_index *index = NULL;
 *   optout_error error;
 *   if (optout_registry_open("optouts.optout", &registry, &error) != OPTOUT_OK ||
 *       optout_index_create(registry, NULL, 0, &index, &error) != OPTOUT_OK) {
 *     fprintf(stderr, "%s\n", error.message);   // "optouts.optout: checksum mismatch"
 *   }
 *   uint64_t numbers[2] = {9434765919u, 4010232137u};
 *   uint8_t verdicts[2];                          // OPTOUT_VERDICT_KEPT, _REMOVED or _REJECTED
 *   optout_index_classify_numbers(index, numbers, 2, verdicts, NULL);
 *   optout_index_free(index);
 *   optout_registry_free(registry);
 *
 * Errors. Every function that can fail returns an optout_status: OPTOUT_OK (0) or an error code.
 * When its `error` argument is not NULL it is filled in too: the code and a one-line message that
 * names the input and the problem (never an NHS number or row content). No C++ exception ever
 * crosses this API; a NULL where a pointer is required is OPTOUT_E_NULL_ARGUMENT, never a crash.
 *
 * Ownership. A function named _open or _create makes a handle the caller frees with the matching
 * _free (which accepts NULL). Strings a handle returns live as long as the handle.
 *
 * Threads. Registry and index handles are immutable once made: any number of threads may look
 * numbers up and run filters with the same handles at once. A handle must not be freed while
 * another thread uses it. Filters run in parallel internally (threads option).
 *
 * Versioning. Option and stats structs start with a `size` field (set by their _init function) so
 * that later versions can append fields without breaking callers built against this header.
 */
#ifndef OPTOUT_H
#define OPTOUT_H

#include <stddef.h>
#include <stdint.h>

#if defined(_WIN32)
#define OPTOUT_C_API
#else
#define OPTOUT_C_API __attribute__((visibility("default")))
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Status codes --------------------------------------------------------------------------- */

/* Values are fixed; codes 1-12 are the engine's (optout::ErrorCode), codes from 100 the C API's. */
typedef enum optout_status {
  OPTOUT_OK = 0,
  OPTOUT_E_INVALID_ARGUMENT = 1,      /* an option or value the engine cannot use (bad column choice, list name) */
  OPTOUT_E_IO = 2,                    /* open, read, write, rename or sync failed */
  OPTOUT_E_CORRUPTION = 3,            /* a snapshot failed its checks (magic, sizes, checksum, structure) */
  OPTOUT_E_UNSUPPORTED_VERSION = 4,   /* a snapshot written by a newer format version */
  OPTOUT_E_NOT_FOUND = 5,             /* a named list or header column that does not exist */
  OPTOUT_E_INVALID_INPUT = 6,         /* malformed CSV (the message names the line), empty input with a header */
  OPTOUT_E_LIMIT_EXCEEDED = 7,        /* a record longer than max_record_bytes */
  OPTOUT_E_BROKEN_PIPE = 8,           /* the reader of the output went away (EPIPE, with SIGPIPE ignored) */
  OPTOUT_E_STALE_REGISTRY = 9,        /* the registry is older than the filter's max_age_seconds */
  OPTOUT_E_DATA_QUALITY = 10,         /* more rows rejected than max_rejected_rows/_fraction allow */
  OPTOUT_E_INTERNAL = 11,             /* a bug, or memory exhausted */
  OPTOUT_E_UNTRUSTED = 12,            /* a registry not signed by a trusted key or not the expected digest; an
                                         extract no audit record vouches for */
  OPTOUT_E_NULL_ARGUMENT = 100,       /* a required pointer argument is NULL */
  OPTOUT_E_BAD_STRUCT_SIZE = 101,     /* an options/stats struct whose size field is not set (use _init) */
  OPTOUT_STATUS_MAX_ENUM = 0x7fffffff /* not a status: makes every int a valid value of the type */
} optout_status;

/* A short stable name for a status, e.g. "corruption", "null argument". Never NULL. */
OPTOUT_C_API const char* optout_status_name(optout_status status);

#define OPTOUT_ERROR_MESSAGE_BYTES 1024

/* Filled in by every function that takes one (when not NULL): code == the returned status;
 * message is NUL-terminated UTF-8, "" on success, cut at OPTOUT_ERROR_MESSAGE_BYTES - 1 bytes. */
typedef struct optout_error {
  optout_status code;
  char message[OPTOUT_ERROR_MESSAGE_BYTES];
} optout_error;

/* The library version, e.g. "0.1.0" (the same as `optout --version`). Never NULL. */
OPTOUT_C_API const char* optout_version(void);

/* ---- Registry snapshots --------------------------------------------------------------------- */

typedef struct optout_registry optout_registry;

typedef enum optout_list_kind {
  OPTOUT_LIST_DENY = 0,                  /* opted-out patients: a row in the list is removed */
  OPTOUT_LIST_ALLOW = 1,                 /* cleared patients: with the list applied, a row not in it is removed */
  OPTOUT_LIST_KIND_MAX_ENUM = 0x7fffffff /* not a kind: makes every int a valid value of the type */
} optout_list_kind;

typedef struct optout_list_info {
  const char* name; /* NUL-terminated; owned by the registry */
  optout_list_kind kind;
  uint64_t count;            /* distinct numbers in the list */
  uint64_t serialized_bytes; /* its Roaring bitmap's size in the snapshot */
  uint64_t memory_bytes;     /* its bitmap's size in memory */
} optout_list_info;

/* Loads a snapshot written by `optout build` (or optout::save_registry), checking magic, version,
 * checksum and every bitmap's structure first. On success *registry is a new handle; on error it
 * is set to NULL. Errors: OPTOUT_E_IO, OPTOUT_E_CORRUPTION, OPTOUT_E_UNSUPPORTED_VERSION,
 * OPTOUT_E_NULL_ARGUMENT. Cost: a few ms for millions of numbers. */
OPTOUT_C_API optout_status optout_registry_open(const char* path, optout_registry** registry, optout_error* error);
/* Frees a registry (NULL is fine). Indexes made from it stay valid: they hold their own reference. */
OPTOUT_C_API void optout_registry_free(optout_registry* registry);

/* The number of lists; lists are numbered 0 .. count-1 in name order. */
OPTOUT_C_API optout_status optout_registry_list_count(const optout_registry* registry, size_t* count,
                                                      optout_error* error);
/* The list at index. Errors: OPTOUT_E_INVALID_ARGUMENT (index out of range), OPTOUT_E_NULL_ARGUMENT. */
OPTOUT_C_API optout_status optout_registry_list(const optout_registry* registry, size_t index, optout_list_info* info,
                                                optout_error* error);
/* The scopes of the list at index (`optout build --scope`): the purposes it applies to, sorted and
 * comma-separated ("planning,research"; "" for a list that applies to every purpose), written
 * NUL-terminated into buffer (capacity bytes; buffer may be NULL when capacity is 0). *needed, when
 * not NULL, gets the bytes the text takes with its NUL, also on OPTOUT_E_INVALID_ARGUMENT for a
 * buffer too small (nothing is written then). Errors: OPTOUT_E_INVALID_ARGUMENT (index out of
 * range, buffer too small), OPTOUT_E_NULL_ARGUMENT. */
OPTOUT_C_API optout_status optout_registry_list_scopes(const optout_registry* registry, size_t index, char* buffer,
                                                       size_t capacity, size_t* needed, optout_error* error);
/* The index of the list called name. Errors: OPTOUT_E_NOT_FOUND (the message lists the registry's
 * lists; a number-like name is redacted), OPTOUT_E_INVALID_ARGUMENT (a name no list can have: a
 * space, a '!'...), OPTOUT_E_NULL_ARGUMENT. */
OPTOUT_C_API optout_status optout_registry_find_list(const optout_registry* registry, const char* name, size_t* index,
                                                     optout_error* error);

#define OPTOUT_DIGEST_HEX_BYTES 33 /* 32 hex digits and a NUL */

/* The snapshot's content digest (XXH3-128), as `optout info` prints it: 32 lower-case hex digits
 * and a NUL into hex, which must hold OPTOUT_DIGEST_HEX_BYTES bytes. */
OPTOUT_C_API optout_status optout_registry_digest(const optout_registry* registry, char* hex, optout_error* error);
/* When the snapshot was built: seconds since the Unix epoch, UTC. */
OPTOUT_C_API optout_status optout_registry_created_at(const optout_registry* registry, int64_t* unix_seconds,
                                                      optout_error* error);
/* The snapshot's description (NUL-terminated, owned by the registry; "" when none). */
OPTOUT_C_API optout_status optout_registry_description(const optout_registry* registry, const char** description,
                                                       optout_error* error);

/* ---- Signed registries ----------------------------------------------------------------------- */

#define OPTOUT_KEY_ID_BYTES 17 /* a key id: 16 lower-case hex digits and a NUL */

/* The key id of the key that signed the snapshot (`optout build --sign`), as `optout info` shows
 * it, into key_id (OPTOUT_KEY_ID_BYTES bytes); "" for an unsigned snapshot. A signature that does
 * not verify never gets this far: optout_registry_open fails with OPTOUT_E_CORRUPTION. */
OPTOUT_C_API optout_status optout_registry_signer(const optout_registry* registry, char* key_id, optout_error* error);

/* The trust rule, as `--trust` applies it: the public keys (NAME.pub) at trust_paths[0 ..
 * trust_count-1], or, when trust_count is 0 (trust_paths may then be NULL), those the environment
 * variable OPTOUT_TRUST names (paths separated by ':'); with no key at all nothing is checked.
 * Errors: OPTOUT_E_UNTRUSTED "reg.optout: unsigned: a registry signed by a trusted key is
 * required" or "...: signed by key <id>, which is not trusted (trusted: <id>)"; a key file's
 * errors (OPTOUT_E_IO, OPTOUT_E_INVALID_INPUT); OPTOUT_E_NULL_ARGUMENT. The same keys in
 * optout_filter_options and optout_verify_options make the filter and verify runs check it. */
OPTOUT_C_API optout_status optout_registry_check_trust(const optout_registry* registry, const char* const* trust_paths,
                                                       size_t trust_count, optout_error* error);
/* The digest pin, as `--expect-digest`: OPTOUT_E_UNTRUSTED unless the snapshot's digest is
 * expected_hex (32 hex digits, either case; else OPTOUT_E_INVALID_ARGUMENT). */
OPTOUT_C_API optout_status optout_registry_check_digest(const optout_registry* registry, const char* expected_hex,
                                                        optout_error* error);

/* ---- Lookups: the filter's verdict for numbers a caller holds -------------------------------- */

typedef struct optout_index optout_index;

/* Verdicts, the values written into result arrays (the engine's optout::Verdict). */
#define OPTOUT_VERDICT_KEPT 0     /* valid, and not removed by any applied list */
#define OPTOUT_VERDICT_REMOVED 1  /* valid, and in an applied deny list or missing from an applied allow list */
#define OPTOUT_VERDICT_REJECTED 2 /* not a valid NHS number: never to be released as if checked */

/* Builds the lookup index of the lists to apply: names[0 .. name_count-1], or every list when
 * name_count is 0 (names may then be NULL). A number is removed when it is in any applied deny
 * list or missing from any applied allow list, as in the filter. Costs up to 125 MB of address
 * space, of which only the pages that hold listed numbers are touched; ~100 ms for 50 M numbers.
 * Errors: OPTOUT_E_NOT_FOUND naming an unknown list, OPTOUT_E_IO (memory cannot be mapped),
 * OPTOUT_E_NULL_ARGUMENT (also for a NULL among names). */
OPTOUT_C_API optout_status optout_index_create(const optout_registry* registry, const char* const* names,
                                               size_t name_count, optout_index** index, optout_error* error);
/* Builds the lookup index of the lists a purpose applies (policy as data: `optout filter --purpose
 * NAME --exempt LIST=REFERENCE`): every list scoped to purpose and every unscoped list, less the
 * lists exemptions[0 .. exemption_count-1] name, each "LIST=REFERENCE" (the reference is free text,
 * 1-200 bytes, no control characters, nothing that looks like an NHS number). The index then
 * carries the purpose and exemptions: optout_filter_file's audit record shows them ("purpose",
 * "exemptions" with each list's count, as-of date and reference). Errors: OPTOUT_E_INVALID_ARGUMENT
 * with the CLI's messages (a purpose no list names, listing the registry's purposes; an exemption
 * without a reference, of a list the purpose would not apply, or given twice; every list
 * exempted), OPTOUT_E_IO, OPTOUT_E_NULL_ARGUMENT (also for a NULL among exemptions). */
OPTOUT_C_API optout_status optout_index_create_for_purpose(const optout_registry* registry, const char* purpose,
                                                           const char* const* exemptions, size_t exemption_count,
                                                           optout_index** index, optout_error* error);
/* Frees an index (NULL is fine). */
OPTOUT_C_API void optout_index_free(optout_index* index);

/* verdicts[i] for numbers[i], 10-digit NHS numbers as integers (9434765919); one leading zero is
 * implied (Scottish CHI numbers start with 0), no more. A value below 10^8 or of 10^10 or more,
 * 0 (the all-zero number), or one whose check digit is wrong, is OPTOUT_VERDICT_REJECTED. A few ns per number. With
 * count 0 the arrays may be NULL. Errors: OPTOUT_E_NULL_ARGUMENT, found before any verdict is written. */
OPTOUT_C_API optout_status optout_index_classify_numbers(const optout_index* index, const uint64_t* numbers,
                                                         size_t count, uint8_t* verdicts, optout_error* error);

/* verdicts[i] for the text texts[i], read exactly as the filter reads the NHS-number field:
 * surrounding ASCII whitespace trimmed, then "9434765919", "943 476 5919" or "943-476-5919" with a
 * valid check digit; anything else is OPTOUT_VERDICT_REJECTED. lengths[i] is the byte length of
 * texts[i]; with lengths NULL every text is NUL-terminated. With count 0 the arrays may be NULL.
 * Errors: OPTOUT_E_NULL_ARGUMENT (a NULL array, or a NULL texts[i]), found before any verdict is
 * written. */
OPTOUT_C_API optout_status optout_index_classify_text(const optout_index* index, const char* const* texts,
                                                      const size_t* lengths, size_t count, uint8_t* verdicts,
                                                      optout_error* error);

/* ---- Filtering CSV extracts ------------------------------------------------------------------ */

/* How to read the extract and what else to write. Fill it with optout_filter_options_init(), then
 * set the column (by name or by 1-based position, exactly one) and what you need. */
typedef struct optout_filter_options {
  size_t size;                  /* sizeof(optout_filter_options), set by optout_filter_options_init */
  const char* column_name;      /* the NHS-number column's header name; NULL or "" to use column_index */
  size_t column_index;          /* its 1-based position; 0 to use column_name */
  int has_header;               /* nonzero (default): the first record is a header, copied as is */
  char delimiter;               /* default ','; '\t' for tab; never a quote, CR or LF */
  unsigned threads;             /* 0 (default): every core */
  size_t block_bytes;           /* read block; 0: the default (1 MiB). Never changes the output */
  size_t max_record_bytes;      /* 0: the default (64 MiB); a longer record is OPTOUT_E_LIMIT_EXCEEDED */
  int64_t max_rejected_rows;    /* < 0 (default): no limit; else fail (OPTOUT_E_DATA_QUALITY) above it */
  double max_rejected_fraction; /* < 0 (default): no limit; else 0..1 of the data rows */
  int64_t max_age_seconds;      /* < 0 (default): no limit; else OPTOUT_E_STALE_REGISTRY for an older registry */
  const char* rejects_path;     /* NULL: none; else rejected rows go here (header first), atomically */
  const char* stats_path;       /* NULL: none; else the stats JSON (as `optout filter --stats`) */
  const char* audit_path;       /* NULL: none; else the run's audit records are appended (as --audit) */
                                /* "" is never "none": OPTOUT_E_INVALID_ARGUMENT */
  /* Appended later: a caller built against an older header passes a smaller size, and none is set. */
  const char* const* trust_paths; /* refuse a registry not signed by one of these public keys (NAME.pub) */
  size_t trust_count;             /* 0 (default): the keys OPTOUT_TRUST names, if any (optout_registry_check_trust) */
  const char* expect_digest;      /* NULL (default): none; else refuse a registry whose digest is not this */
  const char* sign_key_path;      /* NULL (default): none; else sign the audit records with this NAME.key */
  /* Appended in v3 (JSON Lines): */
  const char* format; /* NULL or "csv" (default): CSV; "jsonl": JSON Lines, column_name a key or a JSON Pointer */
  /* Appended in v4 (compressed extracts; the input's codec is found from its bytes, never its name): */
  const char* entry;     /* NULL (default): none; for a zip input, the entry to read (needed when it holds several) */
  const char* compress;  /* NULL (default): by each path's suffix (.gz, .zst; none for standard output and fds);
                            else "gzip", "zstd" or "none" for the output and the rejects */
  int compression_level; /* < 0 (default): the codec's default; gzip 0-3, zstd 1-19 */
  /* Appended in v5 (impact report, as `--impact`, `--impact-by`, `--impact-exact`): per group of
   * the impact_by columns (header names; JSON Lines keys or pointers), rows, kept, removed and
   * rejected, written to impact_path (JSON when it ends in ".json", else CSV) with the files
   * above; counts of 1 to 7 written "*", the others rounded to the nearest 5, unless impact_exact.
   * impact_path and impact_by need each other (OPTOUT_E_INVALID_ARGUMENT). optout_filter_file
   * only. */
  const char* impact_path;      /* NULL (default): no report */
  const char* const* impact_by; /* impact_by_count names */
  size_t impact_by_count;       /* 0 (default) */
  int impact_exact;             /* nonzero: exact counts */
  /* Appended in v6 (pseudonymised extracts): */
  const char* pseudonym_key_path; /* NULL (default): the column holds NHS numbers; else it holds tokens,
                                     HMAC-SHA256(key, the 10-digit number) as 64 hex digits, the key being
                                     this file's bytes (32 to 1024), as `optout filter --pseudonym-key` */
} optout_filter_options;

/* Sets size and every default (no column chosen). */
OPTOUT_C_API void optout_filter_options_init(optout_filter_options* options);

#define OPTOUT_REJECTED_REASONS 8

/* What a filter run did. rows == kept + removed + rejected. */
typedef struct optout_filter_stats {
  size_t size;   /* sizeof(optout_filter_stats), set by optout_filter_stats_init */
  uint64_t rows; /* data records (the header excluded) */
  uint64_t kept;
  uint64_t removed;
  uint64_t rejected;
  /* rejected split by why: [0] the field is missing (too few fields), then by the engine's
   * InvalidReason: [1] empty, [2] bad character, [3] wrong length, [4] bad shape,
   * [5] check digit 10, [6] wrong check digit, [7] all zeros (0000000000); see
   * optout_rejected_reason_name. */
  uint64_t rejected_by_reason[OPTOUT_REJECTED_REASONS];
  uint64_t bytes_in;
  uint64_t bytes_out;      /* header + kept records */
  uint64_t bytes_rejected; /* written to the rejects file (header included) */
  double seconds;
  unsigned threads;                            /* threads used */
  char output_digest[OPTOUT_DIGEST_HEX_BYTES]; /* XXH3-128 of the output when audit_path is set, else "" */
  /* Appended in v2 (compressed extracts): */
  uint64_t bytes_out_compressed;   /* a compressed output: the bytes written (its file's size); else 0 */
  uint64_t input_compressed_bytes; /* a compressed input: the bytes read (its file's size); else 0 */
} optout_filter_stats;

/* Sets size and zeroes the counts. */
OPTOUT_C_API void optout_filter_stats_init(optout_filter_stats* stats);

/* "missing field", "empty", "bad character", ... for a rejected_by_reason index; never NULL. */
OPTOUT_C_API const char* optout_rejected_reason_name(size_t reason);

/* Filters the CSV file input_path ("-": standard input) into output_path ("-" or NULL: standard
 * output) with index, as `optout filter` does: the header and every row whose patient has not
 * opted out, byte for byte and in order. The output, rejects and stats files are written to
 * temporary files and put in place by the engine's commit protocol (README, "The commit protocol"):
 * audit "committing", rejects and stats, the output, audit "ok"; a run failing at any step leaves
 * none of them and appends a "failed" record. stats may be NULL. Errors:
 * OPTOUT_E_INVALID_ARGUMENT (options; an empty path; an output naming the input or another
 * output), OPTOUT_E_NOT_FOUND (no such
 * column; the message lists the header), OPTOUT_E_INVALID_INPUT ("extract.csv:1207: unterminated
 * quoted field"), OPTOUT_E_LIMIT_EXCEEDED, OPTOUT_E_DATA_QUALITY, OPTOUT_E_IO,
 * OPTOUT_E_STALE_REGISTRY, OPTOUT_E_UNTRUSTED (trust_paths / OPTOUT_TRUST, expect_digest: nothing is
 * written), OPTOUT_E_BROKEN_PIPE, OPTOUT_E_NULL_ARGUMENT, OPTOUT_E_BAD_STRUCT_SIZE. */
OPTOUT_C_API optout_status optout_filter_file(const optout_index* index, const char* input_path,
                                              const char* output_path, const optout_filter_options* options,
                                              optout_filter_stats* stats, optout_error* error);

/* The same between file descriptors the caller owns and keeps open (files, pipes, sockets):
 * reads input_fd to its end, writes the kept rows to output_fd and, when rejects_fd >= 0, the
 * rejected ones to rejects_fd. Nothing is renamed or committed, so on error the caller must
 * discard what was written. options' rejects_path, stats_path and audit_path must be NULL
 * (OPTOUT_E_INVALID_ARGUMENT otherwise): the counts come back in stats. A write to a pipe whose
 * reader went away raises SIGPIPE unless the process ignores it (then: OPTOUT_E_BROKEN_PIPE). */
OPTOUT_C_API optout_status optout_filter_fd(const optout_index* index, int input_fd, int output_fd, int rejects_fd,
                                            const optout_filter_options* options, optout_filter_stats* stats,
                                            optout_error* error);

/* ---- Verifying a released extract (`optout verify`) ------------------------------------------ */

/* How to read the extract and what to check it against. Fill it with optout_verify_options_init(),
 * then set the column (by name or by 1-based position, exactly one) and what you need. */
typedef struct optout_verify_options {
  size_t size;                    /* sizeof(optout_verify_options), set by optout_verify_options_init */
  const char* column_name;        /* as optout_filter_options */
  size_t column_index;            /* as optout_filter_options */
  int has_header;                 /* as optout_filter_options */
  char delimiter;                 /* as optout_filter_options */
  unsigned threads;               /* as optout_filter_options */
  size_t block_bytes;             /* as optout_filter_options */
  size_t max_record_bytes;        /* as optout_filter_options */
  const char* const* trust_paths; /* as optout_filter_options; also the keys an audit record must be signed by */
  size_t trust_count;             /* as optout_filter_options (0: OPTOUT_TRUST) */
  const char* expect_digest;      /* as optout_filter_options */
  const char* audit_path;         /* NULL: none; else an audit log that must hold a record vouching for the extract */
  const char* matches_path;       /* NULL: none; else one line per row the registry removes, written atomically */
  const char* id_column;          /* NULL: matches name rows by 1-based data-row number; else by this column */
  /* Appended in v2 (JSON Lines): */
  const char* format; /* as optout_filter_options */
  /* Appended in v3 (compressed extracts): */
  const char* entry; /* as optout_filter_options */
  /* Appended in v4 (pseudonymised extracts): */
  const char* pseudonym_key_path; /* as optout_filter_options; an audit record vouches only under its key */
} optout_verify_options;

/* Sets size and every default (no column chosen). */
OPTOUT_C_API void optout_verify_options_init(optout_verify_options* options);

/* What a verify run found. clean: no row removed and none rejected. */
typedef struct optout_verify_result {
  size_t size; /* sizeof(optout_verify_result), set by optout_verify_result_init */
  int clean;   /* nonzero: removed == 0 and rejected == 0 */
  uint64_t rows;
  uint64_t kept;
  uint64_t removed;                                     /* rows of patients the applied lists remove */
  uint64_t rejected;                                    /* rows whose NHS number is missing or invalid */
  uint64_t rejected_by_reason[OPTOUT_REJECTED_REASONS]; /* as optout_filter_stats */
  uint64_t bytes_in;
  char input_digest[OPTOUT_DIGEST_HEX_BYTES]; /* XXH3-128 of the extract, 32 hex digits */
  uint64_t matches_written;                   /* lines written to matches_path */
  uint64_t audit_line;                        /* 1-based line of the audit record that vouched; 0: no audit log */
  char audit_signer[OPTOUT_KEY_ID_BYTES];     /* that record's signer's key id; "" when unsigned or no audit */
} optout_verify_result;

/* Sets size and zeroes the rest. */
OPTOUT_C_API void optout_verify_result_init(optout_verify_result* result);

/* Checks the released CSV file input_path ("-": standard input) against index's lists, as `optout
 * verify` does: read by the filter's rules, nothing written but the matches file. An extract that
 * is not clean is a result (OPTOUT_OK, result->clean == 0), not an error. Errors:
 * OPTOUT_E_INVALID_ARGUMENT (options; matches_path naming the input, the registry or the audit
 * log; id_column without matches_path), OPTOUT_E_UNTRUSTED (the registry; no record of the audit
 * log vouches for the extract, or it is not signed by a trusted key), OPTOUT_E_CORRUPTION (an
 * audit record's signature does not verify), OPTOUT_E_INVALID_INPUT (malformed CSV; a malformed
 * audit line, "audit.jsonl:3: ..."), OPTOUT_E_NOT_FOUND, OPTOUT_E_LIMIT_EXCEEDED, OPTOUT_E_IO,
 * OPTOUT_E_NULL_ARGUMENT, OPTOUT_E_BAD_STRUCT_SIZE. A failed run leaves no matches file. */
OPTOUT_C_API optout_status optout_verify_file(const optout_index* index, const char* input_path,
                                              const optout_verify_options* options, optout_verify_result* result,
                                              optout_error* error);

/* ---- Exporting a list (Spark, Java, Go) ------------------------------------------------------ */

typedef enum optout_export_format {
  /* CRoaring's portable serialization of the list's STEMS: the first nine digits of each NHS
   * number, without the check digit (9434765919 -> 943476591). Java's RoaringBitmap, Go's and
   * Python's Roaring libraries read it as-is; check a number's check digit, then look up n / 10. */
  OPTOUT_EXPORT_ROARING = 0,
  OPTOUT_EXPORT_TEXT = 1, /* 10-digit NHS numbers, ascending, one per line */
  OPTOUT_EXPORT_MESH = 2, /* the Check for National Data Opt-outs .dat form: "9434765919," per line */
  OPTOUT_EXPORT_FORMAT_MAX_ENUM = 0x7fffffff /* not a format: makes every int a valid value of the type */
} optout_export_format;

/* Writes the list called name to output_path ("-" or NULL: standard output), atomically, as
 * `optout export` does. count (may be NULL) receives the number of numbers written.
 * Errors: OPTOUT_E_NOT_FOUND naming the registry's lists, OPTOUT_E_INVALID_ARGUMENT (a bad list
 * name or format), OPTOUT_E_IO, OPTOUT_E_NULL_ARGUMENT. */
OPTOUT_C_API optout_status optout_registry_export_list(const optout_registry* registry, const char* name,
                                                       optout_export_format format, const char* output_path,
                                                       uint64_t* count, optout_error* error);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* OPTOUT_H */
