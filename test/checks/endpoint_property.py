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
    PROPERTY_COUNT=3000 (CI) ... PROPERTY_COUNT=50000 for a long run
"""

import json
import os
import random
import subprocess
import sys
import urllib.parse

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
    """One endpoint: most are near misses of graph_url (an absolute URL on
    the emulator, mutated by a few insertions, mostly at the end of the
    authority where a parser decides the host), some odd relative paths."""
    e_host, e_port = emu.hostname, str(emu.port)
    h_auth = hostile.netloc
    if rng.random() < 0.1:
        # relative endpoints: always below graph_url/{api_version}/
        parts = ["security/incidents", "//" + h_auth + "/x", "\\\\" + h_auth + "\\x",
                 "security/incidents#@" + h_auth, "@" + h_auth, "?x=@" + h_auth,
                 "security/%2e%2e/%2e%2e/x", "..%2f..%2f" + h_auth, "security/incidents\r\nX: 1"]
        return "".join(rng.choice(parts) for _ in range(rng.randint(1, 2)))

    def pick(weighted):
        return rng.choices([w[0] for w in weighted], [w[1] for w in weighted])[0]

    scheme = pick([("http", 6), ("HTTP", 1), ("Http", 1), ("https", 1), ("ftp", 1), ("", 1)])
    sep = pick([("://", 12), (":///", 1), (":/", 1), (":\\\\", 1), (":", 1)])
    userinfo = pick([("", 8), ("u@", 1), ("u:p@", 1), (e_host + ":" + e_port + "@", 1),
                     (h_auth + "@", 1), ("@", 1)])
    host = pick([(e_host, 10), (e_host + ".", 1), ("localhost", 1), ("LOCALHOST", 1), ("[::1]", 1),
                 ("[::ffff:127.0.0.1]", 1), ("gr\u00e4ph.example", 1), ("127.0.0.%31", 1),
                 ("127.1", 1), ("0x7f.0.0.1", 1), (hostile.hostname, 1), ("[fe80::1%25lo]", 1)])
    if rng.random() < 0.2:
        host = "".join(c.upper() if rng.random() < 0.5 else c for c in host)
    port = pick([(":" + e_port, 10), (":" + str(hostile.port), 1), ("", 1), (":", 1), (":80", 1),
                 (":0" + e_port, 1), (":" + e_port + "0", 1)])
    path = pick([("/v1.0/security/incidents", 4), ("/mde/api/alerts", 2), ("", 1),
                 ("/v1.0/security/incidents?$top=1", 2), ("/v1.0/../v1.0/security/incidents", 1)])
    head = (scheme + sep if scheme else "//") + userinfo + host + port
    url = head + path
    tokens = [("#", 3), ("@", 3), ("%23", 2), ("\\", 2), ("/", 1), ("?", 2), (":", 1), ("#@", 3),
              ("%23@", 2), ("\\@", 2), ("?@", 1), ("/@", 1), (";@", 1), ("\r\n", 1), ("\n", 1),
              ("%0d%0a", 1), ("%40", 1), (".", 1), (" ", 1), ("\t", 1)]
    for _ in range(rng.randint(0, 3)):
        tok = pick(tokens)
        if rng.random() < 0.6:
            tok += pick([(h_auth, 3), (hostile.hostname, 1), ("attacker.example", 1),
                         ("x@" + h_auth, 1)])
        pos = len(head) if rng.random() < 0.7 else rng.randint(0, len(url))
        url = url[:pos] + tok + url[pos:]
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
    count = int(os.environ.get("PROPERTY_COUNT", "3000"))
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
