// An LD_PRELOAD shim that makes the k-th matching system call fail, for fault-injection tests of the
// real CLI and of the Python module (tests/cli/test_fault_injection.py,
// bindings/python/tests/test_fault_injection.py). Configured by the environment:
//
//   OPTOUT_FAULT_OP    read (read, readv, pread), write (write, writev, pwrite), fsync (fsync,
//                      fdatasync), rename (rename, renameat, renameat2) or close
//   OPTOUT_FAULT_PATH  the call must be on a file whose path contains this text (for rename: either
//                      path); required, so that the interpreter's own files are left alone
//   OPTOUT_FAULT_AT    which matching call fails, 1-based
//   OPTOUT_FAULT_KIND  EIO, ENOSPC, EINTR (the call fails before doing anything), short (a read or
//                      write moves 1 byte), truncate (the file is cut to OPTOUT_FAULT_SIZE bytes, then
//                      the read goes ahead) or append (a line is appended, then the read goes ahead):
//                      the last two make a file change while it is read
//   OPTOUT_FAULT_LOG   a file to which "fired <op> <k>\n" is appended when the fault fires
//
// The fault fires once per process. close() closes the descriptor before it reports the error, as
// Linux does. Without OPTOUT_FAULT_OP the shim passes every call through.
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

enum { kOpNone, kOpRead, kOpWrite, kOpFsync, kOpRename, kOpClose };
enum { kKindError, kKindShort, kKindTruncate, kKindAppend };

static int fault_op = kOpNone;
static int fault_kind = kKindError;
static int fault_errno = EIO;
static long fault_at = 0;
static const char* fault_path = NULL;
static const char* fault_log = NULL;
static long fault_size = 0;
static atomic_long matched_calls;
static atomic_int fired;

__attribute__((constructor)) static void configure(void) {
  const char* op = getenv("OPTOUT_FAULT_OP");
  const char* at = getenv("OPTOUT_FAULT_AT");
  const char* kind = getenv("OPTOUT_FAULT_KIND");
  fault_path = getenv("OPTOUT_FAULT_PATH");
  fault_log = getenv("OPTOUT_FAULT_LOG");
  if (op == NULL || at == NULL || fault_path == NULL || fault_path[0] == '\0') return;
  fault_at = strtol(at, NULL, 10);
  if (kind == NULL || strcmp(kind, "EIO") == 0) {
    fault_errno = EIO;
  } else if (strcmp(kind, "ENOSPC") == 0) {
    fault_errno = ENOSPC;
  } else if (strcmp(kind, "EINTR") == 0) {
    fault_errno = EINTR;
  } else if (strcmp(kind, "short") == 0) {
    fault_kind = kKindShort;
  } else if (strcmp(kind, "truncate") == 0) {
    fault_kind = kKindTruncate;
    const char* size = getenv("OPTOUT_FAULT_SIZE");
    fault_size = size == NULL ? 0 : strtol(size, NULL, 10);
  } else if (strcmp(kind, "append") == 0) {
    fault_kind = kKindAppend;
  } else {
    fprintf(stderr, "fault_shim: unknown OPTOUT_FAULT_KIND %s\n", kind);
    abort();
  }
  if (strcmp(op, "read") == 0)
    fault_op = kOpRead;
  else if (strcmp(op, "write") == 0)
    fault_op = kOpWrite;
  else if (strcmp(op, "fsync") == 0)
    fault_op = kOpFsync;
  else if (strcmp(op, "rename") == 0)
    fault_op = kOpRename;
  else if (strcmp(op, "close") == 0)
    fault_op = kOpClose;
  else {
    fprintf(stderr, "fault_shim: unknown OPTOUT_FAULT_OP %s\n", op);
    abort();
  }
}

static void* next(const char* name) {
  void* f = dlsym(RTLD_NEXT, name);
  if (f == NULL) abort();
  return f;
}

static int path_matches(const char* path) { return path != NULL && strstr(path, fault_path) != NULL; }

static int fd_matches(int fd) {
  char link[64];
  char path[4096];
  snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  const ssize_t n = readlink(link, path, sizeof path - 1);
  if (n <= 0) return 0;
  path[n] = '\0';
  return path_matches(path);
}

