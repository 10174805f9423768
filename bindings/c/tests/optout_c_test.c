/* The C API's test, in C11: every function, exact values, every error path.
 *
 *   optout_c_test WORK SAMPLES
 *
 * WORK holds what the ctest fixture (make_fixture.cmake) made with the optout tool from the
 * committed samples in SAMPLES: samples.optout (lists cleared, national, type1), `optout info`'s
 * text, and `optout filter`'s and `optout export`'s outputs, which the C API must match byte for
 * byte. Every failed check prints its line and expression; the exit status is 1 if any failed. */
#define _POSIX_C_SOURCE 200809L

#include "optout.h"

#include <dirent.h>
#include <errno.h>
#include <stddef.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static int failures = 0;
static int checks = 0;

#define CHECK(condition)                                                      \
  do {                                                                        \
    ++checks;                                                                 \
    if (!(condition)) {                                                       \
      ++failures;                                                             \
      fprintf(stderr, "%s:%d: failed: %s\n", __FILE__, __LINE__, #condition); \
    }                                                                         \
  } while (0)

/* A call's status and, on failure, its message. */
#define CHECK_OK(call)                                                                                               \
  do {                                                                                                               \
    const optout_status ok_status_ = (call);                                                                         \
    ++checks;                                                                                                        \
    if (ok_status_ != OPTOUT_OK) {                                                                                   \
      ++failures;                                                                                                    \
      fprintf(stderr, "%s:%d: failed: %s returned %s\n", __FILE__, __LINE__, #call, optout_status_name(ok_status_)); \
    }                                                                                                                \
  } while (0)

static const char* work_dir;
static const char* samples_dir;

/* Synthetic numbers from the committed samples (seed 1): their lists, as `optout check` says. */
static const char* const kNational = "4000509993";     /* national only */
static const char* const kCleared = "4001991055";      /* in cleared only */
static const char* const kType1 = "4004316707";        /* type1 only */
static const char* const kType1Cleared = "4029671152"; /* type1 and cleared */
static const char* const kNowhere = "9434765919";      /* valid, on no list */

static char* path_in(const char* dir, const char* name) {
  static char paths[16][1024];
  static int next = 0;
  char* path = paths[next];
  next = (next + 1) % 16;
  snprintf(path, sizeof paths[0], "%s/%s", dir, name);
  return path;
}
#define WORK(name) path_in(work_dir, name)
#define SAMPLE(name) path_in(samples_dir, name)

/* The whole file, NUL-terminated (*size: its length); NULL when it cannot be read. */
static char* read_file(const char* path, size_t* size) {
  FILE* f = fopen(path, "rb");
  if (f == NULL) return NULL;
  size_t capacity = 1 << 16;
  size_t used = 0;
  char* data = malloc(capacity);
  size_t n;
  while (data != NULL && (n = fread(data + used, 1, capacity - used - 1, f)) > 0) {
    used += n;
    if (capacity - used < 2) {
      char* bigger = realloc(data, capacity * 2);
      if (bigger == NULL) free(data);
      data = bigger;
      capacity *= 2;
    }
  }
  fclose(f);
  if (data != NULL) data[used] = '\0';
  if (size != NULL) *size = used;
  return data;
}

static int write_file(const char* path, const char* bytes, size_t size) {
  FILE* f = fopen(path, "wb");
  if (f == NULL) return 0;
  const int ok = fwrite(bytes, 1, size, f) == size;
  return fclose(f) == 0 && ok;
}

static int same_files(const char* a, const char* b) {
  size_t size_a = 0, size_b = 0;
  char* data_a = read_file(a, &size_a);
  char* data_b = read_file(b, &size_b);
  const int same = data_a != NULL && data_b != NULL && size_a == size_b && memcmp(data_a, data_b, size_a) == 0;
  free(data_a);
  free(data_b);
  return same;
}

static int exists(const char* path) {
  struct stat st;
  return stat(path, &st) == 0;
}

static long file_size(const char* path) {
  struct stat st;
  return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

/* A directory's entries other than . and .., counted (to see that no temporary file is left). */
static int entries_in(const char* dir) {
  DIR* d = opendir(dir);
  if (d == NULL) return -1;
  int n = 0;
  const struct dirent* entry;
  while ((entry = readdir(d)) != NULL) {
    if (strcmp(entry->d_name, ".") != 0 && strcmp(entry->d_name, "..") != 0) ++n;
  }
  closedir(d);
  return n;
}

static uint64_t number_value(const char* text) { return strtoull(text, NULL, 10); }

/* ---- Version and status names ----------------------------------------------------------------- */

static void test_version_and_names(void) {
  CHECK(strcmp(optout_version(), OPTOUT_EXPECTED_VERSION) == 0);
  CHECK(strcmp(optout_status_name(OPTOUT_OK), "ok") == 0);
  CHECK(strcmp(optout_status_name(OPTOUT_E_CORRUPTION), "corruption") == 0);
  CHECK(strcmp(optout_status_name(OPTOUT_E_NOT_FOUND), "not found") == 0);
  CHECK(strcmp(optout_status_name(OPTOUT_E_NULL_ARGUMENT), "null argument") == 0);
  CHECK(strcmp(optout_status_name(OPTOUT_E_BAD_STRUCT_SIZE), "bad struct size") == 0);
  CHECK(strcmp(optout_status_name((optout_status)99), "unknown status") == 0);
  CHECK(strcmp(optout_status_name((optout_status)-5), "unknown status") == 0);
  CHECK(strcmp(optout_status_name((optout_status)123456), "unknown status") == 0);
  CHECK(strcmp(optout_rejected_reason_name(0), "missing field") == 0);
  CHECK(strcmp(optout_rejected_reason_name(6), "wrong check digit") == 0);
  CHECK(strcmp(optout_rejected_reason_name(42), "unknown") == 0);
}

/* ---- Registry ---------------------------------------------------------------------------------- */

static void test_registry(const optout_registry* registry) {
  optout_error error;
  size_t count = 99;
  CHECK_OK(optout_registry_list_count(registry, &count, &error));
  CHECK(count == 3);

  const char* names[3] = {"cleared", "national", "type1"};
  const optout_list_kind kinds[3] = {OPTOUT_LIST_ALLOW, OPTOUT_LIST_DENY, OPTOUT_LIST_DENY};
  const uint64_t counts[3] = {1880, 2989, 2059};
  /* `optout info` prints the same: "national  deny    2989  23570  ..." */
  size_t info_size = 0;
  char* info_text = read_file(WORK("info.txt"), &info_size);
  CHECK(info_text != NULL);
  for (size_t i = 0; i < 3; ++i) {
    optout_list_info info;
    CHECK_OK(optout_registry_list(registry, i, &info, &error));
    CHECK(strcmp(info.name, names[i]) == 0);
    CHECK(info.kind == kinds[i]);
    CHECK(info.count == counts[i]);
    /* The list's row in `optout info`: NAME KIND COUNT BYTES MEMORY BYTES/NUMBER. */
    char start[80], kind[16] = "";
    unsigned long long listed = 0, bytes = 0, memory = 0;
    snprintf(start, sizeof start, "\n%s ", names[i]);
    const char* row = info_text != NULL ? strstr(info_text, start) : NULL;
    CHECK(row != NULL && sscanf(row + strlen(start), "%15s %llu %llu %llu", kind, &listed, &bytes, &memory) == 4);
    CHECK(strcmp(kind, kinds[i] == OPTOUT_LIST_DENY ? "deny" : "allow") == 0);
    CHECK(listed == info.count && bytes == info.serialized_bytes && memory == info.memory_bytes);
    size_t found = 99;
    CHECK_OK(optout_registry_find_list(registry, names[i], &found, &error));
    CHECK(found == i);
  }

  optout_list_info info;
  CHECK(optout_registry_list(registry, 3, &info, &error) == OPTOUT_E_INVALID_ARGUMENT);
  CHECK(error.code == OPTOUT_E_INVALID_ARGUMENT);
  CHECK(strcmp(error.message, "optout_registry_list: index 3 is out of range (the registry has 3 lists)") == 0);
  size_t found = 99;
  CHECK(optout_registry_find_list(registry, "objections", &found, &error) == OPTOUT_E_NOT_FOUND);
  /* Named as every message about a registry is: its file first. */
  char expected[1024];
  snprintf(expected, sizeof expected,
           "%s: no list named 'objections' in the registry (it has: cleared, national, type1)", WORK("samples.optout"));
  CHECK(strcmp(error.message, expected) == 0);
  CHECK(found == 99);

  char hex[OPTOUT_DIGEST_HEX_BYTES];
  CHECK_OK(optout_registry_digest(registry, hex, &error));
  CHECK(strlen(hex) == 32);
  char digest_line[64];
  snprintf(digest_line, sizeof digest_line, "digest:          %s\n", hex);
  CHECK(info_text != NULL && strstr(info_text, digest_line) != NULL);

  int64_t created_at = 0;
  CHECK_OK(optout_registry_created_at(registry, &created_at, &error));
  const time_t t = (time_t)created_at;
  struct tm tm;
  char created_line[64] = "";
  CHECK(gmtime_r(&t, &tm) != NULL);
  strftime(created_line, sizeof created_line, "created at:      %Y-%m-%dT%H:%M:%SZ\n", &tm);
  CHECK(info_text != NULL && strstr(info_text, created_line) != NULL);

  const char* description = NULL;
  CHECK_OK(optout_registry_description(registry, &description, &error));
  CHECK(description != NULL && strcmp(description, "C API test") == 0);
  CHECK(error.code == OPTOUT_OK && error.message[0] == '\0');
  free(info_text);
}

static void test_open_errors(void) {
  optout_error error;
  optout_registry* registry = (optout_registry*)&error; /* must be reset to NULL on error */

  CHECK(optout_registry_open(WORK("missing.optout"), &registry, &error) == OPTOUT_E_IO);
  CHECK(registry == NULL);
  CHECK(error.code == OPTOUT_E_IO);
  char expected[1200];
  snprintf(expected, sizeof expected, "%s: cannot open: No such file or directory", WORK("missing.optout"));
  CHECK(strcmp(error.message, expected) == 0);

  /* A flipped byte: the checksum catches it. */
  size_t size = 0;
  char* bytes = read_file(WORK("samples.optout"), &size);
  CHECK(bytes != NULL && size > 30000);
  if (bytes != NULL && size > 30000) {
    bytes[30000] = (char)(bytes[30000] ^ 0x5a);
    CHECK(write_file(WORK("flipped.optout"), bytes, size));
    CHECK(optout_registry_open(WORK("flipped.optout"), &registry, &error) == OPTOUT_E_CORRUPTION);
    CHECK(registry == NULL);
    snprintf(expected, sizeof expected, "%s: checksum mismatch", WORK("flipped.optout"));
    CHECK(strcmp(error.message, expected) == 0);
    CHECK(write_file(WORK("truncated.optout"), bytes, 1000));
    CHECK(optout_registry_open(WORK("truncated.optout"), &registry, &error) == OPTOUT_E_CORRUPTION);
    CHECK(strstr(error.message, "truncated") != NULL);
  }
  free(bytes);
  CHECK(optout_registry_open(SAMPLE("national.txt"), &registry, &error) == OPTOUT_E_CORRUPTION);
  snprintf(expected, sizeof expected, "%s: not an optout registry snapshot", SAMPLE("national.txt"));
  CHECK(strcmp(error.message, expected) == 0);

  /* NULL arguments are errors with a message, and error itself may be NULL. */
  CHECK(optout_registry_open(NULL, &registry, &error) == OPTOUT_E_NULL_ARGUMENT);
  CHECK(strcmp(error.message, "optout_registry_open: path is NULL") == 0);
  CHECK(registry == NULL);
  CHECK(optout_registry_open(WORK("samples.optout"), NULL, &error) == OPTOUT_E_NULL_ARGUMENT);
  CHECK(strcmp(error.message, "optout_registry_open: registry is NULL") == 0);
  CHECK(optout_registry_open(NULL, NULL, NULL) == OPTOUT_E_NULL_ARGUMENT);
  size_t count = 0;
  CHECK(optout_registry_list_count(NULL, &count, &error) == OPTOUT_E_NULL_ARGUMENT);
  CHECK(strcmp(error.message, "optout_registry_list_count: registry is NULL") == 0);
  optout_list_info info;
  CHECK(optout_registry_list(NULL, 0, &info, NULL) == OPTOUT_E_NULL_ARGUMENT);
  CHECK(optout_registry_find_list(NULL, "national", &count, NULL) == OPTOUT_E_NULL_ARGUMENT);
  char hex[OPTOUT_DIGEST_HEX_BYTES];
  CHECK(optout_registry_digest(NULL, hex, NULL) == OPTOUT_E_NULL_ARGUMENT);
  int64_t created_at;
  CHECK(optout_registry_created_at(NULL, &created_at, NULL) == OPTOUT_E_NULL_ARGUMENT);
  const char* description;
  CHECK(optout_registry_description(NULL, &description, NULL) == OPTOUT_E_NULL_ARGUMENT);
  optout_registry_free(NULL); /* allowed */
}

static void test_registry_null_outputs(const optout_registry* registry) {
  optout_error error;
  CHECK(optout_registry_list_count(registry, NULL, &error) == OPTOUT_E_NULL_ARGUMENT);
  CHECK(optout_registry_list(registry, 0, NULL, &error) == OPTOUT_E_NULL_ARGUMENT);
  CHECK(strcmp(error.message, "optout_registry_list: info is NULL") == 0);
  CHECK(optout_registry_find_list(registry, NULL, NULL, &error) == OPTOUT_E_NULL_ARGUMENT);
  CHECK(optout_registry_digest(registry, NULL, &error) == OPTOUT_E_NULL_ARGUMENT);
  CHECK(optout_registry_created_at(registry, NULL, &error) == OPTOUT_E_NULL_ARGUMENT);
  CHECK(optout_registry_description(registry, NULL, &error) == OPTOUT_E_NULL_ARGUMENT);
}

/* ---- Lookups ---------------------------------------------------------------------------------- */

enum { K = OPTOUT_VERDICT_KEPT, R = OPTOUT_VERDICT_REMOVED, X = OPTOUT_VERDICT_REJECTED };

static void test_index_errors(const optout_registry* registry) {
  optout_error error;
  optout_index* index = (optout_index*)&error;
  const char* unknown[] = {"national", "objections"};
  CHECK(optout_index_create(registry, unknown, 2, &index, &error) == OPTOUT_E_NOT_FOUND);
  CHECK(index == NULL);
  /* Named as every message about a registry is: its file first. */
  char expected[1024];
  snprintf(expected, sizeof expected,
           "%s: no list named 'objections' in the registry (it has: cleared, national, type1)", WORK("samples.optout"));
  CHECK(strcmp(error.message, expected) == 0);
  CHECK(optout_index_create(registry, NULL, 1, &index, &error) == OPTOUT_E_NULL_ARGUMENT);
  CHECK(strcmp(error.message, "optout_index_create: names is NULL") == 0);
  const char* with_null[] = {"national", NULL};
  CHECK(optout_index_create(registry, with_null, 2, &index, &error) == OPTOUT_E_NULL_ARGUMENT);
  CHECK(strcmp(error.message, "optout_index_create: names[1] is NULL") == 0);
  CHECK(optout_index_create(NULL, NULL, 0, &index, &error) == OPTOUT_E_NULL_ARGUMENT);
  CHECK(index == NULL);
  CHECK(optout_index_create(registry, NULL, 0, NULL, &error) == OPTOUT_E_NULL_ARGUMENT);
  optout_index_free(NULL); /* allowed */
}

/* The verdicts for our numbers, as integers and as text in every accepted shape. */
static void check_verdicts(const optout_index* index, const uint8_t expected[5]) {
  optout_error error;
  const char* numbers[5] = {kNational, kCleared, kType1, kType1Cleared, kNowhere};
  uint64_t values[5];
  uint8_t verdicts[5] = {9, 9, 9, 9, 9};
  for (int i = 0; i < 5; ++i) values[i] = number_value(numbers[i]);
  CHECK_OK(optout_index_classify_numbers(index, values, 5, verdicts, &error));
  CHECK(memcmp(verdicts, expected, 5) == 0);

  memset(verdicts, 9, sizeof verdicts);
  CHECK_OK(optout_index_classify_text(index, numbers, NULL, 5, verdicts, &error));
  CHECK(memcmp(verdicts, expected, 5) == 0);

  /* Spaced, dashed and padded forms read as the filter reads them; lengths cut a text. */
  for (int i = 0; i < 5; ++i) {
    const char* n = numbers[i];
    char spaced[16], dashed[16], padded[24], longer[24];
    snprintf(spaced, sizeof spaced, "%.3s %.3s %.4s", n, n + 3, n + 6);
    snprintf(dashed, sizeof dashed, "%.3s-%.3s-%.4s", n, n + 3, n + 6);
    snprintf(padded, sizeof padded, " \t%s\r\n", n);
    snprintf(longer, sizeof longer, "%sXYZ", n);
    const char* forms[4] = {spaced, dashed, padded, longer};
    const size_t lengths[4] = {strlen(spaced), strlen(dashed), strlen(padded), 10};
    uint8_t shaped[4] = {9, 9, 9, 9};
    CHECK_OK(optout_index_classify_text(index, forms, lengths, 4, shaped, &error));
    for (int j = 0; j < 4; ++j) CHECK(shaped[j] == expected[i]);
  }
}

/* nowhere: the verdict for a valid number on no list under this index. */
static void test_invalid_numbers(const optout_index* index, uint8_t nowhere) {
  optout_error error;
  /* A wrong check digit, 9 digits, 11 digits, a bad 3-3-4 shape, letters, empty, whitespace only,
   * a stem whose check digit is 10, and a number cut by its length. */
  char wrong_check[11];
  memcpy(wrong_check, kCleared, 11);
  wrong_check[9] = (char)('0' + (wrong_check[9] - '0' + 1) % 10);
  const char* texts[] = {wrong_check, "400199105", "40019910550", "4001 991055", "400199105X",
                         "",          "   ",       "4000000080",  "UNKNOWN",     kCleared};
  const size_t lengths[] = {10, 9, 11, 11, 10, 0, 3, 10, 7, 9};
  uint8_t verdicts[10];
  memset(verdicts, 9, sizeof verdicts);
  CHECK_OK(optout_index_classify_text(index, texts, lengths, 10, verdicts, &error));
  for (int i = 0; i < 10; ++i) CHECK(verdicts[i] == X);

  /* Integers: 10^10 and more, a wrong check digit; 9 digits mean a leading zero (0123456789 is a
   * valid number on no list), as CHI numbers have. */
  const uint64_t values[] = {number_value(wrong_check), 10000000000ULL, UINT64_MAX, 123456789ULL};
  uint8_t integer_verdicts[4];
  memset(integer_verdicts, 9, sizeof integer_verdicts);
  CHECK_OK(optout_index_classify_numbers(index, values, 4, integer_verdicts, &error));
  CHECK(integer_verdicts[0] == X);
  CHECK(integer_verdicts[1] == X);
  CHECK(integer_verdicts[2] == X);
  CHECK(integer_verdicts[3] == nowhere);
}

static void test_classify_errors(const optout_index* index) {
  optout_error error;
  uint64_t value = number_value(kNational);
  uint8_t verdict = 9;
  const char* text = kNational;
  CHECK_OK(optout_index_classify_numbers(index, NULL, 0, NULL, &error)); /* nothing to do */
  CHECK_OK(optout_index_classify_text(index, NULL, NULL, 0, NULL, &error));
  CHECK(optout_index_classify_numbers(NULL, &value, 1, &verdict, &error) == OPTOUT_E_NULL_ARGUMENT);
  CHECK(strcmp(error.message, "optout_index_classify_numbers: index is NULL") == 0);
  CHECK(optout_index_classify_numbers(index, NULL, 1, &verdict, &error) == OPTOUT_E_NULL_ARGUMENT);
  CHECK(strcmp(error.message, "optout_index_classify_numbers: numbers is NULL") == 0);
  CHECK(optout_index_classify_numbers(index, &value, 1, NULL, &error) == OPTOUT_E_NULL_ARGUMENT);
  CHECK(strcmp(error.message, "optout_index_classify_numbers: verdicts is NULL") == 0);
  CHECK(optout_index_classify_text(NULL, &text, NULL, 1, &verdict, NULL) == OPTOUT_E_NULL_ARGUMENT);
  CHECK(optout_index_classify_text(index, NULL, NULL, 1, &verdict, &error) == OPTOUT_E_NULL_ARGUMENT);
  CHECK(optout_index_classify_text(index, &text, NULL, 1, NULL, &error) == OPTOUT_E_NULL_ARGUMENT);
  const char* texts[] = {kNational, NULL};
  CHECK(optout_index_classify_text(index, texts, NULL, 2, &verdict, &error) == OPTOUT_E_NULL_ARGUMENT);
  CHECK(strcmp(error.message, "optout_index_classify_text: texts[1] is NULL") == 0);
  CHECK(verdict == 9); /* checked before any verdict is written */
}

/* Many numbers at once, across the API's internal chunks (4096), from several threads at once. */
enum { kBatch = 10007, kThreads = 4 };

struct batch_job {
  const optout_index* index;
  const uint8_t* expected;
  int ok;
};

static uint64_t batch_number(size_t i) {
  const char* numbers[5] = {kNational, kCleared, kType1, kType1Cleared, kNowhere};
  return i % 7 == 6 ? 10000000000ULL + i : number_value(numbers[i % 5]);
}

static void* run_batch(void* arg) {
  struct batch_job* job = arg;
  uint64_t* values = malloc(kBatch * sizeof *values);
  uint8_t* verdicts = malloc(kBatch);
  job->ok = values != NULL && verdicts != NULL;
  for (int round = 0; round < 5 && job->ok; ++round) {
    for (size_t i = 0; i < kBatch; ++i) values[i] = batch_number(i);
    memset(verdicts, 9, kBatch);
    job->ok = optout_index_classify_numbers(job->index, values, kBatch, verdicts, NULL) == OPTOUT_OK;
    for (size_t i = 0; i < kBatch && job->ok; ++i) {
      job->ok = verdicts[i] == (i % 7 == 6 ? X : job->expected[i % 5]);
    }
  }
  free(values);
  free(verdicts);
  return NULL;
}

static void test_batch_and_threads(const optout_index* index, const uint8_t expected[5]) {
  struct batch_job jobs[kThreads];
  pthread_t threads[kThreads];
  for (int t = 0; t < kThreads; ++t) {
    jobs[t].index = index;
    jobs[t].expected = expected;
    jobs[t].ok = 0;
    CHECK(pthread_create(&threads[t], NULL, run_batch, &jobs[t]) == 0);
  }
  for (int t = 0; t < kThreads; ++t) {
    CHECK(pthread_join(threads[t], NULL) == 0);
    CHECK(jobs[t].ok);
  }
}

static void test_lookups(const optout_registry* registry) {
  optout_error error;
  optout_index *all = NULL, *deny = NULL, *allow = NULL;
  CHECK_OK(optout_index_create(registry, NULL, 0, &all, &error));
  const char* deny_lists[] = {"type1", "national"};
  CHECK_OK(optout_index_create(registry, deny_lists, 2, &deny, &error));
  const char* allow_lists[] = {"cleared"};
  CHECK_OK(optout_index_create(registry, allow_lists, 1, &allow, &error));
  if (all == NULL || deny == NULL || allow == NULL) {
    optout_index_free(all);
    optout_index_free(deny);
    optout_index_free(allow);
    return;
  }
  /* national, cleared, type1, type1+cleared, on no list */
  const uint8_t expect_all[5] = {R, K, R, R, R}; /* not in the allow list: removed */
  const uint8_t expect_deny[5] = {R, K, R, R, K};
  const uint8_t expect_allow[5] = {R, K, R, K, R};
  check_verdicts(all, expect_all);
  check_verdicts(deny, expect_deny);
  check_verdicts(allow, expect_allow);
  test_invalid_numbers(all, R);
  test_invalid_numbers(deny, K);
  test_classify_errors(all);
  test_batch_and_threads(deny, expect_deny);
  optout_index_free(all);
  optout_index_free(allow);
  optout_index_free(deny);
}

/* ---- Filtering ---------------------------------------------------------------------------------- */

static optout_filter_options by_name(void) {
  optout_filter_options options;
  optout_filter_options_init(&options);
  options.column_name = "nhs_number";
  return options;
}

static void test_defaults(void) {
  optout_filter_options options;
  memset(&options, 0x7f, sizeof options);
  optout_filter_options_init(&options);
  CHECK(options.size == sizeof options);
  CHECK(options.column_name == NULL && options.column_index == 0);
  CHECK(options.has_header == 1 && options.delimiter == ',' && options.threads == 0);
  CHECK(options.block_bytes == 1u << 20 && options.max_record_bytes == 64u << 20);
  CHECK(options.max_rejected_rows == -1 && options.max_rejected_fraction < 0 && options.max_age_seconds == -1);
  CHECK(options.rejects_path == NULL && options.stats_path == NULL && options.audit_path == NULL);
  optout_filter_stats stats;
  memset(&stats, 0x7f, sizeof stats);
  optout_filter_stats_init(&stats);
  CHECK(stats.size == sizeof stats && stats.rows == 0 && stats.rejected_by_reason[7] == 0);
  CHECK(stats.output_digest[0] == '\0');
  optout_filter_options_init(NULL); /* allowed */
  optout_filter_stats_init(NULL);
}

static void test_filter_files(const optout_index* all, const optout_index* deny) {
  optout_error error;
  optout_filter_stats stats;

  /* The narrow extract, every list: byte-identical to `optout filter`, the README's counts. */
  optout_filter_options options = by_name();
  optout_filter_stats_init(&stats);
  CHECK_OK(optout_filter_file(all, SAMPLE("extract_narrow.csv"), WORK("narrow_all.csv"), &options, &stats, &error));
  CHECK(same_files(WORK("narrow_all.csv"), WORK("expected_narrow_all.csv")));
  CHECK(stats.rows == 2000 && stats.kept == 1863 && stats.removed == 137 && stats.rejected == 0);
  CHECK(stats.bytes_in == 142744);
  CHECK((long)stats.bytes_out == file_size(WORK("expected_narrow_all.csv")));
  CHECK(stats.threads >= 1);
  CHECK(stats.output_digest[0] == '\0'); /* only computed for an audit */

  /* The dirty extract by column position, 1 thread, tiny blocks, with rejects, stats and audit. */
  options = by_name();
  options.column_name = NULL;
  options.column_index = 2;
  options.threads = 1;
  options.block_bytes = 4096;
  options.rejects_path = WORK("dirty_rejects.csv");
  options.stats_path = WORK("dirty_stats.json");
  options.audit_path = WORK("dirty_audit.jsonl");
  optout_filter_stats_init(&stats);
  CHECK_OK(optout_filter_file(all, SAMPLE("extract_dirty.csv"), WORK("dirty_all.csv"), &options, &stats, &error));
  CHECK(same_files(WORK("dirty_all.csv"), WORK("expected_dirty_all.csv")));
  CHECK(same_files(WORK("dirty_rejects.csv"), WORK("expected_dirty_all_rejects.csv")));
  CHECK(stats.rows == 2000 && stats.kept == 1779 && stats.removed == 126 && stats.rejected == 95);
  CHECK(stats.rows == stats.kept + stats.removed + stats.rejected);
  const uint64_t reasons[OPTOUT_REJECTED_REASONS] = {0, 30, 13, 19, 0, 0, 33, 0};
  CHECK(memcmp(stats.rejected_by_reason, reasons, sizeof reasons) == 0);
  CHECK(stats.threads == 1);
  CHECK(stats.bytes_in == 137631);
  CHECK((long)stats.bytes_rejected == file_size(WORK("expected_dirty_all_rejects.csv")));
  CHECK(strlen(stats.output_digest) == 32);
  char* json = read_file(WORK("dirty_stats.json"), NULL);
  CHECK(json != NULL && strstr(json, "\"rows\":2000,") != NULL && strstr(json, "\"removed\":126,") != NULL);
  free(json);
  char* audit = read_file(WORK("dirty_audit.jsonl"), NULL);
  char digest_field[80];
  snprintf(digest_field, sizeof digest_field, "\"output_xxh3_128\":\"%s\"}\n", stats.output_digest);
  CHECK(audit != NULL && strstr(audit, digest_field) != NULL && strstr(audit, "\"outcome\":\"ok\"") != NULL);
  free(audit);

  /* The deny lists only; stats may be NULL. */
  options = by_name();
  CHECK_OK(optout_filter_file(deny, SAMPLE("extract_dirty.csv"), WORK("dirty_deny.csv"), &options, NULL, &error));
  CHECK(same_files(WORK("dirty_deny.csv"), WORK("expected_dirty_deny.csv")));

  /* Tab-separated, no header: the same rows. */
  {
    const char* tsv = "1\t4000509993\tx\n2\t4001991055\ty\n3\t\tz\n";
    CHECK(write_file(WORK("tabs.tsv"), tsv, strlen(tsv)));
    options = by_name();
    options.column_name = "";
    options.column_index = 2;
    options.has_header = 0;
    options.delimiter = '\t';
    optout_filter_stats_init(&stats);
    CHECK_OK(optout_filter_file(deny, WORK("tabs.tsv"), WORK("tabs_out.tsv"), &options, &stats, &error));
    char* out = read_file(WORK("tabs_out.tsv"), NULL);
    CHECK(out != NULL && strcmp(out, "2\t4001991055\ty\n") == 0);
    free(out);
    CHECK(stats.rows == 3 && stats.kept == 1 && stats.removed == 1 && stats.rejected == 1);
    CHECK(stats.rejected_by_reason[1] == 1);
  }

  /* JSON Lines (options v3's format): the same rows as objects, the number at a JSON Pointer. */
  {
    const char* jsonl = "{\"p\": {\"nhs\": \"4000509993\"}}\n{\"p\": {\"nhs\": 4001991055}}\r\n{\"p\": {}}\n";
    CHECK(write_file(WORK("rows.jsonl"), jsonl, strlen(jsonl)));
    options = by_name();
    options.column_name = "/p/nhs";
    options.format = "jsonl";
    optout_filter_stats_init(&stats);
    CHECK_OK(optout_filter_file(deny, WORK("rows.jsonl"), WORK("rows_out.jsonl"), &options, &stats, &error));
    char* out = read_file(WORK("rows_out.jsonl"), NULL);
    CHECK(out != NULL && strcmp(out, "{\"p\": {\"nhs\": 4001991055}}\r\n") == 0);
    free(out);
    CHECK(stats.rows == 3 && stats.kept == 1 && stats.removed == 1 && stats.rejected == 1);
    CHECK(stats.rejected_by_reason[0] == 1);
    options.format = "xml";
    CHECK(optout_filter_file(deny, WORK("rows.jsonl"), WORK("rows_out.jsonl"), &options, &stats, &error) ==
          OPTOUT_E_INVALID_ARGUMENT);
    CHECK(strcmp(error.message, "the format is csv or jsonl") == 0);
  }
}

/* Compressed extracts (options v4, stats v2): an output compressed by its suffix or by compress,
 * read back by content; a zip's entry; an older caller's options, whose v4 fields are not read. */
static void test_compressed_extracts(const optout_index* all) {
  optout_error error;
  optout_filter_stats stats;
  optout_filter_options options = by_name();
  CHECK(options.entry == NULL && options.compress == NULL && options.compression_level == -1);

  /* By suffix: gzip; the stats give the compressed size beside the uncompressed one. */
  optout_filter_stats_init(&stats);
  CHECK_OK(optout_filter_file(all, SAMPLE("extract_narrow.csv"), WORK("narrow.csv.gz"), &options, &stats, &error));
  CHECK((long)stats.bytes_out == file_size(WORK("expected_narrow_all.csv")));
  CHECK((long)stats.bytes_out_compressed == file_size(WORK("narrow.csv.gz")));
  CHECK(stats.bytes_out_compressed > 0 && stats.bytes_out_compressed < stats.bytes_out);
  CHECK(stats.input_compressed_bytes == 0);
  /* Read back: the input's codec is found from its bytes. */
  optout_filter_stats_init(&stats);
  CHECK_OK(optout_filter_file(all, WORK("narrow.csv.gz"), WORK("narrow_back.csv"), &options, &stats, &error));
  CHECK(same_files(WORK("narrow_back.csv"), WORK("expected_narrow_all.csv")));
  CHECK((long)stats.input_compressed_bytes == file_size(WORK("narrow.csv.gz")));
  CHECK(stats.bytes_out_compressed == 0);

  /* compress overrides the suffix: zstd at level 5 into a name without one. */
  options.compress = "zstd";
  options.compression_level = 5;
  CHECK_OK(optout_filter_file(all, SAMPLE("extract_narrow.csv"), WORK("narrow.out"), &options, &stats, &error));
  options.compress = NULL;
  options.compression_level = -1;
  CHECK_OK(optout_filter_file(all, WORK("narrow.out"), WORK("narrow_back_zstd.csv"), &options, &stats, &error));
  CHECK(same_files(WORK("narrow_back_zstd.csv"), WORK("expected_narrow_all.csv")));

  /* The engine's rules and words. */
  options.compress = "brotli";
  CHECK(optout_filter_file(all, SAMPLE("extract_narrow.csv"), WORK("x.csv"), &options, &stats, &error) ==
        OPTOUT_E_INVALID_ARGUMENT);
  CHECK(strcmp(error.message, "the compression is gzip, zstd or none") == 0);
  options.compress = NULL;
  options.compression_level = 9;
  CHECK(optout_filter_file(all, SAMPLE("extract_narrow.csv"), WORK("x.csv.gz"), &options, &stats, &error) ==
        OPTOUT_E_INVALID_ARGUMENT);
  CHECK(strcmp(error.message, "the gzip level must be from 0 to 3") == 0);
  CHECK(!exists(WORK("x.csv.gz")));
  options.compression_level = -1;

  /* A zip of two entries: one must be chosen. */
  CHECK(optout_filter_file(all, WORK("extracts.zip"), WORK("x.csv"), &options, &stats, &error) ==
        OPTOUT_E_INVALID_INPUT);
  {
    char expected[1024];
    snprintf(expected, sizeof expected, "%s: the zip holds 2 entries: choose one with --entry NAME",
             WORK("extracts.zip"));
    CHECK(strcmp(error.message, expected) == 0);
  }
  CHECK(!exists(WORK("x.csv")));
  options.entry = "extract_narrow.csv";
  CHECK_OK(optout_filter_file(all, WORK("extracts.zip"), WORK("zip_narrow.csv"), &options, &stats, &error));
  CHECK(same_files(WORK("zip_narrow.csv"), WORK("expected_narrow_all.csv")));
  CHECK((long)stats.input_compressed_bytes == file_size(WORK("extracts.zip")));

  /* optout_verify_file reads the entry too: the clean release inside a zip is clean. */
  {
    optout_verify_options verify;
    optout_verify_options_init(&verify);
    CHECK(verify.entry == NULL);
    verify.column_name = "nhs_number";
    verify.entry = "extract_narrow.csv";
    optout_verify_result result;
    optout_verify_result_init(&result);
    CHECK_OK(optout_verify_file(all, WORK("extracts.zip"), &verify, &result, &error));
    CHECK(result.rows == 2000 && result.removed + result.rejected == 2000 - 1863 && !result.clean);
  }

  /* A caller built against the v3 header: entry, compress and the level are not read. */
  options = by_name();
  options.size = offsetof(optout_filter_options, entry);
  options.compress = "brotli";
  options.compression_level = 99;
  options.entry = "not read";
  optout_filter_stats_init(&stats);
  stats.size = offsetof(optout_filter_stats, bytes_out_compressed);
  stats.bytes_out_compressed = 77; /* not written */
  CHECK_OK(optout_filter_file(all, SAMPLE("extract_narrow.csv"), WORK("v3.csv.gz"), &options, &stats, &error));
  CHECK(stats.kept == 1863 && stats.bytes_out_compressed == 77);
  CHECK((long)stats.bytes_out == file_size(WORK("expected_narrow_all.csv")));
}

/* A failed run: the status, the exact message, and no output file left behind. */
static void expect_failure(const optout_index* index, const char* input, const optout_filter_options* options,
                           optout_status status, const char* message) {
  optout_error error;
  optout_filter_stats stats;
  optout_filter_stats_init(&stats);
  const char* output = WORK("failed/out.csv");
  const int before = entries_in(WORK("failed"));
  CHECK(optout_filter_file(index, input, output, options, &stats, &error) == status);
  CHECK(error.code == status);
  if (strcmp(error.message, message) != 0) {
    ++failures;
    fprintf(stderr, "%s:%d: message '%s', expected '%s'\n", __FILE__, __LINE__, error.message, message);
  }
  CHECK(!exists(output));
  CHECK(entries_in(WORK("failed")) == before); /* no temporary file either */
  CHECK(stats.rows == 0);                      /* untouched */
}

/* expect_failure() on extract_narrow.csv with by_name()'s options changed by one assignment: e.g.
 * EXPECT_OPTION_REFUSED(index, delimiter = '"', "the delimiter cannot be a quote, CR or LF"). */
#define EXPECT_OPTION_REFUSED(index, assignment, message)                                               \
  do {                                                                                                  \
    optout_filter_options refused_ = by_name();                                                         \
    refused_.assignment;                                                                                \
    expect_failure(index, SAMPLE("extract_narrow.csv"), &refused_, OPTOUT_E_INVALID_ARGUMENT, message); \
  } while (0)

/* The impact report (v5 fields): the report is written with the run, its rules are the engine's. */
static void test_filter_impact(const optout_index* index) {
  optout_error error;
  optout_filter_stats stats;
  optout_filter_options options = by_name();
  const char* by[] = {"sex"};
  options.impact_path = WORK("impact_sex.csv");
  options.impact_by = by;
  options.impact_by_count = 1;
  options.impact_exact = 1;
  options.audit_path = WORK("impact_audit.jsonl");
  optout_filter_stats_init(&stats);
  CHECK_OK(optout_filter_file(index, SAMPLE("extract_dirty.csv"), WORK("impact_out.csv"), &options, &stats, &error));
  char* report = read_file(WORK("impact_sex.csv"), NULL);
  /* Exact counts (checked against the CLI tests' csv-module reference); they add up to the stats. */
  CHECK(report != NULL && strncmp(report, "sex,rows,kept,removed,rejected\n", 31) == 0);
  CHECK(report != NULL && strstr(report, "\nU,") != NULL);
  free(report);
  char* audit = read_file(WORK("impact_audit.jsonl"), NULL);
  CHECK(audit != NULL && strstr(audit, "\"impact\":{\"by\":[\"sex\"],\"exact\":true,") != NULL);
  free(audit);

  /* Suppressed and rounded by default. */
  options.impact_exact = 0;
  options.audit_path = NULL;
  options.impact_path = WORK("impact_sex_safe.json");
  CHECK_OK(optout_filter_file(index, SAMPLE("extract_dirty.csv"), WORK("impact_out2.csv"), &options, NULL, &error));
  report = read_file(WORK("impact_sex_safe.json"), NULL);
  CHECK(report != NULL && strstr(report, "{\"by\":[\"sex\"],\"exact\":false,\"suppressed_up_to\":7,") == report);
  free(report);

  /* The engine's rules and words. */
  options.impact_path = WORK("impact_nhs.csv");
  by[0] = "nhs_number";
  expect_failure(index, SAMPLE("extract_narrow.csv"), &options, OPTOUT_E_INVALID_ARGUMENT,
                 "the NHS-number column cannot be a grouping column of the impact report (the report would hold NHS "
                 "numbers)");
  CHECK(!exists(WORK("impact_nhs.csv")));
  options.impact_by_count = 0;
  expect_failure(index, SAMPLE("extract_narrow.csv"), &options, OPTOUT_E_INVALID_ARGUMENT,
                 "an impact report needs the columns to group by");
  options.impact_by = NULL;
  options.impact_by_count = 1;
  expect_failure(index, SAMPLE("extract_narrow.csv"), &options, OPTOUT_E_NULL_ARGUMENT,
                 "optout_filter_file: impact_by is NULL");
}

static void test_filter_errors(const optout_index* index) {
  CHECK(mkdir(WORK("failed"), 0755) == 0 || errno == EEXIST); /* (EEXIST: run again by hand) */
  char expected[2400];
  optout_filter_options options = by_name();

  snprintf(expected, sizeof expected, "%s: cannot open: No such file or directory", WORK("missing.csv"));
  expect_failure(index, WORK("missing.csv"), &options, OPTOUT_E_IO, expected);

  options.column_name = "nhs";
  snprintf(expected, sizeof expected,
           "%s: no column named 'nhs' in the header (it has: record_id, nhs_number, "
           "date_of_birth, sex, postcode_district, admission_date, diagnosis_icd10, procedure_opcs, notes)",
           SAMPLE("extract_narrow.csv"));
  expect_failure(index, SAMPLE("extract_narrow.csv"), &options, OPTOUT_E_NOT_FOUND, expected);

  EXPECT_OPTION_REFUSED(index, column_index = 2, /* both ways of naming the column */
                        "choose the NHS-number column by name or by position, not both or neither");
  EXPECT_OPTION_REFUSED(index, delimiter = '"', "the delimiter cannot be a quote, CR or LF");
  EXPECT_OPTION_REFUSED(index, max_rejected_fraction = 1.5, "the rejected fraction must be between 0 and 1");

  const char* malformed = "id,nhs_number\n1,4001991055\n2,\"4001991055\n";
  CHECK(write_file(WORK("malformed.csv"), malformed, strlen(malformed)));
  options = by_name();
  snprintf(expected, sizeof expected, "%s:3: unterminated quoted field", WORK("malformed.csv"));
  expect_failure(index, WORK("malformed.csv"), &options, OPTOUT_E_INVALID_INPUT, expected);

  options.max_rejected_rows = 10;
  snprintf(expected, sizeof expected,
           "%s: 95 rows rejected in the first 2000 rows (4.75%%), more than the limit "
           "of 10 rows",
           SAMPLE("extract_dirty.csv"));
  expect_failure(index, SAMPLE("extract_dirty.csv"), &options, OPTOUT_E_DATA_QUALITY, expected);

  options = by_name();
  options.max_record_bytes = 10;
  snprintf(expected, sizeof expected, "%s:1: record longer than the limit of 10 bytes", SAMPLE("extract_dirty.csv"));
  expect_failure(index, SAMPLE("extract_dirty.csv"), &options, OPTOUT_E_LIMIT_EXCEEDED, expected);

  /* A registry younger than ten years passes the age check; the check itself is the engine's. */
  options = by_name();
  options.max_age_seconds = 10LL * 365 * 24 * 3600;
  optout_error error;
  CHECK_OK(optout_filter_file(index, SAMPLE("extract_narrow.csv"), WORK("fresh.csv"), &options, NULL, &error));

  /* The output's directory does not exist: nothing is written anywhere. */
  optout_filter_stats stats;
  optout_filter_stats_init(&stats);
  options = by_name();
  options.rejects_path = WORK("failed/rejects.csv");
  CHECK(optout_filter_file(index, SAMPLE("extract_narrow.csv"), WORK("no-such-dir/out.csv"), &options, &stats,
                           &error) == OPTOUT_E_IO);
  snprintf(expected, sizeof expected, "%s: cannot create: No such file or directory", WORK("no-such-dir/out.csv"));
  CHECK(strcmp(error.message, expected) == 0);
  CHECK(!exists(WORK("no-such-dir")));
  CHECK(entries_in(WORK("failed")) == 0);

  /* A message longer than the error buffer is cut, NUL-terminated. */
  char long_name[2000];
  memset(long_name, 'c', sizeof long_name - 1);
  long_name[sizeof long_name - 1] = '\0';
  options = by_name();
  options.column_name = long_name;
  CHECK(optout_filter_file(index, SAMPLE("extract_narrow.csv"), WORK("failed/out.csv"), &options, NULL, &error) ==
        OPTOUT_E_NOT_FOUND);
  CHECK(strlen(error.message) == OPTOUT_ERROR_MESSAGE_BYTES - 1);

  /* Structs that were never initialised, and NULL arguments. */
  optout_filter_options zeroed;
  memset(&zeroed, 0, sizeof zeroed);
  zeroed.column_name = "nhs_number";
  expect_failure(index, SAMPLE("extract_narrow.csv"), &zeroed, OPTOUT_E_BAD_STRUCT_SIZE,
                 "options.size is 0; call optout_filter_options_init first");
  options = by_name();
  stats.size = 8;
  CHECK(optout_filter_file(index, SAMPLE("extract_narrow.csv"), WORK("failed/out.csv"), &options, &stats, &error) ==
        OPTOUT_E_BAD_STRUCT_SIZE);
  CHECK(strcmp(error.message, "stats.size is 8; call optout_filter_stats_init first") == 0);
  CHECK(optout_filter_file(NULL, SAMPLE("extract_narrow.csv"), WORK("failed/out.csv"), &options, NULL, &error) ==
        OPTOUT_E_NULL_ARGUMENT);
  CHECK(strcmp(error.message, "optout_filter_file: index is NULL") == 0);
  CHECK(optout_filter_file(index, NULL, WORK("failed/out.csv"), &options, NULL, &error) == OPTOUT_E_NULL_ARGUMENT);
  CHECK(strcmp(error.message, "optout_filter_file: input_path is NULL") == 0);
  CHECK(optout_filter_file(index, SAMPLE("extract_narrow.csv"), WORK("failed/out.csv"), NULL, NULL, &error) ==
        OPTOUT_E_NULL_ARGUMENT);
  CHECK(strcmp(error.message, "optout_filter_file: options is NULL") == 0);
  CHECK(entries_in(WORK("failed")) == 0);
}

static void test_filter_fd(const optout_index* all, const optout_index* deny) {
  optout_error error;
  optout_filter_stats stats;
  optout_filter_options options = by_name();

  int in = open(SAMPLE("extract_dirty.csv"), O_RDONLY);
  int out = open(WORK("fd_out.csv"), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  int rejects = open(WORK("fd_rejects.csv"), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  CHECK(in >= 0 && out >= 0 && rejects >= 0);
  optout_filter_stats_init(&stats);
  CHECK_OK(optout_filter_fd(all, in, out, rejects, &options, &stats, &error));
  close(in);
  close(out);
  close(rejects);
  CHECK(same_files(WORK("fd_out.csv"), WORK("expected_dirty_all.csv")));
  CHECK(same_files(WORK("fd_rejects.csv"), WORK("expected_dirty_all_rejects.csv")));
  CHECK(stats.rows == 2000 && stats.kept == 1779 && stats.removed == 126 && stats.rejected == 95);

  /* Through a pipe, without rejects. */
  int fds[2];
  CHECK(pipe(fds) == 0);
  const char* csv = "nhs_number,x\n4000509993,a\n4001991055,b\n9434765919,c\n";
  CHECK(write(fds[1], csv, strlen(csv)) == (ssize_t)strlen(csv));
  close(fds[1]);
  out = open(WORK("fd_pipe.csv"), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  optout_filter_stats_init(&stats);
  CHECK_OK(optout_filter_fd(deny, fds[0], out, -1, &options, &stats, &error));
  close(fds[0]);
  close(out);
  char* text = read_file(WORK("fd_pipe.csv"), NULL);
  CHECK(text != NULL && strcmp(text, "nhs_number,x\n4001991055,b\n9434765919,c\n") == 0);
  free(text);
  CHECK(stats.rows == 3 && stats.kept == 2 && stats.removed == 1 && stats.rejected == 0);

  /* Errors: file options, bad descriptors, malformed input named by its descriptor. */
  options.stats_path = WORK("fd_stats.json");
  CHECK(optout_filter_fd(all, 0, 1, -1, &options, NULL, &error) == OPTOUT_E_INVALID_ARGUMENT);
  CHECK(strcmp(error.message,
               "optout_filter_fd writes no files: rejects_path, stats_path and audit_path must be "
               "NULL (use rejects_fd, the stats it returns, or optout_filter_file)") == 0);
  CHECK(!exists(WORK("fd_stats.json")));
  options = by_name();
  CHECK(optout_filter_fd(all, -1, 1, -1, &options, NULL, &error) == OPTOUT_E_INVALID_ARGUMENT);
  CHECK(strcmp(error.message, "optout_filter_fd: input_fd and output_fd must be open descriptors") == 0);
  CHECK(optout_filter_fd(NULL, 0, 1, -1, &options, NULL, &error) == OPTOUT_E_NULL_ARGUMENT);
  CHECK(optout_filter_fd(all, 0, 1, -1, NULL, NULL, &error) == OPTOUT_E_NULL_ARGUMENT);

  CHECK(pipe(fds) == 0);
  const char* bad = "nhs_number\n4001991055\n\"x\"y\n";
  CHECK(write(fds[1], bad, strlen(bad)) == (ssize_t)strlen(bad));
  close(fds[1]);
  out = open(WORK("fd_bad.csv"), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  CHECK(optout_filter_fd(all, fds[0], out, -1, &options, NULL, &error) == OPTOUT_E_INVALID_INPUT);
  char expected[64];
  snprintf(expected, sizeof expected, "<fd %d>:3: text after the closing quote of a field", fds[0]);
  CHECK(strcmp(error.message, expected) == 0);
  close(fds[0]);
  close(out);
}

/* ---- Export ------------------------------------------------------------------------------------- */

static void test_export(const optout_registry* registry) {
  optout_error error;
  const char* formats[3] = {"roaring", "text", "mesh"};
  const optout_export_format codes[3] = {OPTOUT_EXPORT_ROARING, OPTOUT_EXPORT_TEXT, OPTOUT_EXPORT_MESH};
  for (int i = 0; i < 3; ++i) {
    char name[64], expected[64];
    snprintf(name, sizeof name, "national.%s", formats[i]);
    snprintf(expected, sizeof expected, "expected_national.%s", formats[i]);
    uint64_t count = 0;
    CHECK_OK(optout_registry_export_list(registry, "national", codes[i], WORK(name), &count, &error));
    CHECK(count == 2989);
    CHECK(same_files(WORK(name), WORK(expected)));
  }
  optout_list_info info;
  CHECK_OK(optout_registry_list(registry, 1, &info, &error));
  CHECK(file_size(WORK("national.roaring")) == (long)info.serialized_bytes);
  CHECK(file_size(WORK("national.text")) == 2989 * 11);
  CHECK(file_size(WORK("national.mesh")) == 2989 * 12);

  CHECK(optout_registry_export_list(registry, "objections", OPTOUT_EXPORT_TEXT, WORK("x.txt"), NULL, &error) ==
        OPTOUT_E_NOT_FOUND);
  /* Named as every message about a registry is: its file first. */
  char expected[1024];
  snprintf(expected, sizeof expected,
           "%s: no list named 'objections' in the registry (it has: cleared, national, type1)", WORK("samples.optout"));
  CHECK(strcmp(error.message, expected) == 0);
  CHECK(!exists(WORK("x.txt")));
  CHECK(optout_registry_export_list(registry, "bad name", OPTOUT_EXPORT_TEXT, WORK("x.txt"), NULL, &error) ==
        OPTOUT_E_INVALID_ARGUMENT);
  CHECK(strcmp(error.message, "list name: byte 4 is not a letter, digit, '_', '.' or '-'") == 0);
  CHECK(optout_registry_export_list(registry, "national", (optout_export_format)7, WORK("x.txt"), NULL, &error) ==
        OPTOUT_E_INVALID_ARGUMENT);
  CHECK(strcmp(error.message, "optout_registry_export_list: unknown format 7") == 0);
  CHECK(optout_registry_export_list(registry, "national", OPTOUT_EXPORT_TEXT, WORK("no-such-dir/x.txt"), NULL,
                                    &error) == OPTOUT_E_IO);
  CHECK(optout_registry_export_list(NULL, "national", OPTOUT_EXPORT_TEXT, WORK("x.txt"), NULL, &error) ==
        OPTOUT_E_NULL_ARGUMENT);
  CHECK(optout_registry_export_list(registry, NULL, OPTOUT_EXPORT_TEXT, WORK("x.txt"), NULL, &error) ==
        OPTOUT_E_NULL_ARGUMENT);
  CHECK(strcmp(error.message, "optout_registry_export_list: name is NULL") == 0);
  CHECK(!exists(WORK("x.txt")));
}

/* Issue 10.3: the all-zero number is no patient's, and an integer has one implied leading zero at
 * most (a CHI number's), so 19, 27 or a fill value 0 are never a kept patient. */
static void test_all_zero_and_short_integers_are_rejected(const optout_index* index) {
  optout_error error;
  const uint64_t values[] = {0, 19, 27, 99999999ULL, 100000000ULL};
  uint8_t verdicts[5];
  memset(verdicts, 9, sizeof verdicts);
  CHECK_OK(optout_index_classify_numbers(index, values, 5, verdicts, &error));
  CHECK(verdicts[0] == X && verdicts[1] == X && verdicts[2] == X && verdicts[3] == X);
  CHECK(verdicts[4] == X); /* 0100000000: 9 digits, the leading zero implied, a wrong check digit */
  const char* texts[] = {"0000000000", "000 000 0000", "000-000-0000", " 0000000000\r"};
  uint8_t text_verdicts[4];
  memset(text_verdicts, 9, sizeof text_verdicts);
  CHECK_OK(optout_index_classify_text(index, texts, NULL, 4, text_verdicts, &error));
  for (int i = 0; i < 4; ++i) CHECK(text_verdicts[i] == X);
  CHECK(strcmp(optout_rejected_reason_name(7), "all zeros") == 0);

  /* In a file: rejected, counted under "all zeros" (rejected_by_reason[7]). */
  const char* csv = "id,nhs_number\n1,0000000000\n2,000 000 0000\n3,9434765919\n";
  CHECK(write_file(WORK("zeros.csv"), csv, strlen(csv)));
  optout_filter_options options = by_name();
  optout_filter_stats stats;
  optout_filter_stats_init(&stats);
  CHECK_OK(optout_filter_file(index, WORK("zeros.csv"), WORK("zeros_out.csv"), &options, &stats, &error));
  CHECK(stats.rows == 3 && stats.rejected == 2 && stats.rejected_by_reason[7] == 2);
}

/* Issue 15.8: a number-like list name is never echoed, by any function that names a list. */
static void test_list_name_messages_are_redacted(const optout_registry* registry) {
  const char* expected = "no list named '[redacted]' in the registry (it has: cleared, national, type1)";
  char from_index[1024];
  snprintf(from_index, sizeof from_index, "%s: %s", WORK("samples.optout"), expected);
  optout_error error;
  optout_index* index = NULL;
  const char* names[] = {"9434765919"};
  CHECK(optout_index_create(registry, names, 1, &index, &error) == OPTOUT_E_NOT_FOUND);
  CHECK(index == NULL && strcmp(error.message, from_index) == 0 && strstr(error.message, "9434765919") == NULL);
  size_t found = 99;
  /* A name no list can have: the engine's usage error, which names a position, not the name. */
  CHECK(optout_registry_find_list(registry, "943 476 5919", &found, &error) == OPTOUT_E_INVALID_ARGUMENT);
  CHECK(found == 99);
  char bad_name[1024];
  snprintf(bad_name, sizeof bad_name, "%s: list name: byte 4 is not a letter, digit, '_', '.' or '-'",
           WORK("samples.optout"));
  CHECK(strcmp(error.message, bad_name) == 0);
  CHECK(optout_registry_find_list(registry, "943-476-5919", &found, &error) == OPTOUT_E_NOT_FOUND);
  CHECK(strcmp(error.message, from_index) == 0);
  CHECK(optout_registry_find_list(registry, "9434765919", &found, &error) == OPTOUT_E_NOT_FOUND);
  CHECK(strcmp(error.message, from_index) == 0);
  CHECK(optout_registry_export_list(registry, "9434765919", OPTOUT_EXPORT_TEXT, WORK("redacted.txt"), NULL, &error) ==
        OPTOUT_E_NOT_FOUND);
  CHECK(strcmp(error.message, from_index) == 0);
  CHECK(!exists(WORK("redacted.txt")));
}

/* Issue 15.8: "" is not standard output: the engine refuses it, and the C API passes it on as is. */
static void test_empty_output_path_is_refused(const optout_registry* registry) {
  optout_error error;
  optout_index* index = NULL;
  CHECK_OK(optout_index_create(registry, NULL, 0, &index, &error));
  optout_filter_options options = by_name();
  optout_filter_stats stats;
  optout_filter_stats_init(&stats);
  CHECK(optout_filter_file(index, SAMPLE("extract_narrow.csv"), "", &options, &stats, &error) ==
        OPTOUT_E_INVALID_ARGUMENT);
  CHECK(error.code == OPTOUT_E_INVALID_ARGUMENT && stats.rows == 0);
  uint64_t count = 77;
  CHECK(optout_registry_export_list(registry, "national", OPTOUT_EXPORT_TEXT, "", &count, &error) ==
        OPTOUT_E_INVALID_ARGUMENT);
  CHECK(count == 77);
  optout_index_free(index);
}

/* A filter of input to output with options that name `twice` twice: refused, "TWICE is given twice:
 * an output would overwrite WHAT". */
static void check_one_file_twice(const optout_index* index, const char* input, const char* output,
                                 const optout_filter_options* options, const char* twice, const char* what) {
  optout_error error;
  char expected[2400];
  CHECK(optout_filter_file(index, input, output, options, NULL, &error) == OPTOUT_E_INVALID_ARGUMENT);
  snprintf(expected, sizeof expected, "%s is given twice: an output would overwrite %s", twice, what);
  CHECK(strcmp(error.message, expected) == 0);
}

/* Issues 15.8 and 10.6: a side path "" is never "none", and no output names the input or another
 * output; nothing is written. Then the audit records of one run pair up (the commit protocol). */
static void test_filter_outputs_are_checked(const optout_index* index) {
  CHECK(mkdir(WORK("checked"), 0755) == 0 || errno == EEXIST);
  optout_error error;
  EXPECT_OPTION_REFUSED(index, rejects_path = "", "an empty rejects path: give a file name");
  EXPECT_OPTION_REFUSED(index, audit_path = "", "an empty audit path: give a file name");
  optout_filter_options options = by_name();
  options.stats_path = WORK("checked/out.csv");
  check_one_file_twice(index, SAMPLE("extract_narrow.csv"), WORK("checked/out.csv"), &options, WORK("checked/out.csv"),
                       "another output");
  options = by_name();
  check_one_file_twice(index, SAMPLE("extract_narrow.csv"), SAMPLE("extract_narrow.csv"), &options,
                       SAMPLE("extract_narrow.csv"), "an input");
  options = by_name();
  options.stats_path = WORK("samples.optout"); /* the registry the index was made from */
  check_one_file_twice(index, SAMPLE("extract_narrow.csv"), WORK("checked/out.csv"), &options, WORK("samples.optout"),
                       "an input");
  CHECK(entries_in(WORK("checked")) == 0);

  options = by_name();
  options.audit_path = WORK("checked/audit.jsonl");
  CHECK_OK(optout_filter_file(index, SAMPLE("extract_narrow.csv"), WORK("checked/out.csv"), &options, NULL, &error));
  char* audit = read_file(WORK("checked/audit.jsonl"), NULL);
  const char* second = audit != NULL ? strchr(audit, '\n') : NULL;
  CHECK(second != NULL && strstr(audit, "\"outcome\":\"committing\"") < second &&
        strstr(second, "\"outcome\":\"ok\"") != NULL);
  free(audit);
}

/* Issue 10.6: export ... -o REG replaced the registry it read. */
static void test_export_over_the_registry_is_refused(const optout_registry* registry) {
  optout_error error;
  uint64_t count = 77;
  CHECK(optout_registry_export_list(registry, "national", OPTOUT_EXPORT_TEXT, WORK("samples.optout"), &count, &error) ==
        OPTOUT_E_INVALID_ARGUMENT);
  char expected[2400];
  snprintf(expected, sizeof expected, "%s is given twice: an output would overwrite an input", WORK("samples.optout"));
  CHECK(strcmp(error.message, expected) == 0 && count == 77);
}

/* ---- Signed registries, the digest pin, signed audit records, verify (issue 12) ---------------- */

/* A call's status and exact message. */
static void expect_status(int line, optout_status got, const optout_error* error, optout_status status,
                          const char* message) {
  ++checks;
  if (got != status || error->code != status || strcmp(error->message, message) != 0) {
    ++failures;
    fprintf(stderr, "%s:%d: got %s '%s', expected %s '%s'\n", __FILE__, line, optout_status_name(got), error->message,
            optout_status_name(status), message);
  }
}
#define EXPECT_STATUS(call, status, message) expect_status(__LINE__, (call), &error, (status), (message))

/* The fixture's files (make_fixture.cmake), in buffers of their own. */
static char signed_path[1024], other_signed_path[1024], plain_path[1024];
static char signer_pub[1024], signer_key[1024], other_pub[1024];
static char signer_id[OPTOUT_KEY_ID_BYTES], other_id[OPTOUT_KEY_ID_BYTES];

static void fixture_paths(void) {
  snprintf(signed_path, sizeof signed_path, "%s/signed.optout", work_dir);
  snprintf(other_signed_path, sizeof other_signed_path, "%s/other_signed.optout", work_dir);
  snprintf(plain_path, sizeof plain_path, "%s/samples.optout", work_dir);
  snprintf(signer_pub, sizeof signer_pub, "%s/signer.pub", work_dir);
  snprintf(signer_key, sizeof signer_key, "%s/signer.key", work_dir);
  snprintf(other_pub, sizeof other_pub, "%s/other.pub", work_dir);
}

/* Lines in a file (each ending in LF); -1 when it cannot be read. */
static long lines_in(const char* path) {
  size_t size = 0;
  char* data = read_file(path, &size);
  if (data == NULL) return -1;
  long n = 0;
  for (size_t i = 0; i < size; ++i) n += data[i] == '\n';
  free(data);
  return n;
}

static void test_signed_registries(void) {
  optout_error error;
  char expected[2048];
  optout_registry *plain = NULL, *signed_registry = NULL, *other = NULL;
  CHECK_OK(optout_registry_open(plain_path, &plain, &error));
  CHECK_OK(optout_registry_open(signed_path, &signed_registry, &error));
  CHECK_OK(optout_registry_open(other_signed_path, &other, &error));
  if (plain == NULL || signed_registry == NULL || other == NULL) return;

  /* Key ids: 16 lower-case hex digits; "" for an unsigned snapshot. */
  char key_id[OPTOUT_KEY_ID_BYTES];
  memset(key_id, 'x', sizeof key_id);
  CHECK_OK(optout_registry_signer(plain, key_id, &error));
  CHECK(key_id[0] == '\0');
  CHECK_OK(optout_registry_signer(signed_registry, signer_id, &error));
  CHECK(strlen(signer_id) == 16 && strspn(signer_id, "0123456789abcdef") == 16);
  char* info = read_file(WORK("signed_info.json"), NULL); /* `optout info --json` names the same key */
  char field[64];
  snprintf(field, sizeof field, "\"key_id\": \"%s\"", signer_id);
  CHECK(info != NULL && strstr(info, field) != NULL);
  free(info);
  CHECK_OK(optout_registry_signer(other, other_id, &error));
  CHECK(strlen(other_id) == 16 && strcmp(signer_id, other_id) != 0);
  EXPECT_STATUS(optout_registry_signer(NULL, key_id, &error), OPTOUT_E_NULL_ARGUMENT,
                "optout_registry_signer: registry is NULL");
  EXPECT_STATUS(optout_registry_signer(plain, NULL, &error), OPTOUT_E_NULL_ARGUMENT,
                "optout_registry_signer: key_id is NULL");

  /* The trust rule. */
  CHECK(unsetenv("OPTOUT_TRUST") == 0);
  const char* trust_signer[] = {signer_pub};
  const char* trust_other[] = {other_pub};
  const char* trust_both[] = {other_pub, signer_pub};
  CHECK_OK(optout_registry_check_trust(signed_registry, trust_signer, 1, &error));
  CHECK_OK(optout_registry_check_trust(signed_registry, trust_both, 2, &error));
  CHECK_OK(optout_registry_check_trust(plain, NULL, 0, &error)); /* no key anywhere: nothing to check */
  snprintf(expected, sizeof expected, "%s: unsigned: a registry signed by a trusted key is required", plain_path);
  EXPECT_STATUS(optout_registry_check_trust(plain, trust_signer, 1, &error), OPTOUT_E_UNTRUSTED, expected);
  snprintf(expected, sizeof expected, "%s: signed by key %s, which is not trusted (trusted: %s)", signed_path,
           signer_id, other_id);
  EXPECT_STATUS(optout_registry_check_trust(signed_registry, trust_other, 1, &error), OPTOUT_E_UNTRUSTED, expected);
  CHECK(strcmp(optout_status_name(OPTOUT_E_UNTRUSTED), "untrusted") == 0);

  /* No paths: OPTOUT_TRUST's. */
  CHECK(setenv("OPTOUT_TRUST", other_pub, 1) == 0);
  EXPECT_STATUS(optout_registry_check_trust(signed_registry, NULL, 0, &error), OPTOUT_E_UNTRUSTED, expected);
  CHECK_OK(optout_registry_check_trust(signed_registry, trust_signer, 1, &error)); /* paths win */
  char both[2100];
  snprintf(both, sizeof both, "%s:%s", other_pub, signer_pub);
  CHECK(setenv("OPTOUT_TRUST", both, 1) == 0);
  CHECK_OK(optout_registry_check_trust(signed_registry, NULL, 0, &error));
  CHECK(unsetenv("OPTOUT_TRUST") == 0);

  /* Key files the engine refuses, and NULLs. */
  const char* secret_as_public[] = {signer_key};
  snprintf(expected, sizeof expected, "%s: a secret key, where a public key (NAME.pub) is needed", signer_key);
  EXPECT_STATUS(optout_registry_check_trust(signed_registry, secret_as_public, 1, &error), OPTOUT_E_INVALID_INPUT,
                expected);
  const char* with_null[] = {signer_pub, NULL};
  EXPECT_STATUS(optout_registry_check_trust(signed_registry, with_null, 2, &error), OPTOUT_E_NULL_ARGUMENT,
                "optout_registry_check_trust: trust_paths[1] is NULL");
  EXPECT_STATUS(optout_registry_check_trust(signed_registry, NULL, 1, &error), OPTOUT_E_NULL_ARGUMENT,
                "optout_registry_check_trust: trust_paths is NULL");
  EXPECT_STATUS(optout_registry_check_trust(NULL, NULL, 0, &error), OPTOUT_E_NULL_ARGUMENT,
                "optout_registry_check_trust: registry is NULL");

  /* The digest pin: the signature is part of the digest. */
  char hex[OPTOUT_DIGEST_HEX_BYTES], plain_hex[OPTOUT_DIGEST_HEX_BYTES];
  CHECK_OK(optout_registry_digest(signed_registry, hex, &error));
  CHECK_OK(optout_registry_digest(plain, plain_hex, &error));
  CHECK(strcmp(hex, plain_hex) != 0);
  CHECK_OK(optout_registry_check_digest(signed_registry, hex, &error));
  char upper[OPTOUT_DIGEST_HEX_BYTES];
  for (size_t i = 0; i < sizeof hex; ++i) upper[i] = (hex[i] >= 'a' && hex[i] <= 'f') ? (char)(hex[i] - 32) : hex[i];
  CHECK_OK(optout_registry_check_digest(signed_registry, upper, &error));
  snprintf(expected, sizeof expected, "%s: digest %s is not the expected %s", plain_path, plain_hex, hex);
  EXPECT_STATUS(optout_registry_check_digest(plain, hex, &error), OPTOUT_E_UNTRUSTED, expected);
  CHECK(optout_registry_check_digest(plain, "not hex", &error) == OPTOUT_E_INVALID_ARGUMENT);
  CHECK(error.code == OPTOUT_E_INVALID_ARGUMENT);
  EXPECT_STATUS(optout_registry_check_digest(plain, NULL, &error), OPTOUT_E_NULL_ARGUMENT,
                "optout_registry_check_digest: expected_hex is NULL");

  optout_registry_free(plain);
  optout_registry_free(signed_registry);
  optout_registry_free(other);
}

static void test_filter_trust_and_signing(void) {
  optout_error error;
  char expected[2048];
  optout_registry* signed_registry = NULL;
  optout_index* index = NULL;
  CHECK_OK(optout_registry_open(signed_path, &signed_registry, &error));
  CHECK_OK(optout_index_create(signed_registry, NULL, 0, &index, &error));
  char hex[OPTOUT_DIGEST_HEX_BYTES];
  CHECK_OK(optout_registry_digest(signed_registry, hex, &error));
  optout_registry_free(signed_registry);
  if (index == NULL) return;
  CHECK(mkdir(WORK("failed"), 0755) == 0 || errno == EEXIST);
  CHECK(unsetenv("OPTOUT_TRUST") == 0);
  const char* trust_other[] = {other_pub};
  const char* trust_both[] = {other_pub, signer_pub};

  /* Refused before anything is written (expect_failure: no output, no temporary, no record). */
  optout_filter_options options = by_name();
  options.trust_paths = trust_other;
  options.trust_count = 1;
  options.audit_path = WORK("failed/untrusted_audit.jsonl");
  snprintf(expected, sizeof expected, "%s: signed by key %s, which is not trusted (trusted: %s)", signed_path,
           signer_id, other_id);
  expect_failure(index, SAMPLE("extract_narrow.csv"), &options, OPTOUT_E_UNTRUSTED, expected);
  CHECK(!exists(WORK("failed/untrusted_audit.jsonl")));
  options.trust_paths = trust_both;
  options.trust_count = 2;
  options.expect_digest = "00000000000000000000000000000000";
  snprintf(expected, sizeof expected, "%s: digest %s is not the expected 00000000000000000000000000000000", signed_path,
           hex);
  expect_failure(index, SAMPLE("extract_narrow.csv"), &options, OPTOUT_E_UNTRUSTED, expected);
  options.expect_digest = hex;
  options.audit_path = NULL;
  options.sign_key_path = signer_key;
  expect_failure(index, SAMPLE("extract_narrow.csv"), &options, OPTOUT_E_INVALID_ARGUMENT,
                 "signing the audit record needs an audit log");
  /* OPTOUT_TRUST when no paths are given, as for `optout filter`. */
  options = by_name();
  CHECK(setenv("OPTOUT_TRUST", other_pub, 1) == 0);
  snprintf(expected, sizeof expected, "%s: signed by key %s, which is not trusted (trusted: %s)", signed_path,
           signer_id, other_id);
  expect_failure(index, SAMPLE("extract_narrow.csv"), &options, OPTOUT_E_UNTRUSTED, expected);
  /* ... also for a caller built against the first header, whose options end with audit_path. */
  options.size = offsetof(optout_filter_options, trust_paths);
  options.trust_count = 7; /* not read */
  options.expect_digest = "not read";
  expect_failure(index, SAMPLE("extract_narrow.csv"), &options, OPTOUT_E_UNTRUSTED, expected);
  CHECK(unsetenv("OPTOUT_TRUST") == 0);
  optout_filter_stats stats;
  optout_filter_stats_init(&stats);
  CHECK_OK(optout_filter_file(index, SAMPLE("extract_narrow.csv"), WORK("v1_out.csv"), &options, &stats, &error));
  CHECK(stats.kept == 1863);

  /* Trusted, pinned and signed: both records carry the signature of signer.key. */
  options = by_name();
  options.trust_paths = trust_both;
  options.trust_count = 2;
  options.expect_digest = hex;
  options.sign_key_path = signer_key;
  options.audit_path = WORK("signed_audit.jsonl");
  unlink(WORK("signed_audit.jsonl"));
  optout_filter_stats_init(&stats);
  CHECK_OK(optout_filter_file(index, SAMPLE("extract_narrow.csv"), WORK("signed_out.csv"), &options, &stats, &error));
  CHECK(same_files(WORK("signed_out.csv"), WORK("expected_narrow_all.csv")));
  CHECK(lines_in(WORK("signed_audit.jsonl")) == 2);
  char* audit = read_file(WORK("signed_audit.jsonl"), NULL);
  char field[256];
  snprintf(field, sizeof field, "\"registry_signer\":\"%s\"", signer_id);
  CHECK(audit != NULL && strstr(audit, field) != NULL);
  snprintf(field, sizeof field, ",\"signature\":{\"algorithm\":\"ed25519\",\"key_id\":\"%s\",", signer_id);
  const char* first = audit != NULL ? strstr(audit, field) : NULL;
  CHECK(first != NULL && strstr(first + 1, field) != NULL); /* in both records */
  free(audit);

  /* optout_filter_fd checks the same, before it reads or writes a byte. */
  options = by_name();
  options.trust_paths = trust_other;
  options.trust_count = 1;
  int fds[2];
  CHECK(pipe(fds) == 0);
  snprintf(expected, sizeof expected, "%s: signed by key %s, which is not trusted (trusted: %s)", signed_path,
           signer_id, other_id);
  EXPECT_STATUS(optout_filter_fd(index, fds[0], fds[1], -1, &options, NULL, &error), OPTOUT_E_UNTRUSTED, expected);
  close(fds[0]);
  close(fds[1]);
  options.trust_count = 0;
  options.sign_key_path = signer_key;
  EXPECT_STATUS(optout_filter_fd(index, 0, 1, -1, &options, NULL, &error), OPTOUT_E_INVALID_ARGUMENT,
                "signing the audit record needs an audit log");

  /* A public key where the secret key is needed. */
  options = by_name();
  options.trust_paths = trust_both;
  options.trust_count = 2;
  options.sign_key_path = signer_pub;
  options.audit_path = WORK("failed/audit.jsonl");
  snprintf(expected, sizeof expected, "%s: a public key, where a secret key (NAME.key) is needed", signer_pub);
  expect_failure(index, SAMPLE("extract_narrow.csv"), &options, OPTOUT_E_INVALID_INPUT, expected);
  optout_index_free(index);
}

static optout_verify_options verify_by_name(void) {
  optout_verify_options options;
  optout_verify_options_init(&options);
  options.column_name = "nhs_number";
  return options;
}

static void test_verify(void) {
  optout_error error;
  char expected[2048];
  optout_registry* signed_registry = NULL;
  optout_index *all = NULL, *deny = NULL;
  const char* deny_lists[] = {"national", "type1"};
  CHECK_OK(optout_registry_open(signed_path, &signed_registry, &error));
  CHECK_OK(optout_index_create(signed_registry, NULL, 0, &all, &error));
  CHECK_OK(optout_index_create(signed_registry, deny_lists, 2, &deny, &error));
  optout_registry_free(signed_registry);
  if (all == NULL || deny == NULL) return;
  CHECK(unsetenv("OPTOUT_TRUST") == 0);
  const char* trust_signer[] = {signer_pub};
  const char* trust_other[] = {other_pub};

  /* Defaults. */
  optout_verify_options options;
  memset(&options, 0x7f, sizeof options);
  optout_verify_options_init(&options);
  CHECK(options.size == sizeof options && options.column_name == NULL && options.column_index == 0);
  CHECK(options.has_header == 1 && options.delimiter == ',' && options.threads == 0);
  CHECK(options.trust_paths == NULL && options.trust_count == 0 && options.expect_digest == NULL);
  CHECK(options.audit_path == NULL && options.matches_path == NULL && options.id_column == NULL);
  optout_verify_result result;
  memset(&result, 0x7f, sizeof result);
  optout_verify_result_init(&result);
  CHECK(result.size == sizeof result && result.clean == 0 && result.rows == 0 && result.input_digest[0] == '\0');
  optout_verify_options_init(NULL);
  optout_verify_result_init(NULL);

  /* A release made by a signed, audited filter run: clean, and vouched for by its "ok" record. */
  optout_filter_options filter = by_name();
  filter.sign_key_path = signer_key;
  filter.audit_path = WORK("release_audit.jsonl");
  unlink(WORK("release_audit.jsonl"));
  optout_filter_stats stats;
  optout_filter_stats_init(&stats);
  CHECK_OK(optout_filter_file(all, SAMPLE("extract_narrow.csv"), WORK("release.csv"), &filter, &stats, &error));

  options = verify_by_name();
  optout_verify_result_init(&result);
  CHECK_OK(optout_verify_file(all, WORK("release.csv"), &options, &result, &error));
  CHECK(result.clean == 1 && result.rows == 1863 && result.kept == 1863 && result.removed == 0 && result.rejected == 0);
  CHECK((long)result.bytes_in == file_size(WORK("release.csv")));
  CHECK(strcmp(result.input_digest, stats.output_digest) == 0);
  CHECK(result.matches_written == 0 && result.audit_line == 0 && result.audit_signer[0] == '\0');

  options.audit_path = WORK("release_audit.jsonl");
  options.trust_paths = trust_signer;
  options.trust_count = 1;
  optout_verify_result_init(&result);
  CHECK_OK(optout_verify_file(all, WORK("release.csv"), &options, &result, &error));
  CHECK(result.clean == 1 && result.audit_line == 2 && strcmp(result.audit_signer, signer_id) == 0);

  /* The registry's trust comes first. */
  options.trust_paths = trust_other;
  snprintf(expected, sizeof expected, "%s: signed by key %s, which is not trusted (trusted: %s)", signed_path,
           signer_id, other_id);
  optout_verify_result_init(&result);
  EXPECT_STATUS(optout_verify_file(all, WORK("release.csv"), &options, &result, &error), OPTOUT_E_UNTRUSTED, expected);
  CHECK(result.rows == 0);
  options.trust_paths = NULL;
  options.trust_count = 0;
  options.expect_digest = "00000000000000000000000000000000";
  CHECK(optout_verify_file(all, WORK("release.csv"), &options, &result, &error) == OPTOUT_E_UNTRUSTED);
  options.expect_digest = NULL;

  /* A file no record vouches for (the unfiltered extract) fails; so does a release changed by a byte. */
  CHECK(optout_verify_file(all, SAMPLE("extract_narrow.csv"), &options, &result, &error) == OPTOUT_E_UNTRUSTED);
  CHECK(error.code == OPTOUT_E_UNTRUSTED && strstr(error.message, "release_audit.jsonl") != NULL);
  size_t size = 0;
  char* release = read_file(WORK("release.csv"), &size);
  CHECK(release != NULL && size > 200);
  char* first_row = release != NULL ? strchr(release, '\n') : NULL;
  CHECK(first_row != NULL && first_row[1] >= '0' && first_row[1] <= '8');
  if (release != NULL && first_row != NULL) {
    ++first_row[1]; /* the first row's record_id: still a valid CSV, a clean one */
    CHECK(write_file(WORK("release_changed.csv"), release, size));
    free(release);
  }
  CHECK(optout_verify_file(all, WORK("release_changed.csv"), &options, &result, &error) == OPTOUT_E_UNTRUSTED);

  /* Not clean: the unfiltered extracts. Matches by row number and by record_id (the same here). */
  options = verify_by_name();
  options.matches_path = WORK("narrow_matches.txt");
  optout_verify_result_init(&result);
  CHECK_OK(optout_verify_file(all, SAMPLE("extract_narrow.csv"), &options, &result, &error));
  CHECK(result.clean == 0 && result.rows == 2000 && result.kept == 1863 && result.removed == 137 &&
        result.rejected == 0);
  CHECK(result.matches_written == 137 && lines_in(WORK("narrow_matches.txt")) == 137);
  options.matches_path = WORK("narrow_matches_by_id.txt");
  options.id_column = "record_id";
  CHECK_OK(optout_verify_file(all, SAMPLE("extract_narrow.csv"), &options, &result, &error));
  CHECK(result.matches_written == 137 && same_files(WORK("narrow_matches.txt"), WORK("narrow_matches_by_id.txt")));

  options = verify_by_name();
  optout_verify_result_init(&result);
  CHECK_OK(optout_verify_file(deny, SAMPLE("extract_dirty.csv"), &options, &result, &error));
  const uint64_t reasons[OPTOUT_REJECTED_REASONS] = {0, 30, 13, 19, 0, 0, 33, 0};
  CHECK(result.clean == 0 && result.rows == 2000 && result.rejected == 95);
  CHECK(memcmp(result.rejected_by_reason, reasons, sizeof reasons) == 0);
  CHECK(result.bytes_in == 137631);

  /* Errors. */
  options = verify_by_name();
  options.matches_path = SAMPLE("extract_narrow.csv");
  CHECK(optout_verify_file(all, SAMPLE("extract_narrow.csv"), &options, &result, &error) == OPTOUT_E_INVALID_ARGUMENT);
  options = verify_by_name();
  options.size = 0;
  EXPECT_STATUS(optout_verify_file(all, WORK("release.csv"), &options, &result, &error), OPTOUT_E_BAD_STRUCT_SIZE,
                "options.size is 0; call optout_verify_options_init first");
  options = verify_by_name();
  result.size = 3;
  EXPECT_STATUS(optout_verify_file(all, WORK("release.csv"), &options, &result, &error), OPTOUT_E_BAD_STRUCT_SIZE,
                "result.size is 3; call optout_verify_result_init first");
  optout_verify_result_init(&result);
  EXPECT_STATUS(optout_verify_file(NULL, WORK("release.csv"), &options, &result, &error), OPTOUT_E_NULL_ARGUMENT,
                "optout_verify_file: index is NULL");
  EXPECT_STATUS(optout_verify_file(all, NULL, &options, &result, &error), OPTOUT_E_NULL_ARGUMENT,
                "optout_verify_file: input_path is NULL");
  EXPECT_STATUS(optout_verify_file(all, WORK("release.csv"), NULL, &result, &error), OPTOUT_E_NULL_ARGUMENT,
                "optout_verify_file: options is NULL");
  EXPECT_STATUS(optout_verify_file(all, WORK("release.csv"), &options, NULL, &error), OPTOUT_E_NULL_ARGUMENT,
                "optout_verify_file: result is NULL");
  options.column_name = "nhs";
  snprintf(expected, sizeof expected, "%s: no column named 'nhs' in the header", WORK("release.csv"));
  CHECK(optout_verify_file(all, WORK("release.csv"), &options, &result, &error) == OPTOUT_E_NOT_FOUND);
  CHECK(strncmp(error.message, expected, strlen(expected)) == 0);
  optout_index_free(all);
  optout_index_free(deny);
}

/* Lists by purpose less exemptions (issue 14): the CLI's output and audit record, the engine's errors. */
static void test_purpose(void) {
  optout_registry* registry = NULL;
  optout_error error;
  CHECK_OK(optout_registry_open(WORK("scoped.optout"), &registry, &error));
  if (registry == NULL) return;
  /* Lists in name order: cleared (unscoped), national (planning, research), type1 (unscoped). */
  char scopes[64];
  size_t needed = 0;
  CHECK_OK(optout_registry_list_scopes(registry, 1, scopes, sizeof scopes, &needed, &error));
  CHECK(strcmp(scopes, "planning,research") == 0 && needed == 18);
  CHECK_OK(optout_registry_list_scopes(registry, 0, scopes, sizeof scopes, NULL, &error));
  CHECK(strcmp(scopes, "") == 0);
  CHECK(optout_registry_list_scopes(registry, 1, NULL, 0, &needed, &error) == OPTOUT_E_INVALID_ARGUMENT);
  CHECK(needed == 18);
  CHECK(strcmp(error.message, "optout_registry_list_scopes: the buffer holds 0 bytes, the scopes need 18") == 0);
  CHECK(optout_registry_list_scopes(registry, 3, scopes, sizeof scopes, NULL, &error) == OPTOUT_E_INVALID_ARGUMENT);
  CHECK(optout_registry_list_scopes(registry, 0, NULL, 4, NULL, &error) == OPTOUT_E_NULL_ARGUMENT);
  optout_index* index = NULL;
  const char* exemptions[] = {"national=CAG 20/CAG/0001"};
  CHECK_OK(optout_index_create_for_purpose(registry, "planning", exemptions, 1, &index, &error));
  if (index != NULL) {
    /* Applied: type1 and cleared (national is exempt): only the cleared patient not in type1 is kept. */
    const uint8_t expected[5] = {OPTOUT_VERDICT_REMOVED, OPTOUT_VERDICT_KEPT, OPTOUT_VERDICT_REMOVED,
                                 OPTOUT_VERDICT_REMOVED, OPTOUT_VERDICT_REMOVED};
    check_verdicts(index, expected);
    optout_filter_options options;
    optout_filter_options_init(&options);
    options.column_name = "nhs_number";
    options.audit_path = WORK("planning_audit.jsonl");
    remove(options.audit_path);
    remove(WORK("narrow_planning.csv"));
    CHECK_OK(
        optout_filter_file(index, SAMPLE("extract_narrow.csv"), WORK("narrow_planning.csv"), &options, NULL, &error));
    CHECK(same_files(WORK("narrow_planning.csv"), WORK("expected_narrow_planning.csv")));
    size_t size = 0;
    char* audit = read_file(WORK("planning_audit.jsonl"), &size);
    CHECK(audit != NULL && strstr(audit,
                                  "\"purpose\":\"planning\",\"exemptions\":[{\"list\":\"national\","
                                  "\"kind\":\"deny\",\"count\":") != NULL);
    CHECK(audit != NULL && strstr(audit, "\"reference\":\"CAG 20/CAG/0001\"}]") != NULL);
    free(audit);
  }
  optout_index_free(index);

  index = (optout_index*)&error;
  CHECK(optout_index_create_for_purpose(registry, "audit", NULL, 0, &index, &error) == OPTOUT_E_INVALID_ARGUMENT);
  CHECK(index == NULL);
  char expected[1024];
  snprintf(expected, sizeof expected,
           "%s: no list is scoped to purpose 'audit' (the registry's purposes: planning, research)",
           WORK("scoped.optout"));
  CHECK(strcmp(error.message, expected) == 0);
  const char* bare[] = {"national"};
  CHECK(optout_index_create_for_purpose(registry, "research", bare, 1, &index, &error) == OPTOUT_E_INVALID_ARGUMENT);
  CHECK(strcmp(error.message, "--exempt LIST needs a reference: LIST=REFERENCE, e.g. national=CAG 20/CAG/0001") == 0);
  const char* twice[] = {"national=CAG 1", "national=COPI"};
  CHECK(optout_index_create_for_purpose(registry, "research", twice, 2, &index, &error) == OPTOUT_E_INVALID_ARGUMENT);
  CHECK(strcmp(error.message, "--exempt national: the list is exempted twice") == 0);
  const char* with_null[] = {"national=CAG 1", NULL};
  CHECK(optout_index_create_for_purpose(registry, "research", with_null, 2, &index, &error) == OPTOUT_E_NULL_ARGUMENT);
  CHECK(strcmp(error.message, "optout_index_create_for_purpose: exemptions[1] is NULL") == 0);
  CHECK(optout_index_create_for_purpose(registry, NULL, NULL, 0, &index, &error) == OPTOUT_E_NULL_ARGUMENT);
  optout_registry_free(registry);
}

/* Pseudonymised extracts: tokens (Python's hmac with the fixture's key) in the column, the key by
 * path in the v6 (filter) and v4 (verify) options. */
static void test_pseudonym_key(void) {
  static const char kDenied[] = "d4393f139d6064a98f0453ae6416eff07d305bdc19f8587b352d8d899f5cba9a"; /* 9434765919 */
  static const char kKept[] = "38539B6F84C24F3C9C7BED93FA8DC06D39B985F9B817CEB8CBF592955F9AA722";   /* 4010232137 */
  optout_error error;
  optout_registry* registry = NULL;
  optout_index* index = NULL;
  CHECK_OK(optout_registry_open(WORK("pseudonym.optout"), &registry, &error));
  if (registry == NULL) return;
  CHECK_OK(optout_index_create(registry, NULL, 0, &index, &error));
  optout_registry_free(registry);
  if (index == NULL) return;
  char key_path[1024], short_key[1024], audit_path[1024];
  snprintf(key_path, sizeof key_path, "%s", WORK("pseudonym.key"));
  snprintf(short_key, sizeof short_key, "%s", WORK("short.key"));
  snprintf(audit_path, sizeof audit_path, "%s", WORK("tokens_audit.jsonl"));
  char extract[512];
  snprintf(extract, sizeof extract, "id,token\n1,%s\n2,%s\n3,not-a-token\n", kDenied, kKept);
  CHECK(write_file(WORK("tokens.csv"), extract, strlen(extract)) == 1);

  optout_filter_options options;
  optout_filter_options_init(&options);
  CHECK(options.pseudonym_key_path == NULL);
  options.column_name = "token";
  options.pseudonym_key_path = key_path;
  options.audit_path = audit_path;
  unlink(audit_path);
  optout_filter_stats stats;
  optout_filter_stats_init(&stats);
  CHECK_OK(optout_filter_file(index, WORK("tokens.csv"), WORK("tokens_out.csv"), &options, &stats, &error));
  CHECK(stats.rows == 3 && stats.kept == 1 && stats.removed == 1 && stats.rejected == 1);
  CHECK(stats.rejected_by_reason[2] == 1); /* bad character */
  size_t size = 0;
  char* out = read_file(WORK("tokens_out.csv"), &size);
  char expected[256];
  snprintf(expected, sizeof expected, "id,token\n2,%s\n", kKept);
  CHECK(out != NULL && size == strlen(expected) && memcmp(out, expected, size) == 0);
  free(out);
  char* audit = read_file(audit_path, &size);
  CHECK(
      audit != NULL &&
      strstr(audit, "\"pseudonym_key_sha256\":\"8a9f9666f795d41485d7eb944ccfbaf5d9e67038489758e41153889e132f845f\"") !=
          NULL);
  CHECK(audit != NULL && strstr(audit, "optout-c-test") == NULL);
  free(audit);

  /* An older caller's options (v4, without the field) read NHS numbers: every token is rejected. */
  options.size = offsetof(optout_filter_options, pseudonym_key_path);
  options.audit_path = NULL;
  CHECK_OK(optout_filter_file(index, WORK("tokens.csv"), WORK("tokens_out.csv"), &options, &stats, &error));
  CHECK(stats.rows == 3 && stats.rejected == 3);
  options.size = sizeof options;

  /* A bad key file: the engine's message, naming the file only. */
  CHECK(write_file(short_key, "0123456789", 10) == 1);
  options.pseudonym_key_path = short_key;
  char message[1200];
  snprintf(message, sizeof message,
           "%s: not a pseudonym key (10 bytes; a key is 32 to 1024 bytes: the file's bytes, exactly)", short_key);
  EXPECT_STATUS(optout_filter_file(index, WORK("tokens.csv"), WORK("tokens_out2.csv"), &options, &stats, &error),
                OPTOUT_E_INVALID_INPUT, message);

  /* verify: the released file is clean under the key, vouched for by its record. */
  optout_verify_options verify;
  optout_verify_options_init(&verify);
  CHECK(verify.pseudonym_key_path == NULL);
  verify.column_name = "token";
  verify.pseudonym_key_path = key_path;
  optout_verify_result result;
  optout_verify_result_init(&result);
  CHECK_OK(optout_verify_file(index, WORK("tokens.csv"), &verify, &result, &error));
  CHECK(result.clean == 0 && result.removed == 1 && result.rejected == 1);
  optout_index_free(index);
}

int main(int argc, char** argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: optout_c_test WORK SAMPLES\n");
    return 2;
  }
  work_dir = argv[1];
  samples_dir = argv[2];

  test_version_and_names();
  test_open_errors();
  test_defaults();

  optout_registry* registry = NULL;
  optout_error error;
  CHECK_OK(optout_registry_open(WORK("samples.optout"), &registry, &error));
  if (registry == NULL) {
    fprintf(stderr, "cannot open the fixture's registry: %s\n", error.message);
    return 1;
  }
  CHECK(error.code == OPTOUT_OK && error.message[0] == '\0');
  test_registry(registry);
  test_registry_null_outputs(registry);
  test_index_errors(registry);
  test_lookups(registry);
  test_export(registry);
  test_list_name_messages_are_redacted(registry);
  test_empty_output_path_is_refused(registry);
  test_export_over_the_registry_is_refused(registry);

  optout_index *all = NULL, *deny = NULL;
  const char* deny_lists[] = {"national", "type1"};
  CHECK_OK(optout_index_create(registry, NULL, 0, &all, &error));
  CHECK_OK(optout_index_create(registry, deny_lists, 2, &deny, &error));
  /* An index outlives the registry handle it was made from. */
  optout_registry_free(registry);
  if (all != NULL && deny != NULL) {
    test_filter_files(all, deny);
    test_filter_errors(all);
    test_filter_impact(all);
    test_filter_outputs_are_checked(all);
    test_filter_fd(all, deny);
    test_compressed_extracts(all);
    test_all_zero_and_short_integers_are_rejected(all);
  }
  optout_index_free(all);
  optout_index_free(deny);

  fixture_paths();
  test_signed_registries();
  test_filter_trust_and_signing();
  test_verify();
  test_purpose();
  test_pseudonym_key();

  if (failures > 0) {
    fprintf(stderr, "optout_c_test: %d of %d checks failed\n", failures, checks);
    return 1;
  }
  printf("optout_c_test: all %d checks passed\n", checks);
  return 0;
}
