/* fuzz_image_ref.c -- image references (the image-root annotation plus the
 * image) as each container runtime would get them.  Property: a reference
 * the grammar accepts is never option-shaped, never holds a control
 * character or a space, and never names a host-file transport. */
#include "fuzz.h"

#include "runner.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *ref = fuzz_cstr(data, size);
    const runtime_kind kinds[] = {RUNTIME_PODMAN, RUNTIME_APPTAINER, RUNTIME_SINGULARITY,
                                  RUNTIME_CHARLIECLOUD, RUNTIME_ENROOT};
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
        if (!rn_runtime_image_ref_valid(kinds[i], ref))
            continue;
        FUZZ_ASSERT(ref[0] != '-' && ref[0] != '\0');
        for (const char *p = ref; *p; p++)
            FUZZ_ASSERT((unsigned char)*p > ' ' && (unsigned char)*p < 0x7f);
        FUZZ_ASSERT(!strstr(ref, "/../") && !strstr(ref, "file://"));
        /* No transport that reads this host's files: "dir:x", "oci-archive:x". */
        static const char *const host_transports[] = {"dir:", "oci:", "oci-archive:",
                                                      "docker-archive:", "sif:", "tarball:",
                                                      "containers-storage:", NULL};
        for (const char *const *t = host_transports; *t; t++)
            FUZZ_ASSERT(strncmp(ref, *t, strlen(*t)) != 0);
    }
    free(ref);
    return 0;
}
