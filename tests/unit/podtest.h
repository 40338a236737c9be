/* podtest.h -- helpers shared by the unit tests of generated artefacts
 * (pods parsed from JSON text, argv vectors compared whole).  Include after
 * cmocka.h and a header that declares il_pod, strvec and il_buf. */
#ifndef IL_TEST_PODTEST_H
#define IL_TEST_PODTEST_H

#include <jansson.h>
#include <string.h>

/* Parses a pod from JSON text into *pod (the caller frees it with
 * il_pod_free); a bad text fails the test. */
static inline void podtest_parse(const char *text, il_pod *pod)
{
    json_error_t jerr;
    json_t *json = json_loads(text, 0, &jerr);
    if (!json)
        fail_msg("bad test JSON: %s", jerr.text);
    char err[256];
    if (il_pod_parse(json, pod, err, sizeof(err)) != 0)
        fail_msg("pod: %s", err);
    json_decref(json);
}

/* Compares an argv with a NULL-terminated list; on a mismatch both are
 * printed joined with " | ", so the message shows every element. */
static inline void podtest_assert_argv(const strvec *got, const char *const *want)
{
    il_buf g = IL_BUF_INIT, w = IL_BUF_INIT;
    for (size_t i = 0; i < got->n; i++)
        il_buf_printf(&g, "%s%s", i ? " | " : "", got->v[i]);
    for (size_t i = 0; want[i]; i++)
        il_buf_printf(&w, "%s%s", i ? " | " : "", want[i]);
    if (strcmp(il_buf_cstr(&g), il_buf_cstr(&w)) != 0)
        fail_msg("got  %s\nwant %s", il_buf_cstr(&g), il_buf_cstr(&w));
    il_buf_free(&g);
    il_buf_free(&w);
}

#endif
