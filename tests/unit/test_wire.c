/* test_wire.c -- upstream wire types: RetrievedPodData, volume files,
 * PodStatus, phases, LogStruct. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runner.h"   /* volume files */
#include "wire.h"

#define UID "8c1e2f3a-1b2c-4d5e-8f90-a1b2c3d4e5f6"

static json_t *load_fixture(const char *name)
{
    const char *dir = getenv("IL_TEST_DATA") ? getenv("IL_TEST_DATA") : "tests/data";
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    json_error_t jerr;
    json_t *j = json_load_file(path, 0, &jerr);
    if (!j)
        fail_msg("%s: %s", path, jerr.text);
    return j;
}

static json_t *parse(const char *text)
{
    json_error_t jerr;
    json_t *j = json_loads(text, JSON_DECODE_ANY, &jerr);
    if (!j)
        fail_msg("bad test JSON: %s: %s", jerr.text, text);
    return j;
}

static void assert_json_eq(const json_t *got, const char *want_text)
{
    json_t *want = parse(want_text);
    if (!json_equal(got, want)) {
        char *s = json_dumps(got, JSON_COMPACT | JSON_ENCODE_ANY);
        fail_msg("got %s\nwant %s", s, want_text);
    }
    json_decref(want);
}

/* ---- RetrievedPodData -------------------------------------------------- */

static const char job_config_text[] =
    "{\"SingularityHubProxy\":{\"server\":\"\",\"master_token\":\"\",\"cache_validity_seconds\":0},"
    " \"ApptainerOptions\":{\"executable\":\"\",\"fakeroot\":false,\"containall\":false,"
    "\"fuseMode\":\"\","
    "   "
    "\"noInit\":false,\"noHome\":false,\"noPrivs\":false,\"nvidiaSupport\":false,\"cleanenv\":"
    "false,"
    "   \"unsquash\":false},"
    " \"Volumes\":{\"scratch_area\":\"\",\"apptainer_cachedir\":\"\",\"image_dir\":\"\","
    "   \"additional_directories_in_path\":null,\"fuse_sleep_seconds\":0}}";

static void test_retrieved_pod_data(void **state)
{
    (void)state;
    json_t *req = load_fixture("create_request.json");
    char err[256] = "";
    json_t *rpd = il_retrieved_pod_data(req, err, sizeof err);
    if (!rpd)
        fail_msg("%s", err);
    assert_int_equal(json_object_size(rpd), 3);   /* jobScript omitted */
    assert_true(json_equal(json_object_get(rpd, "pod"), json_object_get(req, "pod")));
    assert_json_eq(json_object_get(rpd, "jobConfig"), job_config_text);

    json_t *cs = json_object_get(rpd, "container");
    assert_int_equal(json_array_size(cs), 3);   /* init container first */
    assert_json_eq(json_array_get(cs, 0),
                   "{\"name\":\"setup\",\"configMaps\":null,\"projectedvolumemaps\":null,"
                   "\"secrets\":null,\"emptyDirs\":null}");
    /* cfg mounted twice: cm1 appears twice, as upstream appends per mount. */
    json_t *cms = json_object_get(rpd, "configmaps");
    assert_null(cms);
    json_t *app = json_array_get(cs, 1);
    assert_string_equal(json_string_value(json_object_get(app, "name")), "app");
    json_t *app_cms = json_object_get(app, "configMaps");
    assert_int_equal(json_array_size(app_cms), 2);
    assert_true(json_equal(json_array_get(app_cms, 0),
                           json_array_get(json_object_get(req, "configmaps"), 1)));
    assert_true(json_equal(json_array_get(app_cms, 1), json_array_get(app_cms, 0)));
    assert_int_equal(json_array_size(json_object_get(app, "projectedvolumemaps")), 1);
    assert_true(json_is_null(json_object_get(app, "secrets")));
    assert_true(json_is_null(json_object_get(app, "emptyDirs")));
    assert_null(json_object_get(app, "projectedvolumesmaps"));   /* the request's spelling */

    json_t *side = json_array_get(cs, 2);
    json_t *side_secrets = json_object_get(side, "secrets");
    assert_int_equal(json_array_size(side_secrets), 2);
    assert_string_equal(json_string_value(json_object_get(json_object_get(
                            json_array_get(side_secrets, 1), "metadata"), "name")), "s-bad");
    assert_int_equal(json_array_size(json_object_get(side, "configMaps")), 1); /* "gone" missing */
    assert_string_equal(json_string_value(json_object_get(json_object_get(
                            json_array_get(json_object_get(side, "projectedvolumemaps"), 0),
                            "metadata"), "name")), "proj");

    /* Serialized with upstream's key order. */
    char *text = json_dumps(json_array_get(cs, 0), JSON_COMPACT | JSON_PRESERVE_ORDER);
    assert_string_equal(text,
                        "{\"name\":\"setup\",\"configMaps\":null,\"projectedvolumemaps\":null,"
                        "\"secrets\":null,\"emptyDirs\":null}");
    free(text);
    json_decref(rpd);
    json_decref(req);
}

