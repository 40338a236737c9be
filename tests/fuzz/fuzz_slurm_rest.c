/* fuzz_slurm_rest.c -- the slurmrestd job description (rest.c) of what the
 * flags annotation leaves after the pod filter.  Properties: a mapped job
 * holds only JSON strings, booleans and integers within SLURM's 32-bit
 * fields, every string is an option's value byte for byte, and an option
 * that is not mapped is named in the reason. */
#include "fuzz.h"

#include <stdint.h>

#include "slurm.h"

static void check_job(json_t *job, const strvec *opts)
{
    const char *key;
    json_t *v;
    json_object_foreach(job, key, v) {
        if (json_is_integer(v)) {
            FUZZ_ASSERT(json_integer_value(v) >= 0 && json_integer_value(v) <= INT32_MAX);
        } else if (json_is_string(v)) {
            bool found = false;   /* some --opt=<exactly this> */
            for (size_t i = 0; i < opts->n && !found; i++) {
                const char *eq = strchr(opts->v[i], '=');
                found = eq && strcmp(eq + 1, json_string_value(v)) == 0;
            }
            FUZZ_ASSERT(found);
        } else {
            FUZZ_ASSERT(json_is_boolean(v));
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_cstr(data, size);
    strvec tokens = {0}, out = {0}, argv = {0};
    il_buf err = IL_BUF_INIT;
    if (flags_tokenize(text, &tokens, &err) == 0 &&
        flags_filter(&tokens, NULL, "proj", &out, &err) == 0) {
        rn_strvec_push(&argv, "sbatch");
        rn_strvec_push_all(&argv, out.v);
        rn_strvec_push(&argv, "/d/job.sh");
        json_t *job = NULL;
        il_buf why = IL_BUF_INIT;
        if (rest_job_from_argv(argv.v, &job, &why) == 0) {
            FUZZ_ASSERT(job != NULL);
            check_job(job, &out);
            char *dumped = json_dumps(job, JSON_COMPACT);
            FUZZ_ASSERT(dumped != NULL);
            free(dumped);
        } else {
            FUZZ_ASSERT(job == NULL && strstr(il_buf_cstr(&why), "has no exact form"));
        }
        json_decref(job);
        il_buf_free(&why);
    }
    rn_strvec_free(&tokens);
    rn_strvec_free(&out);
    rn_strvec_free(&argv);
    il_buf_free(&err);
    free(text);
    return 0;
}
