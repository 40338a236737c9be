/* script.c -- the generated batch script.
 *
 * The script only brings the pod to the node and hands over to this
 * binary's `--run-pod DIR` (the shared supervisor); pod data never becomes
 * shell code: every value is single-quoted by sh_quote() (batch.h), the archive of a
 * non-shared pod is base64 (an alphabet that cannot end a quoted heredoc),
 * and sbatch options are passed as sbatch's argv, not as #SBATCH lines (so
 * no value is ever re-parsed by sbatch's directive reader).  Only admin
 * configuration (CommandPrefix) and an explicitly allowed pre-exec
 * annotation are shell by design. */
#include "slurm.h"

#include <string.h>

#define ARCHIVE_DELIMITER "IL_POD_ARCHIVE"

static void shared_body(il_buf *out, const job_script_opts *o)
{
    il_buf_puts(out, "pod_dir=");
    sh_quote(out, o->pod_dir);
    il_buf_puts(out, "\n");
}

/* The pod directory travels inside the script and is unpacked on the node;
 * the runner removes it when the pod ends (--remove-after). */
static void embedded_body(il_buf *out, const job_script_opts *o)
{
    il_buf_puts(out, "pod_dir=");
    if (o->node_local_dir && o->node_local_dir[0])
        sh_quote(out, o->node_local_dir);
    else
        il_buf_puts(out, "\"${SLURM_TMPDIR:-${TMPDIR:-/tmp}}\"");
    il_buf_puts(out, "/");
    sh_quote(out, o->pod_uid);
    il_buf_puts(out, "\nmkdir -p -- \"$pod_dir\"\n"
                     "base64 -d <<'" ARCHIVE_DELIMITER "' | tar -xzf - -C \"$pod_dir\"\n");
    size_t len = strlen(o->archive_b64);
    for (size_t i = 0; i < len; i += 76) {
        il_buf_append(out, o->archive_b64 + i, len - i < 76 ? len - i : 76);
        il_buf_puts(out, "\n");
    }
    il_buf_puts(out, ARCHIVE_DELIMITER "\n");
}

char *job_script(const job_script_opts *o)
{
    il_buf out = IL_BUF_INIT;
    il_buf_printf(&out, "#!%s\n", o->bash_path);
    il_buf_puts(&out, "# interlink-slurm: pod ");
    il_buf_puts(&out, o->pod_uid);   /* a validated UUID: safe in a comment */
    il_buf_puts(&out, "\n");
    /* sbatch's argv for debugging, as the job was submitted.  A comment
     * line cannot end early: JSON escapes every control character, so a
     * newline in a value stays the two bytes \n. */
    if (o->sbatch_json && !strpbrk(o->sbatch_json, "\r\n"))
        il_buf_printf(&out, "# sbatch argv: %s\n", o->sbatch_json);
    il_buf_puts(&out, "set -e\n");
    if (o->archive_b64)
        embedded_body(&out, o);
    else
        shared_body(&out, o);
    if (o->command_prefix && o->command_prefix[0])
        il_buf_printf(&out, "%s\n", o->command_prefix);
    if (o->pre_exec)
        il_buf_printf(&out, "%s\n", o->pre_exec);
    il_buf_puts(&out, "exec ");
    sh_quote(&out, o->runner_path);
    il_buf_puts(&out, " --run-pod \"$pod_dir\"");
    if (o->archive_b64)
        il_buf_puts(&out, " --remove-after");
    il_buf_puts(&out, "\n");
    return il_buf_steal(&out);
}
