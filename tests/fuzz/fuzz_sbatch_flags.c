/* fuzz_sbatch_flags.c -- the slurm-job.vk.io/flags annotation: tokenizer,
 * the pod allow-list and the admin filter.  Properties: whatever is kept
 * is canonical ("--full-name[=value]", never a bare word or an
 * abbreviation), and nothing off the pod list survives the pod filter. */
#include "fuzz.h"

#include "slurm.h"

static bool named(const char *arg, const char *name)
{
    size_t len = strlen(name);
    return strncmp(arg + 2, name, len) == 0 && (arg[2 + len] == '\0' || arg[2 + len] == '=');
}

static void check_canonical(const strvec *out)
{
    for (size_t i = 0; i < out->n; i++) {
        const char *arg = out->v[i];
        FUZZ_ASSERT(arg[0] == '-' && arg[1] == '-');
        char *name = strndup(arg + 2, strcspn(arg + 2, "="));
        FUZZ_ASSERT(name && flags_is_option(name));
        free(name);
        FUZZ_ASSERT(!named(arg, "job-name") && !named(arg, "output") && !named(arg, "wrap"));
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_cstr(data, size);
    strvec tokens = {0}, out = {0}, trusted = {0};
    il_buf err = IL_BUF_INIT;
    if (flags_tokenize(text, &tokens, &err) == 0) {
        if (flags_filter(&tokens, NULL, "proj", &out, &err) == 0) {
            check_canonical(&out);
            for (size_t i = 0; i < out.n; i++) {
                const char *arg = out.v[i];
                FUZZ_ASSERT(!named(arg, "bbf") && !named(arg, "nodefile") &&
                            !named(arg, "uid") && !named(arg, "chdir") &&
                            !named(arg, "priority") && !named(arg, "export-file"));
                FUZZ_ASSERT(!named(arg, "account") || strcmp(arg, "--account=proj") == 0);
                FUZZ_ASSERT(strncmp(arg, "--nice=-", 8) != 0);
            }
        }
        if (flags_filter_trusted(&tokens, "fuzz", &trusted, &err) == 0)
            check_canonical(&trusted);
    }
    rn_strvec_free(&tokens);
    rn_strvec_free(&out);
    rn_strvec_free(&trusted);
    il_buf_free(&err);
    free(text);
    return 0;
}
