#!/usr/bin/python3
"""A test double of the Kubernetes API server, for testing a (virtual) kubelet.

Start it:

    python3 tests/kube/fake_apiserver.py --port 0 --dir DIR [--auto-approve-csr]

It serves HTTPS on 127.0.0.1, writes DIR/port, DIR/kubeconfig (token user in
the current context, client-certificate user in context "fake-cert"),
DIR/kubeconfig-cert (client certificate in the current context), DIR/token and
the PKI (DIR/ca.crt ...), and serves until SIGTERM.  Or import it:

    srv = FakeAPIServer(directory).start(); ...; srv.stop()

See tests/kube/README.md for what it implements and what it does not.
"""

import argparse
import base64
import datetime
import hashlib
import hmac
import http.client
import json
import os
import re
import secrets
import signal
import socket
import ssl
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pylib"))

from kube_pki import PKI  # noqa: E402
from kube_resources import (ApiError, CSRs, all_resources, bad_request,  # noqa: E402
                            conflict, invalid, not_found)
from kube_store import ResourceExpired, Store, fmt_time, now  # noqa: E402

API_AUDIENCE = "https://kubernetes.default.svc.cluster.local"
ISSUER = "https://kubernetes.default.svc.cluster.local"
KUBE_VERSION = {"major": "1", "minor": "30", "gitVersion": "v1.30.0-fake", "gitCommit": "fake",
                "gitTreeState": "clean", "buildDate": "2024-01-01T00:00:00Z", "goVersion": "go1.22",
                "compiler": "gc", "platform": "linux/amd64"}
KUBELET_SERVING = "kubernetes.io/kubelet-serving"
KUBELET_CLIENT = "kubernetes.io/kube-apiserver-client-kubelet"
APISERVER_CLIENT = "kubernetes.io/kube-apiserver-client"
CHUNK = 65536


def b64url(data):
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def b64url_dec(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


# ==========================================================================
# Authentication
# ==========================================================================

class Authenticator:
    """Bearer tokens (static + ServiceAccount JWTs it issued) and client certs."""

    def __init__(self, store, key, static_tokens):
        self.store = store
        self.key = key
        self.static = static_tokens          # token -> user info

    # -- ServiceAccount tokens (TokenRequest) ------------------------------
    def issue(self, sa, audiences, seconds, bound=None):
        iat = int(time.time())
        ns, name = sa["metadata"]["namespace"], sa["metadata"]["name"]
        claims = {"iss": ISSUER, "aud": audiences, "sub": "system:serviceaccount:%s:%s" % (ns, name),
                  "iat": iat, "nbf": iat, "exp": iat + seconds, "jti": secrets.token_hex(16),
                  "kubernetes.io": {"namespace": ns, "serviceaccount": {
                      "name": name, "uid": sa["metadata"]["uid"]}}}
        if bound:
            claims["kubernetes.io"][bound["kind"].lower()] = {"name": bound["name"], "uid": bound["uid"]}
        header = {"alg": "HS256", "kid": hashlib.sha256(self.key).hexdigest()[:16], "typ": "JWT"}
        signing = b64url(json.dumps(header).encode()) + "." + b64url(json.dumps(claims).encode())
        sig = hmac.new(self.key, signing.encode(), hashlib.sha256).digest()
        return signing + "." + b64url(sig), claims["exp"]

    def _check_jwt(self, token):
        """Return (user, token audiences) or raise ValueError(reason)."""
        parts = token.split(".")
        if len(parts) != 3:
            raise ValueError("invalid bearer token")
        sig = hmac.new(self.key, (parts[0] + "." + parts[1]).encode(), hashlib.sha256).digest()
        try:
            ok = hmac.compare_digest(sig, b64url_dec(parts[2]))
            claims = json.loads(b64url_dec(parts[1]))
        except Exception:
            raise ValueError("invalid bearer token")
        if not ok:
            raise ValueError("invalid bearer token, token signature is invalid")
        if claims.get("exp", 0) < time.time():
            raise ValueError("invalid bearer token, token has expired")
        k = claims.get("kubernetes.io") or {}
        ns, sa = k.get("namespace"), (k.get("serviceaccount") or {})
        sares = self.store.resource("", "serviceaccounts")
        cur = self.store.get_raw(sares, ns, sa.get("name"))
        if not cur or cur["metadata"]["uid"] != sa.get("uid"):
            raise ValueError('invalid bearer token, service account %s/%s has been deleted'
                             % (ns, sa.get("name")))
        extra = {}
        for kind, plural in (("pod", "pods"), ("secret", "secrets")):
            ref = k.get(kind)
            if ref:
                obj = self.store.get_raw(self.store.resource("", plural), ns, ref["name"])
                if not obj or obj["metadata"]["uid"] != ref["uid"]:
                    raise ValueError("invalid bearer token, %s %s/%s has been deleted"
                                     % (kind, ns, ref["name"]))
                if kind == "pod":
                    extra["authentication.kubernetes.io/pod-name"] = [ref["name"]]
                    extra["authentication.kubernetes.io/pod-uid"] = [ref["uid"]]
        user = {"username": claims["sub"], "uid": sa.get("uid"),
                "groups": ["system:serviceaccounts", "system:serviceaccounts:" + ns,
                           "system:authenticated"]}
        if extra:
            user["extra"] = extra
        return user, claims.get("aud") or []

    def token_user(self, token, audiences=None):
        """Authenticate a bearer token for ``audiences`` (None: the API server's own).

        Returns (user, matched audiences) or raises ValueError.
        """
        wanted = audiences or [API_AUDIENCE]
        if token in self.static:
            return dict(self.static[token]), wanted
        user, aud = self._check_jwt(token)
        matched = [a for a in wanted if a in aud]
        if not matched:
            raise ValueError("invalid bearer token, token audiences %s is invalid for the target "
                             "audiences %s" % (json.dumps(aud), json.dumps(wanted)))
        return user, matched

    @staticmethod
    def cert_user(peercert):
        cn, orgs = "", []
        for rdn in peercert.get("subject", ()):
            for k, v in rdn:
                if k == "commonName":
                    cn = v
                elif k == "organizationName":
                    orgs.append(v)
        return {"username": cn, "groups": orgs + ["system:authenticated"]}


# ==========================================================================
# The server
# ==========================================================================

class _TLSServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, addr, handler, app):
        self.app = app
        super().__init__(addr, handler)

    def get_request(self):
        sock, addr = self.socket.accept()
        # the TLS handshake happens in the handler thread (see Handler.setup)
        return self.app.ssl_ctx.wrap_socket(sock, server_side=True,
                                            do_handshake_on_connect=False), addr

    def handle_error(self, request, client_address):
        if self.app.verbose:
            super().handle_error(request, client_address)