static void test_retrieved_pod_data_no_containers(void **state)
{
    (void)state;
    json_t *req = parse("{\"pod\":{\"metadata\":{\"uid\":\"u\"}},\"configmaps\":null}");
    char err[256];
    json_t *rpd = il_retrieved_pod_data(req, err, sizeof err);
    assert_non_null(rpd);
    assert_true(json_is_null(json_object_get(rpd, "container")));
    json_decref(rpd);
    json_decref(req);
}

static void test_retrieved_pod_data_errors(void **state)
{
    (void)state;
    static const struct { const char *json, *error;
    } cases[] = {
        {"[]", "request: expected an object"},
        {"{}", "pod: required"},
        {"{\"pod\":[]}", "pod: expected an object"},
        {"{\"pod\":{}}", "pod.metadata.uid: required"},
        {"{\"pod\":{\"metadata\":{\"uid\":5}}}", "pod.metadata.uid: expected a string"},
        {"{\"pod\":{\"metadata\":{\"uid\":\"u\"}},\"configmaps\":{}}",
         "configmaps: expected an array"},
        {"{\"pod\":{\"metadata\":{\"uid\":\"u\"}},\"secrets\":[1]}",
         "secrets[0]: expected an object"},
        {"{\"pod\":{\"metadata\":{\"uid\":\"u\"}},\"projectedvolumesmaps\":[{},\"x\"]}",
         "projectedvolumesmaps[1]: expected an object"},
        {"{\"pod\":{\"metadata\":{\"uid\":\"u\"},\"spec\":{\"containers\":[{\"volumeMounts\":3}]}}"
         "}",
         "pod.spec.containers[0].volumeMounts: expected an array"},
        {"{\"pod\":{\"metadata\":{\"uid\":\"u\"},\"spec\":{\"volumes\":[null]}}}",
         "pod.spec.volumes[0]: expected an object"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_t *req = parse(cases[i].json);
        char err[256] = "";
        json_t *rpd = il_retrieved_pod_data(req, err, sizeof err);
        if (rpd)
            fail_msg("accepted %s", cases[i].json);
        if (strcmp(err, cases[i].error))
            fail_msg("%s: error \"%s\", want \"%s\"", cases[i].json, err, cases[i].error);
        json_decref(req);
    }
}

/* ---- create request and volume files ----------------------------------- */

static void load_request(il_create_request *req)
{
    json_t *cr = load_fixture("create_request.json");
    char err[256] = "";
    json_t *rpd = il_retrieved_pod_data(cr, err, sizeof err);
    assert_non_null(rpd);
    json_object_set_new(rpd, "jobScript", json_string("#!/bin/sh\n"));
    if (il_create_request_parse(rpd, req, err, sizeof err) != 0)
        fail_msg("%s", err);
    json_decref(rpd);   /* req keeps its own reference */
    json_decref(cr);
}

static void test_create_request_parse(void **state)
{
    (void)state;
    il_create_request req;
    load_request(&req);
    assert_string_equal(req.pod.uid, UID);
    assert_int_equal(json_array_size(req.containers), 3);
    assert_string_equal(req.job_script, "#!/bin/sh\n");
    il_create_request_free(&req);

    static const struct { const char *json, *error;
    } cases[] = {
        {"3", "request: expected an object"},
        {"{}", "pod: required"},
        {"{\"pod\":{\"metadata\":{\"uid\":\"u\"}}}", "pod.metadata.name: required"},
        {"{\"pod\":{},\"container\":{}}", "container: expected an array"},
        {"{\"pod\":{},\"container\":[{\"configMaps\":[7]}]}",
         "container[0].configMaps[0]: expected an object"},
        {"{\"pod\":{},\"jobScript\":1}", "jobScript: expected a string"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_t *body = parse(cases[i].json);
        char err[256] = "";
        assert_int_equal(il_create_request_parse(body, &req, err, sizeof err), -1);
        assert_string_equal(err, cases[i].error);
        assert_null(req.raw);
        json_decref(body);
    }
}

/* rn_volume_files with its message in a char buffer, as the checks here read it. */
static int volume_files(const il_create_request *req, const il_volume *v, il_volume_file **files,
                        size_t *n, char *err, size_t errlen)
{
    il_buf b = IL_BUF_INIT;
    int rc = rn_volume_files(req, v, files, n, &b);
    snprintf(err, errlen, "%s", il_buf_cstr(&b));
    il_buf_free(&b);
    return rc;
}

static const il_volume_file *find_file(const il_volume_file *files, size_t n, const char *path)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(files[i].path, path))
            return &files[i];
    return NULL;
}

