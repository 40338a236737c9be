/* tenants.h -- which namespaces a caller may act on (see tenants.c). */
#ifndef IL_API_TENANTS_H
#define IL_API_TENANTS_H

#include <stdbool.h>
#include <stddef.h>

#include "auth.h"
#include "httpd.h"

typedef struct tenants tenants;
struct api;

/* Load TenantsFile; NULL with err set when it cannot be read or is not
 * the documented shape.  Later changes to the file are picked up. */
tenants *tenants_load(const char *path, char *err, size_t errlen);
void tenants_free(tenants *t);
/* True when who may act on namespace ns (a user or one of its groups
 * lists ns or "*"; a NULL ns, a pod nobody knows, only for "*"). */
bool tenants_allows(tenants *t, const api_caller *who, const char *ns);

/* The checks the endpoints make.  Everything is allowed when no
 * TenantsFile is configured (one trust domain) or nobody authenticated
 * (no authentication configured). */
bool access_may(struct api *a, il_request *req, const char *ns);
/* Like access_may, but answers 403 naming the caller and the namespace. */
bool access_check_ns(struct api *a, il_request *req, const char *ns);
/* The pod's namespace is the stored one when its UID is known (a body
 * cannot move a pod to another tenant), else body_ns.  Answers 403 (or
 * 500 on a database error) and returns false when not allowed. */
bool access_check_pod(struct api *a, il_request *req, const char *uid, const char *body_ns);

#endif
