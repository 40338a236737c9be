#!/usr/bin/python3
"""A deliberately broken interLink plugin, for interlink's failure-path tests.

Listens on a unix socket and, for every request, misbehaves in one way:

  hang     reads the request and never answers (connection stays open)
  close    reads the request and closes the connection without answering
  garbage  answers "200 OK" with a body that is not JSON
  nothttp  answers bytes that are not an HTTP response at all
  error    answers 503 with the text "backend exploded"
  slow     waits --delay seconds, then answers 200 with the JSON body []
  code     answers --code (an HTTP status) with the text "refused"
  cut      relays the request to the plugin at --forward (a unix socket),
           waits for its answer and closes without answering: a plugin
           killed after it acted
  forgot   a plugin that lost its pods: /status answers 200 [], every other
           path --code (404: "not found")
  latecreate  relays every request to the plugin at --forward and its answer
           back, holding a /create --delay seconds before relaying it (logged
           "RELAYED <path>" once relayed): a create still on its way
  slowstatus  relays every request to the plugin at --forward and its answer
           back, holding a /status --delay seconds first: a backend whose
           status calls are slow (many pods)

Every request is logged to stdout as "REQUEST <method> <path> <session>" so
tests can count what reached the plugin.

usage: misbehaving_plugin.py --mode MODE [--delay SECONDS] [--code STATUS] [--forward SOCKET]
       SOCKET_PATH
"""
import argparse
import os
import socket
import socketserver
import sys
import threading
import time

import harness

MODES = ("hang", "close", "garbage", "nothttp", "error", "slow", "code", "forgot", "cut", "latecreate",
         "slowstatus")


def http_response(code, reason, body, content_type="application/json"):
    head = (f"HTTP/1.1 {code} {reason}\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n")
    return head.encode() + body


class Handler(socketserver.StreamRequestHandler):
    def read_request(self):
        """Returns (method, path, headers) or None if the peer sent nothing."""
        line = self.rfile.readline()
        if not line.strip():
            return None
        method, path = line.decode("latin-1").split()[:2]
        headers = {}
        while True:
            h = self.rfile.readline().decode("latin-1")
            if h in ("\r\n", "\n", ""):
                break
            name, _, value = h.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0") or 0)
        self.body = self.rfile.read(length) if length else b""
        return method, path, headers

    def relay(self, method, path):
        """The request, as read, to the plugin at --forward: its raw answer."""
        forward = socket.socket(socket.AF_UNIX)
        forward.connect(self.server.forward)
        forward.sendall(f"{method} {path} HTTP/1.1\r\nHost: plugin\r\n"
                        f"Content-Type: application/json\r\nConnection: close\r\n"
                        f"Content-Length: {len(self.body)}\r\n\r\n".encode() + self.body)
        answer = harness.recv_to_eof(forward)
        forward.close()
        return answer

    def handle(self):
        req = self.read_request()
        if req is None:
            return
        method, path, headers = req
        print(f"REQUEST {method} {path} {headers.get('interlink-http-session', '-')}",
              flush=True)
        mode = self.server.mode
        if mode == "hang":
            self.server.stopping.wait()
        elif mode == "close":
            return
        elif mode == "garbage":
            self.wfile.write(http_response(200, "OK", b"{this is not json"))
        elif mode == "nothttp":
            self.wfile.write(b"\x00\x01\x02 definitely not HTTP\r\n\r\n")
        elif mode == "error":
            self.wfile.write(http_response(503, "Service Unavailable", b"backend exploded",
                                           "text/plain"))
        elif mode == "slow":
            time.sleep(self.server.delay)
            self.wfile.write(http_response(200, "OK", b"[]"))
        elif mode == "cut":
            self.relay(method, path)
        elif mode in ("latecreate", "slowstatus"):
            if path == ("/create" if mode == "latecreate" else "/status"):
                time.sleep(self.server.delay)
            answer = self.relay(method, path)
            print(f"RELAYED {path}", flush=True)
            self.wfile.write(answer)
        elif mode == "forgot" and path == "/status":
            self.wfile.write(http_response(200, "OK", b"[]"))
        elif mode in ("code", "forgot"):
            self.wfile.write(http_response(self.server.code, "Refused", b"refused", "text/plain"))


class Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mode", choices=MODES, required=True)
    ap.add_argument("--delay", type=float, default=0.0)
    ap.add_argument("--code", type=int, default=400)
    ap.add_argument("--forward", default="")
    ap.add_argument("socket_path")
    args = ap.parse_args()
    if os.path.exists(args.socket_path):
        os.unlink(args.socket_path)
    server = Server(args.socket_path, Handler)
    server.mode, server.delay, server.stopping = args.mode, args.delay, threading.Event()
    server.code, server.forward = args.code, args.forward
    print(f"misbehaving plugin: mode={args.mode} on {args.socket_path}", flush=True)
    try:
        server.serve_forever()
    finally:
        server.stopping.set()
        os.unlink(args.socket_path)


if __name__ == "__main__":
    sys.exit(main())
