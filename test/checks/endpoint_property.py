#!/usr/bin/env python3
"""endpoint_property: where can a generated endpoint send the bearer token?

Issue 13's property, over a few hundred endpoints generated from a seed
(printed, and taken from PROPERTY_SEED to replay a run): each call of
defender_request() is either refused before any I/O, or reaches the Graph
emulator, which is the server's graph_url and mde_url.  The endpoints mix
'#', '@', '%23', '\\', '/', '?', ':', host case, trailing dots, ports, IPv6
literals, Unicode hosts, CR/LF, user info and the hostile listener's
address (scripts/lib.sh starts it): an escape would land there, and the
listener's log must stay empty.

Each call carries its number in an "x-probe" header; the emulator's
request log then tells, per call, whether it arrived: a call that
returned a status must have arrived (and only there), a refused call must
have left no trace.

    endpoint_property.py EMULATOR_URL HOSTILE_URL HOSTILE_LOG [SERVER_LOG]
    PROPERTY_COUNT=500 (CI) ... PROPERTY_COUNT=20000 for a long run
"""

import json
import os
import random
import subprocess
import sys
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts"))
from emulator_control import emulator, finish  # noqa: E402


def sql_literal(text):
    """An E'' literal for any text without NUL."""
    out = []
    for ch in text:
        if ch == "\\":
            out.append("\\\\")
        elif ch == "'":
            out.append("\\'")
        elif ord(ch) < 0x20 or ord(ch) == 0x7f:
            out.append("\\x%02x" % ord(ch))
        else:
            out.append(ch)
    return "E'" + "".join(out) + "'"


def generate(rng, emu, hostile):
    """One endpoint: an absolute URL with odd parts, or an odd relative path."""
    e_host, e_port = emu.hostname, str(emu.port)
    h_auth = hostile.netloc
    schemes = ["http", "HTTP", "Http", "https", "ftp", "file", ""]
    hosts = [e_host, e_host, e_host + ".", "LOCALHOST", "localhost", "[::1]",
             "[::ffff:127.0.0.1]", "gr\u00e4ph.example", "127.0.0.%31", "127.1",
             hostile.hostname, "0x7f.0.0.1", "[fe80::1%25lo]"]
    ports = [":" + e_port, ":" + e_port, ":" + str(hostile.port), "", ":", ":80", ":0",
             ":" + e_port + "0", ":%s" % e_port.zfill(7)]
    userinfo = ["", "", "", "u@", "u:p@", e_host + ":" + e_port + "@", h_auth + "@", "@", ":@"]
    junk = ["", "#", "%23", "\\", "/", "?", ":", "@", "#@", "%23@", "\\@", "/@", "?@",
            "\r\n", "\n", " ", "%0d%0a", "%40", ";", "&", "//", "/..", "/./"]
    paths = ["/v1.0/security/incidents", "/mde/api/alerts", "", "/v1.0/security/incidents?$top=1",
             "/v1.0/../v1.0/security/incidents"]
    if rng.random() < 0.15:
        # relative endpoints: always below graph_url/{api_version}/
        parts = ["security/incidents", "//" + h_auth + "/x", "\\\\" + h_auth + "\\x",
                 "security/incidents#@" + h_auth, "@" + h_auth, "?x=@" + h_auth,
                 "security/%2e%2e/%2e%2e/x", "..%2f..%2f" + h_auth]
        return "".join(rng.choice(parts) for _ in range(rng.randint(1, 2)))
    scheme = rng.choice(schemes)
    url = (scheme + ":" if scheme else "") + rng.choice(["//", "//", "///", "/", "\\\\", ""])
    url += rng.choice(userinfo)
    host = rng.choice(hosts)
    if rng.random() < 0.3:
        host = "".join(c.upper() if rng.random() < 0.5 else c for c in host)
    url += host + rng.choice(ports)
    for _ in range(rng.randint(0, 3)):
        url += rng.choice(junk)
        if rng.random() < 0.5:
            url += rng.choice([h_auth, hostile.hostname, e_host + ":" + e_port, "attacker.example"])
    url += rng.choice(paths)
    return url


