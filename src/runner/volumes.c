/* volumes.c -- pod volumes on the host: materialized at create, mounted
 * by the sandbox at container start.
 *
 * configMap, secret (decoded), projected and downwardAPI volumes become
 * files under pod_dir/volumes/<volume>/ (rn_volume_files() applies items
 * and modes); an emptyDir is one directory there, shared by every container
 * of the pod.  hostPath mounts the host path itself: the pod sees and
 * changes the real host directory, which is what hostPath means.  Other
 * kinds (PVC, NFS, ...) have no meaning on a single host and are refused at
 * create rather than silently replaced by an empty directory. */
#include "runner.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static char *volume_dir(const char *pod_dir, const char *name)
{
    return il_xasprintf("%s/volumes/%s", pod_dir, name);
}

static int write_volume_file(const char *dir, const il_volume_file *f, il_buf *err)
{
    char *path = il_xasprintf("%s/%s", dir, f->path);
    char *slash = strrchr(path, '/');
    *slash = '\0';
    int rc = il_mkdir_p(path, 0755);
    *slash = '/';
    if (rc == 0)
        rc = il_write_file_atomic(path, f->data, f->len, (mode_t)(f->mode > 0 ? f->mode : 0644));
    if (rc != 0)
        il_buf_printf(err, "writing %s: %s", path, strerror(errno));
    free(path);
    return rc;
}

static int materialize_one(const il_create_request *req, const il_volume *vol,
                           const char *pod_dir, il_buf *err)
{
    if (vol->kind == IL_VOL_HOSTPATH)
        return 0;
    if (vol->kind == IL_VOL_OTHER) {
        il_buf_printf(err, "volume %s: this volume type is not supported by interlink-local "
                      "(supported: emptyDir, configMap, secret, projected, downwardAPI, hostPath)",
                      vol->name);
        return -1;
    }
    char *dir = volume_dir(pod_dir, vol->name);
    int rc = il_mkdir_p(dir, 0755);
    if (rc != 0)
        il_buf_printf(err, "creating %s: %s", dir, strerror(errno));
    il_volume_file *files = NULL;
    size_t nfiles = 0;
    if (rc == 0 && vol->kind != IL_VOL_EMPTYDIR)
        rc = rn_volume_files(req, vol, &files, &nfiles, err);   /* err names the volume */
    for (size_t i = 0; rc == 0 && i < nfiles; i++)
        rc = write_volume_file(dir, &files[i], err);
    rn_volume_files_free(files, nfiles);
    free(dir);
    return rc;
}

int rn_volumes_materialize(const il_create_request *req, const char *pod_dir, il_buf *err)
{
    for (size_t i = 0; i < req->pod.n_volumes; i++)
        if (materialize_one(req, &req->pod.volumes[i], pod_dir, err) != 0)
            return -1;
    return 0;
}

/* No empty, "." or ".." component: a path that cannot climb out of its
 * base and that bwrap and podman take literally. */
static bool clean_components(const char *path)
{
    const char *p = path;
    while (*p) {
        const char *end = strchrnul(p, '/');
        size_t len = (size_t)(end - p);
        if (len == 0 || (len == 1 && p[0] == '.') || (len == 2 && p[0] == '.' && p[1] == '.'))
            return false;
        p = *end ? end + 1 : end;
    }
    return true;
}

bool rn_volumes_valid_mount_path(const char *path)
{
    if (!path || path[0] != '/' || strchr(path, '\n'))
        return false;
    return path[1] == '\0' ? false : clean_components(path + 1);
}

bool rn_volumes_valid_sub_path(const char *path)
{
    return path && path[0] != '/' && path[0] != '\0' && clean_components(path);
}

static char *mount_source(const il_volume *vol, const il_volume_mount *m, const char *pod_dir,
                          il_buf *err)
{
    char *base = vol->kind == IL_VOL_HOSTPATH ? il_xstrdup(vol->source_name)
                                              : volume_dir(pod_dir, vol->name);
    if (!m->sub_path)
        return base;
    char *source = il_xasprintf("%s/%s", base, m->sub_path);
    free(base);
    struct stat st;
    /* The kubelet creates a missing subPath as a directory. */
    if (stat(source, &st) != 0 && il_mkdir_p(source, 0755) != 0) {
        il_buf_printf(err, "subPath %s of volume %s: %s", m->sub_path, vol->name,
                      strerror(errno));
        free(source);
        return NULL;
    }
    return source;
}

int rn_volumes_mounts(const il_pod *pod, const il_container *c, const char *pod_dir,
                   mount_spec **out, size_t *n, il_buf *err)
{
    *out = il_xcalloc(c->n_mounts, sizeof(**out));
    *n = 0;
    for (size_t i = 0; i < c->n_mounts; i++) {
        const il_volume_mount *m = &c->mounts[i];
        const il_volume *vol = il_pod_volume(pod, m->name);
        if (!vol || vol->kind == IL_VOL_OTHER) {
            il_buf_printf(err, "volumeMount %s: no supported volume of that name", m->name);
            goto fail;
        }
        char *source = mount_source(vol, m, pod_dir, err);
        if (!source)
            goto fail;
        (*out)[*n].source = source;
        (*out)[*n].dest = il_xstrdup(m->mount_path);
        (*out)[*n].read_only = m->read_only;
        (*n)++;
    }
    return 0;
fail:
    rn_mounts_free(*out, *n);
    *out = NULL;
    *n = 0;
    return -1;
}

void rn_mounts_free(mount_spec *m, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(m[i].source);
        free(m[i].dest);
    }
    free(m);
}
