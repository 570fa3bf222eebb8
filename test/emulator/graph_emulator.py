#!/usr/bin/python3
"""Microsoft Graph / Entra emulator for defender_fdw tests.

This file is the CLI, the HTTP server and the request pipeline:
  read request -> classify area -> log -> latency -> bearer check -> fault
  -> route handler -> (damaging fault) -> write response -> finish log entry
Handlers live in their own modules (auth, incidents, control); the route
table is routes.py.  Standard library only (Python 3.11).

  python3 test/emulator/graph_emulator.py --host 127.0.0.1 --port 0 \
      --port-file /tmp/x.port [--incidents 130] [--seed 1] \
      [--tls-cert cert.pem --tls-key key.pem]
"""

import argparse
import os
import signal
import socket
import ssl
import struct
import sys
import threading
import time
import traceback
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import assertion   # noqa: E402  (imports need the path above)
import auth        # noqa: E402
import bandwidth   # noqa: E402
import faults      # noqa: E402
import quota       # noqa: E402
import routes      # noqa: E402
import tenants     # noqa: E402
from common import GRAPH_JSON, PLAIN_JSON, Request, graph_error   # noqa: E402
from state import DEFAULT_CONFIG, DEFAULT_LOG_MAX_ENTRIES, State, validate_config   # noqa: E402
from tenants import generated_id   # noqa: E402

MAX_BODY = 64 * 1024 * 1024
AGS_DIAGNOSTIC = ('{"ServerInfo":{"DataCenter":"Emulator","Slice":"E","Ring":"0",'
                  '"ScaleUnit":"000","RoleInstance":"graph-emulator"}}')
REDACTED = "<redacted>"
SECRET_FORM_FIELDS = ("client_secret", "client_assertion")


class BadRequestBody(Exception):
    """The request body could not be read (bad framing)."""


