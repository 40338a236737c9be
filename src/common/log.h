/* log.h -- leveled, thread-safe logging to stderr.
 *
 * One line per message: "2026-11-22T02:30:00.123Z INFO  interlink: text".
 * The level is process-wide; VerboseLogging/ErrorsOnlyLogging map onto it.
 * The JSON format (LogFormat: json) writes one object per line instead:
 * {"time":..., "level":"info", "daemon":..., "msg":..., "trace_id":...},
 * trace_id when the thread is working inside a trace (trace.c sets it). */
#ifndef IL_LOG_H
#define IL_LOG_H

typedef enum { IL_LOG_DEBUG = 0, IL_LOG_INFO, IL_LOG_WARN, IL_LOG_ERROR } il_log_level;

void il_log_set_level(il_log_level level);
il_log_level il_log_get_level(void);
/* Program name printed on every line; the string must outlive the process. */
void il_log_set_ident(const char *ident);
typedef enum { IL_LOG_TEXT = 0, IL_LOG_JSON } il_log_format;
void il_log_set_format(il_log_format format);
/* "text" or "json" (any case); -1 for anything else. */
int il_log_parse_format(const char *name, il_log_format *out);
/* Parse and set (LogFormat); -1 and nothing changed when name is neither. */
int il_log_use_format(const char *name);
/* The trace id (32 hex digits) JSON lines of this thread carry; NULL: none. */
void il_log_set_trace_id(const char *trace_id);
void il_log(il_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define il_debug(...) il_log(IL_LOG_DEBUG, __VA_ARGS__)
#define il_info(...)  il_log(IL_LOG_INFO, __VA_ARGS__)
#define il_warn(...)  il_log(IL_LOG_WARN, __VA_ARGS__)
#define il_error(...) il_log(IL_LOG_ERROR, __VA_ARGS__)

#endif