static void log_fired(const char* op, long k) {
  if (fault_log == NULL) return;
  static ssize_t (*real_write)(int, const void*, size_t);
  if (real_write == NULL) real_write = (ssize_t(*)(int, const void*, size_t))next("write");
  const int fd = open(fault_log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0666);
  if (fd < 0) return;
  char line[128];
  const int len = snprintf(line, sizeof line, "fired %s %ld\n", op, k);
  (void)real_write(fd, line, (size_t)len);
  ((int (*)(int))next("close"))(fd);
}

// True when this call is the one to fail: op matches, the file matches, and it is the k-th such.
static int should_fail(int op, int fd, const char* path1, const char* path2, const char* name) {
  if (fault_op != op || atomic_load(&fired)) return 0;
  const int matches = fd >= 0 ? fd_matches(fd) : (path_matches(path1) || path_matches(path2));
  if (!matches) return 0;
  const long k = atomic_fetch_add(&matched_calls, 1) + 1;
  if (k != fault_at) return 0;
  if (atomic_exchange(&fired, 1)) return 0;
  log_fired(name, k);
  return 1;
}

// Changes the file under fd (truncate or append), for the changed-file check.
static void change_file(int fd) {
  char link[64];
  char path[4096];
  snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  const ssize_t n = readlink(link, path, sizeof path - 1);
  if (n <= 0) abort();
  path[n] = '\0';
  if (fault_kind == kKindTruncate) {
    if (truncate(path, fault_size) != 0) abort();
    return;
  }
  static ssize_t (*real_write)(int, const void*, size_t);
  if (real_write == NULL) real_write = (ssize_t(*)(int, const void*, size_t))next("write");
  const int out = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
  if (out < 0) abort();
  static const char kLine[] = "999,appended,row\n";
  if (real_write(out, kLine, sizeof kLine - 1) != (ssize_t)(sizeof kLine - 1)) abort();
  ((int (*)(int))next("close"))(out);
}

#define FAIL_WITH_ERRNO(result) \
  do {                          \
    errno = fault_errno;        \
    return (result);            \
  } while (0)

// What a read call does: as asked (no fault here, or the file was just changed under it), one byte
// at most (a short read), or nothing (it fails: errno is set, the call returns -1).
enum ReadFault { kReadAsAsked, kReadOneByte, kReadFails };
static enum ReadFault read_fault(int fd, const char* name) {
  if (!should_fail(kOpRead, fd, NULL, NULL, name)) return kReadAsAsked;
  if (fault_kind == kKindShort) return kReadOneByte;
  if (fault_kind == kKindTruncate || fault_kind == kKindAppend) {
    change_file(fd);
    return kReadAsAsked;
  }
  errno = fault_errno;
  return kReadFails;
}

ssize_t read(int fd, void* buf, size_t count) {
  static ssize_t (*real)(int, void*, size_t);
  if (real == NULL) real = (ssize_t(*)(int, void*, size_t))next("read");
  switch (read_fault(fd, "read")) {
    case kReadFails: return -1;
    case kReadOneByte: return real(fd, buf, count > 1 ? 1 : count);
    default: return real(fd, buf, count);
  }
}

ssize_t readv(int fd, const struct iovec* iov, int iovcnt) {
  static ssize_t (*real)(int, const struct iovec*, int);
  if (real == NULL) real = (ssize_t(*)(int, const struct iovec*, int))next("readv");
  switch (read_fault(fd, "readv")) {
    case kReadFails: return -1;
    case kReadOneByte:
      if (iovcnt > 0) return read(fd, iov[0].iov_base, iov[0].iov_len > 1 ? 1 : iov[0].iov_len);
      FAIL_WITH_ERRNO(-1);
    default: return real(fd, iov, iovcnt);
  }
}

static ssize_t fault_pread(const char* name, int fd, void* buf, size_t count, off_t offset) {
  static ssize_t (*real)(int, void*, size_t, off_t);
  if (real == NULL) real = (ssize_t(*)(int, void*, size_t, off_t))next("pread64");
  switch (read_fault(fd, name)) {
    case kReadFails: return -1;
    case kReadOneByte: return real(fd, buf, count > 1 ? 1 : count, offset);
    default: return real(fd, buf, count, offset);
  }
}
ssize_t pread(int fd, void* buf, size_t count, off_t offset) { return fault_pread("pread", fd, buf, count, offset); }
ssize_t pread64(int fd, void* buf, size_t count, off_t offset) { return fault_pread("pread", fd, buf, count, offset); }