static void assert_file(const il_volume_file *files, size_t n, const char *path,
                        const void *data, size_t len, int mode)
{
    const il_volume_file *f = find_file(files, n, path);
    if (!f)
        fail_msg("no file %s", path);
    assert_int_equal(f->len, len);
    assert_memory_equal(f->data, data, len);
    assert_int_equal(f->mode, mode);
}

static il_volume make_volume(il_volume_kind kind, const char *name, const char *source)
{
    il_volume v;
    memset(&v, 0, sizeof v);
    v.kind = kind;
    v.name = (char *)name;
    v.source_name = (char *)source;
    v.default_mode = -1;
    v.size_limit = -1;
    return v;
}

static void test_volume_files_all_keys(void **state)
{
    (void)state;
    il_create_request req;
    load_request(&req);
    il_volume_file *files;
    size_t n;
    char err[256] = "";

    /* configMap: data as text, binaryData decoded; defaultMode applies. */
    il_volume v = *il_pod_volume(&req.pod, "cfg");
    v.default_mode = 0600;
    assert_int_equal(volume_files(&req, &v, &files, &n, err, sizeof err), 0);
    assert_int_equal(n, 3);
    assert_file(files, n, "app.conf", "x=1\n", 4, 0600);
    assert_file(files, n, "blob.bin", "\x00\x01\x02", 3, 0600);
    rn_volume_files_free(files, n);

    /* secret: data base64-decoded, stringData plain; 0644 by default. */
    assert_int_equal(volume_files(&req, il_pod_volume(&req.pod, "sec"), &files, &n, err,
                                     sizeof err), 0);
    assert_int_equal(n, 2);
    assert_file(files, n, "password", "hunter2", 7, 0644);
    assert_file(files, n, "plain", "p", 1, 0644);
    rn_volume_files_free(files, n);

    /* projected: the map named after the volume; nested paths allowed. */
    assert_int_equal(volume_files(&req, il_pod_volume(&req.pod, "proj"), &files, &n, err,
                                     sizeof err), 0);
    assert_int_equal(n, 2);
    assert_file(files, n, "ns/namespace", "default", 7, 0644);
    rn_volume_files_free(files, n);

    /* emptyDir: nothing to write. */
    assert_int_equal(volume_files(&req, il_pod_volume(&req.pod, "scratch"), &files, &n, err,
                                     sizeof err), 0);
    assert_int_equal(n, 0);
    assert_null(files);
    il_create_request_free(&req);
}

static void test_volume_files_items(void **state)
{
    (void)state;
    il_create_request req;
    load_request(&req);
    il_key_to_path items[] = {{"app.conf", "conf/app.ini", 0400}, {"blob.bin", "b", -1}};
    il_volume v = make_volume(IL_VOL_CONFIGMAP, "cfg", "cm1");
    v.items = items;
    v.n_items = 2;
    v.default_mode = 0640;
    il_volume_file *files;
    size_t n;
    char err[256] = "";
    assert_int_equal(volume_files(&req, &v, &files, &n, err, sizeof err), 0);
    assert_int_equal(n, 2);   /* only listed keys: "other" is left out */
    assert_file(files, n, "conf/app.ini", "x=1\n", 4, 0400);
    assert_file(files, n, "b", "\x00\x01\x02", 3, 0640);
    rn_volume_files_free(files, n);

    /* A listed key that is missing: error, unless optional. */
    il_key_to_path missing[] = {{"nope", "nope", -1}, {"other", "o", -1}};
    v.items = missing;
    assert_int_equal(volume_files(&req, &v, &files, &n, err, sizeof err), -1);
    assert_string_equal(err, "volume cfg: configMap \"cm1\" has no key \"nope\"");
    v.optional = true;
    assert_int_equal(volume_files(&req, &v, &files, &n, err, sizeof err), 0);
    assert_int_equal(n, 1);
    assert_file(files, n, "o", "o", 1, 0640);
    rn_volume_files_free(files, n);
    il_create_request_free(&req);
}

