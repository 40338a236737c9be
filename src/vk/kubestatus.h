/* kubestatus.h -- an interLink PodStatus as a Kubernetes pod status.
 *
 * The plugin reports the containers it knows about; the pod's spec says
 * which containers exist.  The mapping walks the spec, so a container the
 * plugin has not reported yet is waiting (never "vacuously succeeded"),
 * keeps the plugin's own termination reasons (OOMKilled,
 * DeadlineExceeded, ...), derives the phase with the same rule interlink
 * uses for terminal pods (il_pod_phase), and writes the four standard
 * conditions once each, keeping lastTransitionTime while a condition's
 * status does not change.  Everything here is pure: JSON in, JSON out. */
#ifndef VK_PODSTATUS_H
#define VK_PODSTATUS_H

#include <jansson.h>
#include <stdbool.h>

#include "timeutil.h"
#include "wire.h"

/* The status the pod should have now.  pod is the Kubernetes Pod (spec,
 * and the status it has, for transition and start times); st may be NULL
 * when the plugin does not know the pod yet.  ip is the pod's address
 * (status.podIP, podIPs and hostIP; vk_node_address), NULL for none.
 * New reference. */
json_t *vk_pod_status(const json_t *pod, const il_pod_status *st, const char *ip, il_time now);

/* Whether status (from vk_pod_status) says anything cur (the pod's status
 * as the API server has it) does not.  Fields the API server drops when
 * empty compare equal to absent ones. */
bool vk_pod_status_changed(const json_t *cur, const json_t *status);

/* A strategic-merge patch for pods/status, or NULL when nothing changed.
 * It carries metadata.uid, so it fails (409/422) instead of writing into a
 * pod recreated under the same name. */
json_t *vk_pod_status_patch(const json_t *pod, const il_pod_status *st, const char *ip,
                            il_time now);
/* The same for a pod with an address of its own (pod_ip: its tunnel's, in
 * status.podIP and podIPs; NULL: host_ip there too). */
json_t *vk_pod_status_patch_ips(const json_t *pod, const il_pod_status *st,
                                const char *host_ip, const char *pod_ip, il_time now);

/* The pods/status patch that writes status (taken) into pod: a strategic
 * merge patch with metadata.uid, whose podIPs replace the stored list. */
json_t *vk_pod_status_patch_of(const json_t *pod, json_t *status);

#endif
