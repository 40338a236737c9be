/* tunnelgw.h -- the VK's side of pod tunnels: interlink-gateway's client.
 *
 * A pod that declares TCP containerPorts is registered with the gateway
 * before its create (the gateway gives it an address and a credential);
 * the create request carries {"url", "token", "ca"} as "tunnel" for the
 * node's tunnel client; the pod's status.podIP is the gateway's address
 * for it; deleting the pod unregisters it, which closes its tunnel.
 * Without Gateway.URL configured every function is a no-op. */
#ifndef VK_TUNNELGW_H
#define VK_TUNNELGW_H

#include <jansson.h>
#include <stdbool.h>

#include "kube.h"
#include "vkconfig.h"

typedef struct vk_tunnelgw vk_tunnelgw;

/* NULL with err empty when no gateway is configured, NULL with err set
 * when the configuration is unusable. */
vk_tunnelgw *vk_tunnelgw_new(const vk_config *cfg, char *err, size_t errlen);
void vk_tunnelgw_free(vk_tunnelgw *g);

/* Register pod if it has ports: *tunnel gets the create request's "tunnel"
 * object (new reference), or NULL for a pod without ports.  Returns 0, or
 * -1 with why set (the create must wait). */
int vk_tunnelgw_register(vk_tunnelgw *g, const json_t *pod, json_t **tunnel, char *why,
                         size_t len);
/* Unregister; 0 also when the gateway did not know the pod, -1 with why. */
int vk_tunnelgw_unregister(vk_tunnelgw *g, const json_t *pod, char *why, size_t len);
/* The pod's address at the gateway (caller frees), or NULL: no gateway, no
 * ports, or not known yet (after a VK restart it is asked for again, at
 * most every 30 s per pod while the gateway cannot answer). */
char *vk_tunnelgw_pod_ip(vk_tunnelgw *g, const json_t *pod);
/* The node's view of the tunnel from a PodStatus's "tunnel": an Event on
 * the pod when its state changed since the last call. */
void vk_tunnelgw_note(vk_tunnelgw *g, vk_kube *kube, const char *node, const json_t *pod,
                      const json_t *tunnel);

#endif
