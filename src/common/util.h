/* util.h -- allocation, growable buffers, files, ids.
 *
 * Allocation failure is not recoverable in these daemons (as in Redis'
 * zmalloc): the il_x* functions abort with a message instead of returning
 * NULL, so callers never carry half-built state around. */
#ifndef IL_UTIL_H
#define IL_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

void *il_xmalloc(size_t size);
void *il_xcalloc(size_t nmemb, size_t size);
void *il_xrealloc(void *ptr, size_t size);
char *il_xstrdup(const char *s);                   /* NULL in, NULL out */
char *il_xstrndup(const char *s, size_t n);
char *il_xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Growable byte buffer, always NUL-terminated after il_buf_* calls. */
typedef struct il_buf {
    char *data;   /* NULL until the first append */
    size_t len;
    size_t cap;
} il_buf;

#define IL_BUF_INIT {NULL, 0, 0}
void il_buf_append(il_buf *b, const void *data, size_t len);
void il_buf_puts(il_buf *b, const char *s);
void il_buf_printf(il_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void il_buf_reset(il_buf *b);                       /* len = 0, memory kept */
char *il_buf_steal(il_buf *b);                      /* caller frees; b is empty after */
const char *il_buf_cstr(const il_buf *b);           /* "" when empty */
void il_buf_free(il_buf *b);

/* 36-character lowercase RFC 4122 version 4 UUID, from /dev/urandom. */
void il_uuid4(char out[37]);
bool il_is_uuid(const char *s);                     /* lowercase canonical form */

/* Files.  All return 0 on success and -1 with errno set on failure. */
int il_read_file(const char *path, size_t max_bytes, il_buf *out);
/* Write to path.tmp, fsync, rename: readers never see a partial file. */
int il_write_file_atomic(const char *path, const void *data, size_t len, mode_t mode);
int il_mkdir_p(const char *path, mode_t mode);
int il_rm_rf(const char *path);                     /* missing path is success */

/* Returned by stream readers (HTTP server streams, client streams, plugin
 * log streams): no data arrived within about a second; ask again. */
#define IL_STREAM_AGAIN (-2)

/* What kind of failure a library call reports, so the daemon above it can
 * answer in its own protocol (the plugin framework: il_plugin_status). */
typedef enum {
    IL_OK = 0,
    IL_FAIL_INPUT,            /* the request itself is wrong: the caller must change it */
    IL_FAIL_NOT_FOUND,        /* what was asked for does not exist */
    IL_FAIL_IO,               /* this host failed us: the disk, a process */
} il_fail;

/* A whole decimal string as an int64 (no sign games, no trailing junk, no
 * overflow).  0, or -1 leaving *out alone. */
int il_parse_int64(const char *s, int64_t *out);

/* s without leading and trailing whitespace: a pointer into s, which is
 * cut short in place. */
char *il_trim(char *s);
/* Secrets compared in time that depends on the lengths only, not on where
 * the first difference is: a caller must not learn a token byte by byte. */
bool il_secret_equal(const char *a, const char *b);
/* A string's 64-bit FNV-1a hash: for hash tables keyed by UIDs and paths
 * (not for anything an attacker must not steer). */
uint64_t il_hash_str(const char *s);

/* What tells one version of a file from the next: device, inode, size and
 * modification time.  Compact, for tables that keep one per file. */
typedef struct il_file_version {
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime;
} il_file_version;
struct stat;
il_file_version il_file_version_of(const struct stat *st);
bool il_file_version_same(const il_file_version *a, const il_file_version *b);
/* Two stat results of the same version of one file (inode, size, mtime):
 * a watched configuration file need not be re-read. */
bool il_same_file_version(const struct stat *a, const struct stat *b);

/* Read/write all bytes, retrying on EINTR and short transfers. */
ssize_t il_write_all(int fd, const void *data, size_t len);

/* Runs fn(arg) in a fresh thread, again each time it returns non-NULL ("I
 * went idle"), until it returns NULL; the calling thread only waits.  A
 * thread's cache of freed blocks (glibc's tcache) goes back to the heap only
 * when the thread ends, so a worker that outlives a burst keeps it.  When no
 * thread can be made, fn runs in the caller. */
void il_thread_renewing(void *(*fn)(void *), void *arg);

#endif
