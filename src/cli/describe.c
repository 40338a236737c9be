/* describe.c -- `interlinkctl describe pod NAME`: the pod's identity and,
 * per (init) container, its spec (image, command) beside the state the
 * plugin last reported, laid out like kubectl describe. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "pod.h"
#include "timeutil.h"
#include "tunmux.h"
#include "wire.h"

static const char describe_usage[] =
    "Usage: interlinkctl describe pod NAME...\n"
    "\n"
    "Show a pod: uid, job id, phase, ports and tunnel, and each container's image, command\n"
    "and state.\n";

static void print_time(const char *label, il_time t)
{
    char text[IL_RFC3339_MAX];
    if (il_time_is_zero(t))
        return;
    il_time_format(t, false, text);
    printf("      %-11s %s\n", label, text);
}

static void print_state(const il_container_status *cs)
{
    static const char *const names[] = {"Waiting", "Running", "Terminated"};
    printf("    State:        %s\n", names[cs->state]);
    if (cs->reason && *cs->reason)
        printf("      Reason:     %s\n", cs->reason);
    if (cs->message && *cs->message)
        printf("      Message:    %s\n", cs->message);
    if (cs->state == IL_STATE_TERMINATED) {
        printf("      Exit Code:  %d\n", cs->exit_code);
        if (cs->signal)
            printf("      Signal:     %d\n", cs->signal);
    }
    if (cs->state != IL_STATE_WAITING)
        print_time("Started:", cs->started_at);
    if (cs->state == IL_STATE_TERMINATED)
        print_time("Finished:", cs->finished_at);
    printf("    Ready:        %s\n", cs->ready ? "True" : "False");
    printf("    Restart Count: %d\n", cs->restart_count);
}

/* One word per line; a multi-line word (a script) keeps its indent. */
static void print_words(const char *label, char *const *words, size_t n)
{
    if (n == 0)
        return;
    printf("    %s\n", label);
    for (size_t i = 0; i < n; i++) {
        const char *line = words[i];
        do {
            size_t len = strcspn(line, "\n");
            printf("      %.*s\n", (int)len, line);
            line += len + (line[len] == '\n');
        } while (*line);
    }
}

static const il_container_status *find_status(const il_container_status *list, size_t n,
                                              const char *name) {
    for (size_t i = 0; i < n; i++)
        if (list[i].name && strcmp(list[i].name, name) == 0)
            return &list[i];
    return NULL;
}

static void print_containers(const char *title, const il_container *specs, size_t n,
                             const il_container_status *statuses, size_t n_statuses) {
    if (n == 0)
        return;
    printf("%s\n", title);
    for (size_t i = 0; i < n; i++) {
        const il_container *c = &specs[i];
        printf("  %s:\n", c->name);
        printf("    Image:        %s\n", c->image ? c->image : "<none>");
        print_words("Command:", c->command, c->n_command);
        print_words("Args:", c->args, c->n_args);
        const il_container_status *cs = find_status(statuses, n_statuses, c->name);
        if (cs)
            print_state(cs);
        else
            printf("    State:        Waiting (no status from the plugin yet)\n");
    }
}

static void print_header(json_t *entry, const il_pod *pod)
{
    char status[128], age[32];
    cli_pod_status_text(entry, status, sizeof status);
    cli_age_text(json_object_get(entry, "createdAt"), age, sizeof age);
    printf("Name:           %s\n", pod->name);
    printf("Namespace:      %s\n", pod->ns);
    printf("UID:            %s\n", pod->uid);
    printf("Job ID:         %s\n", json_string_value(json_object_get(entry, "JID")));
    printf("Phase:          %s\n", json_string_value(json_object_get(entry, "phase")));
    printf("Status:         %s\n", status);
    printf("Age:            %s\n", age);
    printf("Restart Policy: %s\n", pod->restart_policy);
    for (size_t i = 0; i < pod->n_labels; i++)
        printf("%-15s %s=%s\n", i ? "" : "Labels:", pod->labels[i].key, pod->labels[i].value);
}

/* The pod's TCP containerPorts and, when it has a tunnel, the state its
 * node's tunnel client last wrote (tunnel.json, through the status). */
static void print_network(json_t *pod_json, const json_t *tunnel)
{
    uint16_t ports[TUN_MAX_PORTS];
    size_t n = tun_pod_ports(pod_json, ports, TUN_MAX_PORTS);
    if (n == 0)
        return;
    printf("Ports:         ");
    for (size_t i = 0; i < n; i++)
        printf(" %u/TCP%s", ports[i], i + 1 < n ? "," : "\n");
    const char *state = json_string_value(json_object_get(tunnel, "state"));
    if (!state) {
        printf("Tunnel:         none\n");
        return;
    }
    const char *message = json_string_value(json_object_get(tunnel, "message"));
    printf("Tunnel:         %s since %s (gateway %s, %lld connections)\n", state,
           json_string_value(json_object_get(tunnel, "since")),
           json_string_value(json_object_get(tunnel, "gateway")),
           (long long)json_integer_value(json_object_get(tunnel, "connects")));
    if (message && *message)
        printf("  Message:      %s\n", message);
}

static int describe_one(cli_ctx *ctx, const char *name)
{
    json_t *entry = cli_get_pod(ctx, name);
    if (!entry)
        return 1;
    il_pod pod;
    char err[512];
    if (il_pod_parse(json_object_get(entry, "pod"), &pod, err, sizeof err) != 0) {
        cli_err("describe pod/%s: the stored pod does not parse: %s", name, err);
        json_decref(entry);
        return 1;
    }
    il_pod_status st;
    json_t *status_json = json_object_get(entry, "status");
    memset(&st, 0, sizeof st);
    if (json_is_object(status_json) &&
        il_pod_status_from_json(status_json, &st, err, sizeof err) != 0)
        cli_warn("pod/%s: the plugin's status does not parse: %s", name, err);
    print_header(entry, &pod);
    print_network(json_object_get(entry, "pod"), st.tunnel);
    print_containers("Init Containers:", pod.init_containers, pod.n_init_containers,
                     st.init_containers, st.n_init_containers);
    print_containers("Containers:", pod.containers, pod.n_containers, st.containers,
                     st.n_containers);
    il_pod_status_free(&st);
    il_pod_free(&pod);
    json_decref(entry);
    return 0;
}

int cmd_describe(cli_ctx *ctx, int argc, char **argv)
{
    static const struct option longopts[] = {CLI_GLOBAL_LONGOPTS, {NULL, 0, NULL, 0}};
    int prc = cli_parse(ctx, argc, argv, CLI_GLOBAL_SHORTOPTS, longopts, cli_no_opts, NULL,
                        describe_usage);
    if (prc != CLI_PARSE_OK)
        return CLI_PARSE_EXIT(prc);
    if (argc - optind < 2 ||
        (strcmp(argv[optind], "pod") != 0 && strcmp(argv[optind], "pods") != 0)) {
        cli_err("describe: usage: interlinkctl describe pod NAME");
        return 1;
    }
    int rc = 0;
    for (int i = optind + 1; i < argc; i++) {
        if (i > optind + 1)
            putchar('\n');
        rc |= describe_one(ctx, argv[i]);
    }
    return rc;
}
