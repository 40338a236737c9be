/* quantity.h -- Kubernetes resource quantities ("500m", "1Gi", "2", "1e3").
 *
 * Suffixes: decimal n u m k M G T P E, binary Ki Mi Gi Ti Pi Ei, and decimal
 * exponents (e/E).  Values are rounded up, as Kubernetes does when it needs
 * an integer (a request of "1.5" cpus needs 2 whole cpus). */
#ifndef IL_QUANTITY_H
#define IL_QUANTITY_H

#include <stdint.h>

/* value * 1000, rounded up: cpu "500m" -> 500, "2" -> 2000.
 * Returns 0, or -1 for a malformed, negative or overflowing quantity. */
int il_quantity_milli(const char *s, int64_t *out);
/* value rounded up: memory "1Gi" -> 1073741824, "500m" -> 1. */
int il_quantity_value(const char *s, int64_t *out);

#endif
