/* log.c -- leveled logging to stderr.
 *
 * Owns the process-wide log level and ident.  Each message is formatted into
 * one buffer and written with a single write(2), so lines from concurrent
 * connection threads never interleave. */
#include "log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static _Atomic int log_level = IL_LOG_INFO;
static const char *log_ident = "interlink";

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

void il_log(il_log_level level, const char *fmt, ...)
{
    if ((int)level < log_level)
        return;

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
