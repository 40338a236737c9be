"""Certificates for the fake API server, made with the ``openssl`` command.

Everything lives in one directory:

    ca.crt / ca.key                    cluster CA (signs everything below)
    apiserver.crt / apiserver.key      serving cert, SAN 127.0.0.1 + localhost
    admin.crt / admin.key              client cert user (CN=fake-admin, O=system:masters)
    kubelet-client.crt / .key          the API server's client cert towards kubelets
                                       (CN=kube-apiserver-kubelet-client, O=system:masters)

Existing files are reused, so restarting a server on the same directory keeps
the same CA (as a real cluster would).
"""

import os
import re
import secrets
import subprocess
import tempfile


def _run(args, stdin=None):
    proc = subprocess.run(["openssl"] + args, input=stdin, capture_output=True)
    if proc.returncode != 0:
        raise RuntimeError("openssl %s failed: %s" % (" ".join(args[:2]), proc.stderr.decode(errors="replace")))
    return proc.stdout


def _genkey(path, key_type):
    if key_type == "rsa":
        _run(["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", path])
    else:
        _run(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", path])
    os.chmod(path, 0o600)


def _sign(ca_crt, ca_key, csr_path, out_path, ext_lines, days):
    with tempfile.NamedTemporaryFile("w", suffix=".ext", delete=False) as ext:
        ext.write("\n".join(ext_lines) + "\n")
    try:
        _run(["x509", "-req", "-in", csr_path, "-CA", ca_crt, "-CAkey", ca_key,
              "-set_serial", "0x" + secrets.token_hex(16), "-days", str(days),
              "-sha256", "-extfile", ext.name, "-out", out_path])
    finally:
        os.unlink(ext.name)


class PKI:
    def __init__(self, directory, key_type="ec"):
        self.dir = os.path.abspath(directory)
        self.key_type = key_type
        os.makedirs(self.dir, exist_ok=True)
        self.ca_crt = self._p("ca.crt")
        self.ca_key = self._p("ca.key")
        self.server_crt, self.server_key = self._p("apiserver.crt"), self._p("apiserver.key")
        self.admin_crt, self.admin_key = self._p("admin.crt"), self._p("admin.key")
        self.kubelet_client_crt = self._p("kubelet-client.crt")
        self.kubelet_client_key = self._p("kubelet-client.key")

    def _p(self, name):
        return os.path.join(self.dir, name)

    def ensure(self):
        if not (os.path.exists(self.ca_crt) and os.path.exists(self.ca_key)):
            _genkey(self.ca_key, self.key_type)
            _run(["req", "-x509", "-new", "-key", self.ca_key, "-subj", "/CN=fake-kubernetes-ca",
                  "-days", "3650", "-sha256",
                  "-addext", "basicConstraints=critical,CA:TRUE",
                  "-addext", "keyUsage=critical,keyCertSign,cRLSign,digitalSignature",
                  "-out", self.ca_crt])
        self._leaf(self.server_crt, self.server_key, "/CN=kube-apiserver", "serverAuth",
                   "IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,"
                   "DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local")
        self._leaf(self.admin_crt, self.admin_key, "/O=system:masters/CN=fake-admin", "clientAuth")
        self._leaf(self.kubelet_client_crt, self.kubelet_client_key,
                   "/O=system:masters/CN=kube-apiserver-kubelet-client", "clientAuth")
        return self

    def _leaf(self, crt, key, subject, eku, san=None):
        if os.path.exists(crt) and os.path.exists(key):
            return
        _genkey(key, self.key_type)
        csr = crt + ".csr"
        _run(["req", "-new", "-key", key, "-subj", subject, "-out", csr])
        ext = ["basicConstraints=critical,CA:FALSE",
               "keyUsage=critical,digitalSignature,keyEncipherment",
               "extendedKeyUsage=" + eku]
        if san:
            ext.append("subjectAltName=" + san)
        _sign(self.ca_crt, self.ca_key, csr, crt, ext, 825)
        os.unlink(csr)

    def ca_pem(self):
        with open(self.ca_crt) as f:
            return f.read()

    # -- CSR handling (used by the certificates.k8s.io signer) ------------

    def parse_csr(self, pem):
        """Return {'cn', 'orgs', 'dns', 'ips', 'emails', 'uris'} or raise ValueError."""
        try:
            text = _run(["req", "-noout", "-verify", "-text", "-nameopt", "RFC2253"],
                        stdin=pem.encode() if isinstance(pem, str) else pem).decode()
        except RuntimeError as e:
            raise ValueError(str(e))
        info = {"cn": "", "orgs": [], "dns": [], "ips": [], "emails": [], "uris": []}
        m = re.search(r"^\s*Subject:\s*(.*)$", text, re.M)
        if m:
            for rdn in re.split(r"(?<!\\),", m.group(1)):
                k, _, v = rdn.strip().partition("=")
                if k == "CN":
                    info["cn"] = v
                elif k == "O":
                    info["orgs"].append(v)
        m = re.search(r"X509v3 Subject Alternative Name:.*\n\s*(.*)", text)
        if m:
            for item in m.group(1).split(","):
                k, _, v = item.strip().partition(":")
                {"DNS": info["dns"], "IP Address": info["ips"], "email": info["emails"],
                 "URI": info["uris"]}.get(k, []).append(v)
        return info

    def sign_csr(self, pem, usages, seconds, sans):
        """Sign a CSR with the CA, return the PEM certificate."""
        eku = []
        if "server auth" in usages:
            eku.append("serverAuth")
        if "client auth" in usages:
            eku.append("clientAuth")
        ku = [k for u, k in (("digital signature", "digitalSignature"),
                             ("key encipherment", "keyEncipherment")) if u in usages]
        ext = ["basicConstraints=critical,CA:FALSE"]
        if ku:
            ext.append("keyUsage=critical," + ",".join(ku))
        if eku:
            ext.append("extendedKeyUsage=" + ",".join(eku))
        if sans:
            ext.append("subjectAltName=" + ",".join(sans))
        with tempfile.TemporaryDirectory() as tmp:
            csr, out = os.path.join(tmp, "req.csr"), os.path.join(tmp, "out.crt")
            with open(csr, "w") as f:
                f.write(pem)
            _sign(self.ca_crt, self.ca_key, csr, out, ext, max(1, round(seconds / 86400)))
            with open(out) as f:
                return f.read()
