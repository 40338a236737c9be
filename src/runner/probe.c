/* probe.c -- a container's probes and lifecycle hooks: parsing and the
 * probe worker's counting rules.
 *
 * The pod model (pod.h) does not carry probes, so they are read here from
 * the pod's JSON (il_pod.raw), with the same path-aware errors.  What the
 * API server would refuse is refused (two handler types, a liveness
 * successThreshold other than 1, a named port the container does not
 * have); what it would default is defaulted (period 10 s, timeout 1 s,
 * thresholds 1 and 3).  A handler this runner cannot run (grpc) is an
 * error too: a probe that silently never runs would make readiness lie.
 *
 * The scheduler half (probe_sched_*) is the kubelet's worker without the
 * clock or the I/O, so the supervisor and the unit tests share it. */
#include "runner.h"

#include <stdlib.h>
#include <string.h>

#include "jsonutil.h"

#define ERRLEN 512

static const char *const kind_keys[PROBE_KINDS] = {
    [PROBE_STARTUP] = "startupProbe", [PROBE_READINESS] = "readinessProbe",
    [PROBE_LIVENESS] = "livenessProbe"};

const char *rn_probe_kind_name(probe_kind kind)
{
    static const char *const names[PROBE_KINDS] = {"Startup", "Readiness", "Liveness"};
    return (unsigned)kind < PROBE_KINDS ? names[kind] : "?";
}

/* ---- parsing ----------------------------------------------------------- */

/* The container's JSON object and its path ("spec.containers[2]"). */
static json_t *container_json(const il_pod *pod, const char *name, char path[IL_JPATH_MAX])
{
    json_t *spec = il_jget(pod->raw, "spec");
    static const char *const lists[] = {"containers", "initContainers"};
    for (size_t l = 0; l < 2; l++) {
        size_t i;
        json_t *c;
        json_array_foreach(il_jget(spec, lists[l]), i, c) {
            const char *cname = json_string_value(il_jget(c, "name"));
            if (cname && name && strcmp(cname, name) == 0) {
                char list_path[IL_JPATH_MAX];
                il_jpath_key(list_path, "spec", lists[l]);
                il_jpath_idx(path, list_path, i);
                return c;
            }
        }
    }
    return NULL;
}

/* A port: a number 1..65535, or the name of one of the container's ports. */
static int parse_port(json_t *v, const char *path, json_t *ctr, int *out, char *err)
{
    if (json_is_integer(v)) {
        json_int_t n = json_integer_value(v);
        if (n < 1 || n > 65535)
            return il_jfail(err, ERRLEN, path, "port %lld out of range 1-65535", (long long)n);
        *out = (int)n;
        return 0;
    }
    if (!json_is_string(v))
        return il_jfail(err, ERRLEN, path, v ? "expected a port number or name" : "required");
    const char *name = json_string_value(v);
    size_t i;
    json_t *p;
    json_array_foreach(il_jget(ctr, "ports"), i, p) {
        const char *pname = json_string_value(il_jget(p, "name"));
        json_t *num = il_jget(p, "containerPort");
        if (pname && strcmp(pname, name) == 0 && json_is_integer(num) &&
            json_integer_value(num) >= 1 && json_integer_value(num) <= 65535) {
            *out = (int)json_integer_value(num);
            return 0;
        }
    }
    return il_jfail(err, ERRLEN, path, "\"%s\" is not the name of a port of the container", name);
}

/* Bytes that would split a request line or a header: CTLs and, where
 * asked, spaces and ':'. */
static bool clean_text(const char *s, bool allow_space, bool allow_colon)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p < 0x20 || *p == 0x7f || (!allow_space && *p == ' ') || (!allow_colon && *p == ':'))
            return false;
    return true;
}

/* host: a DNS name or an IP address, nothing a URL could be bent with. */
static bool valid_host(const char *h)
{
    if (!*h || strlen(h) > 253)
        return false;
    for (const char *p = h; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '.' || *p == '-' || *p == ':'))
            return false;
    return true;
}

static int parse_host(json_t *obj, const char *path, probe_handler *h, char *err)
{
    const char *host;
    if (il_jstring(obj, path, "host", &host, err, ERRLEN) < 0)
        return -1;
    if (host && *host && !valid_host(host)) {
        char hpath[IL_JPATH_MAX];
        il_jpath_key(hpath, path, "host");
        return il_jfail(err, ERRLEN, hpath, "not a host name or IP address");
    }
    h->host = host && *host ? il_xstrdup(host) : NULL;
    return 0;
}

