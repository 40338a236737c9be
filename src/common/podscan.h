/* podscan.h -- what a status request needs of a pod, read from its text.
 *
 * interlink's /status takes whole pods but needs four strings of each.
 * il_pod_scan_ref reads them with il_json_scan (jsonscan.h) instead of a
 * jansson tree, and only when it is sure the pod passes json_loadb and
 * il_pod_parse_meta (pod.h) as it stands: otherwise the caller parses the
 * pod as before, which gives the same pod or the same error. */
#ifndef IL_PODSCAN_H
#define IL_PODSCAN_H

#include <jansson.h>
#include <stddef.h>

typedef struct il_pod_ref {
    char *uid;                /* metadata.uid */
    char *ns, *name;          /* metadata.namespace and .name as given; NULL: absent */
    char *restart_policy;     /* spec.restartPolicy as given; NULL: absent or no string */
} il_pod_ref;

/* 0 with out filled (free with il_pod_ref_free) when text[0..len) is a pod
 * that json_loadb and il_pod_parse_meta accept; -1 when it is not, or the
 * scan cannot tell (out zeroed). */
int il_pod_scan_ref(const char *text, size_t len, il_pod_ref *out);
/* The same from a parsed pod that il_pod_parse_meta accepted. */
void il_pod_ref_from_json(const json_t *pod, il_pod_ref *out);
void il_pod_ref_free(il_pod_ref *ref);

#endif
