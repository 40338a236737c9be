/* il-bench -- load generator for interlink and its plugins.
 *
 *   il-bench create --url URL --count N --out FILE [--concurrency C] [--command CMD]
 *                   [--annotation KEY=VALUE]
 *       POST /create N pods (runtime-agnostic spec: one container running
 *       sh -c CMD, default "sleep 600"; the annotation on each, e.g.
 *       slurm-job.vk.io/flags=--hold), write the pod objects to FILE.
 *   il-bench status --url URL --pods FILE --batch N [--concurrency C]
 *                   [--duration SECONDS | --requests N] [--label TEXT] [--header]
 *       GET /status with the first N pods of FILE as the body, from C
 *       connections, and print one line: requests/s, pods/s, p50/p99 latency.
 *   il-bench delete --url URL --pods FILE [--concurrency C]
 *       DELETE /delete every pod of FILE.
 *
 * URL is "unix:///path/to.sock" or "http://host:port": the same body works
 * against interlink and straight against a plugin (both take [pod...] on
 * /status), which is what shows the relay's overhead. */
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef struct options {
    const char *mode;
    const char *url;
    const char *pods_file;
    const char *out_file;
    const char *command;
    const char *label;
    const char *annotation;   /* "key=value" or NULL */
    long count;
    long batch;
    long concurrency;
    double duration;
    long requests;
    bool header;
} options;

/* ---- small helpers ----------------------------------------------------- */

static void die(const char *fmt, const char *arg) {
    fprintf(stderr, "il-bench: ");
    fprintf(stderr, fmt, arg);
    fputc('\n', stderr);
    exit(2);
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void uuid4(char out[37]) {
    unsigned char b[16];
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd < 0 || read(fd, b, sizeof b) != (ssize_t)sizeof b)
        die("cannot read /dev/urandom: %s", strerror(errno));
    close(fd);
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
             b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12],
             b[13], b[14], b[15]);
}

/* ---- HTTP: one reusable easy handle per worker ------------------------- */

typedef struct conn {
    CURL *curl;
    struct curl_slist *headers;
    char *base;               /* "http://localhost" for unix sockets */
    char *body;               /* response */
    size_t len, cap;
} conn;

static size_t on_data(char *data, size_t size, size_t n, void *userdata) {
    conn *c = userdata;
    size_t add = size * n;
    if (c->len + add + 1 > c->cap) {
        c->cap = (c->len + add + 1) * 2;
        c->body = realloc(c->body, c->cap);
        if (!c->body) die("%s", "out of memory");
    }
    memcpy(c->body + c->len, data, add);
    c->len += add;
    c->body[c->len] = '\0';
    return add;
}

static void conn_init(conn *c, const char *url, int worker) {
    memset(c, 0, sizeof *c);
    c->curl = curl_easy_init();
    if (!c->curl) die("%s", "curl_easy_init failed");
    if (strncmp(url, "unix://", 7) == 0) {
        curl_easy_setopt(c->curl, CURLOPT_UNIX_SOCKET_PATH, url + 7);
        c->base = strdup("http://localhost");
    } else if (strncmp(url, "http://", 7) == 0) {
        c->base = strdup(url);
    } else {
        die("URL must be unix:///path or http://host:port, not %s", url);
    }
    char session[64];
    snprintf(session, sizeof session, "InterLink-Http-Session: Bench#%d", worker);
    c->headers = curl_slist_append(NULL, "Content-Type: application/json");
    c->headers = curl_slist_append(c->headers, session);
    curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, c->headers);
    curl_easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, c);
    curl_easy_setopt(c->curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c->curl, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
    curl_easy_setopt(c->curl, CURLOPT_TIMEOUT_MS, 180000L);
}

static void conn_free(conn *c) {
    curl_easy_cleanup(c->curl);
    curl_slist_free_all(c->headers);
    free(c->base);
    free(c->body);
}

/* Returns the HTTP status, or 0 on transport failure (message on stderr). */
static long conn_call(conn *c, const char *method, const char *path, const char *body,
                      size_t len) {
    char url[512];
    snprintf(url, sizeof url, "%s%s", c->base, path);
    c->len = 0;
    if (c->body) c->body[0] = '\0';
    curl_easy_setopt(c->curl, CURLOPT_URL, url);
    curl_easy_setopt(c->curl, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    CURLcode rc = curl_easy_perform(c->curl);
    if (rc != CURLE_OK) {
        fprintf(stderr, "il-bench: %s %s: %s\n", method, path, curl_easy_strerror(rc));
        return 0;
    }
    long status = 0;
    curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &status);
    return status;
}

