/* fuzz.h -- what every harness in tests/fuzz shares.
 *
 * A harness is one LLVMFuzzerTestOneInput.  Built with clang's libFuzzer
 * (make fuzz) it is fuzzed; built in the ordinary build it links replay.c
 * and replays its seed corpus as a CTest test.  A harness aborts (through
 * FUZZ_ASSERT) when a property the code promises does not hold, so the
 * fuzzer finds wrong answers as well as crashes. */
#ifndef IL_FUZZ_H
#define IL_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_ASSERT(cond)                                                        \
    do {                                                                         \
        if (!(cond)) {                                                           \
            fprintf(stderr, "%s:%d: property violated: %s\n", __FILE__, __LINE__, \
                    #cond);                                                      \
            abort();                                                             \
        }                                                                        \
    } while (0)

/* The input as a NUL-terminated string (caller frees); embedded NULs end it
 * early, as they would for the C string the code under test receives. */
static inline char *fuzz_cstr(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (!s)
        abort();
    memcpy(s, data, size);
    s[size] = '\0';
    return s;
}

#endif
