#!/usr/bin/python3
"""A small forward HTTP proxy for defender_fdw's proxy tests.  Standard
library only; loopback only.

It forwards absolute-form requests (GET http://host:port/path HTTP/1.1) and
tunnels CONNECT host:port, logs each one, and with --user/--password demands
Proxy-Authorization (Basic), answering 407 otherwise, as corporate proxies do.
Its own control API, on origin-form paths (which a client never sends to a
proxy):

  GET  /_proxy/log     {"requests": [{"seq","method","target","authorized","status"}]}
  POST /_proxy/reset   clears the log

  python3 test/emulator/proxy.py --port 0 --port-file /tmp/p.port [--user U --password P]
"""

import argparse
import base64
import http.client
import json
import os
import secrets
import select
import signal
import socket
import sys
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HOP_BY_HOP = {"connection", "keep-alive", "proxy-authorization", "proxy-authenticate",
              "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade"}


class ProxyServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address, user, password):
        self.user = user
        self.password = password
        self.log = []
        self.lock = threading.Lock()
        super().__init__(address, Handler)

    def record(self, **entry):
        with self.lock:
            entry["seq"] = len(self.log) + 1
            self.log.append(entry)
            return entry


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "test-proxy/1.0"
    sys_version = ""

    def log_message(self, format, *args):   # noqa: A002
        pass

    def _authorized(self):
        if self.server.user is None:
            return True
        header = self.headers.get("Proxy-Authorization", "")
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            user, _, password = base64.b64decode(value.strip()).decode("utf-8").partition(":")
        except (ValueError, UnicodeDecodeError):
            return False
        return (secrets.compare_digest(user, self.server.user) and
                secrets.compare_digest(password, self.server.password))

    def _reply(self, status, body, extra=()):
        data = json.dumps(body).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in extra:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _body(self):
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _deny(self, entry):
        entry["status"] = 407
        self._body()
        self._reply(407, {"error": "proxy authentication required"},
                    [("Proxy-Authenticate", 'Basic realm="defender_fdw test proxy"')])

    # ---- control API and forwarding ----------------------------------------
    def _handle(self):
        if self.path.startswith("/_proxy/"):
            self._body()
            if self.command == "GET" and self.path == "/_proxy/log":
                with self.server.lock:
                    return self._reply(200, {"requests": list(self.server.log)})
            if self.command == "POST" and self.path == "/_proxy/reset":
                with self.server.lock:
                    self.server.log.clear()
                return self._reply(200, {"ok": True})
            return self._reply(404, {"error": "no control endpoint %s" % self.path})

        authorized = self._authorized()
        entry = self.server.record(method=self.command, target=self.path,
                                   authorized=authorized, status=None)
        if not authorized:
            return self._deny(entry)
        parts = urllib.parse.urlsplit(self.path)
        if parts.scheme != "http" or not parts.hostname:
            entry["status"] = 400
            self._body()
            return self._reply(400, {"error": "absolute http:// URL expected"})
        body = self._body()
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
        target = parts.path + ("?" + parts.query if parts.query else "")
        try:
            upstream = http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=60)
            upstream.request(self.command, target or "/", body=body or None, headers=headers)
            resp = upstream.getresponse()
            data = resp.read()
            upstream.close()
        except OSError as err:
            entry["status"] = 502
            return self._reply(502, {"error": "upstream failed: %s" % err})
        entry["status"] = resp.status
        self.send_response(resp.status)
        for name, value in resp.getheaders():
            if name.lower() not in HOP_BY_HOP and name.lower() != "content-length":
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = do_HEAD = _handle

    def do_CONNECT(self):
        authorized = self._authorized()
        entry = self.server.record(method="CONNECT", target=self.path,
                                   authorized=authorized, status=None)
        if not authorized:
            return self._deny(entry)
        host, _, port = self.path.rpartition(":")
        try:
            upstream = socket.create_connection((host, int(port)), timeout=60)
        except (OSError, ValueError) as err:
            entry["status"] = 502
            return self._reply(502, {"error": "cannot reach %s: %s" % (self.path, err)})
        entry["status"] = 200
        self.send_response(200, "Connection established")
        self.end_headers()
        self.wfile.flush()
        client = self.connection
        try:
            while True:
                ready, _, _ = select.select([client, upstream], [], [], 60)
                if not ready:
                    break
                for sock in ready:
                    data = sock.recv(65536)
                    if not data:
                        return
                    (upstream if sock is client else client).sendall(data)
        except OSError:
            pass
        finally:
            upstream.close()
            self.close_connection = True


def main():
    parser = argparse.ArgumentParser(description="forward proxy for defender_fdw tests")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--port-file")
    parser.add_argument("--user")
    parser.add_argument("--password", default="")
    args = parser.parse_args()
    server = ProxyServer((args.host, args.port), args.user, args.password)

    def stop(signum, frame):
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    if args.port_file:
        tmp = "%s.%d.tmp" % (args.port_file, os.getpid())
        with open(tmp, "w") as f:
            f.write("%d\n" % server.server_address[1])
        os.replace(tmp, args.port_file)
    server.serve_forever(poll_interval=0.1)
    server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