static int parse_exec(json_t *obj, const char *path, probe_handler *h, char *err)
{
    json_t *cmd;
    char cpath[IL_JPATH_MAX];
    il_jpath_key(cpath, path, "command");
    if (il_jarray(obj, path, "command", &cmd, err, ERRLEN) < 0)
        return -1;
    if (!cmd || json_array_size(cmd) == 0)
        return il_jfail(err, ERRLEN, cpath, "required");
    if (rn_strvec_from_json(cmd, &h->command) != 0)
        return il_jfail(err, ERRLEN, cpath, "expected an array of strings");
    for (size_t i = 0; i < h->command.n; i++)
        if (strlen(h->command.v[i]) != json_string_length(json_array_get(cmd, i)))
            return il_jfail(err, ERRLEN, cpath, "NUL byte in an argument");
    h->kind = HANDLER_EXEC;
    return 0;
}

static int parse_headers(json_t *obj, const char *path, probe_handler *h, char *err)
{
    json_t *list;
    if (il_jarray(obj, path, "httpHeaders", &list, err, ERRLEN) < 0)
        return -1;
    char lpath[IL_JPATH_MAX], epath[IL_JPATH_MAX];
    il_jpath_key(lpath, path, "httpHeaders");
    size_t i;
    json_t *e;
    json_array_foreach(list, i, e) {
        il_jpath_idx(epath, lpath, i);
        const char *name, *value;
        if (il_jstring_req(e, epath, "name", &name, err, ERRLEN) < 0 ||
            il_jstring(e, epath, "value", &value, err, ERRLEN) < 0)
            return -1;
        if (!clean_text(name, false, false) || (value && !clean_text(value, true, true)))
            return il_jfail(err, ERRLEN, epath, "invalid header name or value");
        rn_strvec_pushf(&h->headers, "%s: %s", name, value ? value : "");
    }
    return 0;
}

static int parse_http(json_t *obj, const char *path, json_t *ctr, probe_handler *h, char *err)
{
    const char *p, *scheme;
    char ppath[IL_JPATH_MAX];
    il_jpath_key(ppath, path, "port");
    if (il_jstring(obj, path, "path", &p, err, ERRLEN) < 0 ||
        il_jstring(obj, path, "scheme", &scheme, err, ERRLEN) < 0 ||
        parse_port(il_jget(obj, "port"), ppath, ctr, &h->port, err) < 0 ||
        parse_host(obj, path, h, err) < 0 || parse_headers(obj, path, h, err) < 0)
        return -1;
    if (scheme && strcmp(scheme, "HTTP") != 0 && strcmp(scheme, "HTTPS") != 0) {
        il_jpath_key(ppath, path, "scheme");
        return il_jfail(err, ERRLEN, ppath, "must be HTTP or HTTPS, not \"%s\"", scheme);
    }
    if (p && !clean_text(p, false, true)) {
        il_jpath_key(ppath, path, "path");
        return il_jfail(err, ERRLEN, ppath, "spaces or control characters in the path");
    }
    h->https = scheme && strcmp(scheme, "HTTPS") == 0;
    /* The kubelet adds the leading slash too. */
    h->path = il_xasprintf("%s%s", p && p[0] == '/' ? "" : "/", p ? p : "");
    h->kind = HANDLER_HTTP;
    return 0;
}

static int parse_tcp(json_t *obj, const char *path, json_t *ctr, probe_handler *h, char *err)
{
    char ppath[IL_JPATH_MAX];
    il_jpath_key(ppath, path, "port");
    if (parse_port(il_jget(obj, "port"), ppath, ctr, &h->port, err) < 0 ||
        parse_host(obj, path, h, err) < 0)
        return -1;
    h->kind = HANDLER_TCP;
    return 0;
}

static int parse_sleep(json_t *obj, const char *path, probe_handler *h, char *err)
{
    char spath[IL_JPATH_MAX];
    il_jpath_key(spath, path, "seconds");
    if (il_jint(obj, path, "seconds", -1, &h->sleep_seconds, err, ERRLEN) < 0)
        return -1;
    if (h->sleep_seconds < 0)
        return il_jfail(err, ERRLEN, spath, "required, at least 0");
    h->kind = HANDLER_SLEEP;
    return 0;
}