static void test_volume_files_rejects(void **state)
{
    (void)state;
    il_create_request req;
    load_request(&req);
    il_volume_file *files = (il_volume_file *)1;
    size_t n = 99;
    char err[256] = "";

    /* A data key that would escape the volume. */
    assert_int_equal(volume_files(&req, il_pod_volume(&req.pod, "evil"), &files, &n, err,
                                     sizeof err), -1);
    assert_string_equal(err, "volume evil: configMap \"cm-evil\": invalid file path \"../escape\"");
    assert_null(files);
    assert_int_equal(n, 0);

    /* Item paths: absolute, "..", empty and "." components. */
    static const char *bad_paths[] = {"../x", "/etc/passwd", "a/../../x", "a//b", "a/", "",
                                      "./a", ".."};
    for (size_t i = 0; i < sizeof bad_paths / sizeof bad_paths[0]; i++) {
        il_key_to_path item = {"other", (char *)bad_paths[i], -1};
        il_volume v = make_volume(IL_VOL_CONFIGMAP, "cfg", "cm1");
        v.items = &item;
        v.n_items = 1;
        if (volume_files(&req, &v, &files, &n, err, sizeof err) != -1)
            fail_msg("path \"%s\" accepted", bad_paths[i]);
        assert_non_null(strstr(err, "invalid file path"));
    }

    /* Invalid base64 in a Secret. */
    assert_int_equal(volume_files(&req, il_pod_volume(&req.pod, "badsec"), &files, &n, err,
                                     sizeof err), -1);
    assert_string_equal(err, "volume badsec: secret \"s-bad\": key bad: invalid base64");

    /* A ConfigMap the request does not carry: error unless optional. */
    il_volume gone = *il_pod_volume(&req.pod, "gone");
    assert_int_equal(volume_files(&req, &gone, &files, &n, err, sizeof err), -1);
    assert_string_equal(err, "volume gone: configMap \"missing-cm\" not found in the request");
    gone.optional = true;
    assert_int_equal(volume_files(&req, &gone, &files, &n, err, sizeof err), 0);
    assert_int_equal(n, 0);

    /* Duplicate target paths. */
    il_key_to_path dup[] = {{"other", "same", -1}, {"app.conf", "same", -1}};
    il_volume v = make_volume(IL_VOL_CONFIGMAP, "cfg", "cm1");
    v.items = dup;
    v.n_items = 2;
    assert_int_equal(volume_files(&req, &v, &files, &n, err, sizeof err), -1);
    assert_string_equal(err, "volume cfg: duplicate file path \"same\"");
    il_create_request_free(&req);
}

/* Secret data in base64 through a minimal hand-built request. */
static void test_base64_variants(void **state)
{
    (void)state;
    static const struct { const char *b64; const char *plain; size_t len; } ok[] = {
        {"", "", 0}, {"YQ==", "a", 1}, {"YWI=", "ab", 2}, {"YWJj", "abc", 3},
        {"YWJj\nZGVm\r\n", "abcdef", 6}, {"/+/+", "\xff\xef\xfe", 3},
    };
    static const char *bad[] = {"YQ", "YQ=", "Y===", "YQ==YQ==", "YW=j", "YW J", "YWJj-_", "@@@@"};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0] + sizeof bad / sizeof bad[0]; i++) {
        bool good = i < sizeof ok / sizeof ok[0];
        const char *b64 = good ? ok[i].b64 : bad[i - sizeof ok / sizeof ok[0]];
        json_t *body = json_pack(
            "{s:{s:{s:s, s:s}, s:{s:[{s:s, s:s}]}}, s:[{s:s, s:[{s:{s:s}, s:{s:s}}]}]}", "pod",
            "metadata", "name", "p", "uid", "u", "spec", "containers", "name", "c", "image", "i",
            "container", "name", "c", "secrets", "metadata", "name", "s", "data", "k", b64);
        il_create_request req;
        char err[256] = "";
        if (il_create_request_parse(body, &req, err, sizeof err) != 0)
            fail_msg("%s", err);
        il_volume v = make_volume(IL_VOL_SECRET, "v", "s");
        il_volume_file *files;
        size_t n;
        int rc = volume_files(&req, &v, &files, &n, err, sizeof err);
        if (good) {
            if (rc != 0)
                fail_msg("\"%s\" rejected: %s", b64, err);
            assert_int_equal(files[0].len, ok[i].len);
            assert_memory_equal(files[0].data, ok[i].plain, ok[i].len);
            rn_volume_files_free(files, n);
        } else if (rc != -1) {
            fail_msg("\"%s\" accepted", b64);
        }
        il_create_request_free(&req);
        json_decref(body);
    }
}