class FakeAPIServer:
    def __init__(self, directory, port=0, auto_approve_csr=False, event_window=1000,
                 bookmark_interval=5.0, watch_timeout=1800, csr_sign_delay=0.2,
                 verify_kubelet_cert=False, static_tokens=(), key_type="ec", verbose=False,
                 kubelet_address_types=("InternalIP", "ExternalIP", "Hostname"),
                 csr_gc_finished=3600, csr_gc_pending=86400):
        self.dir = os.path.abspath(directory)
        self.port = port
        self.auto_approve_csr = auto_approve_csr
        self.bookmark_interval = bookmark_interval
        self.watch_timeout = watch_timeout
        self.csr_sign_delay = csr_sign_delay
        self.csr_gc_finished = csr_gc_finished
        self.csr_gc_pending = csr_gc_pending
        self.verify_kubelet_cert = verify_kubelet_cert
        self.kubelet_address_types = list(kubelet_address_types)
        self.verbose = verbose
        self.pki = PKI(self.dir, key_type).ensure()
        self.resources = all_resources()
        self.store = Store(self.resources, window=event_window, ca_pem=self.pki.ca_pem())
        self.store.after_commit.append(self._on_commit)
        self.token = self._persistent_secret("token", lambda: secrets.token_hex(24))
        key = self._persistent_secret("sa-signing.key", lambda: secrets.token_hex(32))
        static = {self.token: {"username": "kubernetes-admin", "uid": "",
                               "groups": ["system:masters", "system:authenticated"]}}
        for spec in static_tokens:        # token,user,uid[,"g1,g2"] like --token-auth-file
            parts = spec.split(",", 3)
            groups = parts[3].strip('"').split(",") if len(parts) > 3 and parts[3] else []
            static[parts[0]] = {"username": parts[1], "uid": parts[2] if len(parts) > 2 else "",
                                "groups": groups + ["system:authenticated"]}
        self.auth = Authenticator(self.store, key.encode(), static)
        self.requests = []
        self.requests_lock = threading.Lock()
        self.faults = []
        self.watches = {}
        self.watch_seq = 0
        self.stopping = False
        self.stopped = threading.Event()
        self.httpd = None
        for ns in ("default", "kube-system", "kube-public", "kube-node-lease"):
            self.store.create(self.store.resource("", "namespaces"), None, {"metadata": {"name": ns}})
        self.ssl_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ssl_ctx.load_cert_chain(self.pki.server_crt, self.pki.server_key)
        self.ssl_ctx.load_verify_locations(self.pki.ca_crt)
        self.ssl_ctx.verify_mode = ssl.CERT_OPTIONAL

    def _persistent_secret(self, name, make):
        path = os.path.join(self.dir, name)
        if os.path.exists(path):
            with open(path) as f:
                return f.read().strip()
        value = make()
        with open(path, "w") as f:
            f.write(value + "\n")
        os.chmod(path, 0o600)
        return value

    # -- lifecycle -----------------------------------------------------------
    def start(self):
        self.httpd = _TLSServer(("127.0.0.1", self.port), Handler, self)
        self.port = self.httpd.server_address[1]
        self._write_kubeconfigs()
        with open(os.path.join(self.dir, "port"), "w") as f:
            f.write("%d\n" % self.port)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        threading.Thread(target=self._csr_cleaner, daemon=True).start()
        return self

    def serve_until_signal(self):
        done = threading.Event()
        signal.signal(signal.SIGTERM, lambda *a: done.set())
        signal.signal(signal.SIGINT, lambda *a: done.set())
        self.start()
        done.wait()
        self.stop()

    def stop(self):
        self.stopping = True
        self.stopped.set()
        self.store.close_watches()
        if self.httpd:
            self.httpd.shutdown()
            self.httpd.server_close()

    @property
    def url(self):
        return "https://127.0.0.1:%d" % self.port

    @property
    def kubeconfig(self):
        return os.path.join(self.dir, "kubeconfig")

    def _write_kubeconfigs(self):
        def b64file(p):
            with open(p, "rb") as f:
                return base64.b64encode(f.read()).decode()
        for fname, current in (("kubeconfig", "fake"), ("kubeconfig-cert", "fake-cert")):
            text = (
                "apiVersion: v1\nkind: Config\n"
                "clusters:\n- name: fake\n  cluster:\n"
                "    server: %(url)s\n    certificate-authority-data: %(ca)s\n"
                "users:\n- name: fake-token\n  user:\n    token: %(token)s\n"
                "- name: fake-cert\n  user:\n    client-certificate-data: %(crt)s\n"
                "    client-key-data: %(key)s\n"
                "contexts:\n- name: fake\n  context:\n    cluster: fake\n    user: fake-token\n"
                "    namespace: default\n"
                "- name: fake-cert\n  context:\n    cluster: fake\n    user: fake-cert\n"
                "    namespace: default\n"
                "current-context: %(current)s\n"
            ) % {"url": self.url, "ca": b64file(self.pki.ca_crt), "token": self.token,
                 "crt": b64file(self.pki.admin_crt), "key": b64file(self.pki.admin_key),
                 "current": current}
            path = os.path.join(self.dir, fname)
            with open(path, "w") as f:
                f.write(text)
            os.chmod(path, 0o600)

    # -- request log / faults ------------------------------------------------
    def record(self, entry):
        with self.requests_lock:
            self.requests.append(entry)

    def take_fault(self, method, path, query):
        with self.requests_lock:
            for f in self.faults:
                if f.get("method") and f["method"].upper() != method:
                    continue
                if f.get("path") and f["path"] != path:
                    continue
                if f.get("path_prefix") and not path.startswith(f["path_prefix"]):
                    continue
                if f.get("path_regex") and not re.fullmatch(f["path_regex"], path):
                    continue
                if f.get("query_regex") and not re.search(f["query_regex"], query):
                    continue
                if f["count"] == 0:
                    continue
                if f["count"] > 0:
                    f["count"] -= 1
                return dict(f)
        return None

    # -- CSR signer / approver (kube-controller-manager) ---------------------
    def _on_commit(self, res, type_, obj):
        if isinstance(res, CSRs) and type_ != "DELETED":
            t = threading.Timer(self.csr_sign_delay, self._csr_controller, (obj["metadata"]["name"],))
            t.daemon = True
            t.start()

    def _csr_controller(self, name):
        res = self.store.resource("certificates.k8s.io", "certificatesigningrequests")
        csr = self.store.get_raw(res, None, name)
        if not csr or self.stopping:
            return
        spec, status = csr.get("spec") or {}, csr.get("status") or {}
        conds = {c.get("type") for c in status.get("conditions") or []}
        if status.get("certificate") or "Denied" in conds or "Failed" in conds:
            return
        if "Approved" not in conds:
            if self.auto_approve_csr and spec.get("signerName") == KUBELET_SERVING:
                csr.setdefault("status", {}).setdefault("conditions", []).append({
                    "type": "Approved", "status": "True", "reason": "AutoApproved",
                    "message": "approved by the fake API server (--auto-approve-csr)",
                    "lastUpdateTime": fmt_time(now()), "lastTransitionTime": fmt_time(now())})
                try:
                    self.store.update(res, None, name, csr, "approval")
                except ApiError:
                    pass
            return
        signer = spec.get("signerName")
        if signer not in (KUBELET_SERVING, KUBELET_CLIENT, APISERVER_CLIENT):
            return          # no signer for it in this "cluster"
        try:
            pem = base64.b64decode(spec["request"]).decode()
            info = self.pki.parse_csr(pem)
            problem = self._signer_check(signer, info, set(spec.get("usages") or []))
            cert = None
            if not problem:
                sans = ["DNS:" + d for d in info["dns"]] + ["IP:" + i for i in info["ips"]]
                cert = self.pki.sign_csr(pem, spec.get("usages") or [],
                                         spec.get("expirationSeconds") or 365 * 86400, sans)
        except (ValueError, KeyError) as e:
            problem = "unable to parse csr: %s" % e
        for _ in range(5):
            csr = self.store.get_raw(res, None, name)
            if not csr:
                return
            st = csr.setdefault("status", {})
            if problem:
                st.setdefault("conditions", []).append({
                    "type": "Failed", "status": "True", "reason": "SignerValidationFailure",
                    "message": problem, "lastUpdateTime": fmt_time(now()),
                    "lastTransitionTime": fmt_time(now())})
            else:
                st["certificate"] = base64.b64encode(cert.encode()).decode()
            try:
                self.store.update(res, None, name, csr, "status")
                return
            except ApiError:
                continue

    # -- CSR cleaner (kube-controller-manager's csrcleaner) ---------------------
    def _csr_cleaner(self):
        # The real one looks every hour; here often enough for short test ages.
        period = max(0.2, min(60.0, self.csr_gc_finished / 2, self.csr_gc_pending / 2))
        while not self.stopped.wait(period):
            self.collect_csrs()

    def collect_csrs(self):
        """Delete the CSRs the controller-manager's cleaner would: Approved,
        Denied or Failed for csr_gc_finished seconds (1 h) by the condition's
        lastUpdateTime, Pending for csr_gc_pending seconds (24 h) since
        creation.  Not modelled: it also deletes an issued CSR as soon as
        its certificate has expired (at the earliest 10 min, the shortest
        expirationSeconds).  Returns the names deleted."""
        res = self.store.resource("certificates.k8s.io", "certificatesigningrequests")
        t = now()

        def older(stamp, seconds):
            try:
                when = datetime.datetime.strptime(stamp or "", "%Y-%m-%dT%H:%M:%SZ")
            except ValueError:
                return False
            return (t - when.replace(tzinfo=datetime.timezone.utc)).total_seconds() >= seconds

        gone = []
        for csr in self.store.list(res, None)["items"]:
            meta, conds = csr["metadata"], (csr.get("status") or {}).get("conditions") or []
            finished = [c for c in conds if c.get("type") in ("Approved", "Denied", "Failed")]
            if finished:
                expired = any(older(c.get("lastUpdateTime"), self.csr_gc_finished) for c in finished)
            else:
                expired = older(meta.get("creationTimestamp"), self.csr_gc_pending)
            if not expired:
                continue
            try:
                self.store.delete(res, None, meta["name"], {"preconditions": {"uid": meta["uid"]}})
                gone.append(meta["name"])
            except ApiError:
                pass    # changed or deleted meanwhile: the next round decides
        return gone

    @staticmethod
    def _signer_check(signer, info, usages):
        if signer in (KUBELET_SERVING, KUBELET_CLIENT):
            if info["orgs"] != ["system:nodes"]:
                return 'subject organization is not system:nodes'
            if not info["cn"].startswith("system:node:"):
                return 'subject common name does not begin with "system:node:"'
            if info["emails"] or info["uris"]:
                return "email and URI subjectAltNames are not allowed"
        if signer == KUBELET_SERVING:
            if not (info["dns"] or info["ips"]):
                return "DNS or IP subjectAltName is required"
            allowed = [{"digital signature", "key encipherment", "server auth"},
                       {"digital signature", "server auth"}]
            if usages not in allowed:
                return "usages did not match %s" % sorted(allowed[0])
        elif signer == KUBELET_CLIENT:
            if info["dns"] or info["ips"]:
                return "DNS or IP subjectAltNames are not allowed"
            if usages not in ({"digital signature", "key encipherment", "client auth"},
                              {"digital signature", "client auth"}):
                return "usages did not match"
        elif signer == APISERVER_CLIENT:
            if "client auth" not in usages or "server auth" in usages:
                return "invalid usage for client certificate"
        return None

    # -- discovery -----------------------------------------------------------
    def discovery(self, group, version):
        items = []
        for r in self.resources:
            if r.group != group or r.version != version:
                continue
            items.append({"name": r.plural, "singularName": r.kind.lower(), "namespaced": r.namespaced,
                          "kind": r.kind, "verbs": r.verbs, "shortNames": list(r.short_names)})
            for sub in r.subresources:
                items.append({"name": "%s/%s" % (r.plural, sub), "singularName": "",
                              "namespaced": r.namespaced, "kind": r.kind, "verbs": ["get", "patch", "update"]})
        if not items:
            return None
        return {"kind": "APIResourceList", "apiVersion": "v1",
                "groupVersion": version if not group else "%s/%s" % (group, version),
                "resources": items}

    def groups(self):
        gv = {}
        for r in self.resources:
            if r.group:
                gv.setdefault(r.group, set()).add(r.version)
        out = []
        for g in sorted(gv):
            versions = [{"groupVersion": "%s/%s" % (g, v), "version": v} for v in sorted(gv[g])]
            out.append({"name": g, "versions": versions, "preferredVersion": versions[0]})
        return {"kind": "APIGroupList", "apiVersion": "v1", "groups": out}


