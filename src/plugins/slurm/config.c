/* config.c -- interlink-slurm's configuration: upstream SlurmConfig.yaml
 * keys, declared once here (the table also prints --help-config and is
 * what docs/slurm.md documents; the runtime keys are every batch plugin's,
 * batch.h), and what the pod's annotations add to the runtime.
 *
 * Upstream keys we do not implement (Tsocks*) are reported
 * by the loader as unknown keys: a warning, never fatal, so upstream files
 * load unchanged.  Structured keys (Flavors, Taints) are checked here at
 * load, so a mistake stops the plugin at start-up rather than failing pods
 * later; so is a DefaultUID we cannot honour. */
#include "slurm.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

#define CFG(member) offsetof(slurm_config, member)

const il_cfg_field slurm_config_fields[] = {
    IL_PLUGIN_BASE_FIELDS(slurm_config, base, "/var/lib/interlink-slurm",
                          "pod directories, job scripts, states and logs (on the shared "
                          "filesystem when SharedFS)"),
    {"SbatchPath", "SBATCHPATH", IL_CFG_STRING, CFG(sbatch_path), "sbatch", "sbatch executable"},
    {"SqueuePath", "SQUEUEPATH", IL_CFG_STRING, CFG(squeue_path), "squeue", "squeue executable"},
    {"ScancelPath", "SCANCELPATH", IL_CFG_STRING, CFG(scancel_path), "scancel",
     "scancel executable"},
    {"SinfoPath", "SINFOPATH", IL_CFG_STRING, CFG(sinfo_path), "sinfo", "sinfo executable"},
    {"SrunPath", "SRUNPATH", IL_CFG_STRING, CFG(srun_path), "srun",
     "srun executable: kubectl exec, attach -i and port-forward run a step in the pod's job"},
    {"SacctPath", "SACCTPATH", IL_CFG_STRING, CFG(sacct_path), NULL,
     "sacct executable, asked (once per /status, only then) how jobs that left squeue ended; "
     "empty: not used; not asked again once it reports accounting storage disabled"},
    {"JobCompPath", NULL, IL_CFG_STRING, CFG(jobcomp_path), NULL,
     "SLURM's jobcomp/filetxt log (JobCompLoc), read first for jobs that left squeue; "
     "SacctPath is asked about the ones it does not know"},
    BATCH_RUNTIME_FIELDS(slurm_config, rt, "apptainer"),
    {"Partition", NULL, IL_CFG_STRING, CFG(partition), NULL,
     "default --partition (and the partition ping reports); empty: SLURM's default"},
    {"Account", NULL, IL_CFG_STRING, CFG(account), NULL, "default --account"},
    {"TimeLimit", NULL, IL_CFG_STRING, CFG(time_limit), NULL, "default --time (SLURM syntax)"},
    {"QoS", NULL, IL_CFG_STRING, CFG(qos), NULL, "default --qos"},
    {"SharedFS", "SHARED_FS", IL_CFG_BOOL, CFG(shared_fs), "true",
     "DataRootFolder is visible on the nodes; false: the job script carries the pod's files"},
    {"NodeLocalDir", NULL, IL_CFG_STRING, CFG(node_local_dir), NULL,
     "SharedFS false: where the pod is unpacked on the node (default $SLURM_TMPDIR, $TMPDIR, "
     "/tmp)"},
    {"AllowedUnsafeFlags", NULL, IL_CFG_STRLIST, CFG(allowed_unsafe_flags), NULL,
     "sbatch options the flags annotation may use beyond the pod allow-list "
     "(docs/slurm-flags.md): bbf, chdir, uid, ..."},
    {"AllowPreExec", NULL, IL_CFG_BOOL, CFG(allow_pre_exec), "false",
     "run the slurm-job.vk.io/pre-exec annotation (shell) in the job script"},
    {"CommandPrefix", NULL, IL_CFG_STRING, CFG(command_prefix), NULL,
     "shell run by every job script before the pod (admin-trusted, e.g. module loads)"},
    {"GresResources", NULL, IL_CFG_STRLIST, CFG(gres_resources), "nvidia.com/gpu=gpu",
     "extended resources sent as --gres: \"k8s-name=gres-name\" (list)"},
    {"CommandTimeoutSeconds", NULL, IL_CFG_INT, CFG(command_timeout_s), "60",
     "deadline of one sbatch/squeue/scancel/sinfo call"},
    {"Flavors", NULL, IL_CFG_JSON, CFG(flavors_json), NULL,
     "list of {Name, Description, CPUDefault, MemoryDefault, UID, SlurmFlags}: sbatch flags "
     "and resource defaults picked per pod (slurm-job.vk.io/flavor, GPU count, DefaultFlavor)"},
    {"DefaultFlavor", NULL, IL_CFG_STRING, CFG(default_flavor), NULL,
     "the flavor of pods that name none and ask for no GPU"},
    {"DefaultUID", NULL, IL_CFG_STRING, CFG(default_uid), NULL,
     "refused unless it is the plugin's own uid: every job runs as the plugin's user"},
    {"Taints", NULL, IL_CFG_JSON, CFG(taints_json), NULL,
     "list of {Key, Value, Effect} added to every ping's taints (a key set here wins)"},
    {"ResourceScriptPath", NULL, IL_CFG_STRING, CFG(resource_script_path), NULL,
     "executable whose stdout (a PingResponse JSON) answers ping instead of sinfo"},
    {"ExportPodData", NULL, IL_CFG_BOOL, CFG(export_pod_data), "true",
     "false: configMap, secret, projected and downwardAPI volumes are left out of the job"},
    {"AllowRuntimeOptions", NULL, IL_CFG_BOOL, CFG(allow_runtime_options), "true",
     "accept the slurm-job.vk.io/{singularity,enroot}-{options,mounts} annotations"},
    {"MpiexecPath", NULL, IL_CFG_STRING, CFG(mpiexec_path), "mpiexec",
     "MPI launcher of the slurm-job.vk.io/mpi-flags annotation"},
    {"AllowedMpiFlags", NULL, IL_CFG_STRLIST, CFG(allowed_mpi_flags), NULL,
     "mpiexec options the mpi-flags annotation may use besides the placement, binding, "
     "environment and output ones (list of names, e.g. --mca); they run outside the container"},
    BATCH_IDENTITY_FIELDS(slurm_config, ident, "{Account, QoS, Partition, UnixUser}"),
    {"SubmitMode", NULL, IL_CFG_STRING, CFG(submit_mode), "sbatch",
     "sbatch (one process per pod) or rest (POST to slurmrestd, SlurmrestdURL)"},
    {"SlurmrestdURL", NULL, IL_CFG_STRING, CFG(rest_url), "http://127.0.0.1:6820",
     "slurmrestd, http://host:port or unix:///path (SubmitMode rest)"},
    {"SlurmrestdTokenFile", NULL, IL_CFG_STRING, CFG(rest_token_file), NULL,
     "file holding the JWT for slurmrestd (re-read when it changes); empty: `scontrol "
     "token`, renewed at half its lifespan"},
    {"SlurmrestdUser", NULL, IL_CFG_STRING, CFG(rest_user), NULL,
     "X-SLURM-USER-NAME (default: the token's user)"},
    {"SlurmrestdTokenLifespan", NULL, IL_CFG_INT, CFG(rest_token_lifespan_s), "3600",
     "seconds a `scontrol token` lives (no SlurmrestdTokenFile)"},
    {"SlurmrestdFallback", NULL, IL_CFG_STRING, CFG(rest_fallback), "sbatch",
     "a job with an option the REST job description cannot carry: sbatch, or refuse (400)"},
    {"ScontrolPath", "SCONTROLPATH", IL_CFG_STRING, CFG(scontrol_path), "scontrol",
     "scontrol executable (tokens for slurmrestd)"},
};
const size_t slurm_config_nfields = sizeof(slurm_config_fields) / sizeof(slurm_config_fields[0]);

