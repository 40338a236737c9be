/* log.h -- leveled, thread-safe logging to stderr.
 *
 * One line per message: "2026-11-22T02:30:00.123Z INFO  interlink: text".
 * The level is process-wide; VerboseLogging/ErrorsOnlyLogging map onto it. */
#ifndef IL_LOG_H
#define IL_LOG_H

typedef enum { IL_LOG_DEBUG = 0, IL_LOG_INFO, IL_LOG_WARN, IL_LOG_ERROR } il_log_level;

void il_log_set_level(il_log_level level);
il_log_level il_log_get_level(void);
/* Program name printed on every line; the string must outlive the process. */
void il_log_set_ident(const char *ident);
void il_log(il_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define il_debug(...) il_log(IL_LOG_DEBUG, __VA_ARGS__)
#define il_info(...)  il_log(IL_LOG_INFO, __VA_ARGS__)
#define il_warn(...)  il_log(IL_LOG_WARN, __VA_ARGS__)
#define il_error(...) il_log(IL_LOG_ERROR, __VA_ARGS__)

#endif
