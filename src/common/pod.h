/* pod.h -- the part of the Kubernetes v1.Pod that plugins act on.
 *
 * il_pod_parse() validates a pod's JSON and copies out what a backend needs:
 * containers and init containers (command, args, env, workingDir, mounts,
 * resources), volumes, annotations, labels, restartPolicy and the grace
 * period.  Every error names the offending field path
 * ("spec.containers[1].env[0].name: expected a string").  Unknown fields are
 * ignored, as the Kubernetes API server ignores them on read.
 *
 * Ownership: an il_pod owns every string and array in it; il_pod_free()
 * releases them.  `raw` holds a reference to the JSON it was parsed from. */
#ifndef IL_POD_H
#define IL_POD_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct il_kv {
    char *key;
    char *value;
} il_kv;

/* Resource amounts; -1 means "not given".  Extended resources (GPUs,
 * anything with a '/' or not cpu/memory/ephemeral-storage) are kept as
 * name/value pairs with integer values. */
typedef struct il_resource_list {
    int64_t cpu_milli;
    int64_t memory_bytes;
    int64_t ephemeral_bytes;
    il_kv *extended;          /* value is the decimal integer as a string */
    size_t n_extended;
} il_resource_list;

typedef struct il_resources {
    il_resource_list requests;
    il_resource_list limits;
} il_resources;

typedef struct il_env_var {
    char *name;
    char *value;              /* "" when only valueFrom was given */
    bool has_value_from;      /* valueFrom present (the VK resolves these) */
} il_env_var;

typedef struct il_volume_mount {
    char *name;
    char *mount_path;
    char *sub_path;           /* NULL when absent or "" */
    bool read_only;
} il_volume_mount;

typedef struct il_container {
    char *name;
    char *image;
    char *working_dir;        /* NULL when absent */
    char *image_pull_policy;  /* NULL when absent */
    char **command;           /* NULL-terminated; NULL when absent */
    size_t n_command;
    char **args;              /* NULL-terminated; NULL when absent */
    size_t n_args;
    il_env_var *env;
    size_t n_env;
    il_volume_mount *mounts;
    size_t n_mounts;
    il_resources resources;
} il_container;

typedef enum {
    IL_VOL_EMPTYDIR,
    IL_VOL_CONFIGMAP,
    IL_VOL_SECRET,
    IL_VOL_PROJECTED,
    IL_VOL_DOWNWARDAPI,
    IL_VOL_HOSTPATH,
    IL_VOL_OTHER,             /* PVC, NFS, ...: backends decide */
} il_volume_kind;

typedef struct il_key_to_path {
    char *key;
    char *path;
    int mode;                 /* -1 when absent */
} il_key_to_path;

typedef struct il_volume {
    char *name;
    il_volume_kind kind;
    char *source_name;        /* configMap.name, secret.secretName, hostPath.path */
    il_key_to_path *items;    /* configMap/secret items */
    size_t n_items;
    bool optional;
    int default_mode;         /* -1 when absent */
    char *medium;             /* emptyDir medium, NULL when absent */
    int64_t size_limit;       /* emptyDir sizeLimit in bytes, -1 when absent */
} il_volume;

typedef struct il_pod {
    char *name;
    char *ns;                 /* metadata.namespace, "default" when absent */
    char *uid;                /* required */
    il_kv *annotations;
    size_t n_annotations;
    il_kv *labels;
    size_t n_labels;
    il_container *init_containers;
    size_t n_init_containers;
    il_container *containers; /* at least one */
    size_t n_containers;
    il_volume *volumes;
    size_t n_volumes;
    char *restart_policy;     /* "Always" when absent, as Kubernetes defaults it */
    int64_t grace_seconds;    /* terminationGracePeriodSeconds, 30 when absent */
    json_t *raw;              /* reference to the parsed JSON */
} il_pod;

/* Parse and validate.  Returns 0, or -1 with the field path and problem in
 * err (the pod is then zeroed and needs no il_pod_free). */
int il_pod_parse(json_t *json, il_pod *out, char *err, size_t errlen);
/* Only metadata (name, namespace, uid, annotations): what /status and
 * /delete need; spec may be absent. */
int il_pod_parse_meta(json_t *json, il_pod *out, char *err, size_t errlen);
/* What a pod leaves out, as Kubernetes defaults it: name "" (a reference),
 * namespace "default" (also for ""), and for a reference, whose spec is
 * not read, restartPolicy "Always" and a grace of 30 s.  Fills only what
 * is NULL (an empty namespace is freed and replaced); il_pod_parse_meta
 * and a pod built from a scanned reference (il_pod_scan_ref) both end
 * with it, so the two give the same pod. */
void il_pod_ref_defaults(il_pod *pod);
void il_pod_free(il_pod *pod);
/* A metadata.uid il_pod_parse_meta accepts: not empty, not "." or "..",
 * letters, digits, '-', '_' and '.' only (backends name directories after it). */
bool il_pod_uid_ok(const char *uid);

const char *il_pod_annotation(const il_pod *pod, const char *key);
const il_volume *il_pod_volume(const il_pod *pod, const char *name);
/* Containers by name, searching init containers too; NULL if none. */
const il_container *il_pod_container(const il_pod *pod, const char *name);
/* Job id from the "JobID" annotation the virtual kubelet keeps, or NULL. */
const char *il_pod_job_id(const il_pod *pod);

/* The one DNS-label check (namespaces, container and volume names, log
 * requests): ^[a-z0-9]([a-z0-9-]*[a-z0-9])?$, at most 63 bytes. */
bool il_is_dns_label(const char *s);

/* The longest grace period accepted (terminationGracePeriodSeconds is
 * refused beyond it at /create; a deletion's grace is clamped to it), so
 * that grace * 1000 and deadlines in milliseconds never overflow. */
#define IL_GRACE_MAX_SECONDS (365LL * 86400)
/* seconds within [0, IL_GRACE_MAX_SECONDS]. */
int64_t il_grace_clamp(int64_t seconds);

#endif
