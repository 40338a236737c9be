/* util.c -- allocation that cannot fail, growable buffers, files and ids.
 *
 * Everything here is small and dependency-free; the rest of the code base
 * relies on il_x* never returning NULL and on il_buf always being
 * NUL-terminated. */
#include "util.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void oom(size_t size)
{
    fprintf(stderr, "fatal: out of memory allocating %zu bytes\n", size);
    abort();
}

void *il_xmalloc(size_t size)
{
    void *p = malloc(size ? size : 1);
    if (!p)
        oom(size);
    return p;
}

void *il_xcalloc(size_t nmemb, size_t size)
{
    void *p = calloc(nmemb ? nmemb : 1, size ? size : 1);
    if (!p)
        oom(nmemb * size);
    return p;
}

void *il_xrealloc(void *ptr, size_t size)
{
    void *p = realloc(ptr, size ? size : 1);
    if (!p)
        oom(size);
    return p;
}

char *il_xstrdup(const char *s)
{
    return s ? il_xstrndup(s, strlen(s)) : NULL;
}

char *il_xstrndup(const char *s, size_t n)
{
    char *p = il_xmalloc(n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *il_xasprintf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    int n = vasprintf(&s, fmt, ap);
    va_end(ap);
    if (n < 0)
        oom(strlen(fmt));
    return s;
}

/* ---- il_buf ------------------------------------------------------------ */

static void buf_reserve(il_buf *b, size_t extra)
{
    if (b->len + extra + 1 <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < b->len + extra + 1)
        cap *= 2;
    b->data = il_xrealloc(b->data, cap);
    b->cap = cap;
}

void il_buf_append(il_buf *b, const void *data, size_t len)
{
    buf_reserve(b, len);
    if (len)
        memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = '\0';
}

void il_buf_puts(il_buf *b, const char *s)
{
    il_buf_append(b, s, strlen(s));
}

void il_buf_printf(il_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    va_list copy;
    va_copy(copy, ap);
    int n = vsnprintf(NULL, 0, fmt, copy);
    va_end(copy);
    if (n > 0) {
        buf_reserve(b, (size_t)n);
        vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
        b->len += (size_t)n;
    }
    va_end(ap);
}

void il_buf_reset(il_buf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

char *il_buf_steal(il_buf *b)
{
    char *s = b->data ? b->data : il_xstrdup("");
    b->data = NULL;
    b->len = b->cap = 0;
    return s;
}

const char *il_buf_cstr(const il_buf *b)
{
    return b->data ? b->data : "";
}

void il_buf_free(il_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

/* ---- ids --------------------------------------------------------------- */

void il_uuid4(char out[37])
{
    unsigned char r[16];
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd < 0 || read(fd, r, sizeof(r)) != (ssize_t)sizeof(r)) {
        fprintf(stderr, "fatal: cannot read /dev/urandom\n");
        abort();
    }
    close(fd);
    r[6] = (unsigned char)((r[6] & 0x0f) | 0x40);   /* version 4 */
    r[8] = (unsigned char)((r[8] & 0x3f) | 0x80);   /* RFC 4122 variant */
    snprintf(out, 37,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
             r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9],
             r[10], r[11], r[12], r[13], r[14], r[15]);
}

bool il_is_uuid(const char *s)
{
    if (!s || strlen(s) != 36)
        return false;
    for (int i = 0; i < 36; i++) {
        bool dash = (i == 8 || i == 13 || i == 18 || i == 23);
        char c = s[i];
        if (dash ? c != '-' : !((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return false;
    }
    return true;
}

/* ---- files ------------------------------------------------------------- */

ssize_t il_write_all(int fd, const void *data, size_t len)
{
    const char *p = data;
    size_t left = len;
    while (left > 0) {
        ssize_t n = write(fd, p, left);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += n;
        left -= (size_t)n;
    }
    return (ssize_t)len;
}

int il_parse_int64(const char *s, int64_t *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (!*s || *end || errno == ERANGE)
        return -1;
    *out = v;
    return 0;
}

int il_read_file(const char *path, size_t max_bytes, il_buf *out)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    char chunk[65536];
    for (;;) {
        ssize_t n = read(fd, chunk, sizeof(chunk));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int saved = errno;
            close(fd);
            errno = saved;
            return -1;
        }
        if (n == 0)
            break;
        if (out->len + (size_t)n > max_bytes) {
            close(fd);
            errno = EFBIG;
            return -1;
        }
        il_buf_append(out, chunk, (size_t)n);
    }
    close(fd);
    if (!out->data)
        il_buf_append(out, "", 0);
    return 0;
}

int il_write_file_atomic(const char *path, const void *data, size_t len, mode_t mode)
{
    char *tmp = il_xasprintf("%s.tmp.%ld", path, (long)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0) {
        free(tmp);
        return -1;
    }
    int rc = -1;
    if (il_write_all(fd, data, len) == (ssize_t)len && fsync(fd) == 0) {
        rc = 0;
    }
    int saved = errno;
    if (close(fd) != 0 && rc == 0) {
        saved = errno;
        rc = -1;
    }
    if (rc == 0 && rename(tmp, path) != 0) {
        saved = errno;
        rc = -1;
    }
    if (rc != 0)
        unlink(tmp);
    free(tmp);
    errno = saved;
    return rc;
}

int il_mkdir_p(const char *path, mode_t mode)
{
    char *copy = il_xstrdup(path);
    int rc = 0;
    for (char *p = copy + 1; ; p++) {
        if (*p == '/' || *p == '\0') {
            char saved = *p;
            *p = '\0';
            if (mkdir(copy, mode) != 0 && errno != EEXIST) {
                rc = -1;
                break;
            }
            *p = saved;
            if (saved == '\0')
                break;
        }
    }
    int saved_errno = errno;
    free(copy);
    errno = saved_errno;
    return rc;
}

static int rm_rf_at(int parent_fd, const char *name)
{
    if (unlinkat(parent_fd, name, 0) == 0 || errno == ENOENT)
        return 0;
    if (errno != EISDIR && errno != EPERM)
        return -1;
    int fd = openat(parent_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return -1;
    DIR *dir = fdopendir(fd);
    if (!dir) {
        close(fd);
        return -1;
    }
    int rc = 0;
    struct dirent *de;
    while ((de = readdir(dir)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        if (rm_rf_at(dirfd(dir), de->d_name) != 0)
            rc = -1;
    }
    closedir(dir);
    if (unlinkat(parent_fd, name, AT_REMOVEDIR) != 0 && errno != ENOENT)
        rc = -1;
    return rc;
}

int il_rm_rf(const char *path)
{
    return rm_rf_at(AT_FDCWD, path);
}

uint64_t il_hash_str(const char *s)
{
    uint64_t h = 14695981039346656037u;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        h = (h ^ *p) * 1099511628211u;
    return h;
}

il_file_version il_file_version_of(const struct stat *st)
{
    return (il_file_version){.dev = st->st_dev, .ino = st->st_ino, .size = st->st_size,
                             .mtime = st->st_mtim};
}

bool il_file_version_same(const il_file_version *a, const il_file_version *b)
{
    return a->ino == b->ino && a->dev == b->dev && a->size == b->size &&
           a->mtime.tv_sec == b->mtime.tv_sec && a->mtime.tv_nsec == b->mtime.tv_nsec;
}

bool il_same_file_version(const struct stat *a, const struct stat *b)
{
    il_file_version va = il_file_version_of(a), vb = il_file_version_of(b);
    return il_file_version_same(&va, &vb);
}

bool il_secret_equal(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    unsigned char diff = la != lb;
    for (size_t i = 0; i < la && lb > 0; i++)
        diff |= (unsigned char)(a[i] ^ b[i % lb]);
    return diff == 0;
}

char *il_trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    size_t len = strlen(s);
    while (len > 0 && isspace((unsigned char)s[len - 1]))
        s[--len] = '\0';
    return s;
}

void il_thread_renewing(void *(*fn)(void *), void *arg)
{
    void *idle;
    do {
        pthread_t t;
        if (pthread_create(&t, NULL, fn, arg) == 0)
            pthread_join(t, &idle);
        else
            idle = fn(arg);
    } while (idle);
}