ssize_t write(int fd, const void* buf, size_t count) {
  static ssize_t (*real)(int, const void*, size_t);
  if (real == NULL) real = (ssize_t(*)(int, const void*, size_t))next("write");
  if (should_fail(kOpWrite, fd, NULL, NULL, "write")) {
    if (fault_kind == kKindShort) return real(fd, buf, count > 1 ? 1 : count);
    FAIL_WITH_ERRNO(-1);
  }
  return real(fd, buf, count);
}

ssize_t writev(int fd, const struct iovec* iov, int iovcnt) {
  static ssize_t (*real)(int, const struct iovec*, int);
  if (real == NULL) real = (ssize_t(*)(int, const struct iovec*, int))next("writev");
  if (should_fail(kOpWrite, fd, NULL, NULL, "writev")) {
    if (fault_kind == kKindShort) {
      for (int i = 0; i < iovcnt; ++i) {
        if (iov[i].iov_len > 0) {
          static ssize_t (*real_write)(int, const void*, size_t);
          if (real_write == NULL) real_write = (ssize_t(*)(int, const void*, size_t))next("write");
          return real_write(fd, iov[i].iov_base, 1);
        }
      }
      return 0;
    }
    FAIL_WITH_ERRNO(-1);
  }
  return real(fd, iov, iovcnt);
}

static ssize_t fault_pwrite(const char* name, int fd, const void* buf, size_t count, off_t offset) {
  static ssize_t (*real)(int, const void*, size_t, off_t);
  if (real == NULL) real = (ssize_t(*)(int, const void*, size_t, off_t))next("pwrite64");
  if (should_fail(kOpWrite, fd, NULL, NULL, name)) {
    if (fault_kind == kKindShort) return real(fd, buf, count > 1 ? 1 : count, offset);
    FAIL_WITH_ERRNO(-1);
  }
  return real(fd, buf, count, offset);
}
ssize_t pwrite(int fd, const void* buf, size_t count, off_t offset) {
  return fault_pwrite("pwrite", fd, buf, count, offset);
}
ssize_t pwrite64(int fd, const void* buf, size_t count, off_t offset) {
  return fault_pwrite("pwrite", fd, buf, count, offset);
}

int fsync(int fd) {
  static int (*real)(int);
  if (real == NULL) real = (int (*)(int))next("fsync");
  if (should_fail(kOpFsync, fd, NULL, NULL, "fsync")) FAIL_WITH_ERRNO(-1);
  return real(fd);
}

int fdatasync(int fd) {
  static int (*real)(int);
  if (real == NULL) real = (int (*)(int))next("fdatasync");
  if (should_fail(kOpFsync, fd, NULL, NULL, "fdatasync")) FAIL_WITH_ERRNO(-1);
  return real(fd);
}

int rename(const char* from, const char* to) {
  static int (*real)(const char*, const char*);
  if (real == NULL) real = (int (*)(const char*, const char*))next("rename");
  if (should_fail(kOpRename, -1, from, to, "rename")) FAIL_WITH_ERRNO(-1);
  return real(from, to);
}

int renameat(int from_dir, const char* from, int to_dir, const char* to) {
  static int (*real)(int, const char*, int, const char*);
  if (real == NULL) real = (int (*)(int, const char*, int, const char*))next("renameat");
  if (should_fail(kOpRename, -1, from, to, "renameat")) FAIL_WITH_ERRNO(-1);
  return real(from_dir, from, to_dir, to);
}

int renameat2(int from_dir, const char* from, int to_dir, const char* to, unsigned int flags) {
  static int (*real)(int, const char*, int, const char*, unsigned int);
  if (real == NULL) real = (int (*)(int, const char*, int, const char*, unsigned int))next("renameat2");
  if (should_fail(kOpRename, -1, from, to, "renameat2")) FAIL_WITH_ERRNO(-1);
  return real(from_dir, from, to_dir, to, flags);
}

int close(int fd) {
  static int (*real)(int);
  if (real == NULL) real = (int (*)(int))next("close");
  if (fault_op == kOpClose && should_fail(kOpClose, fd, NULL, NULL, "close")) {
    (void)real(fd);
    FAIL_WITH_ERRNO(-1);
  }
  return real(fd);
}
