/* podexec.c -- kubectl exec's way into a running container of a pod.
 *
 * The same for every backend that runs its pods with this library, on the
 * plugin's host (interlink-local) or on a compute node (interlink-slurm's
 * node side): from the pod directory's request, frozen runtime and the
 * container's state file, the command that enters the container as exec
 * probes do (rn_check_exec_command). */
#include "runner.h"

#include <stdlib.h>
#include <string.h>

rn_exec_result rn_exec_prepare(const char *pod_dir, const char *name, char *const argv[],
                               launch_spec *out, il_buf *err)
{
    il_create_request cr;
    runtime_spec rt;
    memset(out, 0, sizeof(*out));
    if (rn_store_read_request(pod_dir, &cr, err) != 0)
        return RN_EXEC_IO;
    if (rn_runtime_spec_read(pod_dir, &rt, err) != 0) {
        il_create_request_free(&cr);
        return RN_EXEC_IO;
    }
    const il_container *c = il_pod_container(&cr.pod, name);
    char *ctr_dir = c ? rn_store_ctr_dir(pod_dir, c->name) : NULL;
    il_container_status st = {0};
    pid_t pgid = 0;
    rn_exec_result rc = RN_EXEC_NOT_RUNNING;
    if (!c) {
        il_buf_printf(err, "container %s is not valid for pod %s", name, cr.pod.name);
        rc = RN_EXEC_UNKNOWN;
    } else if (rn_state_read(ctr_dir, &st, &pgid) != 0 || st.state != IL_STATE_RUNNING ||
               pgid <= 0) {
        il_buf_printf(err, "container %s is not running", c->name);
    } else {
        int r = rn_check_exec_command(&rt, &cr.pod, c, pgid, argv, out, err);
        if (r == 1)
            il_buf_printf(err, "container %s has no process to enter yet", c->name);
        rc = r == 0 ? RN_EXEC_OK : r == 1 ? RN_EXEC_NOT_RUNNING : RN_EXEC_IO;
    }
    il_container_status_free(&st);
    free(ctr_dir);
    rn_runtime_spec_free(&rt);
    il_create_request_free(&cr);
    return rc;
}