class EmulatorServer(ThreadingHTTPServer):
    """One thread per connection; threads are daemons so shutdown never waits
    for idle keep-alive connections."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address, state, tls_context=None):
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        self.state = state
        self.tls_context = tls_context
        self.service_router, self.control_router = routes.build_routers()
        super().__init__(address, Handler)

    def get_request(self):
        # With TLS, wrap each accepted socket but leave the handshake to the
        # connection's own thread (Handler.setup), so a client that never
        # completes it cannot stall the accept loop.
        sock, addr = super().get_request()
        if self.tls_context is not None:
            sock = self.tls_context.wrap_socket(sock, server_side=True,
                                                do_handshake_on_connect=False)
        return sock, addr

    def handle_error(self, request, client_address):
        if self.state.verbose:
            super().handle_error(request, client_address)


class Handler(BaseHTTPRequestHandler):
    """HTTP/1.1 plumbing: framing, keep-alive, headers, wire-level faults."""

    protocol_version = "HTTP/1.1"
    server_version = "graph-emulator/1.0"
    sys_version = ""

    def version_string(self):
        return self.server_version

    def setup(self):
        if isinstance(self.request, ssl.SSLSocket):
            # A failed handshake (untrusted certificate, plain HTTP on the TLS
            # port) raises here; the server closes the connection.
            self.request.do_handshake()
        super().setup()
        self.conn_serial = self.server.state.next_conn_serial()
        # Headers and body go out in separate writes; without TCP_NODELAY,
        # Nagle plus the client's delayed ACK stalls keep-alive responses ~40 ms.
        try:
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass

    def log_message(self, format, *args):   # noqa: A002 (base class name)
        if self.server.state.verbose:
            sys.stderr.write("[conn %d] %s\n" % (self.conn_serial, format % args))

    # ---- entry point for every method -----------------------------------
    def _serve(self):
        started = time.monotonic()
        state = self.server.state
        try:
            body = self._read_body()
        except BadRequestBody as err:
            self.close_connection = True
            self.send_error(400, str(err))
            return

        headers = {}
        for name, value in self.headers.items():
            key = name.lower()
            headers[key] = value if key not in headers else headers[key] + ", " + value
        raw_target = self.path.encode("latin-1").decode("utf-8", "replace")
        req = Request(self.command, raw_target, headers, body, self.conn_serial, state)
        area = routes.classify(req.path)
        req.area = area.name

        if not area.logged:
            self._write(req, area, self._run(lambda: self.server.control_router.dispatch(req), req))
            return

        entry = state.log_start(_log_entry(req))
        status = None
        try:
            resp = self._run(lambda: self._pipeline(req, area, entry), req)
            # log the status and body size before the client can read the
            # answer, so a test that asks for the log right afterwards sees them
            status = self._write(req, area, resp,
                                 before_send=lambda st, n: state.log_finish(entry, status=st, bytes=n))
        finally:
            state.log_finish(entry, status=status,
                             ms=round((time.monotonic() - started) * 1000, 1))

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _serve

    def _run(self, func, req):
        """Call a handler; a bug becomes a Graph 500 instead of a dead connection."""
        try:
            return func()
        except Exception:   # noqa: BLE001 - report and keep serving
            traceback.print_exc(file=sys.stderr)
            return graph_error(req, 500, "UnknownError", "")

    def _pipeline(self, req, area, entry):
        """Everything between reading a service request and writing its answer."""
        state = req.state
        state.sleep(state.config["latency_ms"] / 1000.0)

        auth_error = None
        tenant = None
        if area.audience_path is not None:
            ok, auth_error = auth.check_bearer(req, area.audience_path)
            state.log_finish(entry, token_ok=ok)
            if ok:
                tenant = tenants.enter(req)    # req.state becomes the token's tenant's view
                state.log_finish(entry, tenant=tenant.lower())
        visit = quota.arrive(state, tenant)    # the tenant's requests in flight (tests read the peak)
        try:
            if tenant is not None:
                tenants.delay(state, tenant)
            return self._after_auth(req, state, entry, auth_error, tenant)
        finally:
            if visit is not None:
                visit.leave()

    def _after_auth(self, req, state, entry, auth_error, tenant):
        fault = state.faults.pick(req.method, req.path,
                                  "&".join("%s=%s" % kv for kv in req.query_pairs),
                                  req.body_text() if req.body else "", tenant)
        if fault is not None:
            state.log_finish(entry, fault=fault.kind)
            if fault.kind in faults.PRE_KINDS:
                resp = faults.apply_pre(fault, req)
                if resp is not None:
                    return resp

        resp = auth_error
        if resp is None and tenant is not None:
            resp = quota.admit(req, state, tenant)     # 429 past the tenant's quota, else None
        resp = resp or self.server.service_router.dispatch(req)
        if fault is not None and fault.kind in faults.POST_KINDS:
            resp = faults.apply_post(fault, req, resp)
        return resp

    # ---- reading ------------------------------------------------------------
    def _read_body(self):
        """Read the body by Content-Length (or chunked framing)."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked()
        length = self.headers.get("Content-Length")
        if length is None:
            return b""
        try:
            size = int(length)
        except ValueError:
            raise BadRequestBody("invalid Content-Length")
        if size < 0 or size > MAX_BODY:
            raise BadRequestBody("invalid Content-Length")
        data = self.rfile.read(size)
        if len(data) != size:
            raise BadRequestBody("body shorter than Content-Length")
        return data

    def _read_chunked(self):
        chunks = []
        total = 0
        while True:
            line = self.rfile.readline(65537)
            try:
                size = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                raise BadRequestBody("bad chunk size")
            if size == 0:
                while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                    pass
                return b"".join(chunks)
            total += size
            if total > MAX_BODY:
                raise BadRequestBody("body too large")
            chunks.append(self.rfile.read(size))
            self.rfile.readline(65537)

    # ---- writing ------------------------------------------------------------
    def _write(self, req, area, resp, before_send=None):
        """Send resp; returns the status sent (None when nothing was sent).
        before_send(status, body bytes to be sent) runs just before the first
        byte goes out."""
        if resp.action == "drop":
            self.close_connection = True
            return None
        payload = resp.payload()
        if before_send is not None:
            if req.method == "HEAD":
                sent = 0
            elif resp.action in ("truncate", "reset"):
                sent = len(payload) // 2
            else:
                sent = len(payload)
            before_send(resp.status, sent)
        headers = []
        if area.name in ("graph", "mde", "other"):
            headers += [("request-id", req.request_id),
                        ("client-request-id", req.client_request_id),
                        ("x-ms-ags-diagnostic", AGS_DIAGNOSTIC)]
            default_type = GRAPH_JSON
        else:
            default_type = PLAIN_JSON
        try:
            self.send_response(resp.status)
            self.send_header("Content-Type", resp.content_type or default_type)
            for name, value in headers + resp.headers:
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            if req.method == "HEAD":
                return resp.status
            if resp.action == "truncate":
                self.wfile.write(payload[:len(payload) // 2])
                self.close_connection = True
            elif resp.action == "reset":
                self.wfile.write(payload[:len(payload) // 2])
                self._reset_connection()
            elif area.name == "control":
                self.wfile.write(payload)
            else:
                bandwidth.write(self.wfile, payload, bandwidth.rate(req.state), req.state.shutdown)
        except OSError:
            self.close_connection = True
        return resp.status

    def _reset_connection(self):
        """Close with SO_LINGER 0 so the peer gets a TCP RST, not a FIN."""
        self.close_connection = True
        sock = self.connection
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
        self.rfile.close()      # drop the makefile reference so close() is real
        sock.close()


def _log_entry(req):
    """A new request-log entry; secrets redacted."""
    headers = {}
    for name, value in req.headers.items():
        if name == "authorization":
            scheme = value.split(" ", 1)[0] if value.strip() else "Bearer"
            value = "%s %s" % (scheme, REDACTED)
        headers[name] = value
    return {"seq": None, "conn": req.conn_id, "method": req.method, "path": req.path,
            "query": req.query_dict(), "raw_target": req.raw_target, "headers": headers,
            "token_ok": None, "tenant": None, "body": _body_for_log(req), "status": None, "fault": None,
            "bytes": None, "ms": None,
            # when it arrived (seconds on the emulator's monotonic clock), so
            # a test can see requests overlap: arrived + ms of one after another's arrival
            "arrived": round(time.monotonic(), 4)}


def _assertion_for_log(value):
    """A client assertion's header and claims, without the signature that
    would make it usable, so tests can check what the client signed."""
    try:
        header, claims = assertion.decode(value)
    except ValueError:
        return REDACTED
    return {"header": header, "claims": claims, "signature": REDACTED}


def _body_for_log(req):
    """Token requests: form dict with secrets redacted; JSON: parsed; else text."""
    if not req.body:
        return None
    if req.area == "entra":
        fields = {}
        for name, value in urllib.parse.parse_qsl(req.body_text(), keep_blank_values=True):
            if name == "client_assertion":
                value = _assertion_for_log(value)
            elif name in SECRET_FORM_FIELDS:
                value = REDACTED
            if name in fields:
                fields[name] = (fields[name] if isinstance(fields[name], list) else [fields[name]]) + [value]
            else:
                fields[name] = value
        return fields
    if "json" in (req.header("content-type") or "").lower():
        try:
            return req.json()
        except ValueError:
            pass
    return req.body_text()


# --------------------------------------------------------------------------
# CLI

def parse_args(argv):
    parser = argparse.ArgumentParser(description="Microsoft Graph emulator for defender_fdw tests")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--port-file", help="write the listening port here once ready")
    parser.add_argument("--incidents", type=int, default=DEFAULT_CONFIG["incidents"])
    parser.add_argument("--seed", type=int, default=DEFAULT_CONFIG["seed"])
    parser.add_argument("--token-lifetime", type=int, default=DEFAULT_CONFIG["token_lifetime"],
                        help="expires_in of issued tokens, seconds")
    parser.add_argument("--latency-ms", type=float, default=DEFAULT_CONFIG["latency_ms"],
                        help="delay added to every non-control request")
    parser.add_argument("--tenants", type=int, metavar="N",
                        help="serve N more tenants, ids tenants.generated_id(1..N) (tenants.py)")
    parser.add_argument("--tenant", action="append", default=[], metavar="ID[,key=value...]",
                        help="serve this tenant; keys incidents, seed, latency_ms, hunting_seed (repeatable)")
    parser.add_argument("--quota", action="store_true",
                        help="per-tenant quotas at the documented rates: 45 hunting and 50 other "
                             "/security calls per window (quota.py)")
    parser.add_argument("--quota-window", type=float, metavar="SECONDS",
                        help="quota window length (default 60)")
    parser.add_argument("--bandwidth", type=float, metavar="BYTES_PER_S",
                        help="write response bodies at no more than this rate (bandwidth.py)")
    parser.add_argument("--log-max-entries", type=int, metavar="N",
                        help="keep the last N request-log entries (default %d; 0: all)"
                        % DEFAULT_LOG_MAX_ENTRIES)
    parser.add_argument("--hunting-max-rows", type=int, help="row cap of runHuntingQuery (default 100000)")
    parser.add_argument("--hunting-cap-mode", choices=("refuse", "cut"),
                        help="past a cap: refuse with 400 (default) or cut silently")
    parser.add_argument("--generated-table", action="append", default=[], metavar="TABLE:ROWS[:DAYS]",
                        help="generate this hunting table lazily (generated_tables.py; repeatable)")
    parser.add_argument("--verbose", action="store_true", help="access log on stderr")
    parser.add_argument("--tls-cert", help="serve HTTPS with this PEM certificate (needs --tls-key)")
    parser.add_argument("--tls-key", help="PEM private key of --tls-cert")
    args = parser.parse_args(argv)
    if bool(args.tls_cert) != bool(args.tls_key):
        parser.error("--tls-cert and --tls-key go together")
    return args


def _number(text):
    try:
        return int(text)
    except ValueError:
        return float(text)


def extension_config(args):
    """Config keys of the newer switches, only those given (so the default
    config stays as it was)."""
    out = {}
    specs = [{"id": generated_id(k)} for k in range(1, (args.tenants or 0) + 1)]
    for text in args.tenant:
        parts = text.split(",")
        spec = {"id": parts[0]}
        for part in parts[1:]:
            key, _, value = part.partition("=")
            try:
                spec[key.strip()] = _number(value.strip())
            except ValueError:
                raise ValueError("--tenant %s: %r is not a number" % (text, value))
        specs.append(spec)
    if specs:
        out["tenants"] = specs
    if args.quota:
        out["quota_hunting"] = quota.DOCUMENTED["hunting"]
        out["quota_graph"] = quota.DOCUMENTED["graph"]
    if args.quota_window is not None:
        out["quota_window_s"] = args.quota_window
    if args.bandwidth is not None:
        out["bandwidth_bytes_per_s"] = args.bandwidth
    if args.log_max_entries is not None:
        out["log_max_entries"] = args.log_max_entries
    if args.hunting_max_rows is not None:
        out["hunting_max_rows"] = args.hunting_max_rows
    if args.hunting_cap_mode is not None:
        out["hunting_cap_mode"] = args.hunting_cap_mode
    generated = []
    for text in args.generated_table:
        parts = text.split(":")
        try:
            spec = {"table": parts[0], "rows": int(parts[1])}
            if len(parts) > 2:
                spec["days"] = int(parts[2])
        except (IndexError, ValueError):
            raise ValueError("--generated-table wants TABLE:ROWS[:DAYS], not %r" % text)
        generated.append(spec)
    if generated:
        out["hunting_generated"] = generated
    return out


def _tls_context(cert, key):
    """A server-side TLS context for --tls-cert/--tls-key."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    return context


def _write_port_file(path, port):
    """Atomic write, so a poller never reads a half-written file."""
    tmp = "%s.%d.tmp" % (path, os.getpid())
    with open(tmp, "w") as f:
        f.write("%d\n" % port)
    os.replace(tmp, path)


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    config = {"incidents": args.incidents, "seed": args.seed,
              "token_lifetime": args.token_lifetime, "latency_ms": args.latency_ms}
    try:
        config.update(validate_config(extension_config(args)))
    except ValueError as err:
        sys.stderr.write("graph_emulator.py: %s\n" % err)
        return 2
    state = State(config, verbose=args.verbose)
    tls_context = _tls_context(args.tls_cert, args.tls_key) if args.tls_cert else None
    server = EmulatorServer((args.host, args.port), state, tls_context)
    host, port = server.server_address[:2]
    state.listen_authority = ("[%s]:%d" if ":" in host else "%s:%d") % (host, port)
    if tls_context is not None:
        state.scheme = "https"     # absolute links (@odata.nextLink) say https

    def request_stop(signum, frame):
        # Runs on the main thread inside serve_forever: wake sleeping faults,
        # and ask the loop to stop from another thread (shutdown() blocks).
        state.shutdown.set()
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)

    if args.port_file:
        _write_port_file(args.port_file, port)
    if args.verbose:
        sys.stderr.write("graph emulator listening on %s\n" % state.listen_authority)
    server.serve_forever(poll_interval=0.1)
    server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
