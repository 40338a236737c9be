/* mpiflags.c -- which mpiexec options the slurm-job.vk.io/mpi-flags
 * annotation may give.
 *
 * mpiexec runs on the compute node outside the container, as the job's
 * user, so its options are not the pod's to choose freely: --mca can name a
 * program to start the ranks with (plm_rsh_agent), --hostfile and --app read
 * files of the node, --prefix and --launch-agent change what runs, and a
 * bare word would become the program mpiexec starts in place of the pod's.
 * So the annotation is judged against an allow-list of options that only
 * shape the ranks' placement, binding, environment and output (Open MPI's
 * and MPICH's spellings); the admin widens it with AllowedMpiFlags.  A word
 * that is not an option is accepted only as the value of the option before
 * it (any number of them after an option the admin allowed, whose arity is
 * not known here). */
#include "slurm.h"

#include <string.h>

typedef struct {
    const char *name;
    bool value;               /* takes the next word (or "=value") */
} mpi_option;

static const mpi_option allowed[] = {
    {"--allow-run-as-root", false}, {"--bind-to", true},     {"-bind-to", true},
    {"--display-map", false},       {"--map-by", true},      {"-map-by", true},
    {"--npernode", true},           {"-npernode", true},     {"--oversubscribe", false},
    {"--rank-by", true},            {"--report-bindings", false}, {"--tag-output", false},
    {"--timestamp-output", false},  {"-ppn", true},          {"-x", true},
    {"-genv", true},               {"--use-hwthread-cpus", false},
};

/* The option word's name: "--map-by=core" is "--map-by". */
static size_t name_len(const char *word)
{
    const char *eq = strchr(word, '=');
    return eq ? (size_t)(eq - word) : strlen(word);
}

static const mpi_option *find(const char *word, size_t len)
{
    for (size_t i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++)
        if (strlen(allowed[i].name) == len && strncmp(allowed[i].name, word, len) == 0)
            return &allowed[i];
    return NULL;
}

static bool admin_allows(char **extra, const char *word, size_t len)
{
    for (char **e = extra; e && *e; e++)
        if (strlen(*e) == len && strncmp(*e, word, len) == 0)
            return true;
    return false;
}

int mpi_flags_check(char *const *words, char **extra, il_buf *err)
{
    bool admin = false;       /* after an admin's option, words up to the next are its values */
    for (size_t i = 0; words && words[i]; i++) {
        const char *w = words[i];
        size_t len = name_len(w);
        const mpi_option *opt = w[0] == '-' ? find(w, len) : NULL;
        if (w[0] != '-' && admin)
            continue;
        admin = w[0] == '-' && !opt && admin_allows(extra, w, len);
        if (!opt && !admin) {
            il_buf_printf(err, "slurm-job.vk.io/mpi-flags: \"%.*s\" is %s", (int)len, w,
                          w[0] == '-' ? "not an mpiexec option a pod may set (the admin may "
                                        "allow it with AllowedMpiFlags)"
                                      : "not an option: mpiexec would run it as the program");
            return -1;
        }
        /* -genv NAME VALUE takes two words; the other value options one. */
        size_t values = opt && opt->value && !w[len] ? (strcmp(opt->name, "-genv") == 0 ? 2 : 1)
                                                     : 0;
        for (; values > 0; values--) {
            if (!words[i + 1]) {
                il_buf_printf(err, "slurm-job.vk.io/mpi-flags: %s needs a value", opt->name);
                return -1;
            }
            i++;
        }
    }
    return 0;
}