/* ---- create / delete ----------------------------------------------------- */

typedef struct job {
    const options *opt;
    json_t *pods;             /* array; filled by create, read by delete */
    atomic_long next;
    atomic_long failures;
    pthread_mutex_t lock;
} job;

static json_t *make_pod(long i, const char *command, const char *annotation) {
    char uid[37], name[64];
    uuid4(uid);
    snprintf(name, sizeof name, "bench-%05ld", i);
    json_t *pod = json_pack("{s:s, s:s, s:{s:s, s:s, s:s, s:{}},"
                     " s:{s:[{s:s, s:s, s:[s, s, s]}], s:s}, s:{s:s}}",
                     "apiVersion", "v1", "kind", "Pod",
                     "metadata", "name", name, "namespace", "bench", "uid", uid, "annotations",
                     "spec", "containers", "name", "main", "image", "busybox", "command", "sh",
                     "-c", command, "restartPolicy", "Never",
                     "status", "phase", "Pending");
    const char *eq = annotation ? strchr(annotation, '=') : NULL;
    if (eq) {
        char *key = strndup(annotation, (size_t)(eq - annotation));
        json_object_set_new(json_object_get(json_object_get(pod, "metadata"), "annotations"),
                            key, json_string(eq + 1));
        free(key);
    }
    return pod;
}

static void *create_worker(void *arg) {
    job *j = arg;
    conn c;
    conn_init(&c, j->opt->url, 0);
    for (long i; (i = atomic_fetch_add(&j->next, 1)) < j->opt->count;) {
        json_t *pod = make_pod(i, j->opt->command, j->opt->annotation);
        json_t *req = json_pack("{s:O, s:n, s:n, s:n, s:s}", "pod", pod, "configmaps",
                                "secrets", "projectedvolumesmaps", "jobscriptURL", "");
        char *body = json_dumps(req, JSON_COMPACT);
        long status = conn_call(&c, "POST", "/create", body, strlen(body));
        if (status != 200) {
            fprintf(stderr, "il-bench: create %ld: HTTP %ld %s\n", i, status,
                    c.body ? c.body : "");
            atomic_fetch_add(&j->failures, 1);
        } else {
            pthread_mutex_lock(&j->lock);
            json_array_set(j->pods, (size_t)i, pod);
            pthread_mutex_unlock(&j->lock);
        }
        free(body);
        json_decref(req);
        json_decref(pod);
    }
    conn_free(&c);
    return NULL;
}

static void *delete_worker(void *arg) {
    job *j = arg;
    conn c;
    conn_init(&c, j->opt->url, 0);
    long n = (long)json_array_size(j->pods);
    for (long i; (i = atomic_fetch_add(&j->next, 1)) < n;) {
        json_t *pod = json_array_get(j->pods, (size_t)i);
        if (json_is_null(pod)) continue;
        char *body = json_dumps(pod, JSON_COMPACT);
        long status = conn_call(&c, "DELETE", "/delete", body, strlen(body));
        if (status != 200) atomic_fetch_add(&j->failures, 1);
        free(body);
    }
    conn_free(&c);
    return NULL;
}

static void run_workers(long n, void *(*fn)(void *), void *arg) {
    pthread_t *t = calloc((size_t)n, sizeof *t);
    for (long i = 0; i < n; i++)
        if (pthread_create(&t[i], NULL, fn, arg) != 0) die("%s", "pthread_create failed");
    for (long i = 0; i < n; i++) pthread_join(t[i], NULL);
    free(t);
}

static json_t *load_pods(const char *path) {
    json_error_t jerr;
    json_t *pods = json_load_file(path, 0, &jerr);
    if (!json_is_array(pods)) die("cannot read a pod array from %s", path);
    return pods;
}

static int cmd_create(const options *opt) {
    if (!opt->out_file || opt->count <= 0) die("%s", "create needs --count N and --out FILE");
    job j = {.opt = opt, .pods = json_array()};
    pthread_mutex_init(&j.lock, NULL);
    for (long i = 0; i < opt->count; i++) json_array_append_new(j.pods, json_null());
    double t0 = now_s();
    run_workers(opt->concurrency, create_worker, &j);
    double dt = now_s() - t0;
    if (json_dump_file(j.pods, opt->out_file, JSON_COMPACT) != 0)
        die("cannot write %s", opt->out_file);
    long failed = atomic_load(&j.failures);
    printf("created %ld pods in %.2f s (%.0f pods/s), %ld failed\n", opt->count - failed, dt,
           (double)(opt->count - failed) / dt, failed);
    json_decref(j.pods);
    pthread_mutex_destroy(&j.lock);
    return failed ? 1 : 0;
}

