"""A minimal Kubernetes REST client (stdlib only) for tests that drive the fake
API server directly: JSON requests with a bearer token or the client
certificate, streaming watches read on a background thread, and helpers for
the /_test hooks.
"""

import http.client
import json
import queue
import ssl
import threading
import time
import urllib.parse


class KubeClient:
    def __init__(self, server, token=None, cert=None, use_token=True, ca=None):
        """``server``: a FakeAPIServer (or anything with .port, .pki, .token)."""
        self.host, self.port = "127.0.0.1", server.port
        self.ctx = ssl.create_default_context(cafile=ca or server.pki.ca_crt)
        if cert:
            self.ctx.load_cert_chain(*cert)
        self.token = token if token is not None else (server.token if use_token and not cert else None)

    def _conn(self, timeout=30):
        return http.client.HTTPSConnection(self.host, self.port, context=self.ctx, timeout=timeout)

    def _headers(self, ctype=None):
        h = {"Accept": "application/json"}
        if self.token:
            h["Authorization"] = "Bearer " + self.token
        if ctype:
            h["Content-Type"] = ctype
        return h

    def request(self, method, path, body=None, ctype="application/json", params=None):
        """Return (status code, decoded JSON or text)."""
        if params:
            path += ("&" if "?" in path else "?") + urllib.parse.urlencode(params)
        data = None
        if body is not None:
            data = body if isinstance(body, (bytes, str)) else json.dumps(body)
        conn = self._conn()
        try:
            conn.request(method, path, body=data, headers=self._headers(ctype if data is not None else None))
            resp = conn.getresponse()
            raw = resp.read()
        finally:
            conn.close()
        try:
            return resp.status, json.loads(raw)
        except ValueError:
            return resp.status, raw.decode(errors="replace")

    def get(self, url, **params):
        return self.request("GET", url, params=params or None)

    def post(self, path, body):
        return self.request("POST", path, body)

    def put(self, path, body):
        return self.request("PUT", path, body)

    def patch(self, path, body, kind="strategic"):
        ctype = {"strategic": "application/strategic-merge-patch+json",
                 "merge": "application/merge-patch+json",
                 "json": "application/json-patch+json"}.get(kind, kind)
        return self.request("PATCH", path, body, ctype)

    def delete(self, url, body=None, **params):
        return self.request("DELETE", url, body, params=params or None)

    def watch(self, path, **params):
        params.setdefault("watch", "true")
        return Watch(self, path + "?" + urllib.parse.urlencode(params))

    def stream(self, path):
        """Open a GET and return the raw http.client response (for streamed bodies)."""
        conn = self._conn(timeout=30)
        conn.request("GET", path, headers=self._headers())
        return conn, conn.getresponse()


class Watch:
    """A watch stream read on a thread; events arrive on ``self.events``."""

    def __init__(self, client, path):
        self.conn = client._conn(timeout=120)
        self.conn.request("GET", path, headers=client._headers())
        self.resp = self.conn.getresponse()
        self.status = self.resp.status
        self.events = queue.Queue()
        self.ended = threading.Event()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        try:
            while True:
                line = self.resp.readline()
                if not line:
                    break
                if line.strip():
                    self.events.put(json.loads(line))
        except Exception:
            pass
        finally:
            self.ended.set()

    def next(self, timeout=5.0, skip_bookmarks=True):
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no watch event within %.1fs" % timeout)
            try:
                ev = self.events.get(timeout=left)
            except queue.Empty:
                raise TimeoutError("no watch event within %.1fs" % timeout)
            if skip_bookmarks and ev["type"] == "BOOKMARK":
                continue
            return ev

    def expect_none(self, wait=0.5, skip_bookmarks=True):
        try:
            ev = self.next(wait, skip_bookmarks)
        except TimeoutError:
            return
        raise AssertionError("unexpected watch event: %s %s" % (ev["type"], ev["object"]["metadata"]))

    def close(self):
        try:
            self.conn.sock.shutdown(2)
        except Exception:
            pass
        self.conn.close()


NODE = "vk-test"   # the node the virtual kubelet registers in the VK tests


class KubeObjects:
    """The object helpers of every Kubernetes API the tests use (the double's
    wrapper vkutil.FakeKube and realkube.RealKube); needs self.api, a
    KubeClient."""

    def pod(self, name, ns="default"):
        code, body = self.api.get(f"/api/v1/namespaces/{ns}/pods/{name}")
        return body if code == 200 else None

    def node(self, name=NODE):
        code, body = self.api.get(f"/api/v1/nodes/{name}")
        return body if code == 200 else None

    def create_pod(self, name, containers, volumes=None, ns="default", **spec):
        pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": ns},
               "spec": {"containers": containers, "restartPolicy": "Never",
                        "nodeName": NODE, "volumes": volumes or [],
                        "tolerations": [{"key": "virtual-node.interlink/no-schedule",
                                         "operator": "Exists"}], **spec}}
        code, body = self.api.post(f"/api/v1/namespaces/{ns}/pods", pod)
        assert code == 201, body
        return body

    def create(self, plural, obj, ns="default"):
        code, body = self.api.post(f"/api/v1/namespaces/{ns}/{plural}", obj)
        assert code == 201, body
        return body

    def delete_pod(self, name, ns="default", **opts):
        return self.api.delete(f"/api/v1/namespaces/{ns}/pods/{name}", opts or None)

    def events(self, pod_name, ns="default"):
        code, body = self.api.get(f"/api/v1/namespaces/{ns}/events",
                                  fieldSelector=f"involvedObject.name={pod_name}")
        return body.get("items", []) if code == 200 else []
