/* test_podresolve.c -- the shared PodCreateRequests resolver over a fake
 * lookup: a table of objects, a failing one, fixed status fields,
 * resources and tokens.  Tables of pods against the part of the request
 * they must produce, and against the error (reason and message) they
 * must fail with. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "podresolve.h"
#include "util.h"

/* JSON written with ' for " so the tables stay readable, and ` for the
 * ' of a field path's subscript. */
static json_t *parse(const char *text)
{
    char *copy = il_xstrdup(text);
    for (char *p = copy; *p; p++)
        *p = *p == '\'' ? '"' : *p == '`' ? '\'' : *p;
    json_error_t jerr;
    json_t *j = json_loads(copy, JSON_DECODE_ANY, &jerr);
    if (!j)
        fail_msg("bad test JSON: %s: %s", jerr.text, copy);
    free(copy);
    return j;
}

/* ---- the fake source ---------------------------------------------------- */

/* base64: "hello" aGVsbG8=, "s3cret" czNjcmV0, "bytes" Ynl0ZXM=, 0xff /w== */
static const struct {
    const char *kind, *json;
} objects[] = {
    {"ConfigMap", "{'metadata': {'name': 'cfg'}, 'data': {'greeting': 'hello', 'color': 'blue'},"
                  " 'binaryData': {'raw': 'Ynl0ZXM='}}"},
    {"ConfigMap", "{'metadata': {'name': 'more'},"
                  " 'data': {'color': 'red', 'size': '3', 'bad=name': 'x'}}"},
    {"Secret", "{'metadata': {'name': 'sec'}, 'data': {'password': 'czNjcmV0'}}"},
    {"Secret", "{'metadata': {'name': 'binary'}, 'data': {'blob': '/w=='}}"},
};

typedef struct fake {
    json_t *objects;          /* "Kind/name" -> object */
    int warnings;
    char last_warning[512];
} fake;

static int fake_lookup(il_podres *r, const char *kind, const char *name, const json_t **obj)
{
    const fake *f = r->ctx;
    char key[256];
    if (strcmp(name, "unreachable") == 0)
        return il_podres_fail(r, "FailedToRetrieve", "the API is down");
    snprintf(key, sizeof key, "%s/%s", kind, name);
    if ((*obj = json_object_get(f->objects, key)))
        return IL_PODRES_FOUND;
    il_podres_fail(r, NULL, "%s \"%s\" not found", kind, name);
    return IL_PODRES_MISSING;
}

static char *fake_field(il_podres *r, const char *path)
{
    if (strcmp(path, "status.podIP") == 0)
        return il_xstrdup("10.1.2.3");
    il_podres_fail(r, NULL, "no %s here", path);
    return NULL;
}

static char *fake_resource(il_podres *r, const json_t *ref, const char *container)
{
    const char *res = json_string_value(json_object_get(ref, "resource"));
    const char *cname = json_string_value(json_object_get(ref, "containerName"));
    if (res && strcmp(res, "limits.cpu") == 0)
        return il_xasprintf("2@%s", cname ? cname : container ? container : "?");
    il_podres_fail(r, NULL, "resource %s unavailable", res ? res : "?");
    return NULL;
}

static char *fake_token(il_podres *r, const json_t *source)
{
    const char *audience = json_string_value(json_object_get(source, "audience"));
    (void)r;
    return il_xasprintf("token-for-%s", audience ? audience : "api");
}

static void fake_warn(il_podres *r, const char *message)
{
    fake *f = r->ctx;
    f->warnings++;
    snprintf(f->last_warning, sizeof f->last_warning, "%s", message);
}

static const il_podres_ops full_ops = {
    .lookup = fake_lookup, .field = fake_field, .resource = fake_resource,
    .token = fake_token, .warn = fake_warn};
/* A caller with no API: no tokens, resources or status fields. */
static const il_podres_ops bare_ops = {.lookup = fake_lookup, .warn = fake_warn};

