/* timeutil.h -- wall-clock time in the forms Kubernetes uses on the wire.
 *
 * Kubernetes JSON carries RFC 3339 times; Go's zero time
 * "0001-01-01T00:00:00Z" means "unset".  il_time holds seconds and
 * nanoseconds since the Unix epoch and represents that zero value as
 * {0, 0} (is_zero), so callers never compare against year 1. */
#ifndef IL_TIMEUTIL_H
#define IL_TIMEUTIL_H

#include <stdbool.h>
#include <stdint.h>

typedef struct il_time {
    int64_t sec;
    int32_t nsec;
} il_time;

#define IL_TIME_ZERO ((il_time){0, 0})
#define IL_RFC3339_MAX 40

il_time il_time_now(void);
bool il_time_is_zero(il_time t);
int64_t il_time_to_ns(il_time t);                   /* zero -> 0 */
int64_t il_monotonic_ms(void);

/* "2026-01-01T10:00:00Z" (nanos=false) or "...T10:00:00.123456789Z"; with
 * nanos, trailing zeros of the fraction are dropped as Go's RFC3339Nano
 * does ("...:00.5Z", or no fraction at all).  Zero time formats as Go's
 * "0001-01-01T00:00:00Z". */
void il_time_format(il_time t, bool nanos, char out[IL_RFC3339_MAX]);
/* Accepts Z or +hh:mm offsets and optional fractional seconds; Go's zero
 * time and "" parse to IL_TIME_ZERO.  Returns 0 or -1 if malformed. */
int il_time_parse(const char *s, il_time *out);

#endif