def run_psql(sql):
    proc = subprocess.run(["psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-d", "postgres"],
                          input=sql, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError("psql failed: " + proc.stderr[-2000:])
    return proc.stdout


def main(argv):
    emulator_url, hostile_url, hostile_log = argv[1], argv[2], argv[3]
    server_log = argv[4] if len(argv) > 4 else None
    seed = int(os.environ.get("PROPERTY_SEED", random.SystemRandom().randrange(1 << 30)))
    count = int(os.environ.get("PROPERTY_COUNT", "500"))
    print("endpoint_property: seed %d, %d endpoints (PROPERTY_SEED=%d to replay)" % (seed, count, seed))
    rng = random.Random(seed)
    emu = urllib.parse.urlsplit(emulator_url)
    hostile = urllib.parse.urlsplit(hostile_url)
    endpoints = [generate(rng, emu, hostile) for _ in range(count)]
    endpoints = [e.replace("\0", "") for e in endpoints]

    emulator(emulator_url, "POST", "/_emulator/reset", {})

    sql = ["SET client_min_messages = warning;",
           "CREATE EXTENSION IF NOT EXISTS defender_fdw;",
           "DROP SERVER IF EXISTS endpoint_property CASCADE;",
           "CREATE SERVER endpoint_property FOREIGN DATA WRAPPER defender_fdw OPTIONS ("
           "tenant_id '00000000-0000-0000-0000-000000000001', login_url %s, graph_url %s, mde_url %s, max_retries '0');"
           % (sql_literal(emulator_url), sql_literal(emulator_url), sql_literal(emulator_url + "/mde")),
           "CREATE USER MAPPING FOR CURRENT_USER SERVER endpoint_property OPTIONS ("
           "client_id '11111111-1111-1111-1111-111111111111', client_secret 'test-secret-value');",
           """CREATE FUNCTION pg_temp.probe(n int, ep text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE st int;
BEGIN
  SELECT status INTO st FROM defender_request('GET', ep, extra_fields =>
      jsonb_build_object('headers', jsonb_build_object('x-probe', n::text)),
      server => 'endpoint_property');
  RETURN 'sent ' || st;
EXCEPTION WHEN OTHERS THEN
  RETURN 'refused ' || SQLSTATE || ' ' || replace(SQLERRM, E'\\n', ' ');
END $$;"""]
    for i, ep in enumerate(endpoints):
        sql.append("SELECT %d || '|' || pg_temp.probe(%d, %s);" % (i, i, sql_literal(ep)))
    sql.append("DROP SERVER endpoint_property CASCADE;")
    out = run_psql("\n".join(sql) + "\n")

    outcomes = {}
    for line in out.splitlines():
        idx, _, outcome = line.partition("|")
        if idx.isdigit():
            outcomes[int(idx)] = outcome

    arrived = {}
    stray = []
    for r in emulator(emulator_url, "GET", "/_emulator/requests")["requests"]:
        probe = (r.get("headers") or {}).get("x-probe")
        if probe is None:
            if "/oauth2/" not in (r.get("path") or ""):
                stray.append(r.get("raw_target"))
            continue
        arrived.setdefault(int(probe), []).append(r)

    problems = []
    sent = refused = 0
    for i, ep in enumerate(endpoints):
        outcome = outcomes.get(i)
        if outcome is None:
            problems.append("endpoint %d %r: no outcome" % (i, ep))
        elif outcome.startswith("sent"):
            sent += 1
            if i not in arrived:
                problems.append("endpoint %d %r: %s, but the emulator never saw it" % (i, ep, outcome))
        else:
            refused += 1
            if not outcome.startswith("refused 22023"):
                problems.append("endpoint %d %r: %s (expected 22023)" % (i, ep, outcome))
            if i in arrived:
                problems.append("endpoint %d %r: refused, yet the emulator saw it" % (i, ep))
    for target in stray:
        problems.append("a request without a probe reached the emulator: %r" % target)
    # the whole run so far, the regression suite included, not only this check
    with open(hostile_log, encoding="utf-8") as f:
        hostile_lines = [line for line in f if line.strip()]
    for line in hostile_lines:
        entry = json.loads(line)
        problems.append("the hostile listener received %r (Authorization: %s)"
                        % (entry.get("request_line"), entry.get("authorization")))
    if server_log:
        # a caller's CR/LF must never start a line of its own in the log
        with open(server_log, encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith("X-Injected") or line.startswith("Host: " + hostile.netloc):
                    problems.append("a forged line in the server log: %r" % line[:120])
    finish(problems, "endpoint_property: %d endpoints (seed %d): %d sent to the emulator, "
                     "%d refused before any I/O, nothing reached the hostile listener"
           % (count, seed, sent, refused))


if __name__ == "__main__":
    main(sys.argv)
