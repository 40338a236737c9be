"""A small OTLP/HTTP receiver (JSON encoding) for tests: POST /v1/traces
bodies are decoded and their spans kept, flattened, with the service name of
their resource.  Answers 200 {} as a collector does; `fail` makes it answer
503 (a collector in trouble)."""
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