static int setup(void **state)
{
    fake *f = il_xcalloc(1, sizeof *f);
    f->objects = json_object();
    for (size_t i = 0; i < sizeof objects / sizeof objects[0]; i++) {
        json_t *o = parse(objects[i].json);
        char *key = il_xasprintf("%s/%s", objects[i].kind,
                                 json_string_value(json_object_get(json_object_get(o, "metadata"),
                                                                   "name")));
        json_object_set_new(f->objects, key, o);
        free(key);
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fake *f = *state;
    json_decref(f->objects);
    free(f);
    return 0;
}

/* ---- helpers ------------------------------------------------------------ */

#define POD_META "{'name': 'p', 'namespace': 'ns1', 'uid': 'u1', " \
                 "'labels': {'tier': 'a\\u0022b\\\\c\\td', 'app': 'web'}, " \
                 "'annotations': {'note': 'hi'}}"

static json_t *resolve(fake *f, const il_podres_ops *ops, const char *spec, il_podres *r)
{
    char *text = il_xasprintf("{'metadata': %s, 'spec': %s}", POD_META, spec);
    *r = (il_podres){.ops = ops, .ctx = f};
    json_t *request = il_podres_request(r, parse(text), "https://jobs/script");
    free(text);
    return request;
}

/* The part of j at a dotted path ("pod.spec.containers.0.env"), or NULL. */
static json_t *at(json_t *j, const char *path)
{
    char *copy = il_xstrdup(path), *save = NULL;
    for (char *part = strtok_r(copy, ".", &save); part && j; part = strtok_r(NULL, ".", &save))
        j = json_is_array(j) ? json_array_get(j, strtoul(part, NULL, 10))
                             : json_object_get(j, part);
    free(copy);
    return j;
}

static char *dump(const json_t *j)
{
    return j ? json_dumps(j, JSON_ENCODE_ANY | JSON_SORT_KEYS) : il_xstrdup("(absent)");
}

static void expect_json(const char *what, json_t *got, const char *want_text)
{
    json_t *want = want_text ? parse(want_text) : NULL;
    if (want ? !json_equal(got, want) : got != NULL) {
        char *g = dump(got), *w = dump(want);
        print_error("%s:\n  got  %s\n  want %s\n", what, g, w);
        free(g);
        free(w);
        json_decref(want);
        fail();
    }
    json_decref(want);
}

/* ---- what a pod becomes ------------------------------------------------- */

typedef struct request_case {
    const char *what;
    const char *spec;
    const char *path;         /* into the request */
    const char *want;         /* JSON, NULL: absent */
} request_case;

#define ONE_CONTAINER(extra) "{'containers': [{'name': 'c'" extra "}]"
#define WITH_VOLUMES(vols) ONE_CONTAINER("") ", 'volumes': " vols "}"
#define WITH_ENV(env) ONE_CONTAINER(", " env) "}"

static const request_case request_cases[] = {
    {"nothing referred to: Go's null lists", ONE_CONTAINER("") "}", "configmaps", "null"},
    {"nothing referred to: secrets", ONE_CONTAINER("") "}", "secrets", "null"},
    {"nothing referred to: projected maps", ONE_CONTAINER("") "}", "projectedvolumesmaps",
     "null"},
    {"the job script URL", ONE_CONTAINER("") "}", "jobscriptURL", "'https://jobs/script'"},
    {"whole ConfigMaps, once, in the pod's namespace; optional absent skipped",
     WITH_VOLUMES("[{'name': 'a', 'configMap': {'name': 'cfg'}},"
                  " {'name': 'b', 'configMap': {'name': 'cfg', 'items': [{'key': 'color'}]}},"
                  " {'name': 'c', 'configMap': {'name': 'absent', 'optional': true}},"
                  " {'name': 'd', 'configMap': {'name': 'more', 'optional': true,"
                  "                              'items': [{'key': 'nope'}]}}]"),
     "configmaps",
     "[{'metadata': {'name': 'cfg', 'namespace': 'ns1'},"
     "  'data': {'greeting': 'hello', 'color': 'blue'}, 'binaryData': {'raw': 'Ynl0ZXM='}},"
     " {'metadata': {'name': 'more', 'namespace': 'ns1'},"
     "  'data': {'color': 'red', 'size': '3', 'bad=name': 'x'}}]"},
    {"whole Secrets", WITH_VOLUMES("[{'name': 's', 'secret': {'secretName': 'sec'}}]"),
     "secrets", "[{'metadata': {'name': 'sec', 'namespace': 'ns1'},"
                " 'data': {'password': 'czNjcmV0'}}]"},
    {"projected: items, every key decoded, optional objects and keys skipped",
     WITH_VOLUMES("[{'name': 'proj', 'projected': {'sources': ["
                  " {'configMap': {'name': 'cfg', 'items': [{'key': 'greeting', 'path': 'g.txt'},"
                  "                                         {'key': 'color'}]}},"
                  " {'configMap': {'name': 'more', 'optional': true,"
                  "                'items': [{'key': 'nope', 'path': 'n'}]}},"
                  " {'configMap': {'name': 'absent', 'optional': true}},"
                  " {'secret': {'name': 'sec'}},"
                  " {'serviceAccountToken': {'audience': 'vault', 'path': 'token'}}]}}]"),
     "projectedvolumesmaps",
     "[{'apiVersion': 'v1', 'kind': 'ConfigMap', 'metadata': {'name': 'proj', 'namespace': 'ns1'},"
     "  'data': {'g.txt': 'hello', 'color': 'blue', 'password': 's3cret',"
     "           'token': 'token-for-vault'}}]"},
    {"projected: binaryData travels with data",
     WITH_VOLUMES("[{'name': 'all', 'projected': {'sources': [{'configMap': {'name': 'cfg'}}]}}]"),
     "projectedvolumesmaps.0.data", "{'greeting': 'hello', 'color': 'blue', 'raw': 'bytes'}"},
    {"downwardAPI: Kubernetes' formatting of labels and annotations",
     WITH_VOLUMES("[{'name': 'dw', 'downwardAPI': {'items': ["
                  " {'path': 'labels', 'fieldRef': {'fieldPath': 'metadata.labels'}},"
                  " {'path': 'note', 'fieldRef': {'fieldPath': 'metadata.annotations[`note`]'}},"
                  " {'path': 'none', 'fieldRef': {'fieldPath': 'metadata.labels[`none`]'}},"
                  " {'path': 'name', 'fieldRef': {'fieldPath': 'metadata.name'}},"
                  " {'path': 'ns', 'fieldRef': {'fieldPath': 'metadata.namespace'}},"
                  " {'path': 'uid', 'fieldRef': {'fieldPath': 'metadata.uid'}},"
                  " {'path': 'node', 'fieldRef': {'fieldPath': 'spec.nodeName'}},"
                  " {'path': 'ip', 'fieldRef': {'fieldPath': 'status.podIP'}},"
                  " {'path': 'cpu', 'resourceFieldRef': {'containerName': 'c',"
                  "                                      'resource': 'limits.cpu'}}]}}]"),
     "projectedvolumesmaps.0.data",
     "{'labels': 'app=\\u0022web\\u0022\\ntier=\\u0022a\\\\\\u0022b\\\\\\\\c\\\\td\\u0022',"
     " 'note': 'hi', 'none': '', 'name': 'p', 'ns': 'ns1', 'uid': 'u1', 'node': '',"
     " 'ip': '10.1.2.3', 'cpu': '2@c'}"},
    {"downwardAPI: rewritten into the projected volume it stands for",
     WITH_VOLUMES("[{'name': 'dw', 'downwardAPI': {'defaultMode': 420, 'items': ["
                  " {'path': 'name', 'fieldRef': {'fieldPath': 'metadata.name'}}]}}]"),
     "pod.spec.volumes.0",
     "{'name': 'dw', 'projected': {'defaultMode': 420, 'sources': [{'downwardAPI': {"
     " 'defaultMode': 420, 'items': [{'path': 'name', 'fieldRef': {'fieldPath': 'metadata.name'}}]"
     "}}]}}"},
    {"env: envFrom in order with prefix, explicit env wins in place, optional left out",
     WITH_ENV("'envFrom': [{'configMapRef': {'name': 'cfg'}, 'prefix': 'A_'},"
              "            {'configMapRef': {'name': 'more'}},"
              "            {'configMapRef': {'name': 'absent', 'optional': true}},"
              "            {'secretRef': {'name': 'sec'}}],"
              " 'env': [{'name': 'color', 'value': 'mine'},"
              "         {'name': 'PASS', 'valueFrom': {'secretKeyRef': {'name': 'sec',"
              "                                                         'key': 'password'}}},"
              "         {'name': 'GONE', 'valueFrom': {'configMapKeyRef': {'name': 'cfg',"
              "                                          'key': 'nope', 'optional': true}}},"
              "         {'name': 'GONE2', 'valueFrom': {'configMapKeyRef': {'name': 'absent',"
              "                                          'key': 'k', 'optional': true}}},"
              "         {'name': 'NS', 'valueFrom': {'fieldRef': {'fieldPath':"
              "                                                   'metadata.namespace'}}},"
              "         {'name': 'CPU', 'valueFrom': {'resourceFieldRef': {'resource':"
              "                                                           'limits.cpu'}}},"
              "         {'name': 'PLAIN'}]"),
     "pod.spec.containers.0.env",
     "[{'name': 'A_greeting', 'value': 'hello'}, {'name': 'A_color', 'value': 'blue'},"
     " {'name': 'color', 'value': 'mine'}, {'name': 'size', 'value': '3'},"
     " {'name': 'password', 'value': 's3cret'}, {'name': 'PASS', 'value': 's3cret'},"
     " {'name': 'NS', 'value': 'ns1'}, {'name': 'CPU', 'value': '2@c'},"
     " {'name': 'PLAIN', 'value': ''}]"},
    {"env: envFrom removed once flattened",
     WITH_ENV("'envFrom': [{'configMapRef': {'name': 'more'}}]"), "pod.spec.containers.0.envFrom",
     NULL},
    {"env: nothing left is no env at all",
     WITH_ENV("'env': [{'name': 'G', 'valueFrom': {'configMapKeyRef': {'name': 'absent',"
              "                                                         'key': 'k',"
              "                                                         'optional': true}}}]"),
     "pod.spec.containers.0.env", NULL},
    {"env: init containers too",
     "{'containers': [{'name': 'c'}], 'initContainers': [{'name': 'i', 'env': [{'name': 'N',"
     " 'valueFrom': {'fieldRef': {'fieldPath': 'metadata.labels[`app`]'}}}]}]}",
     "pod.spec.initContainers.0.env", "[{'name': 'N', 'value': 'web'}]"},
};

static void test_requests(void **state)
{
    fake *f = *state;
    for (size_t i = 0; i < sizeof request_cases / sizeof request_cases[0]; i++) {
        const request_case *c = &request_cases[i];
        il_podres r;
        json_t *request = resolve(f, &full_ops, c->spec, &r);
        if (!request)
            fail_msg("%s: failed: %s", c->what, r.message);
        expect_json(c->what, at(request, c->path), c->want);
        json_decref(request);
    }
}

/* ---- what a pod fails with ---------------------------------------------- */

typedef struct error_case {
    const char *what;
    const il_podres_ops *ops;
    const char *spec;
    const char *reason;
    const char *message;
} error_case;

#define VOLUME(v) WITH_VOLUMES("[{'name': 'v', " v "}]")
#define PROJECTED(src) VOLUME("'projected': {'sources': [" src "]}")
#define ENV_FROM(from) WITH_ENV("'env': [{'name': 'X', 'valueFrom': " from "}]")

static const error_case error_cases[] = {
    {"a missing ConfigMap volume", &full_ops, VOLUME("'configMap': {'name': 'absent'}"),
     "FailedMount", "volume \"v\": ConfigMap \"absent\" not found"},
    {"the source failing keeps its own reason", &full_ops,
     VOLUME("'secret': {'secretName': 'unreachable', 'optional': true}"), "FailedToRetrieve",
     "volume \"v\": the API is down"},
    {"items naming a key the object lacks", &full_ops,
     VOLUME("'configMap': {'name': 'cfg', 'items': [{'key': 'nope', 'path': 'p'}]}"),
     "FailedMount", "volume \"v\": couldn't find key nope in ConfigMap ns1/cfg"},
    {"a projected item naming a missing key", &full_ops,
     PROJECTED("{'secret': {'name': 'sec', 'items': [{'key': 'nope'}]}}"), "FailedMount",
     "volume \"v\": couldn't find key nope in Secret ns1/sec"},
    {"binary content cannot be projected", &full_ops, PROJECTED("{'secret': {'name': 'binary'}}"),
     "FailedMount", "volume \"v\": blob is not UTF-8 text and cannot be projected"},
    {"a downwardAPI item without a path", &full_ops,
     VOLUME("'downwardAPI': {'items': [{'fieldRef': {'fieldPath': 'metadata.name'}}]}"),
     "FailedMount", "volume \"v\": downwardAPI item 0 has no path"},
    {"a malformed label subscript", &full_ops,
     VOLUME("'downwardAPI': {'items': [{'path': 'x', 'fieldRef': {'fieldPath':"
            " 'metadata.labels[app]'}}]}"),
     "FailedMount", "volume \"v\": fieldRef \"metadata.labels[app]\" is malformed"},
    {"a field the caller does not know", &full_ops,
     VOLUME("'downwardAPI': {'items': [{'path': 'x', 'fieldRef': {'fieldPath':"
            " 'status.hostIP'}}]}"),
     "FailedMount", "volume \"v\": no status.hostIP here"},
    {"status fields without a caller's callback", &bare_ops,
     VOLUME("'downwardAPI': {'items': [{'path': 'x', 'fieldRef': {'fieldPath':"
            " 'status.podIP'}}]}"),
     "FailedMount", "volume \"v\": fieldRef \"status.podIP\" is not supported"},
    {"a token projection without a path", &full_ops,
     PROJECTED("{'serviceAccountToken': {'audience': 'x'}}"), "FailedMount",
     "volume \"v\": serviceAccountToken projection has no path"},
    {"an unknown projected source", &full_ops, PROJECTED("{'clusterTrustBundle': {}}"),
     "FailedMount", "volume \"v\": projected source clusterTrustBundle is not supported"},
    {"env: a missing Secret", &full_ops,
     ENV_FROM("{'secretKeyRef': {'name': 'absent', 'key': 'k'}}"), "CreateContainerConfigError",
     "container c: env X: Secret \"absent\" not found"},
    {"env: a missing key", &full_ops,
     ENV_FROM("{'configMapKeyRef': {'name': 'cfg', 'key': 'nope'}}"),
     "CreateContainerConfigError",
     "container c: env X: couldn't find key nope in ConfigMap ns1/cfg"},
    {"env: a value that is not text", &full_ops,
     ENV_FROM("{'secretKeyRef': {'name': 'binary', 'key': 'blob'}}"),
     "CreateContainerConfigError", "container c: env X: Secret value is not UTF-8 text"},
    {"env: the caller's resource error", &full_ops,
     ENV_FROM("{'resourceFieldRef': {'resource': 'requests.memory'}}"),
     "CreateContainerConfigError", "container c: env X: resource requests.memory unavailable"},
    {"env: resources without a caller's callback", &bare_ops,
     ENV_FROM("{'resourceFieldRef': {'resource': 'limits.cpu'}}"), "CreateContainerConfigError",
     "container c: env X: valueFrom: only configMapKeyRef, secretKeyRef and fieldRef are "
     "supported"},
    {"env: no source at all", &full_ops, ENV_FROM("{}"), "CreateContainerConfigError",
     "container c: env X: valueFrom: no configMapKeyRef, secretKeyRef, fieldRef or "
     "resourceFieldRef"},
    {"envFrom: a missing ConfigMap", &full_ops,
     WITH_ENV("'envFrom': [{'configMapRef': {'name': 'absent'}}]"),
     "CreateContainerConfigError", "container c: envFrom: ConfigMap \"absent\" not found"},
};

static void test_errors(void **state)
{
    fake *f = *state;
    for (size_t i = 0; i < sizeof error_cases / sizeof error_cases[0]; i++) {
        const error_case *c = &error_cases[i];
        il_podres r;
        json_t *request = resolve(f, c->ops, c->spec, &r);
        if (request) {
            json_decref(request);
            fail_msg("%s: resolved, want \"%s\"", c->what, c->message);
        }
        if (!r.reason || strcmp(r.reason, c->reason) != 0 || strcmp(r.message, c->message) != 0)
            fail_msg("%s:\n  got  %s: %s\n  want %s: %s", c->what, r.reason ? r.reason : "(none)",
                     r.message, c->reason, c->message);
    }
}

/* ---- what a caller without an API skips --------------------------------- */

static void test_skipped_with_a_warning(void **state)
{
    fake *f = *state;
    il_podres r;
    json_t *request = resolve(f, &bare_ops, PROJECTED(
        "{'serviceAccountToken': {'path': 'token'}},"
        " {'downwardAPI': {'items': ["
        "   {'path': 'cpu', 'resourceFieldRef': {'resource': 'limits.cpu'}},"
        "   {'path': 'name', 'fieldRef': {'fieldPath': 'metadata.name'}}]}}"), &r);
    assert_non_null(request);
    expect_json("what is left", at(request, "projectedvolumesmaps.0.data"), "{'name': 'p'}");
    assert_int_equal(f->warnings, 2);
    assert_string_equal(f->last_warning,
                        "downwardAPI item cpu: only fieldRef is supported; skipped");
    json_decref(request);
}

static void test_skip_projected(void **state)
{
    fake *f = *state;
    il_podres r = {.ops = &full_ops, .ctx = f, .skip_projected = true};
    json_t *pod = parse("{'metadata': {'name': 'p'}, 'spec': " VOLUME(
        "'downwardAPI': {'items': [{'path': 'x', 'fieldRef': {'fieldPath': 'bogus'}}]}") "}");
    json_t *request = il_podres_request(&r, pod, NULL);
    assert_non_null(request);
    expect_json("no projected maps", at(request, "projectedvolumesmaps"), "null");
    expect_json("the volume as it was", at(request, "pod.spec.volumes.0.downwardAPI.items.0.path"),
                "'x'");
    expect_json("no job script", at(request, "jobscriptURL"), "''");
    json_decref(request);
}

static void test_setenv_replaces_in_place(void **state)
{
    (void)state;
    json_t *c = parse("{'name': 'c'}");
    il_podres_setenv(c, "A", "1");
    il_podres_setenv(c, "B", "2");
    il_podres_setenv(c, "A", "3");
    expect_json("env", json_object_get(c, "env"),
                "[{'name': 'A', 'value': '3'}, {'name': 'B', 'value': '2'}]");
    json_decref(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_requests, setup, teardown),
        cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_skipped_with_a_warning, setup, teardown),
        cmocka_unit_test_setup_teardown(test_skip_projected, setup, teardown),
        cmocka_unit_test(test_setenv_replaces_in_place),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
