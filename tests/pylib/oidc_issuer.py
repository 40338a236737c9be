"""A small OIDC issuer for tests: real HTTP on 127.0.0.1, real RS256
signatures (python3-jwt + python3-cryptography from Debian).

Serves the discovery document, the JWKS (the keys it currently publishes)
and a token endpoint for the client-credentials grant.  Tests rotate keys
mid-run (rotate()), withdraw old ones, and count JWKS fetches."""
import base64
import json
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm


class Issuer:
    def __init__(self, clients=None, token_lifetime=300):
        self.keys = []          # [(kid, private key)], the last one signs
        self.clients = clients or {}   # client_id -> (secret, subject, groups)
        self.token_lifetime = token_lifetime
        self.jwks_fetches = 0
        self.tokens_issued = 0
        self.lock = threading.Lock()
        self.rotate()
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def answer(self, code, obj):
                data = json.dumps(obj).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def route(self):
                prefix = "/realm"
                return self.path[len(prefix):] if self.path.startswith(prefix) else self.path

            def do_GET(self):
                path = self.route()
                if path == "/.well-known/openid-configuration":
                    self.answer(200, {"issuer": issuer.url, "jwks_uri": issuer.url + "/jwks",
                                      "token_endpoint": issuer.url + "/token"})
                elif path == "/jwks":
                    with issuer.lock:
                        issuer.jwks_fetches += 1
                        self.answer(200, issuer.jwks())
                else:
                    self.answer(404, {"error": "not found"})

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                form = urllib.parse.parse_qs(self.rfile.read(length).decode())
                cid = form.get("client_id", [None])[0]
                secret = form.get("client_secret", [None])[0]
                auth = self.headers.get("Authorization", "")
                if auth.startswith("Basic "):
                    cid, _, secret = base64.b64decode(auth[6:]).decode().partition(":")
                client = issuer.clients.get(cid)
                if self.route() != "/token" or form.get("grant_type") != ["client_credentials"]:
                    self.answer(400, {"error": "unsupported_grant_type"})
                elif not client or client[0] != secret:
                    self.answer(401, {"error": "invalid_client"})
                else:
                    with issuer.lock:
                        issuer.tokens_issued += 1
                    self.answer(200, {"access_token": issuer.token(sub=client[1],
                                                                   groups=client[2]),
                                      "token_type": "Bearer",
                                      "expires_in": issuer.token_lifetime})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/realm"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    def rotate(self, keep_old=True):
        """A new signing key; keep_old=False withdraws the previous ones."""
        with self.lock:
            kid = f"k{len(self.keys) + 1}-{int(time.time() * 1000) % 100000}"
            key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            self.keys = (self.keys if keep_old else []) + [(kid, key)]
            return kid

    def jwks(self):
        out = []
        for kid, key in self.keys:
            jwk = json.loads(RSAAlgorithm.to_jwk(key.public_key()))
            jwk.update({"kid": kid, "use": "sig", "alg": "RS256"})
            out.append(jwk)
        return {"keys": out}

    def token(self, lifetime=None, key=None, kid=None, **claims):
        """A token signed by the current key (or key/kid given)."""
        with self.lock:
            skid, skey = self.keys[-1]
        now = int(time.time())
        body = {"iss": self.url, "iat": now,
                "exp": now + (self.token_lifetime if lifetime is None else lifetime), **claims}
        return jwt.encode(body, key or skey, algorithm="RS256",
                          headers={"kid": kid or skid})