# ==========================================================================
# HTTP handler
# ==========================================================================

class ClientGone(Exception):
    pass


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # TCP_NODELAY (set by StreamRequestHandler.setup): the headers and the body
    # go out as separate writes, and with Nagle on the body waits for the
    # client's delayed ACK of the headers, ~40 ms per keep-alive request.
    # Watch chunks are flushed one by one and leave at once too.
    disable_nagle_algorithm = True
    server_version = "fake-kube-apiserver"
    sys_version = ""

    # -- plumbing --------------------------------------------------------------
    def setup(self):
        self.request.settimeout(10)
        try:
            self.request.do_handshake()
        except (ssl.SSLError, OSError):
            self.handshake_ok = False
        else:
            self.handshake_ok = True
        self.request.settimeout(None)
        super().setup()

    def handle(self):
        if self.handshake_ok:
            try:
                super().handle()
            except (ClientGone, ConnectionError, ssl.SSLError, socket.timeout, OSError):
                self.close_connection = True

    def log_message(self, fmt, *args):
        if self.app.verbose:
            sys.stderr.write("fake-apiserver: " + (fmt % args) + "\n")

    @property
    def app(self):
        return self.server.app

    def _read_body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            data = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    return data
                data += self.rfile.read(size)
                self.rfile.readline()
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def _send(self, code, body, ctype="application/json", headers=None):
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
        elif isinstance(body, str):
            body = body.encode()
        self.entry["code"] = code
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-cache, private")
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _send_error(self, err):
        self._send(err.code, err.status(), headers=err.headers)

    def _start_stream(self, code=200, ctype="application/json", headers=None):
        self.entry["code"] = code
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Cache-Control", "no-cache, private")
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.flush()

    def _chunk(self, data):
        if not data:
            return
        try:
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            self.wfile.flush()
        except (OSError, ssl.SSLError):
            raise ClientGone()

    def _end_stream(self):
        try:
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except (OSError, ssl.SSLError):
            raise ClientGone()

    # -- dispatch --------------------------------------------------------------
    def do_GET(self):
        self._dispatch()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_GET

    def _dispatch(self):
        url = urllib.parse.urlsplit(self.path)
        path, query = url.path, url.query
        self.params = {k: v[-1] for k, v in urllib.parse.parse_qs(query, keep_blank_values=True).items()}
        self.raw_body = self._read_body()
        self.ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        self.entry = {"time": time.time(), "method": self.command, "path": path, "query": query,
                      "contentType": self.ctype, "code": None, "user": None,
                      "body": self.raw_body[:65536].decode(errors="replace")}
        if path.startswith("/_test/"):
            try:
                return self._test_hook(path)
            except ApiError as e:
                return self._send_error(e)
        self.app.record(self.entry)
        fault = self.app.take_fault(self.command, path, query)
        if fault:
            if fault.get("delay"):
                time.sleep(fault["delay"])
            if fault.get("drop"):
                self.entry["code"] = 0
                self.close_connection = True
                self.request.shutdown(socket.SHUT_RDWR)
                return
            if fault.get("code"):
                hdr = {"Retry-After": str(fault["retry_after"])} if fault.get("retry_after") else None
                return self._send_error(ApiError(
                    fault["code"], fault.get("reason") or http.client.responses.get(fault["code"], "")
                    .replace(" ", ""), fault.get("message") or "injected failure", headers=hdr))
        try:
            if path in ("/healthz", "/livez", "/readyz"):
                return self._send(200, "ok", "text/plain; charset=utf-8")
            if path == "/version":
                return self._send(200, KUBE_VERSION)
            self.user = self._authenticate()
            self.entry["user"] = self.user["username"]
            self._route(path)
        except ApiError as e:
            self._send_error(e)
        except ClientGone:
            raise
        except Exception as e:  # a bug in the double: report it as the real server would
            if self.app.verbose:
                import traceback
                traceback.print_exc()
            self._send_error(ApiError(500, "InternalError", "Internal error occurred: %r" % e))

    def _authenticate(self):
        authz = self.headers.get("Authorization") or ""
        if authz.lower().startswith("bearer "):
            try:
                user, _ = self.app.auth.token_user(authz[7:].strip())
                return user
            except ValueError:
                raise ApiError(401, "Unauthorized", "Unauthorized")
        cert = self.request.getpeercert()
        if cert:
            return Authenticator.cert_user(cert)
        raise ApiError(401, "Unauthorized", "Unauthorized")

    def _body_json(self, required=True):
        if not self.raw_body:
            if required:
                raise bad_request("the body of the request was empty")
            return None
        try:
            return json.loads(self.raw_body)
        except ValueError as e:
            if self.ctype in ("application/yaml", "application/apply-patch+yaml"):
                try:
                    import yaml
                    return yaml.safe_load(self.raw_body)
                except Exception:
                    pass
            raise bad_request("couldn't get version/kind; json parse error: %s" % e)

    # -- routing ---------------------------------------------------------------
    def _route(self, path):
        parts = [urllib.parse.unquote(p) for p in path.strip("/").split("/")] if path.strip("/") else []
        if parts == ["api"]:
            return self._send(200, {"kind": "APIVersions", "versions": ["v1"],
                                    "serverAddressByClientCIDRs": [{
                                        "clientCIDR": "0.0.0.0/0",
                                        "serverAddress": "127.0.0.1:%d" % self.app.port}]})
        if parts == ["apis"]:
            return self._send(200, self.app.groups())
        if len(parts) >= 2 and parts[0] == "api":
            group, version, rest = "", parts[1], parts[2:]
        elif len(parts) >= 3 and parts[0] == "apis":
            group, version, rest = parts[1], parts[2], parts[3:]
        else:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        if not rest:
            d = self.app.discovery(group, version)
            if d is None:
                raise ApiError(404, "NotFound", "the server could not find the requested resource")
            return self._send(200, d)
        legacy_watch = False
        if rest[0] == "watch":
            legacy_watch, rest = True, rest[1:]
        res, ns = None, None
        if len(rest) >= 3 and rest[0] == "namespaces":
            cand = self._resource(group, version, rest[2])
            if cand is not None and cand.namespaced:
                res, ns, rest = cand, rest[1], rest[3:]
        if res is None and rest:
            res = self._resource(group, version, rest[0])
            rest = rest[1:]
            if res is not None and res.namespaced and rest:
                raise ApiError(404, "NotFound", "the server could not find the requested resource")
        if res is None:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        name = rest[0] if rest else None
        sub = rest[1] if len(rest) > 1 else None
        tail = rest[2:]
        if legacy_watch:
            self.params["watch"] = "true"
            if name:
                self.params["fieldSelector"] = "metadata.name=" + name
            return self._collection(res, ns)
        if name is None:
            return self._collection(res, ns)
        if sub is None:
            return self._item(res, ns, name)
        if sub not in res.subresources:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        return self._subresource(res, ns, name, sub, tail)

    def _resource(self, group, version, plural):
        for r in self.app.resources:
            if r.group == group and r.version == version and r.plural == plural:
                return r
        return None

    def _dry_run(self):
        return self.params.get("dryRun") == "All"

    def _method_not_allowed(self):
        raise ApiError(405, "MethodNotAllowed",
                       "the server does not allow this method on the requested resource")

    def _collection(self, res, ns):
        store = self.app.store
        m = self.command
        if m == "GET":
            if "list" not in res.verbs:
                self._method_not_allowed()
            if self.params.get("watch") in ("1", "true", "True"):
                return self._watch(res, ns)
            try:
                limit = int(self.params.get("limit") or 0)
            except ValueError:
                raise bad_request("invalid limit")
            return self._send(200, store.list(res, ns, self.params.get("labelSelector", ""),
                                              self.params.get("fieldSelector", ""), limit,
                                              self.params.get("continue", "")))
        if m == "POST":
            body = self._body_json()
            if res.plural == "tokenreviews":
                return self._token_review(body)
            if res.namespaced and not ns:
                self._method_not_allowed()
            if isinstance(res, CSRs):
                self._validate_csr_request(res, body)
            obj = store.create(res, ns, body, self.user, self._dry_run())
            return self._send(201, obj)
        if m == "DELETE":
            opts = self._delete_options()
            match = store.matcher(res, ns, self.params.get("labelSelector", ""),
                                  self.params.get("fieldSelector", ""))
            items = []
            for key, obj in sorted(store.objects[res.storage_key].items()):
                if match(obj):
                    try:
                        after, _ = store.delete(res, key[0], key[1], opts)
                        after.pop("kind", None)
                        after.pop("apiVersion", None)
                        items.append(after)
                    except ApiError:
                        pass
            return self._send(200, {"kind": res.kind + "List", "apiVersion": res.api_version,
                                    "metadata": {"resourceVersion": str(store.rv)}, "items": items})
        self._method_not_allowed()

    def _item(self, res, ns, name):
        store = self.app.store
        m = self.command
        if m == "GET":
            return self._send(200, store.get(res, ns, name))
        if m == "PUT":
            return self._send(200, store.update(res, ns, name, self._body_json(), None, self._dry_run()))
        if m == "PATCH":
            return self._send(200, self._patch(res, ns, name, None))
        if m == "DELETE":
            obj, deleted = store.delete(res, ns, name, self._delete_options())
            if deleted and not res.return_deleted_object:
                return self._send(200, {"kind": "Status", "apiVersion": "v1", "metadata": {},
                                        "status": "Success", "details": {
                                            "name": name, "group": res.group, "kind": res.plural,
                                            "uid": obj["metadata"]["uid"]}})
            return self._send(200, obj)
        self._method_not_allowed()

    def _patch(self, res, ns, name, sub):
        if self.ctype == "application/apply-patch+yaml":
            raise ApiError(415, "UnsupportedMediaType", "server-side apply is not implemented by "
                           "the fake API server")
        return self.app.store.patch(res, ns, name, self.ctype, self._body_json(), sub, self._dry_run())

    def _subresource(self, res, ns, name, sub, tail):
        store = self.app.store
        m = self.command
        if sub == "proxy":
            return self._node_proxy(name, "/" + "/".join(tail))
        if sub == "log" and m == "GET":
            return self._pod_log(res, ns, name)
        if sub == "binding" and m == "POST":
            store.bind(res, ns, name, self._body_json())
            return self._send(201, {"kind": "Status", "apiVersion": "v1", "metadata": {},
                                    "status": "Success", "code": 201})
        if sub == "token" and m == "POST":
            return self._token_request(res, ns, name)
        if sub in ("status", "approval"):
            if m == "GET":
                return self._send(200, store.get(res, ns, name))
            if m == "PUT":
                return self._send(200, store.update(res, ns, name, self._body_json(), sub, self._dry_run()))
            if m == "PATCH":
                return self._send(200, self._patch(res, ns, name, sub))
        self._method_not_allowed()

    def _delete_options(self):
        opts = {}
        if "gracePeriodSeconds" in self.params:
            try:
                opts["gracePeriodSeconds"] = int(self.params["gracePeriodSeconds"])
            except ValueError:
                raise bad_request("invalid gracePeriodSeconds")
        if self.params.get("dryRun") == "All":
            opts["dryRun"] = ["All"]
        body = self._body_json(required=False)
        if isinstance(body, dict):
            for k in ("gracePeriodSeconds", "preconditions", "propagationPolicy", "dryRun"):
                if body.get(k) is not None:
                    opts[k] = body[k]
        return opts

    # -- watch -----------------------------------------------------------------
    def _watch(self, res, ns):
        store = self.app.store
        p = self.params
        match = store.matcher(res, ns, p.get("labelSelector", ""), p.get("fieldSelector", ""))
        bookmarks = p.get("allowWatchBookmarks") in ("true", "1", "True")
        initial = p.get("sendInitialEvents") in ("true", "1", "True")
        try:
            timeout = float(p["timeoutSeconds"]) if p.get("timeoutSeconds") else self.app.watch_timeout
        except ValueError:
            raise bad_request("invalid timeoutSeconds")
        try:
            cursor, epoch, objs = store.watch_start(res, p.get("resourceVersion"), match, initial)
        except ResourceExpired as e:
            self._start_stream()
            err = ApiError(410, "Expired", str(e)).status()
            self._chunk(json.dumps({"type": "ERROR", "object": err}).encode() + b"\n")
            return self._end_stream()
        self._start_stream()
        with store.cond:
            self.app.watch_seq += 1
            wid = self.app.watch_seq
            self.app.watches[wid] = {"resource": res.qualified, "namespace": ns or "",
                                     "labelSelector": p.get("labelSelector", ""),
                                     "fieldSelector": p.get("fieldSelector", ""),
                                     "user": self.user["username"]}
        try:
            self._watch_loop(res, match, cursor, epoch, objs, bookmarks, initial, timeout)
            self._end_stream()
        finally:
            with store.cond:
                self.app.watches.pop(wid, None)

    def _emit(self, res, type_, obj):
        ev = {"type": type_, "object": res.from_storage(obj) if type_ != "BOOKMARK" else obj}
        self._chunk(json.dumps(ev).encode() + b"\n")

    def _bookmark(self, res, cursor, annotations=None):
        meta = {"resourceVersion": str(cursor)}
        if annotations:
            meta["annotations"] = annotations
        self._emit(res, "BOOKMARK", {"kind": res.kind, "apiVersion": res.api_version, "metadata": meta})

    def _watch_loop(self, res, match, cursor, epoch, objs, bookmarks, initial, timeout):
        store = self.app.store
        for o in objs:
            self._emit(res, "ADDED", o)
        if initial and bookmarks:
            self._bookmark(res, cursor, {"k8s.io/initial-events-end": "true"})
        start = time.monotonic()
        deadline = start + timeout
        interval = self.app.bookmark_interval
        next_bm = start + interval
        while not self.app.stopping:
            t = time.monotonic()
            if t >= deadline:
                return
            wait = deadline - t
            if bookmarks:
                wait = min(wait, max(0.0, next_bm - t))
            events, cursor = store.watch_wait(res, cursor, epoch, min(wait, 5.0))
            if events is None:
                return
            for ev in events:
                new_match = match(ev.obj)
                if ev.type == "MODIFIED":
                    old_match = ev.prev is not None and match(ev.prev)
                    if new_match and old_match:
                        self._emit(res, "MODIFIED", ev.obj)
                    elif new_match:
                        self._emit(res, "ADDED", ev.obj)
                    elif old_match:
                        self._emit(res, "DELETED", ev.obj)
                elif new_match:
                    self._emit(res, ev.type, ev.obj)
            if bookmarks and time.monotonic() >= next_bm:
                self._bookmark(res, cursor)
                next_bm = time.monotonic() + interval

    # -- tokens ----------------------------------------------------------------
    def _token_request(self, res, ns, name):
        store = self.app.store
        sa = store.get_raw(res, ns, name)
        if sa is None:
            raise not_found(res, name)
        body = self._body_json()
        spec = dict((body or {}).get("spec") or {})
        seconds = spec.get("expirationSeconds") or 3600
        if seconds < 600:
            raise invalid(res, name, [("spec.expirationSeconds", "Invalid value: %d: may not "
                                       "specify a duration less than 10 minutes" % seconds)])
        if seconds > 2 ** 32:
            raise invalid(res, name, [("spec.expirationSeconds", "Invalid value: %d: may not "
                                       "specify a duration larger than 2^32 seconds" % seconds)])
        audiences = spec.get("audiences") or [API_AUDIENCE]
        bound = None
        ref = spec.get("boundObjectRef")
        if ref:
            kind = ref.get("kind")
            if kind not in ("Pod", "Secret"):
                raise invalid(res, name, [("spec.boundObjectRef.kind", 'Unsupported value: "%s"' % kind)])
            bres = store.resource("", kind.lower() + "s")
            obj = store.get_raw(bres, ns, ref.get("name"))
            if obj is None:
                raise not_found(bres, ref.get("name"))
            if ref.get("uid") and ref["uid"] != obj["metadata"]["uid"]:
                raise conflict(bres, ref.get("name"), "the UID in the bound object reference (%s) "
                               "does not match the UID in record. The object might have been "
                               "deleted and then recreated" % ref["uid"])
            bound = {"kind": kind, "name": obj["metadata"]["name"], "uid": obj["metadata"]["uid"]}
            spec["boundObjectRef"] = dict(ref, uid=obj["metadata"]["uid"], apiVersion="v1")
        token, exp = self.app.auth.issue(sa, audiences, int(seconds), bound)
        spec["audiences"], spec["expirationSeconds"] = audiences, int(seconds)
        return self._send(201, {
            "kind": "TokenRequest", "apiVersion": "authentication.k8s.io/v1",
            "metadata": {"name": name, "namespace": ns, "creationTimestamp": None},
            "spec": spec,
            "status": {"token": token, "expirationTimestamp": time.strftime(
                "%Y-%m-%dT%H:%M:%SZ", time.gmtime(exp))}})

    def _token_review(self, body):
        spec = (body or {}).get("spec") or {}
        if not spec.get("token"):
            raise invalid(self.app.store.resource("authentication.k8s.io", "tokenreviews"), "",
                          [("spec.token", "Required value")])
        try:
            user, aud = self.app.auth.token_user(spec["token"], spec.get("audiences") or None)
            status = {"authenticated": True, "user": user, "audiences": aud}
        except ValueError as e:
            status = {"authenticated": False, "user": {}, "error": "[%s]" % e}
        return self._send(201, {"kind": "TokenReview", "apiVersion": "authentication.k8s.io/v1",
                                "metadata": {"creationTimestamp": None}, "spec": spec,
                                "status": status})

    def _validate_csr_request(self, res, body):
        try:
            pem = base64.b64decode(((body or {}).get("spec") or {}).get("request") or "",
                                   validate=True).decode()
            if "CERTIFICATE REQUEST" not in pem:
                raise ValueError("PEM block type must be CERTIFICATE REQUEST")
            self.app.pki.parse_csr(pem)
        except (ValueError, UnicodeDecodeError) as e:
            name = ((body or {}).get("metadata") or {}).get("name", "")
            raise invalid(res, name, [("spec.request", "Invalid value: %s" % str(e).splitlines()[0])])

    # -- kubelet proxying --------------------------------------------------------
    def _node_proxy(self, node, path):
        port = None
        if ":" in node:                      # nodes/{name}:{port}/proxy or https:name:port
            bits = node.split(":")
            if bits[0] in ("http", "https"):
                bits = bits[1:]
            node, port = bits[0], (int(bits[1]) if len(bits) > 1 and bits[1] else None)
        query = urllib.parse.urlsplit(self.path).query
        self._proxy_to_kubelet(node, path + ("?" + query if query else ""), port)

    def _pod_log(self, res, ns, name):
        pod = self.app.store.get_raw(res, ns, name)
        if pod is None:
            raise not_found(res, name)
        spec = pod.get("spec") or {}
        names = [c["name"] for c in spec.get("containers") or []]
        all_names = names + [c["name"] for c in spec.get("initContainers") or []]
        container = self.params.get("container")
        if not container:
            if len(names) != 1:
                raise bad_request("a container name must be specified for pod %s, choose one of: [%s]"
                                  % (name, " ".join(names)))
            container = names[0]
        elif container not in all_names:
            raise bad_request("container %s is not valid for pod %s" % (container, name))
        if not spec.get("nodeName"):
            raise bad_request("pod %s does not have a host assigned" % name)
        q = {k: v for k, v in self.params.items()
             if k in ("follow", "previous", "sinceSeconds", "sinceTime", "timestamps",
                      "tailLines", "limitBytes")}
        path = "/containerLogs/%s/%s/%s" % (ns, name, container)
        if q:
            path += "?" + urllib.parse.urlencode(q)
        self._proxy_to_kubelet(spec["nodeName"], path, None)

    def _proxy_to_kubelet(self, node_name, path, port):
        store = self.app.store
        nres = store.resource("", "nodes")
        node = store.get_raw(nres, None, node_name)
        if node is None:
            raise not_found(nres, node_name)
        status = node.get("status") or {}
        addrs = {}
        for a in status.get("addresses") or []:
            addrs.setdefault(a.get("type"), a.get("address"))
        host = next((addrs[t] for t in self.app.kubelet_address_types if addrs.get(t)), None)
        if port is None:
            port = ((status.get("daemonEndpoints") or {}).get("kubeletEndpoint") or {}).get("Port")
        if not host or not port:
            raise ApiError(503, "ServiceUnavailable", "no preferred addresses found; known "
                           "addresses: %s" % (status.get("addresses") or []))
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.load_cert_chain(self.app.pki.kubelet_client_crt, self.app.pki.kubelet_client_key)
        if self.app.verify_kubelet_cert:
            ctx.load_verify_locations(self.app.pki.ca_crt)
        else:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        conn = http.client.HTTPSConnection(host, int(port), context=ctx, timeout=30)
        try:
            try:
                conn.request(self.command, path, body=self.raw_body or None,
                             headers={"Accept": self.headers.get("Accept", "*/*")})
                conn.sock.settimeout(3600)
                resp = conn.getresponse()
            except (OSError, ssl.SSLError, http.client.HTTPException) as e:
                raise ApiError(503, "ServiceUnavailable", "error trying to reach service: %s" % e)
            self._start_stream(resp.status, resp.getheader("Content-Type") or "text/plain")
            while True:
                try:
                    data = resp.read1(CHUNK)
                except (OSError, ssl.SSLError, http.client.HTTPException):
                    break
                if not data:
                    break
                self._chunk(data)
            self._end_stream()
        finally:
            conn.close()

    # -- test hooks ----------------------------------------------------------------
    def _test_hook(self, path):
        app, store = self.app, self.app.store
        m = self.command
        body = self._body_json(required=False) or {}
        if path == "/_test/requests":
            if m == "DELETE":
                with app.requests_lock:
                    app.requests.clear()
                return self._send(200, {"cleared": True})
            with app.requests_lock:
                items = list(app.requests)
            for key in ("method", "path", "contentType"):
                if self.params.get(key):
                    items = [r for r in items if r[key] == self.params[key]]
            if self.params.get("pathPrefix"):
                items = [r for r in items if r["path"].startswith(self.params["pathPrefix"])]
            return self._send(200, {"items": items})
        if path == "/_test/faults":
            with app.requests_lock:
                if m == "POST":
                    for f in body if isinstance(body, list) else [body]:
                        f = dict(f)
                        f.setdefault("count", 1)
                        if f.get("method"):
                            f["method"] = f["method"].upper()
                        app.faults.append(f)
                elif m == "DELETE":
                    app.faults.clear()
                return self._send(200, {"items": app.faults})
        if path == "/_test/compact" and m == "POST":
            res = None
            if body.get("resource"):
                res = store.resource(body.get("group", ""), body["resource"])
            return self._send(200, {"compactedResourceVersion": str(store.compact(res))})
        if path == "/_test/close-watches" and m == "POST":
            n = len(app.watches)
            store.close_watches()
            return self._send(200, {"closed": n})
        if path == "/_test/watches":
            with store.cond:
                return self._send(200, {"items": list(app.watches.values())})
        if path == "/_test/state":
            with store.cond:
                return self._send(200, {
                    "resourceVersion": str(store.rv),
                    "compacted": {k: str(v) for k, v in store.compacted.items()},
                    "counts": {k: len(v) for k, v in store.objects.items()}})
        if path == "/_test/pods" and m == "POST":
            return self._send(201, store.create(store.resource("", "pods"),
                                                body.get("namespace", "default"), quick_pod(body)))
        mt = re.fullmatch(r"/_test/csr/([^/]+)/(approve|deny)", path)
        if mt and m == "POST":
            res = store.resource("certificates.k8s.io", "certificatesigningrequests")
            csr = store.get_raw(res, None, mt.group(1))
            if csr is None:
                raise not_found(res, mt.group(1))
            kind = "Approved" if mt.group(2) == "approve" else "Denied"
            csr.setdefault("status", {}).setdefault("conditions", []).append({
                "type": kind, "status": "True", "reason": "TestHook", "message": "by /_test",
                "lastUpdateTime": fmt_time(now()), "lastTransitionTime": fmt_time(now())})
            return self._send(200, store.update(res, None, mt.group(1), csr, "approval"))
        raise ApiError(404, "NotFound", "unknown test hook %s %s" % (m, path))


