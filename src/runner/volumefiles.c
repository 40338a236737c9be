/* volumefiles.c -- the files of a configMap, secret, projected or
 * downwardAPI volume, looked up in a create request.
 *
 * ConfigMap data and binaryData, Secret data (base64) and stringData,
 * projected maps' data, with `items` applied and every path checked (no
 * "..", not absolute) before it becomes a file under the pod directory. */
#include "runner.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base64.h"
#include "jsonutil.h"

#define DEFAULT_FILE_MODE 0644

/* Where a volume's content lives: `plain` values are used as they are,
 * `encoded` values are base64 (a key in both: plain wins, as Secret
 * stringData overrides data). */
typedef struct {
    const char *what;            /* "configMap", "secret", "projected map" */
    const char *name;
    const json_t *plain;
    const json_t *encoded;
} volume_source;

/* Union of every container's list_key, searched for name. */
static json_t *find_in_request(const il_create_request *req, const char *list_key,
                               const char *name)
{
    size_t i;
    json_t *c;
    json_array_foreach(req->containers, i, c) {
        json_t *found = il_jfind_named(il_jget(c, list_key), name);
        if (found)
            return found;
    }
    return NULL;
}

/* Returns 1 when the volume has no content here (emptyDir, missing but
 * optional...), 0 with *src filled, -1 on error. */
static int volume_source_find(const il_create_request *req, const il_volume *vol,
                              volume_source *src, il_buf *err)
{
    const char *list_key, *plain_key, *encoded_key;
    memset(src, 0, sizeof *src);
    switch (vol->kind) {
    case IL_VOL_CONFIGMAP:
        src->what = "configMap", list_key = "configMaps", src->name = vol->source_name;
        plain_key = "data", encoded_key = "binaryData";
        break;
    case IL_VOL_SECRET:
        src->what = "secret", list_key = "secrets", src->name = vol->source_name;
        plain_key = "stringData", encoded_key = "data";
        break;
    case IL_VOL_PROJECTED:
    case IL_VOL_DOWNWARDAPI:
        src->what = "projected map", list_key = "projectedvolumemaps", src->name = vol->name;
        plain_key = "data", encoded_key = NULL;
        break;
    default:
        return 1;
    }
    json_t *obj = find_in_request(req, list_key, src->name);
    if (!obj) {
        if (vol->optional)
            return 1;
        il_buf_printf(err, "volume %s: %s \"%s\" not found in the request", vol->name,
                      src->what, src->name);
        return -1;
    }
    src->plain = il_jget(obj, plain_key);
    src->encoded = encoded_key ? il_jget(obj, encoded_key) : NULL;
    if ((src->plain && !json_is_object(src->plain)) ||
        (src->encoded && !json_is_object(src->encoded))) {
        il_buf_printf(err, "volume %s: %s \"%s\": %s/%s must be objects", vol->name,
                      src->what, src->name, plain_key, encoded_key ? encoded_key : plain_key);
        return -1;
    }
    return 0;
}

/* Relative, no empty, "." or ".." components, no NUL (json strings are
 * checked by the caller): the path cannot leave the volume directory. */
static bool volume_path_ok(const char *path)
{
    if (!*path || *path == '/')
        return false;
    for (const char *p = path;;) {
        size_t len = strcspn(p, "/");
        if (len == 0 || (len == 1 && p[0] == '.') || (len == 2 && p[0] == '.' && p[1] == '.'))
            return false;
        if (!p[len])
            return true;
        p += len + 1;
    }
}