static void test_create_response(void **state)
{
    (void)state;
    json_t *r = il_create_response(UID, "42");
    assert_json_eq(r, "{\"PodUID\":\"" UID "\",\"PodJID\":\"42\"}");
    json_decref(r);
}

/* ---- PodStatus --------------------------------------------------------- */

/* A plugin's status answer as upstream's SLURM plugin writes it, one element. */
static const char status_example[] =
    "{\"name\":\"hello\",\"UID\":\"0b1f3c1e-7c0e-4f55-9b1d-3c0f7c1a2b3c\",\"namespace\":"
    "\"default\","
    " \"JID\":\"12345\",\"containers\":[{\"name\":\"main\",\"state\":{\"terminated\":{\"exitCode\":"
    "0,"
    "   \"reason\":\"Completed\",\"startedAt\":\"2026-01-01T10:00:00Z\","
    "   \"finishedAt\":\"2026-01-01T10:01:00Z\"}},\"lastState\":{},\"ready\":false,"
    "   \"restartCount\":0,\"image\":\"\",\"imageID\":\"\"}],"
    " \"initContainers\":[]}";

static void test_status_from_upstream_example(void **state)
{
    (void)state;
    json_t *j = parse(status_example);
    il_pod_status st;
    char err[256] = "";
    if (il_pod_status_from_json(j, &st, err, sizeof err) != 0)
        fail_msg("%s", err);
    assert_string_equal(st.name, "hello");
    assert_string_equal(st.uid, "0b1f3c1e-7c0e-4f55-9b1d-3c0f7c1a2b3c");
    assert_string_equal(st.ns, "default");
    assert_string_equal(st.job_id, "12345");
    assert_int_equal(st.n_containers, 1);
    assert_int_equal(st.n_init_containers, 0);
    il_container_status *cs = &st.containers[0];
    assert_int_equal(cs->state, IL_STATE_TERMINATED);
    assert_int_equal(cs->exit_code, 0);
    assert_string_equal(cs->reason, "Completed");
    assert_int_equal(cs->started_at.sec, 1767261600);
    assert_int_equal(cs->finished_at.sec, 1767261660);
    assert_string_equal(il_pod_phase(&st, "Never"), "Succeeded");
    assert_string_equal(il_pod_phase_json(j, NULL), "Succeeded");

    /* Back to JSON: same as the example plus "started", which k8s emits. */
    json_t *out = il_pod_status_to_json(&st);
    json_t *want = parse(status_example);
    json_object_set_new(json_array_get(json_object_get(want, "containers"), 0), "started",
                        json_false());
    assert_true(json_equal(out, want));
    char *text = json_dumps(out, JSON_COMPACT);
    assert_non_null(strstr(text, "\"name\":\"hello\",\"UID\":"));
    free(text);
    json_decref(want);
    json_decref(out);
    il_pod_status_free(&st);
    json_decref(j);
}

