/* recdeflate.h -- the texts of the VK's pod records (pods.c), deflated
 * against one dictionary per process: pods of one node differ in names,
 * UIDs and times, so 1.6 KB of pod text become about 80 bytes. */
#ifndef IL_VK_RECDEFLATE_H
#define IL_VK_RECDEFLATE_H

#include <stddef.h>

#include "util.h"

/* The dictionary, from the first pod's text and status (the first call
 * sets it; later calls do nothing).  Before any pack or unpack. */
void vk_recdeflate_dict_once(const char *text, size_t text_len, const char *status,
                             size_t status_len);

/* s (n bytes) deflated into a new buffer (the caller frees it) of *zn bytes. */
unsigned char *vk_recdeflate_pack(const char *s, size_t n, size_t *zn);

/* Inflate zn bytes of zs, n bytes once inflated, onto the end of out
 * (NUL-terminated).  Aborts when they do not inflate: records are ours
 * and immutable, so that is corrupt memory. */
void vk_recdeflate_unpack(const unsigned char *zs, size_t zn, size_t n, il_buf *out);

/* Free the pooled z_streams of a kind (deflaters, inflaters) that none was
 * taken of since the previous call (the status loop calls it once a
 * cycle). */
void vk_recdeflate_idle(void);

#endif