static void handler_free(probe_handler *h)
{
    rn_strvec_free(&h->command);
    rn_strvec_free(&h->headers);
    free(h->host);
    free(h->path);
    memset(h, 0, sizeof(*h));
}

/* Exactly one of exec / httpGet / tcpSocket (/ sleep for hooks). */
static int parse_handler(json_t *obj, const char *path, json_t *ctr, bool hook,
                         probe_handler *h, char *err)
{
    static const char *const keys[] = {"exec", "httpGet", "tcpSocket", "sleep", "grpc"};
    json_t *found = NULL;
    const char *key = NULL;
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        json_t *v = il_jget(obj, keys[i]);
        if (!v)
            continue;
        if (found)
            return il_jfail(err, ERRLEN, path, "may not specify more than 1 handler type");
        found = v;
        key = keys[i];
    }
    if (!found)
        return il_jfail(err, ERRLEN, path, "must specify a handler type");
    char hpath[IL_JPATH_MAX];
    il_jpath_key(hpath, path, key);
    if (!json_is_object(found))
        return il_jfail(err, ERRLEN, hpath, "expected an object");
    int rc;
    if (!strcmp(key, "exec"))
        rc = parse_exec(found, hpath, h, err);
    else if (!strcmp(key, "httpGet"))
        rc = parse_http(found, hpath, ctr, h, err);
    else if (!strcmp(key, "tcpSocket"))
        rc = parse_tcp(found, hpath, ctr, h, err);
    else if (!strcmp(key, "sleep") && hook)
        rc = parse_sleep(found, hpath, h, err);
    else
        rc = il_jfail(err, ERRLEN, hpath, "%s %s are not supported", key,
                      hook ? "hooks" : "probes");
    if (rc != 0)
        handler_free(h);
    return rc;
}

/* One number of a probe: absent or 0 takes the API server's default. */
static int probe_number(json_t *obj, const char *path, const char *key, int64_t def,
                        int64_t min, int64_t *out, char *err)
{
    char npath[IL_JPATH_MAX];
    il_jpath_key(npath, path, key);
    if (il_jint(obj, path, key, def, out, err, ERRLEN) < 0)
        return -1;
    if (*out == 0 && min > 0)
        *out = def;
    if (*out < min || *out > 86400 * 365)
        return il_jfail(err, ERRLEN, npath, "must be between %lld and a year", (long long)min);
    return 0;
}

static int parse_probe(json_t *obj, const char *path, json_t *ctr, probe_kind kind,
                       probe_spec *p, char *err)
{
    if (!json_is_object(obj))
        return il_jfail(err, ERRLEN, path, "expected an object");
    if (probe_number(obj, path, "initialDelaySeconds", 0, 0, &p->initial_delay_s, err) < 0 ||
        probe_number(obj, path, "periodSeconds", 10, 1, &p->period_s, err) < 0 ||
        probe_number(obj, path, "timeoutSeconds", 1, 1, &p->timeout_s, err) < 0 ||
        probe_number(obj, path, "successThreshold", 1, 1, &p->success_threshold, err) < 0 ||
        probe_number(obj, path, "failureThreshold", 3, 1, &p->failure_threshold, err) < 0 ||
        probe_number(obj, path, "terminationGracePeriodSeconds", -1, -1, &p->grace_s, err) < 0)
        return -1;
    char tpath[IL_JPATH_MAX];
    il_jpath_key(tpath, path, "successThreshold");
    if (kind != PROBE_READINESS && p->success_threshold != 1)
        return il_jfail(err, ERRLEN, tpath, "must be 1 for liveness and startup probes");
    il_jpath_key(tpath, path, "terminationGracePeriodSeconds");
    if (kind == PROBE_READINESS && p->grace_s >= 0)
        return il_jfail(err, ERRLEN, tpath, "must not be set for readiness probes");
    return parse_handler(obj, path, ctr, false, &p->handler, err);
}