int slurm_config_check(void *vcfg, il_buf *err)
{
    slurm_config *cfg = vcfg;
    if (batch_runtime_check(&cfg->rt, err) != 0)
        return -1;
    for (char **f = cfg->allowed_unsafe_flags; f && *f; f++) {
        if (!flags_is_option(*f)) {   /* a typo would silently widen nothing */
            il_buf_printf(err, "AllowedUnsafeFlags: \"%s\" is not the full name of an sbatch "
                          "option", *f);
            return -1;
        }
    }
    if (uid_config_check(cfg->default_uid, "DefaultUID", err) != 0 ||
        flavors_load(cfg->flavors_json, cfg->default_flavor, &cfg->flavors, &cfg->n_flavors,
                     err) != 0)
        return -1;
    if (identity_config_load(&cfg->ident, err) != 0)
        return -1;
    if (rest_config_check(cfg, err) != 0)
        return -1;
    cfg->taints = ping_taints_load(cfg->taints_json, err);
    return cfg->taints ? 0 : -1;
}

int slurm_config_load(const char *path, slurm_config *cfg, il_buf *err)
{
    memset(cfg, 0, sizeof(*cfg));
    char msg[512];
    if (il_config_load(path, slurm_config_fields, slurm_config_nfields, cfg, msg,
                       sizeof(msg)) != 0) {
        il_buf_puts(err, msg);
        return -1;
    }
    if (path)
        il_buf_printf(err, "%s: ", path);
    size_t prefix = err->len;
    int rc = slurm_config_check(cfg, err);
    if (rc == 0)
        err->len = prefix - (path ? strlen(path) + 2 : 0);   /* no message: drop the prefix */
    return rc;
}

