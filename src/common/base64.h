/* base64.h -- standard padded base64 (RFC 4648 §4), Go's StdEncoding, which
 * Kubernetes uses for Secret data and every []byte field. */
#ifndef IL_BASE64_H
#define IL_BASE64_H

#include <stddef.h>

/* NUL-terminated encoding; caller frees. */
char *il_base64_encode(const void *data, size_t len);
/* Decoded bytes, NUL-terminated for convenience, count in *len; caller
 * frees.  CR and LF are skipped as Go does; padding is required where the
 * length needs it.  NULL if malformed. */
unsigned char *il_base64_decode(const char *text, size_t *len);

#endif
