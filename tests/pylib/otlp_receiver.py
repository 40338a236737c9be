"""A small OTLP/HTTP receiver (JSON encoding) for tests: POST /v1/traces
bodies are decoded and their spans kept, flattened, with the service name of
their resource.  Answers 200 {} as a collector does; `fail` makes it answer
503 (a collector in trouble).  Also: what one pod's create must look like as
a trace (create_trace, assert_create_trace)."""
import http.server
import json
import threading


class Receiver:
    def __init__(self):
        self.spans = []
        self.posts = 0
        self.fail = False
        self.lock = threading.Lock()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.path != "/v1/traces" or receiver.fail:
                    self.send_response(404 if self.path != "/v1/traces" else 503)
                    self.end_headers()
                    return
                receiver.record(json.loads(body))
                out = b"{}"
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = None

    def record(self, doc):
        with self.lock:
            self.posts += 1
            for rs in doc.get("resourceSpans", []):
                attrs = attributes(rs.get("resource", {}).get("attributes", []))
                for ss in rs.get("scopeSpans", []):
                    for span in ss.get("spans", []):
                        span = dict(span)
                        span["service"] = attrs.get("service.name")
                        span["attrs"] = attributes(span.get("attributes", []))
                        self.spans.append(span)

    def snapshot(self):
        with self.lock:
            return list(self.spans)

    def start(self):
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return self

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def attributes(kvs):
    """OTLP KeyValue list -> dict of plain values."""
    out = {}
    for kv in kvs:
        v = kv.get("value", {})
        for kind in ("stringValue", "intValue", "boolValue", "doubleValue"):
            if kind in v:
                out[kv["key"]] = v[kind]
    return out


def create_trace(receiver, uid):
    """The spans of the trace of the VK's "create pod" for pod uid, once its
    sbatch span has arrived; None before."""
    spans = receiver.snapshot()
    roots = [s for s in spans if s["service"] == "interlink-vk" and s["name"] == "create pod"
             and s["attrs"].get("k8s.pod.uid") == uid]
    if not roots:
        return None
    trace = [s for s in spans if s["traceId"] == roots[0]["traceId"]]
    return trace if any(s["name"] == "sbatch" for s in trace) else None


def assert_create_trace(spans, uid, job, namespace):
    """One connected trace: the VK's root span, its call to interlink,
    interlink's call to interlink-slurm, down to sbatch, with the pod's
    attributes; children within their parents' time."""
    ids = {s["spanId"]: s for s in spans}
    root = [s for s in spans if not s.get("parentSpanId")]
    assert [(s["service"], s["name"]) for s in root] == [("interlink-vk", "create pod")], root
    assert root[0]["attrs"]["k8s.namespace.name"] == namespace
    assert root[0]["attrs"]["interlink.job_id"] == job
    for s in spans:
        assert not s.get("parentSpanId") or s["parentSpanId"] in ids, (s, sorted(ids))

    def chain(span):
        out = []
        while span:
            out.append((span["service"], span["name"], span["kind"]))
            span = ids.get(span.get("parentSpanId"))
        return out

    sbatch = [s for s in spans if s["name"] == "sbatch"]
    assert len(sbatch) == 1, sbatch
    assert chain(sbatch[0]) == [
        ("interlink-slurm", "sbatch", 1),
        ("interlink-slurm", "POST /create", 2),
        ("interlink", "POST /create", 3),
        ("interlink", "POST /create", 2),
        ("interlink-vk", "POST /create", 3),
        ("interlink-vk", "create pod", 1),
    ], chain(sbatch[0])
    assert sbatch[0]["attrs"]["process.exit.code"] == "0"
    plugin = ids[sbatch[0]["parentSpanId"]]
    assert plugin["attrs"]["k8s.pod.uid"] == uid
    assert plugin["attrs"]["k8s.namespace.name"] == namespace
    assert plugin["attrs"]["interlink.job_id"] == job
    assert plugin["attrs"]["interlink.backend"] == "slurm"
    assert plugin["attrs"]["http.response.status_code"] == "200"
    api = ids[ids[plugin["parentSpanId"]]["parentSpanId"]]
    assert api["attrs"]["k8s.pod.uid"] == uid and api["attrs"]["interlink.job_id"] == job
    for s in spans:
        p = ids.get(s.get("parentSpanId"))
        if p:
            assert int(p["startTimeUnixNano"]) <= int(s["startTimeUnixNano"])
            assert int(s["endTimeUnixNano"]) <= int(p["endTimeUnixNano"])
