/* tmptree.h -- a scratch directory for the unit tests that write files:
 * made under /tmp with a name that says which test made it, and removed
 * whole at the end without a shell (a test's paths never reach one). */
#ifndef IL_TEST_TMPTREE_H
#define IL_TEST_TMPTREE_H

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#define TMPTREE_MAX 64   /* the size of the buffer tmptree_make fills */

/* Makes /tmp/il-<name>-XXXXXX and writes its path to dir; -1 when the
 * name does not fit or the directory cannot be made. */
static inline int tmptree_make(char dir[TMPTREE_MAX], const char *name)
{
    int n = snprintf(dir, TMPTREE_MAX, "/tmp/il-%s-XXXXXX", name);
    return n > 0 && n < TMPTREE_MAX && mkdtemp(dir) ? 0 : -1;
}

static inline int tmptree_unlink(const char *path, const struct stat *st, int flag,
                                 struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

/* Removes path and all it holds (symbolic links as links); -1 when some
 * of it is left, which is said on stderr. */
static inline int tmptree_remove(const char *path)
{
    if (nftw(path, tmptree_unlink, 16, FTW_DEPTH | FTW_PHYS) == 0)
        return 0;
    fprintf(stderr, "cannot remove all of %s\n", path);
    return -1;
}

#endif
