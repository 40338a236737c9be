/* shquote.c -- the one quoting function for the shell scripts the batch
 * plugins generate: every value in them goes through sh_quote(), so pod
 * data never becomes shell code. */
#include "batch.h"

void sh_quote(il_buf *out, const char *s)
{
    il_buf_append(out, "'", 1);
    for (const char *p = s; *p; p++) {
        if (*p == '\'')
            il_buf_puts(out, "'\\''");
        else
            il_buf_append(out, p, 1);
    }
    il_buf_append(out, "'", 1);
}