static int parse_lifecycle(json_t *ctr, const char *cpath, ctr_checks *out, char *err)
{
    json_t *lc;
    char lpath[IL_JPATH_MAX], hpath[IL_JPATH_MAX];
    if (il_jobject(ctr, cpath, "lifecycle", &lc, err, ERRLEN) < 0)
        return -1;
    il_jpath_key(lpath, cpath, "lifecycle");
    static const char *const keys[] = {"postStart", "preStop"};
    probe_handler **slots[] = {&out->post_start, &out->pre_stop};
    for (size_t i = 0; lc && i < 2; i++) {
        json_t *h = il_jget(lc, keys[i]);
        if (!h)
            continue;
        il_jpath_key(hpath, lpath, keys[i]);
        if (!json_is_object(h))
            return il_jfail(err, ERRLEN, hpath, "expected an object");
        *slots[i] = il_xcalloc(1, sizeof(probe_handler));
        if (parse_handler(h, hpath, ctr, true, *slots[i], err) != 0)
            return -1;
    }
    return 0;
}

int rn_checks_parse(const il_pod *pod, const il_container *c, ctr_checks *out, il_buf *err)
{
    memset(out, 0, sizeof(*out));
    char cpath[IL_JPATH_MAX], ppath[IL_JPATH_MAX], msg[ERRLEN] = "";
    json_t *ctr = container_json(pod, c->name, cpath);
    if (!ctr)
        return 0;   /* a pod built without JSON (tests): nothing to check */
    int rc = parse_lifecycle(ctr, cpath, out, msg);
    for (int k = 0; rc == 0 && k < PROBE_KINDS; k++) {
        json_t *p = il_jget(ctr, kind_keys[k]);
        if (!p)
            continue;
        il_jpath_key(ppath, cpath, kind_keys[k]);
        out->probes[k] = il_xcalloc(1, sizeof(probe_spec));
        rc = parse_probe(p, ppath, ctr, (probe_kind)k, out->probes[k], msg);
    }
    if (rc != 0) {
        rn_checks_free(out);
        il_buf_append(err, msg, strlen(msg));
    }
    return rc;
}

void rn_checks_drop_probes(ctr_checks *ck)
{
    for (int k = 0; k < PROBE_KINDS; k++) {
        if (ck->probes[k])
            handler_free(&ck->probes[k]->handler);
        free(ck->probes[k]);
        ck->probes[k] = NULL;
    }
}

void rn_checks_free(ctr_checks *ck)
{
    rn_checks_drop_probes(ck);
    probe_handler *hooks[] = {ck->post_start, ck->pre_stop};
    for (size_t i = 0; i < 2; i++) {
        if (hooks[i])
            handler_free(hooks[i]);
        free(hooks[i]);
    }
    memset(ck, 0, sizeof(*ck));
}

int rn_checks_validate(const il_pod *pod, il_buf *err)
{
    for (size_t i = 0; i < pod->n_containers; i++) {
        ctr_checks ck;
        if (rn_checks_parse(pod, &pod->containers[i], &ck, err) != 0)
            return -1;
        rn_checks_free(&ck);
    }
    return 0;
}

/* ---- the probe worker's counting --------------------------------------- */

void rn_probe_sched_init(probe_sched *ps, const probe_spec *spec, probe_kind kind,
                      int64_t started_ms, int64_t not_before_ms)
{
    memset(ps, 0, sizeof(*ps));
    ps->spec = spec;
    ps->verdict = kind == PROBE_LIVENESS;
    ps->last = PROBE_UNKNOWN;
    ps->next_ms = started_ms + spec->initial_delay_s * 1000;
    if (ps->next_ms < not_before_ms)
        ps->next_ms = not_before_ms;
}

bool rn_probe_sched_record(probe_sched *ps, probe_result result, int64_t began_ms)
{
    ps->next_ms = began_ms + ps->spec->period_s * 1000;
    if (result == PROBE_UNKNOWN)
        return false;
    ps->run = result == ps->last ? ps->run + 1 : 1;
    ps->last = result;
    bool success = result == PROBE_SUCCESS;
    int64_t threshold = success ? ps->spec->success_threshold : ps->spec->failure_threshold;
    if (ps->run < threshold || ps->verdict == success)
        return false;
    ps->verdict = success;
    return true;
}

bool rn_probe_sched_gave_up(const probe_sched *ps)
{
    return ps->last == PROBE_FAILURE && ps->run >= ps->spec->failure_threshold;
}