/* Value of key in src: 0 with a heap copy, 1 if absent, -1 on error. */
static int source_value(const il_volume *vol, const volume_source *src, const char *key,
                        unsigned char **data, size_t *len, il_buf *err)
{
    json_t *v = il_jget(src->plain, key);
    bool encoded = false;
    if (!v && src->encoded) {
        v = il_jget(src->encoded, key);
        encoded = true;
    }
    if (!v)
        return 1;
    if (!json_is_string(v)) {
        il_buf_printf(err, "volume %s: %s \"%s\": key %s: expected a string", vol->name,
                      src->what, src->name, key);
        return -1;
    }
    if (encoded) {
        if (!(*data = il_base64_decode(json_string_value(v), len))) {
            il_buf_printf(err, "volume %s: %s \"%s\": key %s: invalid base64", vol->name,
                          src->what, src->name, key);
            return -1;
        }
        return 0;
    }
    *len = json_string_length(v);
    *data = il_xmalloc(*len + 1);
    memcpy(*data, json_string_value(v), *len + 1);
    return 0;
}

typedef struct {
    il_volume_file *files;
    size_t n;
    size_t cap;
} file_list;

static int add_file(file_list *fl, const il_volume *vol, const volume_source *src,
                    const char *key, const char *path, int mode, il_buf *err)
{
    if (!volume_path_ok(path)) {
        il_buf_printf(err, "volume %s: %s \"%s\": invalid file path \"%s\"", vol->name,
                      src->what, src->name, path);
        return -1;
    }
    for (size_t i = 0; i < fl->n; i++) {
        if (!strcmp(fl->files[i].path, path)) {
            il_buf_printf(err, "volume %s: duplicate file path \"%s\"", vol->name, path);
            return -1;
        }
    }
    unsigned char *data;
    size_t len;
    int rc = source_value(vol, src, key, &data, &len, err);
    if (rc != 0)
        return rc;
    if (fl->n == fl->cap) {
        fl->cap = fl->cap ? fl->cap * 2 : 8;
        fl->files = il_xrealloc(fl->files, fl->cap * sizeof *fl->files);
    }
    int file_mode = mode >= 0 ? mode : vol->default_mode >= 0 ? vol->default_mode
                                                              : DEFAULT_FILE_MODE;
    fl->files[fl->n++] = (il_volume_file){il_xstrdup(path), data, len, file_mode};
    return 0;
}

/* Every key of map (plain or encoded), skipping encoded keys shadowed by
 * plain ones. */
static int add_all_keys(file_list *fl, const il_volume *vol, const volume_source *src,
                        const json_t *map, bool is_encoded, il_buf *err)
{
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)map, key, v) {
        (void)v;
        if (is_encoded && il_jget(src->plain, key))
            continue;
        if (add_file(fl, vol, src, key, key, -1, err) < 0)
            return -1;
    }
    return 0;
}

static int add_items(file_list *fl, const il_volume *vol, const volume_source *src, il_buf *err)
{
    for (size_t i = 0; i < vol->n_items; i++) {
        const il_key_to_path *it = &vol->items[i];
        int rc = add_file(fl, vol, src, it->key, it->path, it->mode, err);
        if (rc < 0)
            return -1;
        if (rc == 1 && !vol->optional) {
            il_buf_printf(err, "volume %s: %s \"%s\" has no key \"%s\"", vol->name, src->what,
                          src->name, it->key);
            return -1;
        }
    }
    return 0;
}

int rn_volume_files(const il_create_request *req, const il_volume *vol, il_volume_file **files,
                    size_t *nfiles, il_buf *err)
{
    *files = NULL;
    *nfiles = 0;
    volume_source src;
    int rc = volume_source_find(req, vol, &src, err);
    if (rc != 0)
        return rc < 0 ? -1 : 0;
    file_list fl = {0};
    if (vol->n_items > 0)
        rc = add_items(&fl, vol, &src, err);
    else if ((rc = add_all_keys(&fl, vol, &src, src.plain, false, err)) == 0)
        rc = add_all_keys(&fl, vol, &src, src.encoded, true, err);
    if (rc < 0) {
        rn_volume_files_free(fl.files, fl.n);
        return -1;
    }
    *files = fl.files;
    *nfiles = fl.n;
    return 0;
}

void rn_volume_files_free(il_volume_file *files, size_t nfiles)
{
    for (size_t i = 0; i < nfiles; i++) {
        free(files[i].path);
        free(files[i].data);
    }
    free(files);
}