def quick_pod(spec):
    """Build a pod from a compact description (see README: POST /_test/pods)."""
    if spec.get("pod"):
        pod = spec["pod"]
    else:
        containers = spec.get("containers") or [{
            "name": spec.get("container", "main"), "image": spec.get("image", "busybox:1.36"),
            **({"command": spec["command"]} if spec.get("command") else {}),
            **({"args": spec["args"]} if spec.get("args") else {})}]
        pod = {"apiVersion": "v1", "kind": "Pod",
               "metadata": {"name": spec.get("name", ""), "labels": spec.get("labels") or {},
                            "annotations": spec.get("annotations") or {}},
               "spec": dict(spec.get("spec") or {}, containers=containers)}
        if not spec.get("name"):
            pod["metadata"]["generateName"] = spec.get("generateName", "pod-")
        pod["spec"].setdefault("restartPolicy", spec.get("restartPolicy", "Never"))
        pod["spec"]["tolerations"] = pod["spec"].get("tolerations") or [
            {"key": "virtual-node.interlink/no-schedule", "operator": "Exists"}]
    node = spec.get("nodeName") or spec.get("node")
    if node:
        pod.setdefault("spec", {})["nodeName"] = node
    return pod


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--dir", required=True, help="where to write the PKI, kubeconfig and port")
    ap.add_argument("--auto-approve-csr", action="store_true",
                    help="approve kubernetes.io/kubelet-serving CSRs as soon as they are created")
    ap.add_argument("--event-window", type=int, default=1000,
                    help="watch events kept per resource (older resourceVersions get 410 Gone)")
    ap.add_argument("--bookmark-interval", type=float, default=5.0)
    ap.add_argument("--watch-timeout", type=float, default=1800,
                    help="server-side watch timeout when the client gives no timeoutSeconds")
    ap.add_argument("--csr-sign-delay", type=float, default=0.2)
    ap.add_argument("--csr-gc-finished", type=float, default=3600,
                    help="seconds after which an Approved/Denied/Failed CSR is garbage-collected "
                         "(kube-controller-manager: 1 h)")
    ap.add_argument("--csr-gc-pending", type=float, default=86400,
                    help="seconds after which a Pending CSR is garbage-collected (24 h)")
    ap.add_argument("--verify-kubelet-cert", action="store_true",
                    help="verify the kubelet serving certificate against the cluster CA when proxying")
    ap.add_argument("--token", action="append", default=[],
                    help='extra static token "TOKEN,USER,UID[,GROUP1,GROUP2...]" (repeatable)')
    ap.add_argument("--key-type", choices=("ec", "rsa"), default="ec")
    ap.add_argument("-v", "--verbose", action="store_true")
    a = ap.parse_args(argv)
    srv = FakeAPIServer(a.dir, a.port, a.auto_approve_csr, a.event_window, a.bookmark_interval,
                        a.watch_timeout, a.csr_sign_delay, a.verify_kubelet_cert, a.token,
                        a.key_type, a.verbose, csr_gc_finished=a.csr_gc_finished,
                        csr_gc_pending=a.csr_gc_pending)
    srv.serve_until_signal()


if __name__ == "__main__":
    main()