void slurm_config_release(void *vcfg)
{
    slurm_config *cfg = vcfg;
    flavors_free(cfg->flavors, cfg->n_flavors);
    cfg->flavors = NULL;
    cfg->n_flavors = 0;
    json_decref(cfg->taints);
    cfg->taints = NULL;
    identity_config_release(&cfg->ident);
}

void slurm_config_free(slurm_config *cfg)
{
    slurm_config_release(cfg);
    il_config_free(slurm_config_fields, slurm_config_nfields, cfg);
}

/* ---- what the pod's annotations ask of the runtime ------------------------ */

/* Each annotation's words, split shell-style without expansion, appended
 * to out as separate argv items (never re-parsed by a shell). */
static int annotation_words(const il_pod *pod, const char *const *names, strvec *out,
                            il_buf *err)
{
    for (const char *const *name = names; *name; name++) {
        const char *text = il_pod_annotation(pod, *name);
        if (text && flags_tokenize_what(text, *name, out, err) != 0)
            return -1;
    }
    return 0;
}

/* singularity-/enroot- mounts then options, after the admin's default
 * options (upstream's order); annotations of another runtime are ignored,
 * as upstream ignores them. */
static int runtime_option_annotations(const slurm_config *cfg, const il_pod *pod,
                                      runtime_spec *rt, il_buf *err)
{
    static const char *const singularity[] = {"slurm-job.vk.io/singularity-mounts",
                                              "slurm-job.vk.io/singularity-options", NULL};
    static const char *const enroot[] = {"slurm-job.vk.io/enroot-mounts",
                                         "slurm-job.vk.io/enroot-options", NULL};
    bool apptainer = rt->kind == RUNTIME_APPTAINER || rt->kind == RUNTIME_SINGULARITY;
    const char *const *mine = apptainer ? singularity
                              : rt->kind == RUNTIME_ENROOT ? enroot : NULL;
    if (!mine)
        return 0;
    strvec words = {0};
    int rc = annotation_words(pod, mine, &words, err);
    if (rc == 0 && words.n > 0 && !cfg->allow_runtime_options) {
        il_buf_printf(err, "%s and %s are refused here (AllowRuntimeOptions is false)", mine[0],
                      mine[1]);
        rc = -1;
    }
    if (rc == 0)
        rn_strvec_push_all(&rt->args, words.v);
    rn_strvec_free(&words);
    return rc;
}

int slurm_runtime_annotations(const slurm_config *cfg, const il_pod *pod, runtime_spec *rt,
                              il_buf *err)
{
    if (runtime_option_annotations(cfg, pod, rt, err) != 0)
        return -1;
    const char *mpi_flags = il_pod_annotation(pod, "slurm-job.vk.io/mpi-flags");
    if (!mpi_flags)
        return 0;
    if (rt->kind == RUNTIME_PODMAN) {
        il_buf_printf(err, "slurm-job.vk.io/mpi-flags: not with ContainerRuntime podman (every "
                      "rank would start the same named container)");
        return -1;
    }
    strvec words = {0};
    int rc = flags_tokenize_what(mpi_flags, "slurm-job.vk.io/mpi-flags", &words, err);
    if (rc == 0)
        rc = mpi_flags_check(words.v, cfg->allowed_mpi_flags, err);
    if (rc == 0) {
        rn_strvec_push(&rt->mpi, cfg->mpiexec_path);
        rn_strvec_push_all(&rt->mpi, words.v);
    }
    rn_strvec_free(&words);
    return rc;
}