/* log.c -- leveled logging to stderr.
 *
 * Owns the process-wide log level and ident.  Each message is formatted into
 * one buffer and written with a single write(2), so lines from concurrent
 * connection threads never interleave. */
#include "log.h"

#include <stdarg.h>
#include <strings.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static _Atomic int log_level = IL_LOG_INFO;
static const char *log_ident = "interlink";

static _Atomic int log_format = IL_LOG_TEXT;
static _Thread_local char log_trace_id[33];

void il_log_set_format(il_log_format format) { log_format = format; }

int il_log_parse_format(const char *name, il_log_format *out)
{
    if (name && strcasecmp(name, "text") == 0)
        *out = IL_LOG_TEXT;
    else if (name && strcasecmp(name, "json") == 0)
        *out = IL_LOG_JSON;
    else
        return -1;
    return 0;
}

int il_log_use_format(const char *name)
{
    il_log_format format;
    if (il_log_parse_format(name, &format) != 0)
        return -1;
    il_log_set_format(format);
    return 0;
}

void il_log_set_trace_id(const char *trace_id)
{
    snprintf(log_trace_id, sizeof log_trace_id, "%s", trace_id ? trace_id : "");
}

void il_log_set_level(il_log_level level) { log_level = level; }
il_log_level il_log_get_level(void) { return (il_log_level)log_level; }
void il_log_set_ident(const char *ident) { log_ident = ident; }

static const char *level_name(il_log_level level)
{
    switch (level) {
    case IL_LOG_DEBUG: return "DEBUG";
    case IL_LOG_INFO:  return "INFO ";
    case IL_LOG_WARN:  return "WARN ";
    default:           return "ERROR";
    }
}

/* The length of the valid UTF-8 sequence at s (at most left bytes), or 0:
 * a stray byte, a truncated or overlong sequence, a surrogate. */
static size_t utf8_sequence(const unsigned char *s, size_t left)
{
    unsigned char c = s[0];
    size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (n == 0 || n > left)
        return 0;
    uint32_t cp = n == 1 ? c : (uint32_t)(c & (0x7f >> n));
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    static const uint32_t min[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < min[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return n;
}

/* s as the inside of a JSON string: quotes, backslashes and control bytes
 * escaped, bytes that are not UTF-8 replaced by U+FFFD (a log shipper
 * rejects the whole line otherwise); truncated to fit cap. */
static size_t json_escape(char *out, size_t cap, const char *s, size_t len)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t o = 0;
    for (size_t i = 0; i < len && o + 7 < cap;) {
        size_t n = utf8_sequence(u + i, len - i);
        if (n == 0) {
            memcpy(out + o, "\\ufffd", 6);
            o += 6;
            i++;
        } else if (u[i] == '"' || u[i] == '\\') {
            out[o++] = '\\';
            out[o++] = (char)u[i++];
        } else if (u[i] < 0x20) {
            o += (size_t)snprintf(out + o, cap - o, "\\u%04x", u[i++]);
        } else {
            memcpy(out + o, u + i, n);
            o += n;
            i += n;
        }
    }
    return o;
}

static void log_json(il_log_level level, const struct timespec *now, const char *msg,
                     size_t msg_len)
{
    static const char *const names[] = {"debug", "info", "warn", "error"};
    char line[9000];
    struct tm tm;
    gmtime_r(&now->tv_sec, &tm);
    size_t len = strftime(line, sizeof(line), "{\"time\":\"%Y-%m-%dT%H:%M:%S", &tm);
    len += (size_t)snprintf(line + len, sizeof(line) - len,
                            ".%03ldZ\",\"level\":\"%s\",\"daemon\":\"", now->tv_nsec / 1000000,
                            names[level <= IL_LOG_ERROR ? level : IL_LOG_ERROR]);
    len += json_escape(line + len, 200, log_ident, strlen(log_ident));
    len += (size_t)snprintf(line + len, sizeof(line) - len, "\",\"msg\":\"");
    len += json_escape(line + len, sizeof(line) - len - 80, msg, msg_len);
    line[len++] = '"';
    if (log_trace_id[0])
        len += (size_t)snprintf(line + len, sizeof(line) - len, ",\"trace_id\":\"%s\"",
                                log_trace_id);
    line[len++] = '}';
    line[len++] = '\n';
    ssize_t ignored = write(STDERR_FILENO, line, len);
    (void)ignored;
}

void il_log(il_log_level level, const char *fmt, ...)
{
    if ((int)level < log_level)
        return;
    if (log_format == IL_LOG_JSON) {
        char msg[4096];
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        size_t msg_len = n < 0 ? 0 : (size_t)n >= sizeof(msg) ? sizeof(msg) - 1 : (size_t)n;
        log_json(level, &ts, msg, msg_len);
        return;
    }

    char line[4096];
    struct timespec now;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &now);
    gmtime_r(&now.tv_sec, &tm);
    size_t len = strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
    len += (size_t)snprintf(line + len, sizeof(line) - len, ".%03ldZ %s %s: ",
                            now.tv_nsec / 1000000, level_name(level), log_ident);

    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line + len, sizeof(line) - len, fmt, ap);
    va_end(ap);
    if (n < 0)
        n = 0;
    len += (size_t)n;
    if (len > sizeof(line) - 2)
        len = sizeof(line) - 2;   /* truncated: still end the line */

    /* One record per line even if the message carried newlines. */
    for (size_t i = 0; i < len; i++)
        if (line[i] == '\n' || line[i] == '\r')
            line[i] = ' ';
    line[len++] = '\n';
    ssize_t ignored = write(STDERR_FILENO, line, len);
    (void)ignored;
}