static void test_status_round_trip(void **state)
{
    (void)state;
    il_container_status init = {.name = "setup", .image = "busybox", .state = IL_STATE_TERMINATED,
                                .exit_code = 137, .signal = 9, .reason = "Error",
                                .message = "killed", .started_at = {1767261600, 0},
                                .finished_at = {1767261601, 0}, .container_id = "local://x"};
    il_container_status main_cs = {.name = "main", .image = "ubuntu", .state = IL_STATE_RUNNING,
                                   .started_at = {1767261602, 0}, .ready = true,
                                   .restart_count = 2};
    il_container_status wait_cs = {.name = "side", .state = IL_STATE_WAITING,
                                   .reason = "ContainerCreating"};
    il_container_status cs[] = {main_cs, wait_cs};
    il_pod_status st = {.name = "p", .ns = "ns", .uid = UID, .job_id = "j", .containers = cs,
                        .n_containers = 2, .init_containers = &init, .n_init_containers = 1};
    json_t *j = il_pod_status_to_json(&st);
    assert_json_eq(
        json_object_get(j, "initContainers"),
        "[{\"name\":\"setup\",\"state\":{\"terminated\":{\"exitCode\":137,\"signal\":9,"
        "\"reason\":\"Error\",\"message\":\"killed\",\"startedAt\":\"2026-01-01T10:00:00Z\","
        "\"finishedAt\":\"2026-01-01T10:00:01Z\",\"containerID\":\"local://x\"}},"
        "\"lastState\":{},\"ready\":false,\"restartCount\":0,\"image\":\"busybox\","
        "\"imageID\":\"\",\"containerID\":\"local://x\",\"started\":false}]");
    assert_json_eq(
        json_array_get(json_object_get(j, "containers"), 0),
        "{\"name\":\"main\",\"state\":{\"running\":{\"startedAt\":\"2026-01-01T10:00:02Z\"}},"
        "\"lastState\":{},\"ready\":true,\"restartCount\":2,\"image\":\"ubuntu\","
        "\"imageID\":\"\",\"started\":true}");
    assert_json_eq(json_object_get(json_array_get(json_object_get(j, "containers"), 1), "state"),
                   "{\"waiting\":{\"reason\":\"ContainerCreating\"}}");

    il_pod_status back;
    char err[256] = "";
    assert_int_equal(il_pod_status_from_json(j, &back, err, sizeof err), 0);
    assert_int_equal(back.n_init_containers, 1);
    assert_int_equal(back.init_containers[0].signal, 9);
    assert_int_equal(back.init_containers[0].exit_code, 137);
    assert_string_equal(back.init_containers[0].message, "killed");
    assert_string_equal(back.init_containers[0].container_id, "local://x");
    assert_int_equal(back.init_containers[0].finished_at.sec, 1767261601);
    assert_int_equal(back.containers[0].state, IL_STATE_RUNNING);
    assert_true(back.containers[0].ready);
    assert_int_equal(back.containers[0].restart_count, 2);
    assert_int_equal(back.containers[1].state, IL_STATE_WAITING);
    assert_string_equal(back.containers[1].reason, "ContainerCreating");
    json_t *again = il_pod_status_to_json(&back);
    assert_true(json_equal(j, again));
    json_decref(again);
    il_pod_status_free(&back);
    json_decref(j);
}

