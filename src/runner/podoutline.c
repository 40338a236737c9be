/* podoutline.c -- what a pod's status is built on, kept from its pod.json.
 *
 * A status names the pod and each of its containers with its image; the
 * rest comes from the containers' state files.  Those names are in
 * pod.json, the whole create request (ConfigMaps and Secrets included), and
 * reading and parsing it for every pod of every /status was the largest
 * part of a plugin's work at scale: a fifth of interlink-slurm's CPU over
 * 10,000 pods.  pod.json does not change once written (poddir.c builds a
 * pod's directory aside and renames it in), so its outline is kept in a
 * memo (podmemo.c): trusted while a stat finds the same file.  One block
 * per pod, the strings packed behind the header, so a burst of creates
 * does not scatter small live chunks over the heap. */
#include "runner.h"

#include <stdlib.h>
#include <string.h>

#define OUTLINE_MAX 65536   /* pods; more than any backend here runs at once */

typedef struct outline {
    rn_memo_entry head;
    bool tunnel;
    size_t n_init, n_ctr;
    const char *name, *ns, *uid;          /* name and ns may be NULL */
    const char **names, **images;         /* init containers first */
} outline;

static rn_memo outlines = RN_MEMO_INIT("pod.json", OUTLINE_MAX);

static const il_container *nth_container(const il_pod *pod, size_t i)
{
    return i < pod->n_init_containers ? &pod->init_containers[i]
                                      : &pod->containers[i - pod->n_init_containers];
}

/* One block: the header, the two pointer arrays, then every string. */
static outline *outline_make(const il_create_request *req)
{
    const il_pod *pod = &req->pod;
    size_t n = pod->n_init_containers + pod->n_containers;
    size_t bytes = sizeof(outline) + 2 * n * sizeof(char *) + rn_memo_text_size(pod->name) +
                   rn_memo_text_size(pod->ns) + rn_memo_text_size(pod->uid);
    for (size_t i = 0; i < n; i++) {
        const il_container *c = nth_container(pod, i);
        bytes += rn_memo_text_size(c->name) + rn_memo_text_size(c->image ? c->image : "");
    }
    outline *o = il_xcalloc(1, bytes);
    o->tunnel = json_object_get(req->raw, "tunnel") != NULL;
    o->n_init = pod->n_init_containers;
    o->n_ctr = pod->n_containers;
    o->names = (const char **)(o + 1);
    o->images = o->names + n;
    char *at = (char *)(o->images + n);
    o->name = rn_memo_pack(&at, pod->name);
    o->ns = rn_memo_pack(&at, pod->ns);
    o->uid = rn_memo_pack(&at, pod->uid);
    for (size_t i = 0; i < n; i++) {
        const il_container *c = nth_container(pod, i);
        o->names[i] = rn_memo_pack(&at, c->name);
        o->images[i] = rn_memo_pack(&at, c->image ? c->image : "");
    }
    return o;
}

typedef struct fill_args {
    il_pod_status *out;
    bool *tunnel;
} fill_args;

static void fill(const rn_memo_entry *kept, void *arg)
{
    const outline *o = (const outline *)kept;
    il_pod_status *out = ((fill_args *)arg)->out;
    out->name = il_xstrdup(o->name);
    out->ns = il_xstrdup(o->ns);
    out->uid = il_xstrdup(o->uid);
    out->n_init_containers = o->n_init;
    out->n_containers = o->n_ctr;
    out->init_containers = il_xcalloc(o->n_init, sizeof(il_container_status));
    out->containers = il_xcalloc(o->n_ctr, sizeof(il_container_status));
    for (size_t i = 0; i < o->n_init + o->n_ctr; i++) {
        il_container_status *cs =
            i < o->n_init ? &out->init_containers[i] : &out->containers[i - o->n_init];
        cs->name = il_xstrdup(o->names[i]);
        cs->image = il_xstrdup(o->images[i]);
    }
    *((fill_args *)arg)->tunnel = o->tunnel;
}

int rn_podoutline_fill(const char *pod_dir, il_pod_status *out, bool *tunnel)
{
    struct stat st;
    if (!rn_memo_stat(&outlines, pod_dir, &st))
        return -1;   /* unknown, or being deleted */
    fill_args args = {out, tunnel};
    if (rn_memo_use(&outlines, pod_dir, &st, fill, &args))
        return 0;
    /* Read while unlocked: other pods' statuses need not wait for a parse. */
    il_create_request req;
    if (rn_store_read_request(pod_dir, &req, NULL) != 0)
        return -1;
    outline *o = outline_make(&req);
    il_create_request_free(&req);
    fill(&o->head, &args);
    rn_memo_keep(&outlines, pod_dir, &st, &o->head);
    return 0;
}

size_t rn_podoutline_count(void)
{
    return rn_memo_count(&outlines);
}