static int cmd_delete(const options *opt) {
    if (!opt->pods_file) die("%s", "delete needs --pods FILE");
    job j = {.opt = opt, .pods = load_pods(opt->pods_file)};
    double t0 = now_s();
    run_workers(opt->concurrency, delete_worker, &j);
    long failed = atomic_load(&j.failures);
    printf("deleted %zu pods in %.2f s, %ld failed\n", json_array_size(j.pods), now_s() - t0,
           failed);
    json_decref(j.pods);
    return failed ? 1 : 0;
}

/* ---- status load ---------------------------------------------------------- */

typedef struct load {
    const options *opt;
    const char *body;
    size_t body_len;
    double deadline;          /* 0 = until opt->requests are done */
    atomic_long issued;
    atomic_long errors;
    atomic_int worker_ids;
} load;

typedef struct samples {
    double *ms;
    size_t n, cap;
} samples;

typedef struct worker_result {
    load *ld;
    samples lat;
} worker_result;

static bool status_answer_ok(const conn *c, long batch, bool full_check) {
    if (!c->body || c->body[0] != '[') return false;
    if (!full_check) return true;
    json_error_t jerr;
    json_t *arr = json_loads(c->body, 0, &jerr);
    bool ok = json_is_array(arr) && (long)json_array_size(arr) == batch;
    if (!ok) fprintf(stderr, "il-bench: /status answered %zu statuses for %ld pods\n",
                     json_is_array(arr) ? json_array_size(arr) : 0, batch);
    json_decref(arr);
    return ok;
}

static void *status_worker(void *arg) {
    worker_result *r = arg;
    load *ld = r->ld;
    conn c;
    conn_init(&c, ld->opt->url, atomic_fetch_add(&ld->worker_ids, 1));
    bool first = true;
    for (;;) {
        if (ld->deadline > 0 ? now_s() >= ld->deadline
                             : atomic_fetch_add(&ld->issued, 1) >= ld->opt->requests)
            break;
        double t0 = now_s();
        long status = conn_call(&c, "GET", "/status", ld->body, ld->body_len);
        double ms = (now_s() - t0) * 1000.0;
        if (status != 200 || !status_answer_ok(&c, ld->opt->batch, first)) {
            if (atomic_fetch_add(&ld->errors, 1) < 3)
                fprintf(stderr, "il-bench: /status: HTTP %ld %.200s\n", status,
                        c.body ? c.body : "");
            continue;
        }
        first = false;
        if (r->lat.n == r->lat.cap) {
            r->lat.cap = r->lat.cap ? r->lat.cap * 2 : 1024;
            r->lat.ms = realloc(r->lat.ms, r->lat.cap * sizeof *r->lat.ms);
            if (!r->lat.ms) die("%s", "out of memory");
        }
        r->lat.ms[r->lat.n++] = ms;
    }
    conn_free(&c);
    return NULL;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double percentile(const samples *s, double p) {   /* nearest rank */
    if (s->n == 0) return 0;
    size_t rank = (size_t)(p / 100.0 * (double)s->n + 0.999999);
    if (rank < 1) rank = 1;
    return s->ms[rank - 1];
}

static int cmd_status(const options *opt) {
    if (!opt->pods_file || opt->batch <= 0) die("%s", "status needs --pods FILE and --batch N");
    json_t *pods = load_pods(opt->pods_file);
    if ((long)json_array_size(pods) < opt->batch)
        die("%s holds fewer pods than --batch", opt->pods_file);
    json_t *sel = json_array();
    for (long i = 0; i < opt->batch; i++) json_array_append(sel, json_array_get(pods, (size_t)i));
    char *body = json_dumps(sel, JSON_COMPACT);
    json_decref(sel);
    json_decref(pods);

    load ld = {.opt = opt, .body = body, .body_len = strlen(body)};
    worker_result *res = calloc((size_t)opt->concurrency, sizeof *res);
    pthread_t *threads = calloc((size_t)opt->concurrency, sizeof *threads);
    double t0 = now_s();
    if (opt->requests <= 0) ld.deadline = t0 + opt->duration;
    for (long i = 0; i < opt->concurrency; i++) {
        res[i].ld = &ld;
        if (pthread_create(&threads[i], NULL, status_worker, &res[i]) != 0)
            die("%s", "pthread_create failed");
    }
    samples all = {0};
    for (long i = 0; i < opt->concurrency; i++) {
        pthread_join(threads[i], NULL);
        all.n += res[i].lat.n;
    }
    double elapsed = now_s() - t0;
    all.ms = calloc(all.n ? all.n : 1, sizeof *all.ms);
    size_t k = 0;
    for (long i = 0; i < opt->concurrency; i++) {
        memcpy(all.ms + k, res[i].lat.ms, res[i].lat.n * sizeof *all.ms);
        k += res[i].lat.n;
        free(res[i].lat.ms);
    }
    qsort(all.ms, all.n, sizeof *all.ms, cmp_double);

    if (opt->header)
        printf("%-12s %6s %5s %9s %7s %10s %11s %9s %9s\n", "target", "batch", "conc",
               "requests", "errors", "req/s", "pods/s", "p50_ms", "p99_ms");
    printf("%-12s %6ld %5ld %9zu %7ld %10.1f %11.1f %9.2f %9.2f\n",
           opt->label ? opt->label : opt->url, opt->batch, opt->concurrency, all.n,
           atomic_load(&ld.errors), (double)all.n / elapsed,
           (double)all.n * (double)opt->batch / elapsed, percentile(&all, 50),
           percentile(&all, 99));
    fflush(stdout);
    free(all.ms);
    free(res);
    free(threads);
    free(body);
    return atomic_load(&ld.errors) ? 1 : 0;
}

/* ---- main ------------------------------------------------------------------ */

static void usage(FILE *out) {
    fprintf(
        out,
        "usage: il-bench create --url URL --count N --out FILE [--concurrency C] [--command CMD]\n"
        "                       [--annotation KEY=VALUE]\n"
        "       il-bench status --url URL --pods FILE --batch N [--concurrency C]\n"
        "                       [--duration S | --requests N] [--label TEXT] [--header]\n"
        "       il-bench delete --url URL --pods FILE [--concurrency C]\n"
        "URL: unix:///path/to.sock or http://host:port\n");
}

static long parse_long(const char *s, const char *what) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || v < 0) die("bad number for %s", what);
    return v;
}