static void test_status_parse_tolerant_and_errors(void **state)
{
    (void)state;
    il_pod_status st;
    char err[256] = "";
    json_t *j = parse("{\"name\":\"p\",\"containers\":[{\"name\":\"c\"},"
                      "{\"name\":\"d\",\"state\":{\"running\":{\"startedAt\":null}}}],"
                      "\"initContainers\":null}");
    assert_int_equal(il_pod_status_from_json(j, &st, err, sizeof err), 0);
    assert_int_equal(st.containers[0].state, IL_STATE_WAITING);
    assert_int_equal(st.containers[1].state, IL_STATE_RUNNING);
    assert_true(il_time_is_zero(st.containers[1].started_at));
    assert_null(st.uid);
    il_pod_status_free(&st);
    json_decref(j);

    static const struct { const char *json, *error; } cases[] = {
        {"[]", "PodStatus: expected an object"},
        {"{\"UID\":1}", "UID: expected a string"},
        {"{\"containers\":{}}", "containers: expected an array"},
        {"{\"containers\":[1]}", "containers[0]: expected an object"},
        {"{\"containers\":[{\"ready\":\"yes\"}]}", "containers[0].ready: expected a boolean"},
        {"{\"initContainers\":[{},{\"state\":{\"terminated\":{\"exitCode\":\"1\"}}}]}",
         "initContainers[1].state.terminated.exitCode: expected an integer"},
        {"{\"containers\":[{\"state\":{\"running\":{\"startedAt\":\"yesterday\"}}}]}",
         "containers[0].state.running.startedAt: invalid RFC 3339 time \"yesterday\""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_t *bad = parse(cases[i].json);
        assert_int_equal(il_pod_status_from_json(bad, &st, err, sizeof err), -1);
        assert_string_equal(err, cases[i].error);
        assert_null(st.containers);
        json_decref(bad);
    }
}

/* ---- phase ------------------------------------------------------------- */

static il_container_status cs_of(char kind, int exit_code)
{
    il_container_status cs = {.name = "c"};
    cs.state = kind == 'W' ? IL_STATE_WAITING : kind == 'R' ? IL_STATE_RUNNING
                                                            : IL_STATE_TERMINATED;
    cs.exit_code = exit_code;
    return cs;
}

/* Phase of a pod whose init containers and containers are described by
 * strings like "T0 T1 R W" (T<exit>, R running, W waiting). */
static const char *phase_of(const char *init, const char *main, const char *policy)
{
    il_container_status ic[8], mc[8];
    size_t ni = 0, nm = 0;
    for (const char *p = init; *p; p++)
        if (*p == 'W' || *p == 'R' || *p == 'T')
            ic[ni++] = cs_of(*p, *p == 'T' ? p[1] - '0' : 0);
    for (const char *p = main; *p; p++)
        if (*p == 'W' || *p == 'R' || *p == 'T')
            mc[nm++] = cs_of(*p, *p == 'T' ? p[1] - '0' : 0);
    il_pod_status st = {.containers = mc, .n_containers = nm, .init_containers = ic,
                        .n_init_containers = ni};
    return il_pod_phase(&st, policy);
}

static void test_phase(void **state)
{
    (void)state;
    static const struct { const char *init, *main, *policy, *phase; } cases[] = {
        {"", "", NULL, "Pending"},
        {"", "W", NULL, "Pending"},
        {"", "W W", "Never", "Pending"},
        {"", "R", NULL, "Running"},
        {"", "R W", NULL, "Running"},
        {"", "T0 R", "Never", "Running"},
        {"", "T1 R", "Never", "Running"},
        {"", "T0 W", "Never", "Running"},
        {"", "T0", "Never", "Succeeded"},
        {"", "T0 T0", "Always", "Succeeded"},     /* backends never restart */
        {"", "T0 T2", "Never", "Failed"},
        {"", "T1", "Always", "Failed"},
        {"", "T1", "OnFailure", "Failed"},
        {"T0", "T0", NULL, "Succeeded"},
        {"R", "W", NULL, "Pending"},
        {"T0 W", "W", NULL, "Pending"},
        {"T0 R", "W", NULL, "Pending"},
        {"T0 T0", "R", NULL, "Running"},
        {"T3", "W", "Never", "Failed"},
        {"T3", "W", "Always", "Failed"},
        {"T0 T1", "W", "OnFailure", "Failed"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *got = phase_of(cases[i].init, cases[i].main, cases[i].policy);
        if (strcmp(got, cases[i].phase))
            fail_msg("init [%s] containers [%s]: %s, expected %s", cases[i].init, cases[i].main,
                     got, cases[i].phase);
    }
    assert_true(il_phase_is_terminal("Succeeded"));
    assert_true(il_phase_is_terminal("Failed"));
    assert_false(il_phase_is_terminal("Running"));
    assert_false(il_phase_is_terminal("Pending"));
    assert_false(il_phase_is_terminal(NULL));
    json_t *bad = parse("{\"containers\":7}");
    assert_string_equal(il_pod_phase_json(bad, NULL), "Pending");
    json_decref(bad);
}

/* ---- LogStruct --------------------------------------------------------- */

static const char log_example[] =
    "{\"Namespace\":\"default\",\"PodUID\":\"" UID "\",\"PodName\":\"p\",\"ContainerName\":\"c\","
    " \"Opts\":{\"Tail\":0,\"Bytes\":0,\"Timestamps\":false,\"Follow\":false,\"Previous\":false,"
    "         \"SinceSeconds\":0,\"SinceTime\":\"0001-01-01T00:00:00Z\"}}";

static void test_log_request_upstream_example(void **state)
{
    (void)state;
    json_t *j = parse(log_example);
    il_log_request r;
    char err[256] = "";
    if (il_log_request_parse(j, &r, err, sizeof err) != 0)
        fail_msg("%s", err);
    assert_string_equal(r.ns, "default");
    assert_string_equal(r.pod_uid, UID);
    assert_string_equal(r.pod_name, "p");
    assert_string_equal(r.container, "c");
    assert_int_equal(r.tail, 0);
    assert_true(il_time_is_zero(r.since_time));
    json_t *out = il_log_request_to_json(&r);
    assert_true(json_equal(out, j));   /* byte-for-byte the upstream shape */
    json_decref(out);
    il_log_request_free(&r);
    json_decref(j);

    j = parse("{\"Namespace\":\"ns-1\",\"PodUID\":\"" UID "\",\"ContainerName\":\"\","
              "\"Opts\":{\"Tail\":10,\"Follow\":true,\"Timestamps\":true,\"Previous\":true,"
              "\"SinceTime\":\"2026-01-01T10:00:00.25Z\"}}");
    assert_int_equal(il_log_request_parse(j, &r, err, sizeof err), 0);
    assert_int_equal(r.tail, 10);
    assert_true(r.follow && r.timestamps && r.previous);
    assert_int_equal(r.since_time.sec, 1767261600);
    assert_int_equal(r.since_time.nsec, 250000000);
    out = il_log_request_to_json(&r);
    assert_string_equal(json_string_value(json_object_get(json_object_get(out, "Opts"),
                                                          "SinceTime")),
                        "2026-01-01T10:00:00.25Z");
    json_decref(out);
    il_log_request_free(&r);
    json_decref(j);
}

static void test_log_request_validation(void **state)
{
    (void)state;
    static const struct { const char *json, *error;
    } cases[] = {
        {"[]", "invalid request body"},
        {"{\"PodUID\":\"" UID "\"}", "invalid namespace: must be a valid DNS label"},
        {"{\"Namespace\":\"Default\",\"PodUID\":\"" UID "\"}",
         "invalid namespace: must be a valid DNS label"},
        {"{\"Namespace\":\"-ns\",\"PodUID\":\"" UID "\"}",
         "invalid namespace: must be a valid DNS label"},
        {"{\"Namespace\":\"ns\",\"PodUID\":\"not-a-uuid\"}",
         "invalid pod UID: must be a valid UUID"},
        {"{\"Namespace\":\"ns\",\"PodUID\":\"8C1E2F3A-1B2C-4D5E-8F90-A1B2C3D4E5F6\"}",
         "invalid pod UID: must be a valid UUID"},
        {"{\"Namespace\":\"ns\",\"PodUID\":\"" UID "\",\"ContainerName\":\"../c\"}",
         "invalid container name: must be a valid DNS label"},
        {"{\"Namespace\":\"ns\",\"PodUID\":\"" UID "\",\"Opts\":{\"Tail\":1,\"Bytes\":2}}",
         "Both Tail and LimitBytes set. Set only one of them"},
        {"{\"Namespace\":\"ns\",\"PodUID\":\"" UID "\",\"Opts\":{\"SinceSeconds\":5,"
         "\"SinceTime\":\"2026-01-01T10:00:00Z\"}}",
         "Both SinceSeconds and SinceTime set. Set only one of them"},
        {"{\"Namespace\":\"ns\",\"PodUID\":\"" UID "\",\"Opts\":{\"Tail\":\"10\"}}",
         "Opts.Tail: expected an integer"},
        {"{\"Namespace\":\"ns\",\"PodUID\":\"" UID "\",\"Opts\":{\"Tail\":-1}}",
         "Opts.Tail: must not be negative"},
        {"{\"Namespace\":\"ns\",\"PodUID\":\"" UID "\",\"Opts\":{\"Bytes\":-5}}",
         "Opts.Bytes: must not be negative"},
        {"{\"Namespace\":\"ns\",\"PodUID\":\"" UID "\",\"Opts\":{\"SinceSeconds\":-5}}",
         "Opts.SinceSeconds: must not be negative"},
        {"{\"Namespace\":\"ns\",\"PodUID\":\"" UID "\",\"Opts\":{\"Follow\":1}}",
         "Opts.Follow: expected a boolean"},
        {"{\"Namespace\":\"ns\",\"PodUID\":\"" UID "\",\"Opts\":{\"SinceTime\":\"now\"}}",
         "Opts.SinceTime: invalid RFC 3339 time \"now\""},
        {"{\"Namespace\":\"ns\",\"PodUID\":\"" UID "\",\"Opts\":[]}", "Opts: expected an object"},
        {"{\"Namespace\":7,\"PodUID\":\"" UID "\"}", "Namespace: expected a string"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_t *j = parse(cases[i].json);
        il_log_request r;
        char err[256] = "";
        if (il_log_request_parse(j, &r, err, sizeof err) != -1)
            fail_msg("accepted %s", cases[i].json);
        if (strcmp(err, cases[i].error))
            fail_msg("%s: error \"%s\", want \"%s\"", cases[i].json, err, cases[i].error);
        assert_null(r.ns);
        json_decref(j);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_retrieved_pod_data),
        cmocka_unit_test(test_retrieved_pod_data_no_containers),
        cmocka_unit_test(test_retrieved_pod_data_errors),
        cmocka_unit_test(test_create_request_parse),
        cmocka_unit_test(test_volume_files_all_keys),
        cmocka_unit_test(test_volume_files_items),
        cmocka_unit_test(test_volume_files_rejects),
        cmocka_unit_test(test_base64_variants),
        cmocka_unit_test(test_create_response),
        cmocka_unit_test(test_status_from_upstream_example),
        cmocka_unit_test(test_status_round_trip),
        cmocka_unit_test(test_status_parse_tolerant_and_errors),
        cmocka_unit_test(test_phase),
        cmocka_unit_test(test_log_request_upstream_example),
        cmocka_unit_test(test_log_request_validation),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
