/* fuzz_yaml_config.c -- YAML as every daemon reads it: the YAML -> JSON
 * conversion (manifests for interlinkctl, config files), then the same
 * text as a whole interlink-slurm config file (schema, Flavors, Taints,
 * AllowedUnsafeFlags), read from a memfd so no file is left behind. */
#include "fuzz.h"

#include <sys/mman.h>
#include <unistd.h>

#include "slurm.h"
#include "yamljson.h"

static void config_file(const uint8_t *data, size_t size)
{
    int fd = memfd_create("fuzz-config", MFD_CLOEXEC);
    if (fd < 0)
        abort();
    if (size > 0 && write(fd, data, size) != (ssize_t)size)
        abort();
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    slurm_config cfg;
    il_buf err = IL_BUF_INIT;
    if (slurm_config_load(path, &cfg, &err) == 0)
        FUZZ_ASSERT(cfg.rt.runtime != NULL);
    il_buf_free(&err);
    slurm_config_free(&cfg);
    close(fd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[256];
    json_t *all = il_yaml_load_all((const char *)data, size, err, sizeof err);
    FUZZ_ASSERT(!all || json_is_array(all));
    json_decref(all);
    json_t *one = il_yaml_load_one((const char *)data, size, err, sizeof err);
    json_decref(one);
    config_file(data, size);
    return 0;
}
