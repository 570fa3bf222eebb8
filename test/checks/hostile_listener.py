"""hostile_listener: a loopback server that should never hear from
defender_fdw.

It stands for the attacker's host in the security tests (issue 13): the
tests build endpoints, nextLinks and URL options that name it, and then
assert that it received nothing.  Every TCP connection it accepts is
recorded as one JSON line in the log file, with the first line of what
arrived and the names of the headers, and whether an Authorization header
came along (its value is never written down).  Whatever arrives is
answered with 200 and an empty collection, so that a leak looks like
success to the sender and is caught here rather than by an error there.

    hostile_listener.py --host 127.0.0.1 --port 0 --port-file F --log L
"""

import argparse
import json
import socket
import socketserver
import threading
import time

LOCK = threading.Lock()


class Recorder(socketserver.BaseRequestHandler):
    def handle(self):
        self.request.settimeout(2.0)
        data = b""
        try:
            while b"\r\n\r\n" not in data and len(data) < 65536:
                chunk = self.request.recv(4096)
                if not chunk:
                    break
                data += chunk
        except (socket.timeout, OSError):
            pass
        head = data.split(b"\r\n\r\n", 1)[0].decode("latin-1", "replace")
        lines = head.split("\r\n") if head else []
        names = [l.split(":", 1)[0].strip().lower() for l in lines[1:] if ":" in l]
        entry = {
            "time": time.time(),
            "peer": "%s:%s" % self.client_address[:2],
            "request_line": lines[0][:200] if lines else "",
            "headers": names,
            "authorization": "authorization" in names,
            "bytes": len(data),
        }
        with LOCK:
            with open(self.server.log_path, "a", encoding="utf-8") as f:
                f.write(json.dumps(entry) + "\n")
        body = b'{"value": []}'
        try:
            self.request.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                                 b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(body) + body)
        except OSError:
            pass


class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--log", required=True)
    args = ap.parse_args()
    open(args.log, "a").close()
    server = Server((args.host, args.port), Recorder)
    server.log_path = args.log
    with open(args.port_file, "w") as f:
        f.write("%d\n" % server.server_address[1])
    server.serve_forever()


if __name__ == "__main__":
    main()