int main(int argc, char **argv) {
    options opt = {.command = "sleep 600", .concurrency = 4, .duration = 5};
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    opt.mode = argv[1];
    static const struct option longopts[] = {
        {"url", required_argument, NULL, 'u'},      {"pods", required_argument, NULL, 'p'},
        {"out", required_argument, NULL, 'o'},      {"count", required_argument, NULL, 'n'},
        {"batch", required_argument, NULL, 'b'},    {"concurrency", required_argument, NULL, 'c'},
        {"duration", required_argument, NULL, 'd'}, {"requests", required_argument, NULL, 'r'},
        {"command", required_argument, NULL, 'x'},  {"label", required_argument, NULL, 'l'},
        {"header", no_argument, NULL, 'H'},         {"annotation", required_argument, NULL, 'a'},
        {NULL, 0, NULL, 0}};
    optind = 2;
    for (int ch; (ch = getopt_long(argc, argv, "", longopts, NULL)) != -1;) {
        switch (ch) {
        case 'u': opt.url = optarg; break;
        case 'p': opt.pods_file = optarg; break;
        case 'o': opt.out_file = optarg; break;
        case 'n': opt.count = parse_long(optarg, "--count"); break;
        case 'b': opt.batch = parse_long(optarg, "--batch"); break;
        case 'c': opt.concurrency = parse_long(optarg, "--concurrency"); break;
        case 'd': opt.duration = strtod(optarg, NULL); break;
        case 'r': opt.requests = parse_long(optarg, "--requests"); break;
        case 'x': opt.command = optarg; break;
        case 'l': opt.label = optarg; break;
        case 'H': opt.header = true; break;
        case 'a': opt.annotation = optarg; break;
        default: usage(stderr); return 2;
        }
    }
    if (!opt.url) die("%s", "--url is required");
    if (opt.concurrency < 1) opt.concurrency = 1;
    if (opt.duration <= 0 && opt.requests <= 0) die("%s", "--duration or --requests must be > 0");

    curl_global_init(CURL_GLOBAL_DEFAULT);
    int rc;
    if (strcmp(opt.mode, "create") == 0) rc = cmd_create(&opt);
    else if (strcmp(opt.mode, "status") == 0) rc = cmd_status(&opt);
    else if (strcmp(opt.mode, "delete") == 0) rc = cmd_delete(&opt);
    else {
        usage(stderr);
        rc = 2;
    }
    curl_global_cleanup();
    return rc;
}
